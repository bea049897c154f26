//! 3-D convolution as a candle custom op with its own forward and backward (CPU), plus the
//! [`Conv3d`] layer built on it.
//!
//! Design (see `kernels`, `lines`, `cols`): the output is cut into tiles of whole output rows;
//! each rayon task gathers its tile's input into an L2-sized matrix and multiplies it with the
//! weight using the `gemm` crate (the one candle's matmul uses), single-threaded per tile.
//! Stride-1 3x3x3 layers gather only the `(ci, kd, kh)` taps into zero-padded lines and get the
//! `kw` taps as shifted views of that matrix (3 GEMMs, a third of vol2col's copying); other
//! geometries use plain vol2col, and 1x1x1 stride-1 layers multiply the input directly.
//! The backward pass is two more single-kernel custom ops: the input gradient (stride 1: the
//! forward kernel over `dy` with the flipped kernel; other strides: GEMM + col2vol) and the
//! weight gradient (GEMM against the re-gathered input, accumulated over tiles and batch).
//!
//! On CUDA/Metal tensors, and for dtypes other than f32/f64, [`conv3d`] falls back to
//! [`conv3d_reference`] (one candle `conv2d` per depth tap), which every backend supports; on
//! an H200 it beat a tensor-op vol2col + cuBLAS formulation on every layer (benches/README.md).
//! A native GPU kernel (or cuDNN) is what would match PyTorch there.

mod cols;
mod gemm;
mod geometry;
mod kernels;
mod lines;
mod ops;
mod reference;
#[cfg(test)]
mod tests;
mod vol2col;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

pub use reference::conv3d_reference;

/// 3-D convolution with a cubic kernel: the fast CPU custom op (forward and backward), or
/// [`conv3d_reference`] on other devices and dtypes.
///
/// # Shapes
/// - `x`: `[b, c_in, d, h, w]`
/// - `w`: `[c_out, c_in, k, k, k]`
/// - result: `[b, c_out, d_out, h_out, w_out]` with `n_out = (n + 2 * padding - k) / stride + 1`
pub fn conv3d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    // Validates ranks and sizes up front, with the same message on every device.
    geometry::Geometry::forward(x.dims(), w.dims(), stride, padding)?;
    let fast_dtype = matches!(x.dtype(), DType::F32 | DType::F64) && x.dtype() == w.dtype();
    if x.device().is_cpu() && w.device().is_cpu() && fast_dtype {
        x.apply_op2(w, ops::Conv3dOp { stride, padding })
    } else {
        conv3d_reference(x, w, stride, padding)
    }
}

/// A Conv3d layer with cubic kernel, optional bias. Weights live under `weight` (and `bias`)
/// of the given `VarBuilder` prefix, shaped like PyTorch's.
#[derive(Debug, Clone)]
pub struct Conv3d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
}

impl Conv3d {
    /// Creates (or loads) the layer's variables through `vb`.
    pub fn new(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Result<Self> {
        let fan_in = (c_in * kernel * kernel * kernel) as f64;
        let bound = (1.0 / fan_in).sqrt();
        let weight = vb.get_with_hints(
            (c_out, c_in, kernel, kernel, kernel),
            "weight",
            candle_nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        let bias = if bias {
            Some(vb.get_with_hints(
                c_out,
                "bias",
                candle_nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )?)
        } else {
            None
        };
        Ok(Conv3d {
            weight,
            bias,
            stride,
            padding,
        })
    }

    /// The weight `[c_out, c_in, k, k, k]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for Conv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = conv3d(x, &self.weight, self.stride, self.padding)?;
        match &self.bias {
            None => Ok(y),
            Some(b) => {
                let b = b.reshape((1, b.dim(0)?, 1, 1, 1))?;
                y.broadcast_add(&b)
            }
        }
    }
}
