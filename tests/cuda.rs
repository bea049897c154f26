//! The CUDA build (`--features cuda`): the image tower's layers on the GPU give the CPU's
//! results, forward and backward, and a training step runs there. Compiled only with the
//! feature; each test says so and returns when no CUDA device can be opened.

use brainclip::cli::bench::TowerBench;
use brainclip::config::ImageTowerConfig;
use brainclip::model::conv3d::conv3d;
use brainclip::model::init::{seeded_uniform, seeded_var_builder};
use brainclip::model::pool::max_pool3d;
use brainclip::model::tower::build_tower;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::VarMap;

fn gpu() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_device(&Device::Cpu)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest absolute difference relative to the largest magnitude of `want`.
fn rel_err(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// `f(x, ...)` and the gradients of `sum(f(x) * r)` w.r.t. `x` (and `w`, if given) on `dev`.
fn run_with_grads(
    dev: &Device,
    x: &Tensor,
    w: Option<&Tensor>,
    r: &Tensor,
    f: &dyn Fn(&Tensor, Option<&Tensor>) -> Tensor,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let xv = Var::from_tensor(&x.to_device(dev).unwrap()).unwrap();
    let wv = w.map(|w| Var::from_tensor(&w.to_device(dev).unwrap()).unwrap());
    let y = f(xv.as_tensor(), wv.as_ref().map(|w| w.as_tensor()));
    let r = r.to_device(dev).unwrap();
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gx = host(grads.get(xv.as_tensor()).unwrap());
    let gw = wv.map(|w| host(grads.get(w.as_tensor()).unwrap()));
    (host(&y), gx, gw)
}

#[test]
fn conv3d_on_the_gpu_matches_the_cpu_op_forward_and_backward() {
    let Some(dev) = gpu() else { return };
    // (input, c_out, kernel, stride, padding): the tower's 3x3x3 convs, strided and pointwise.
    let cases = [
        ([2, 3, 8, 20, 18], 8, 3, 1, 1),
        ([2, 8, 5, 9, 11], 16, 3, 1, 1),
        ([1, 4, 6, 10, 10], 5, 3, 2, 1),
        ([2, 6, 4, 7, 5], 3, 1, 1, 0),
    ];
    for (i, (xs, c_out, k, stride, padding)) in cases.into_iter().enumerate() {
        let seed = 40 + i as u64;
        let x = seeded_uniform(xs.as_slice(), -1.0, 1.0, seed, 0, &Device::Cpu).unwrap();
        let w = seeded_uniform((c_out, xs[1], k, k, k), -0.5, 0.5, seed, 1, &Device::Cpu).unwrap();
        let y_shape = conv3d(&x, &w, stride, padding).unwrap().dims().to_vec();
        let r = seeded_uniform(y_shape.as_slice(), -1.0, 1.0, seed, 2, &Device::Cpu).unwrap();
        let f = |x: &Tensor, w: Option<&Tensor>| conv3d(x, w.unwrap(), stride, padding).unwrap();
        let (y_cpu, gx_cpu, gw_cpu) = run_with_grads(&Device::Cpu, &x, Some(&w), &r, &f);
        let (y_gpu, gx_gpu, gw_gpu) = run_with_grads(&dev, &x, Some(&w), &r, &f);
        let errs = [
            rel_err(&y_gpu, &y_cpu),
            rel_err(&gx_gpu, &gx_cpu),
            rel_err(&gw_gpu.unwrap(), &gw_cpu.unwrap()),
        ];
        // TF32 tensor cores may serve cuBLAS's f32 GEMMs: ~1e-3 relative.
        assert!(errs.iter().all(|e| *e < 5e-3), "case {i}: {errs:?}");
    }
}

#[test]
fn max_pool_on_the_gpu_routes_the_gradient_like_the_cpu_op() {
    let Some(dev) = gpu() else { return };
    for (shape, kernel) in [([2, 3, 4, 6, 8], (2, 2, 2)), ([1, 2, 5, 7, 9], (1, 2, 2))] {
        let n: usize = shape.iter().product();
        // Distinct values (unique maxima), then one plane of ReLU-like ties at zero.
        let plane: usize = shape[2..].iter().product();
        let mut v: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % n) as f32 * 0.01 + 1.0)
            .collect();
        v[..plane].iter_mut().for_each(|x| *x = 0.0);
        let x = Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).unwrap();
        let f = |x: &Tensor, _: Option<&Tensor>| max_pool3d(x, kernel).unwrap();
        let y_shape = f(&x, None).dims().to_vec();
        let r = seeded_uniform(y_shape.as_slice(), 0.5, 1.5, 9, 0, &Device::Cpu).unwrap();
        let (y_cpu, gx_cpu, _) = run_with_grads(&Device::Cpu, &x, None, &r, &f);
        let (y_gpu, gx_gpu, _) = run_with_grads(&dev, &x, None, &r, &f);
        assert_eq!(y_gpu, y_cpu, "{shape:?}");
        // Every window sends its gradient to exactly one voxel, the CPU's unless tied.
        let total = |g: &[f32]| g.iter().sum::<f32>();
        assert!((total(&gx_gpu) - total(&gx_cpu)).abs() < 1e-3, "{shape:?}");
        let windows = (shape[2] / kernel.0) * (shape[3] / kernel.1) * (shape[4] / kernel.2);
        let ((gpu_tied, gpu_rest), (_, cpu_rest)) =
            (gx_gpu.split_at(plane), gx_cpu.split_at(plane));
        assert_eq!(gpu_rest, cpu_rest, "{shape:?}: unique maxima must match");
        let nonzero = gpu_tied.iter().filter(|g| **g != 0.0).count();
        assert_eq!(nonzero, windows, "{shape:?}: one voxel per tied window");
    }
}

#[test]
fn unet_tower_on_the_gpu_matches_the_cpu_and_trains() {
    let Some(dev) = gpu() else { return };
    let cfg = ImageTowerConfig {
        f_maps: vec![8, 16, 32],
        embed_dim: 32,
        ..ImageTowerConfig::default()
    };
    let x = seeded_uniform((2, 3, 8, 24, 24), -1.0, 1.0, 5, 0, &Device::Cpu).unwrap();
    let out = |dev: &Device| {
        let tower = build_tower(&cfg, seeded_var_builder(&VarMap::new(), 3, DType::F32, dev));
        host(&tower.unwrap().forward(&x.to_device(dev).unwrap()).unwrap())
    };
    let err = rel_err(&out(&dev), &out(&Device::Cpu));
    assert!(err < 5e-3, "tower output differs: {err}");

    // Full training steps (forward, backward, AdamW) at the model grid on the GPU.
    let mut bench = TowerBench::new(&cfg, 4, &dev).unwrap();
    let losses: Vec<f32> = (0..5).map(|_| bench.train_step().unwrap()).collect();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[4] < losses[0], "loss did not fall: {losses:?}");
    assert_eq!(bench.embed_study().unwrap().dims(), [1, 32]);
}
