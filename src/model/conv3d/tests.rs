//! Conv3d against a naive 7-loop reference (forward) and central finite differences in f64
//! (input, weight and bias gradients), on small seeded random tensors.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Conv3d, conv3d, conv3d_reference};

/// One convolution case: input `[b, c_in, d, h, w]`, `c_out`, kernel, stride, padding.
#[derive(Debug, Clone, Copy)]
struct Case {
    x: [usize; 5],
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

impl Case {
    fn w(&self) -> [usize; 5] {
        [self.c_out, self.x[1], self.k, self.k, self.k]
    }
}

const fn case(x: [usize; 5], c_out: usize, k: usize, stride: usize, padding: usize) -> Case {
    Case {
        x,
        c_out,
        k,
        stride,
        padding,
    }
}

/// Every code path: pointwise, vol2col with padding 0/1, stride 1/2 (transposed and col2vol
/// input gradients), padding larger than `k - 1` (negative transposed padding), odd sizes.
const CASES: [Case; 9] = [
    case([2, 3, 5, 7, 6], 4, 3, 1, 1),
    case([2, 2, 5, 7, 6], 3, 3, 1, 0),
    case([2, 3, 5, 7, 6], 2, 3, 2, 1),
    case([2, 2, 6, 5, 7], 3, 3, 2, 0),
    case([2, 3, 5, 7, 6], 5, 1, 1, 0),
    case([2, 3, 5, 4, 3], 2, 1, 2, 0),
    case([2, 2, 3, 4, 5], 3, 1, 1, 1),
    case([1, 2, 1, 3, 2], 2, 3, 1, 1),
    case([2, 4, 3, 5, 6], 5, 3, 1, 1),
];

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn tensor(data: &[f64], shape: [usize; 5], dtype: DType) -> Tensor {
    Tensor::from_vec(data.to_vec(), shape.as_slice(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn out_size(n: usize, c: &Case) -> usize {
    (n + 2 * c.padding - c.k) / c.stride + 1
}

fn out_shape(c: &Case) -> [usize; 5] {
    [
        c.x[0],
        c.c_out,
        out_size(c.x[2], c),
        out_size(c.x[3], c),
        out_size(c.x[4], c),
    ]
}

/// The textbook definition, one loop per index, accumulating in f64.
fn naive_conv3d(x: &[f64], w: &[f64], c: &Case) -> Vec<f64> {
    let [b, c_in, d, h, wd] = c.x;
    let [_, c_out, od, oh, ow] = out_shape(c);
    let k = c.k;
    let mut y = vec![0.0; b * c_out * od * oh * ow];
    let at = |i: usize, t: usize, n: usize| -> Option<usize> {
        let v = (i * c.stride + t) as isize - c.padding as isize;
        (v >= 0 && v < n as isize).then_some(v as usize)
    };
    for bi in 0..b {
        for co in 0..c_out {
            for z in 0..od {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0.0;
                        for ci in 0..c_in {
                            for kd in 0..k {
                                for kh in 0..k {
                                    for kw in 0..k {
                                        let (Some(iz), Some(iy), Some(ix)) =
                                            (at(z, kd, d), at(yy, kh, h), at(xx, kw, wd))
                                        else {
                                            continue;
                                        };
                                        let xv =
                                            x[(((bi * c_in + ci) * d + iz) * h + iy) * wd + ix];
                                        let wv = w[(((co * c_in + ci) * k + kd) * k + kh) * k + kw];
                                        acc += xv * wv;
                                    }
                                }
                            }
                        }
                        y[(((bi * c_out + co) * od + z) * oh + yy) * ow + xx] = acc;
                    }
                }
            }
        }
    }
    y
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn forward_matches_naive_reference_in_f32_and_f64() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for c in CASES {
        let x = random(&mut rng, c.x.iter().product());
        let w = random(&mut rng, c.w().iter().product());
        let want = naive_conv3d(&x, &w, &c);
        for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            let y = conv3d(
                &tensor(&x, c.x, dtype),
                &tensor(&w, c.w(), dtype),
                c.stride,
                c.padding,
            )
            .unwrap();
            assert_eq!(y.dims(), out_shape(&c).as_slice(), "{c:?}");
            let err = max_abs_diff(&values(&y), &want);
            assert!(err < tol, "{c:?} {dtype:?}: max error {err}");
        }
    }
}

#[test]
fn forward_matches_conv2d_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for c in CASES {
        let x = tensor(&random(&mut rng, c.x.iter().product()), c.x, DType::F32);
        let w = tensor(&random(&mut rng, c.w().iter().product()), c.w(), DType::F32);
        let fast = conv3d(&x, &w, c.stride, c.padding).unwrap();
        let slow = conv3d_reference(&x, &w, c.stride, c.padding).unwrap();
        let err = max_abs_diff(&values(&fast), &values(&slow));
        assert!(err < 1e-5, "{c:?}: max error {err}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let x = Tensor::zeros((1, 2, 4, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let w = Tensor::zeros((3, 3, 3, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv3d(&x, &w, 1, 1).is_err());
    let w = Tensor::zeros((3, 2, 3, 3, 3), DType::F32, &Device::Cpu).unwrap();
    assert!(conv3d(&x.squeeze(0).unwrap(), &w, 1, 1).is_err());
    assert!(conv3d(&x.narrow(2, 0, 1).unwrap(), &w, 1, 0).is_err());
}

/// Central finite difference of `loss` at every element of `v` (the loss is evaluated in f64).
fn finite_differences(v: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let eps = 1e-4;
    let mut v = v.to_vec();
    (0..v.len())
        .map(|i| {
            let orig = v[i];
            v[i] = orig + eps;
            let up = loss(&v);
            v[i] = orig - eps;
            let down = loss(&v);
            v[i] = orig;
            (up - down) / (2.0 * eps)
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Gradients of `loss = sum(conv3d(x, w) * r)` from the custom op's backward (f64) against
/// finite differences of the naive reference; f32 against the same, at f32 tolerance.
#[test]
fn input_and_weight_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for c in CASES {
        let x = random(&mut rng, c.x.iter().product());
        let w = random(&mut rng, c.w().iter().product());
        let r = random(&mut rng, out_shape(&c).iter().product());
        let fd_x = finite_differences(&x, |x| dot(&naive_conv3d(x, &w, &c), &r));
        let fd_w = finite_differences(&w, |w| dot(&naive_conv3d(&x, w, &c), &r));
        for (dtype, tol) in [(DType::F64, 1e-8), (DType::F32, 1e-4)] {
            let xv = Var::from_tensor(&tensor(&x, c.x, dtype)).unwrap();
            let wv = Var::from_tensor(&tensor(&w, c.w(), dtype)).unwrap();
            let y = conv3d(xv.as_tensor(), wv.as_tensor(), c.stride, c.padding).unwrap();
            let loss = (y * tensor(&r, out_shape(&c), dtype))
                .unwrap()
                .sum_all()
                .unwrap();
            let grads = loss.backward().unwrap();
            let gx = values(grads.get(xv.as_tensor()).unwrap());
            let gw = values(grads.get(wv.as_tensor()).unwrap());
            let (ex, ew) = (max_abs_diff(&gx, &fd_x), max_abs_diff(&gw, &fd_w));
            assert!(
                ex < tol && ew < tol,
                "{c:?} {dtype:?}: input grad error {ex}, weight grad error {ew}"
            );
        }
    }
}

/// The gradient ops agree with candle's autograd through the conv2d decomposition, and the
/// input gradient is skipped for inputs that do not track gradients.
#[test]
fn gradients_match_the_reference_and_skip_untracked_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let c = case([2, 3, 4, 6, 5], 4, 3, 1, 1);
    let x = tensor(&random(&mut rng, c.x.iter().product()), c.x, DType::F32);
    let wv = Var::from_tensor(&tensor(
        &random(&mut rng, c.w().iter().product()),
        c.w(),
        DType::F32,
    ))
    .unwrap();
    let r = tensor(
        &random(&mut rng, out_shape(&c).iter().product()),
        out_shape(&c),
        DType::F32,
    );
    let grad_w = |f: fn(&Tensor, &Tensor, usize, usize) -> candle_core::Result<Tensor>| {
        let y = f(&x, wv.as_tensor(), c.stride, c.padding).unwrap();
        let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        values(grads.get(wv.as_tensor()).unwrap())
    };
    let err = max_abs_diff(&grad_w(conv3d), &grad_w(conv3d_reference));
    assert!(err < 1e-4, "weight grad vs reference: {err}");
}

/// Conv3d with bias: the bias gradient (a separate broadcast_add) and the weight gradient.
#[test]
fn conv3d_layer_bias_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let c = case([2, 2, 4, 5, 3], 3, 3, 1, 1);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
    let layer = Conv3d::new(vb, 2, 3, 3, 1, 1, true).unwrap();
    let (x, w, bias) = (
        random(&mut rng, c.x.iter().product()),
        random(&mut rng, c.w().iter().product()),
        random(&mut rng, 3),
    );
    let mut varmap = varmap;
    varmap
        .set_one("weight", tensor(&w, c.w(), DType::F64))
        .unwrap();
    varmap
        .set_one(
            "bias",
            Tensor::from_vec(bias.clone(), 3, &Device::Cpu).unwrap(),
        )
        .unwrap();
    let r = random(&mut rng, out_shape(&c).iter().product());

    let y = layer.forward(&tensor(&x, c.x, DType::F64)).unwrap();
    let loss = (y * tensor(&r, out_shape(&c), DType::F64))
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let vars = varmap.data().lock().unwrap();
    let g_bias = values(grads.get(vars["bias"].as_tensor()).unwrap());
    let g_w = values(grads.get(vars["weight"].as_tensor()).unwrap());

    let n_out: usize = out_shape(&c)[2..].iter().product();
    let loss_of = |w: &[f64], bias: &[f64]| {
        let y = naive_conv3d(&x, w, &c);
        let y: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + bias[(i / n_out) % 3])
            .collect();
        dot(&y, &r)
    };
    let fd_bias = finite_differences(&bias, |b| loss_of(&w, b));
    let fd_w = finite_differences(&w, |w| loss_of(w, &bias));
    assert!(
        max_abs_diff(&g_bias, &fd_bias) < 1e-8,
        "{g_bias:?} vs {fd_bias:?}"
    );
    assert!(max_abs_diff(&g_w, &fd_w) < 1e-8);
}

/// A permuted and narrowed input (and a non-contiguous gradient) give the same results as
/// their contiguous copies.
#[test]
fn non_contiguous_inputs_match_contiguous_copies() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let c = case([2, 3, 5, 6, 4], 2, 3, 1, 1);
    // Stored as [b, d, c, h, w + 2], then viewed as [b, c, d, h, w].
    let raw = random(&mut rng, 2 * 5 * 3 * 6 * 6);
    let base = Var::from_tensor(&tensor(&raw, [2, 5, 3, 6, 6], DType::F64)).unwrap();
    let x = base
        .as_tensor()
        .permute((0, 2, 1, 3, 4))
        .unwrap()
        .narrow(4, 1, 4)
        .unwrap();
    assert!(!x.is_contiguous());
    let w = Var::from_tensor(&tensor(
        &random(&mut rng, c.w().iter().product()),
        c.w(),
        DType::F64,
    ))
    .unwrap();
    let r = tensor(
        &random(&mut rng, out_shape(&c).iter().product()),
        out_shape(&c),
        DType::F64,
    );

