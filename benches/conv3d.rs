//! Conv3d forward and forward+backward for every convolution of the `unet` preset (f_maps
//! 16-32-64-128, batch 8, input 16x112x112), and the conv2d-per-tap reference on one layer.
//!
//! Throughput is reported in "elements" = floating-point operations (2·M·N·K per GEMM: one for
//! the forward, one per gradient), so criterion's `Gelem/s` reads as GFLOP/s.
//!
//! Run: `cargo bench --bench conv3d` (a few minutes on 2 cores). Built with `--features cuda`
//! and run where a CUDA device opens, it also times every layer on the GPU, where `conv3d` is
//! the conv2d-per-tap reference.

use std::hint::black_box;
use std::time::Duration;

use brainclip::model::conv3d::{conv3d, conv3d_reference};
use candle_core::{Device, Result, Tensor, Var};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// One convolution of the encoder: input `[b, c_in, d, h, w]` and `c_out` (3x3x3, padding 1).
struct Layer {
    name: &'static str,
    x: [usize; 5],
    c_out: usize,
}

const BATCH: usize = 8;

/// pytorch-3dunet's contracting path with f_maps 16-32-64-128: the first conv of a level has
/// max(out / 2, in) outputs; levels 2-4 follow a 2x2x2 max pool.
const LAYERS: [Layer; 8] = [
    Layer {
        name: "L1a 3->8 16x112x112",
        x: [BATCH, 3, 16, 112, 112],
        c_out: 8,
    },
    Layer {
        name: "L1b 8->16 16x112x112",
        x: [BATCH, 8, 16, 112, 112],
        c_out: 16,
    },
    Layer {
        name: "L2a 16->16 8x56x56",
        x: [BATCH, 16, 8, 56, 56],
        c_out: 16,
    },
    Layer {
        name: "L2b 16->32 8x56x56",
        x: [BATCH, 16, 8, 56, 56],
        c_out: 32,
    },
    Layer {
        name: "L3a 32->32 4x28x28",
        x: [BATCH, 32, 4, 28, 28],
        c_out: 32,
    },
    Layer {
        name: "L3b 32->64 4x28x28",
        x: [BATCH, 32, 4, 28, 28],
        c_out: 64,
    },
    Layer {
        name: "L4a 64->64 2x14x14",
        x: [BATCH, 64, 2, 14, 14],
        c_out: 64,
    },
    Layer {
        name: "L4b 64->128 2x14x14",
        x: [BATCH, 64, 2, 14, 14],
        c_out: 128,
    },
];

impl Layer {
    /// Floating-point operations of the forward GEMM, 2·M·N·K (padding 1 keeps the size).
    fn forward_flops(&self) -> u64 {
        let [b, c_in, d, h, w] = self.x;
        (2 * self.c_out * b * d * h * w * c_in * 27) as u64
    }

    /// Input and weight as variables on `dev`, values in [-1, 1) from a fixed pattern (no RNG
    /// needed).
    fn vars(&self, dev: &Device) -> Result<(Var, Var)> {
        let pattern = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919) % 2003) as f32 / 1001.5 - 1.0)
                .collect()
        };
        let n_x: usize = self.x.iter().product();
        let x = Tensor::from_vec(pattern(n_x), self.x.as_slice(), dev)?;
        let w = Tensor::from_vec(
            pattern(self.c_out * self.x[1] * 27),
            (self.c_out, self.x[1], 3, 3, 3),
            dev,
        )?;
        Ok((Var::from_tensor(&x)?, Var::from_tensor(&(w * 0.05)?)?))
    }
}

type ConvFn = fn(&Tensor, &Tensor, usize, usize) -> Result<Tensor>;

/// The forward, waiting for an asynchronous device.
fn forward(x: &Tensor, w: &Tensor, conv: ConvFn) -> Result<Tensor> {
    let y = conv(x, w, 1, 1)?;
    y.device().synchronize()?;
    Ok(y)
}

/// Forward and backward with dY = 1, returning the two gradients (device synchronised).
fn forward_backward(x: &Var, w: &Var, conv: ConvFn) -> Result<(Tensor, Tensor)> {
    let y = conv(x.as_tensor(), w.as_tensor(), 1, 1)?; // [b, c_out, d, h, w]
    let grads = y.backward()?;
    let missing = || candle_core::Error::Msg("missing gradient".into());
    let gx = grads.get(x.as_tensor()).ok_or_else(missing)?.clone();
    let gw = grads.get(w.as_tensor()).ok_or_else(missing)?.clone();
    gx.device().synchronize()?;
    Ok((gx, gw))
}

fn bench_layer(
    c: &mut Criterion,
    group_name: &str,
    layer: &Layer,
    conv: ConvFn,
    dev: &Device,
) -> Result<()> {
    let (x, w) = layer.vars(dev)?;
    let (xt, wt) = (x.as_tensor().detach(), w.as_tensor().detach());
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(layer.forward_flops()));
    group.bench_function(format!("forward {}", layer.name), |b| {
        b.iter(|| forward(black_box(&xt), black_box(&wt), conv).map(black_box))
    });
    // Backward adds the input and the weight gradient, each as many flops as the forward.
    group.throughput(Throughput::Elements(3 * layer.forward_flops()));
    group.bench_function(format!("fwd+bwd {}", layer.name), |b| {
        b.iter(|| forward_backward(black_box(&x), black_box(&w), conv).map(black_box))
    });
    group.finish();
    Ok(())
}

fn conv3d_layers(c: &mut Criterion) {
    for layer in &LAYERS {
        if let Err(e) = bench_layer(c, "conv3d", layer, conv3d, &Device::Cpu) {
            eprintln!("conv3d {}: {e:#}", layer.name);
        }
    }
}

fn reference_layer(c: &mut Criterion) {
    if let Err(e) = bench_layer(
        c,
        "conv3d_reference",
        &LAYERS[3],
        conv3d_reference,
        &Device::Cpu,
    ) {
        eprintln!("conv3d_reference: {e:#}");
    }
}

/// Every layer on CUDA device 0 (where `conv3d` is the conv2d-per-tap reference); skipped
/// without a device.
fn cuda_layers(c: &mut Criterion) {
    let Ok(dev) = Device::new_cuda(0) else {
        eprintln!("conv3d_reference_cuda: skipped, no CUDA device (build with --features cuda)");
        return;
    };
    for layer in &LAYERS {
        if let Err(e) = bench_layer(c, "conv3d_reference_cuda", layer, conv3d_reference, &dev) {
            eprintln!("conv3d_reference_cuda {}: {e:#}", layer.name);
        }
    }
}

criterion_group!(benches, conv3d_layers, reference_layer, cuda_layers);
criterion_main!(benches);
