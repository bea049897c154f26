//! 3-D max pooling with stride = kernel, as a candle custom op with an explicit argmax backward.
//!
//! Why a custom op: candle's `max` reduction routes the gradient to *every* element equal to
//! the maximum. After a ReLU, whole pooling windows are often exactly 0, so each zero would get
//! the full gradient (and candle's ReLU passes gradient at 0). PyTorch sends the gradient only
//! to the first maximum of each window; so does this op. On GPUs, where the custom op has no
//! kernel, [`max_pool3d_gather`] does the same with tensor ops (argmax, then gather).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// A pooling kernel `(kd, kh, kw)`; the stride equals the kernel.
pub type PoolKernel = (usize, usize, usize);

/// 3-D max pooling, stride = kernel, no padding; odd sizes are floored like PyTorch's default
/// (the trailing voxels that do not fill a window are cropped first). The custom op runs on
/// CPU f32/f64 tensors; other devices and dtypes use [`max_pool3d_gather`].
///
/// # Shapes
/// - `x`: `[b, c, d, h, w]`
/// - result: `[b, c, d / kd, h / kh, w / kw]`
pub fn max_pool3d(x: &Tensor, kernel: PoolKernel) -> Result<Tensor> {
    let (x, out) = crop_to_windows(x, kernel)?;
    let fast_dtype = matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64);
    if x.device().is_cpu() && fast_dtype {
        x.apply_op1(MaxPool3d { kernel, out })
    } else {
        max_pool3d_gather(&x, kernel)
    }
}

/// The tensor-op formulation for every device: each window's voxels gathered on a last axis,
/// the argmax taken, and the value read back with `gather`, whose backward (`scatter_add`)
/// sends the gradient to that one voxel — the first maximum of a tied window on the CPU, as
/// in PyTorch (which of the tied ones on a GPU is up to candle's argmax kernel).
///
/// # Shapes
/// As [`max_pool3d`].
pub fn max_pool3d_gather(x: &Tensor, kernel: PoolKernel) -> Result<Tensor> {
    let (x, [b, c, d, h, w]) = crop_to_windows(x, kernel)?;
    let (kd, kh, kw) = kernel;
    let windows = x
        .reshape(vec![b, c, d, kd, h, kh, w, kw])? // [b, c, d', kd, h', kh, w', kw]
        .permute(vec![0, 1, 2, 4, 6, 3, 5, 7])? // [b, c, d', h', w', kd, kh, kw]
        .contiguous()?
        .reshape((b, c, d, h, w, kd * kh * kw))?;
    let arg = windows.argmax_keepdim(5)?;
    windows.gather(&arg, 5)?.squeeze(5)
}

/// Checks rank and kernel, crops `x` to whole windows and returns it (contiguous) with the
/// output shape `[b, c, d', h', w']`.
fn crop_to_windows(x: &Tensor, kernel: PoolKernel) -> Result<(Tensor, [usize; 5])> {
    let (b, c, d, h, w) = x.dims5()?;
    let (kd, kh, kw) = kernel;
    if kd == 0 || kh == 0 || kw == 0 {
        bail!("max_pool3d: kernel {kernel:?} has a zero extent");
    }
    let out = [b, c, d / kd, h / kh, w / kw];
    if out[2] == 0 || out[3] == 0 || out[4] == 0 {
        bail!(
            "max_pool3d: input {:?} smaller than kernel {kernel:?}",
            x.dims()
        );
    }
    let x = x
        .narrow(2, 0, out[2] * kd)?
        .narrow(3, 0, out[3] * kh)?
        .narrow(4, 0, out[4] * kw)?
        .contiguous()?; // [b, c, d' kd, h' kh, w' kw]
    Ok((x, out))
}

/// Float types the CPU kernels support.
trait PoolFloat: candle_core::WithDType + PartialOrd + Send + Sync {
    fn is_nan_(self) -> bool;
}

impl PoolFloat for f32 {
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
}