    let y = conv3d(&x, w.as_tensor(), 1, 1).unwrap();
    let y_copy = conv3d(&x.contiguous().unwrap(), w.as_tensor(), 1, 1).unwrap();
    assert!(max_abs_diff(&values(&y), &values(&y_copy)) < 1e-12);
    let want = naive_conv3d(&values(&x), &values(w.as_tensor()), &c);
    assert!(max_abs_diff(&values(&y), &want) < 1e-12);

    // dy arrives transposed: the loss reads y through a permutation.
    let rt = r.permute((0, 1, 2, 4, 3)).unwrap().contiguous().unwrap();
    let loss = (y.permute((0, 1, 2, 4, 3)).unwrap() * &rt)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let gx = values(grads.get(base.as_tensor()).unwrap());
    let gw = values(grads.get(w.as_tensor()).unwrap());
    let fd_w = finite_differences(&values(w.as_tensor()), |wv| {
        dot(&naive_conv3d(&values(&x), wv, &c), &values(&r))
    });
    assert!(max_abs_diff(&gw, &fd_w) < 1e-8);
    // The gradient of the base: the narrowed-away columns get zero.
    let xs = values(&x);
    let fd_x = finite_differences(&xs, |xv| {
        dot(&naive_conv3d(xv, &values(w.as_tensor()), &c), &values(&r))
    });
    let fd_x = Tensor::from_vec(fd_x, c.x.as_slice(), &Device::Cpu).unwrap();
    let fd_base = fd_x
        .pad_with_zeros(4, 1, 1)
        .unwrap()
        .permute((0, 2, 1, 3, 4))
        .unwrap();
    assert!(max_abs_diff(&gx, &values(&fd_base)) < 1e-8);
}
