//! The GPU formulation of the 3-D convolution: vol2col built from candle tensor ops (one
//! strided view of the padded input per kernel tap, stacked) and one batched matrix multiply.
//! Every op in it has a backward on every candle device, so the gradients come from candle's
//! autograd and run as matrix multiplies (cuBLAS on CUDA) — unlike the conv2d decomposition
//! in [`super::conv3d_reference`], whose input gradient goes through `conv_transpose2d`.
//! Memory: the column tensor holds `k³` copies of the input (fine on a GPU, not the CPU path).

use candle_core::{Result, Tensor};

/// Every `stride`-th element of `x` along `dim`, starting at `start`, `n` of them.
fn strided(x: &Tensor, dim: usize, start: usize, n: usize, stride: usize) -> Result<Tensor> {
    let x = x.narrow(dim, start, stride * (n - 1) + 1)?;
    if stride == 1 {
        return Ok(x);
    }
    // Pad to a multiple of the stride, split the axis into (n, stride), keep offset 0.
    let x = x.pad_with_zeros(dim, 0, stride - 1)?;
    let mut dims = x.dims().to_vec();
    dims[dim] = n;
    dims.insert(dim + 1, stride);
    x.reshape(dims)?.narrow(dim + 1, 0, 1)?.squeeze(dim + 1)
}

/// 3-D convolution as stacked tap views and a batched matmul; same contract as
/// [`super::conv3d`] (cubic kernel, equal stride and padding on all axes).
///
/// # Shapes
/// - `x`: `[b, c_in, d, h, w]`, `w`: `[c_out, c_in, k, k, k]`
/// - result: `[b, c_out, d_out, h_out, w_out]`
pub fn conv3d_unfold(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let g = super::geometry::Geometry::forward(x.dims(), w.dims(), stride, padding)?;
    let (b, c_in, c_out, k) = (g.batch, g.c_in, g.c_out, g.k);
    let [d_out, h_out, w_out] = g.output;
    let x = x
        .pad_with_zeros(2, padding, padding)?
        .pad_with_zeros(3, padding, padding)?
        .pad_with_zeros(4, padding, padding)?;
    let mut taps = Vec::with_capacity(k * k * k);
    for kd in 0..k {
        let xd = strided(&x, 2, kd, d_out, stride)?;
        for kh in 0..k {
            let xh = strided(&xd, 3, kh, h_out, stride)?;
            for kw in 0..k {
                taps.push(strided(&xh, 4, kw, w_out, stride)?);
            }
        }
    }
    let n = d_out * h_out * w_out;
    // [b, c_in, k³, d_out, h_out, w_out] -> [b, c_in k³, n]; rows in the weight's order.
    let cols = Tensor::stack(&taps, 2)?.reshape((b, c_in * k * k * k, n))?;
    let w = w.reshape((1, c_out, c_in * k * k * k))?;
    w.broadcast_matmul(&cols)?
        .reshape((b, c_out, d_out, h_out, w_out))
}