impl PoolFloat for f64 {
    fn is_nan_(self) -> bool {
        self.is_nan()
    }
}

/// Borrows the contiguous data of a CPU tensor argument.
fn contiguous<'a, T: PoolFloat>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("max_pool3d: {what} must be contiguous");
    };
    Ok(&s.as_slice::<T>()?[start..end])
}

/// Forward of the custom op. Input: the cropped, contiguous `[b, c, d' kd, h' kh, w' kw]`.
struct MaxPool3d {
    kernel: PoolKernel,
    out: [usize; 5],
}

impl MaxPool3d {
    /// Row by row: each input row of a window row contributes the max of its `kw`-wide
    /// chunks to the output row. Ties keep the earlier value; NaN wins, as in PyTorch.
    fn fwd<T: PoolFloat>(&self, x: &[T]) -> Vec<T> {
        let [_, _, od, oh, ow] = self.out;
        let (kd, kh, kw) = self.kernel;
        let (d, h, w) = (od * kd, oh * kh, ow * kw);
        let mut y = vec![T::zero(); self.out.iter().product()];
        // One (batch, channel) plane per task: planes are independent and large.
        y.par_chunks_mut(od * oh * ow)
            .zip(x.par_chunks(d * h * w))
            .for_each(|(y, x)| {
                for (r, yrow) in y.chunks_exact_mut(ow).enumerate() {
                    let (zd, zh) = (r / oh, r % oh);
                    for z in 0..kd {
                        for yy in 0..kh {
                            let start = ((zd * kd + z) * h + zh * kh + yy) * w;
                            let first = z == 0 && yy == 0;
                            let row = x[start..start + w].chunks_exact(kw);
                            for (o, win) in yrow.iter_mut().zip(row) {
                                let mut m = win[0];
                                for &v in &win[1..] {
                                    if v > m || v.is_nan_() {
                                        m = v;
                                    }
                                }
                                if first || m > *o || m.is_nan_() {
                                    *o = m;
                                }
                            }
                        }
                    }
                }
            });
        y
    }
}

impl CustomOp1 for MaxPool3d {
    fn name(&self) -> &'static str {
        "max-pool3d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = Shape::from(self.out.to_vec());
        let y = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.fwd(contiguous::<f32>(s, l, "input")?)),
            CpuStorage::F64(_) => CpuStorage::F64(self.fwd(contiguous::<f64>(s, l, "input")?)),
            _ => bail!(
                "max_pool3d: only f32 and f64 are supported, got {:?}",
                s.dtype()
            ),
        };
        Ok((y, shape))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let grad_res = grad_res.contiguous()?;
        let op = MaxPool3dBackward {
            kernel: self.kernel,
            out: self.out,
        };
        Ok(Some(arg.apply_op3_no_bwd(res, &grad_res, &op)?))
    }
}

/// Backward of the custom op: the gradient of each output voxel goes to the first maximum of
/// its window (the first element equal to the forward output, or the first NaN), zero
/// elsewhere. Arguments: the forward input, the forward output and the output gradient.
struct MaxPool3dBackward {
    kernel: PoolKernel,
    out: [usize; 5],
}

impl MaxPool3dBackward {
    fn bwd<T: PoolFloat>(&self, x: &[T], y: &[T], g: &[T]) -> Vec<T> {
        let [_, _, od, oh, ow] = self.out;
        let (kd, kh, kw) = self.kernel;
        let (d, h, w) = (od * kd, oh * kh, ow * kw);
        let n_out = od * oh * ow;
        let mut gx = vec![T::zero(); x.len()];
        gx.par_chunks_mut(d * h * w)
            .zip(x.par_chunks(d * h * w))
            .zip(y.par_chunks(n_out).zip(g.par_chunks(n_out)))
            .for_each(|((gx, x), (y, g))| {
                for o in 0..n_out {
                    let (m, zw, r) = (y[o], o % ow, o / ow);
                    let (zd, zh) = (r / oh, r % oh);
                    'window: for z in 0..kd {
                        for yy in 0..kh {
                            let start = ((zd * kd + z) * h + zh * kh + yy) * w + zw * kw;
                            for i in start..start + kw {
                                if x[i] == m || (m.is_nan_() && x[i].is_nan_()) {
                                    // Windows do not overlap (stride = kernel): assignment.
                                    gx[i] = g[o];
                                    break 'window;
                                }
                            }
                        }
                    }
                }
            });
        gx
    }
}

impl CustomOp3 for MaxPool3dBackward {
    fn name(&self) -> &'static str {
        "max-pool3d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let shape = l1.shape().clone();
        let gx = match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                CpuStorage::F32(self.bwd(
                    contiguous::<f32>(s1, l1, "input")?,
                    contiguous::<f32>(s2, l2, "output")?,
                    contiguous::<f32>(s3, l3, "gradient")?,
                ))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                CpuStorage::F64(self.bwd(
                    contiguous::<f64>(s1, l1, "input")?,
                    contiguous::<f64>(s2, l2, "output")?,
                    contiguous::<f64>(s3, l3, "gradient")?,
                ))
            }
            _ => bail!(
                "max_pool3d backward: only f32 and f64 are supported, got {:?} and {:?}",
                s1.dtype(),
                s3.dtype()
            ),
        };
        Ok((gx, shape))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng, seq::SliceRandom};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Distinct values in random order, so every window has a unique maximum.
    fn distinct(shape: [usize; 5], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.01 - 3.0).collect();
        v.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Tensor::from_vec(v, shape.to_vec(), &Device::Cpu).unwrap()
    }

    /// Naive pooling: output values and, per output voxel, the flat input index of its max.
    fn naive(x: &Tensor, k: PoolKernel) -> (Vec<f64>, Vec<usize>) {
        let (b, c, d, h, w) = x.dims5().unwrap();
        let v = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let (mut vals, mut idx) = (vec![], vec![]);
        for bc in 0..b * c {
            for od in 0..d / k.0 {
                for oh in 0..h / k.1 {
                    for ow in 0..w / k.2 {
                        let mut best = (f64::NEG_INFINITY, 0);
                        for z in 0..k.0 {
                            for y in 0..k.1 {
                                for xx in 0..k.2 {
                                    let i = (((bc * d) + od * k.0 + z) * h + oh * k.1 + y) * w
                                        + ow * k.2
                                        + xx;
                                    if v[i] > best.0 {
                                        best = (v[i], i);
                                    }
                                }
                            }
                        }
                        vals.push(best.0);
                        idx.push(best.1);
                    }
                }
            }
        }
        (vals, idx)
    }

    fn check_against_naive(shape: [usize; 5], k: PoolKernel, gather: bool) {
        let x = Var::from_tensor(&distinct(shape, 7)).unwrap();
        let y = if gather {
            max_pool3d_gather(&x, k).unwrap()
        } else {
            max_pool3d(&x, k).unwrap()
        };
        let (vals, idx) = naive(&x, k);
        let expected = [
            shape[0],
            shape[1],
            shape[2] / k.0,
            shape[3] / k.1,
            shape[4] / k.2,
        ];
        assert_eq!(y.dims(), expected);
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f64>().unwrap(), vals);

        // Backward with a distinct upstream gradient per output voxel.
        let g: Vec<f64> = (0..vals.len()).map(|i| 1.0 + i as f64).collect();
        let g = Tensor::from_vec(g.clone(), y.shape(), &Device::Cpu).unwrap();
        let grads = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = grads.get(&x).unwrap();
        assert_eq!(gx.dims(), shape);
        let gx = gx.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let mut want = vec![0.0; gx.len()];
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (o, &i) in idx.iter().enumerate() {
            want[i] = g[o];
        }
        assert_eq!(gx, want, "shape {shape:?} kernel {k:?} gather {gather}");
    }

    #[test]
    fn custom_op_matches_naive_forward_and_backward() {
        for (shape, k) in [
            ([2, 3, 4, 6, 8], (2, 2, 2)),
            ([1, 2, 4, 6, 8], (1, 2, 2)),
            ([2, 1, 5, 7, 9], (2, 2, 2)), // odd sizes: floor, cropped voxels get zero grad
            ([1, 2, 3, 5, 4], (1, 2, 2)),
        ] {
            check_against_naive(shape, k, false);
        }
    }

    #[test]
    fn gather_formulation_matches_naive_forward_and_backward() {
        for (shape, k) in [([2, 3, 4, 6, 8], (2, 2, 2)), ([1, 2, 5, 7, 9], (1, 2, 2))] {
            check_against_naive(shape, k, true);
        }
    }

    #[test]
    fn unique_maximum_gets_the_whole_gradient_in_f32() {
        // The candle max_pool2d bug: a unique max in a 2x2 window received grad / 4.
        let x = Var::from_vec(
            vec![1f32, 5., 2., 3., 0., 0., 0., 0.],
            (1, 1, 2, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let y = max_pool3d(&x, (2, 2, 2)).unwrap();
        let gx = y.sum_all().unwrap().backward().unwrap();
        let gx = gx.get(&x).unwrap().flatten_all().unwrap();
        assert_eq!(
            gx.to_vec1::<f32>().unwrap(),
            [0., 1., 0., 0., 0., 0., 0., 0.]
        );
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum_only() {
        // An all-zero window (common after ReLU): PyTorch picks the first element.
        let x = Var::zeros((1, 1, 2, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        for pool in [max_pool3d, max_pool3d_gather] {
            let y = pool(&x, (2, 2, 2)).unwrap();
            let gx = y.sum_all().unwrap().backward().unwrap();
            let gx = gx.get(&x).unwrap().flatten_all().unwrap();
            assert_eq!(
                gx.to_vec1::<f32>().unwrap(),
                [1., 0., 0., 0., 0., 0., 0., 0.]
            );
        }
    }

    #[test]
    fn nan_wins_and_takes_the_gradient() {
        let nan = f32::NAN;
        let x = Var::from_vec(
            vec![1f32, 9., nan, 3., 0., 0., 0., 0.],
            (1, 1, 2, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let y = max_pool3d(&x, (2, 2, 2)).unwrap();
        assert!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0].is_nan());
        let gx = y.backward().unwrap();
        let gx = gx.get(&x).unwrap().flatten_all().unwrap();
        assert_eq!(
            gx.to_vec1::<f32>().unwrap(),
            [0., 0., 1., 0., 0., 0., 0., 0.]
        );
    }

    #[test]
    fn non_contiguous_input_and_gradient_are_handled() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let v: Vec<f32> = (0..2 * 3 * 4 * 4 * 4).map(|_| rng.random()).collect();
        let x = Var::from_vec(v, (2, 4, 4, 3, 4), &Device::Cpu).unwrap();
        let xt = x.transpose(1, 3).unwrap(); // [2, 3, 4, 4, 4], strided
        let a = max_pool3d(&xt, (2, 2, 2)).unwrap();
        let b = max_pool3d_gather(&xt, (2, 2, 2)).unwrap();
        let diff = (&a - &b).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
        // A transposed upstream gradient.
        let loss = a.transpose(2, 4).unwrap().sqr().unwrap().sum_all().unwrap();
        let g1 = loss.backward().unwrap().get(&x).unwrap().clone();
        let loss = b.transpose(2, 4).unwrap().sqr().unwrap().sum_all().unwrap();
        let g2 = loss.backward().unwrap().get(&x).unwrap().clone();
        let diff = (g1 - g2).unwrap().abs().unwrap().sum_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn too_small_inputs_and_wrong_ranks_are_errors() {
        let x = Tensor::zeros((1, 1, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool3d(&x, (2, 2, 2)).is_err());
        assert!(max_pool3d(&x, (1, 2, 2)).is_ok());
        let x = Tensor::zeros((1, 4, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(max_pool3d(&x, (2, 2, 2)).is_err());
    }
}
