//! The candle custom ops: [`Conv3dOp`] (forward, with a backward that calls the two gradient
//! ops) and the gradient ops [`Conv3dInputGrad`] and [`Conv3dWeightGrad`], each one CPU kernel.

use std::borrow::Cow;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, bail};

use super::gemm::Element;
use super::geometry::Geometry;
use super::kernels;

/// The elements of a CPU tensor in row-major order: borrowed when the layout is contiguous,
/// gathered through the strides otherwise (permuted, narrowed or broadcast tensors).
fn contiguous<'a, T: Element>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Cow::Borrowed(&data[start..end]);
    }
    let dims = layout.dims();
    let strides = layout.stride();
    let mut out = Vec::with_capacity(layout.shape().elem_count());
    let mut index = vec![0usize; dims.len()];
    let mut offset = layout.start_offset();
    if dims.contains(&0) {
        return Cow::Owned(out);
    }
    loop {
        out.push(data[offset]);
        // Odometer over the multi-index, last axis fastest.
        let mut axis = dims.len();
        loop {
            if axis == 0 {
                return Cow::Owned(out);
            }
            axis -= 1;
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < dims[axis] {
                break;
            }
            offset -= strides[axis] * dims[axis];
            index[axis] = 0;
        }
    }
}

/// Runs `f` on the two operands as contiguous `f32` or `f64` slices.
fn with_slices(
    name: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f32_fn: impl FnOnce(&[f32], &[f32]) -> Vec<f32>,
    f64_fn: impl FnOnce(&[f64], &[f64]) -> Vec<f64>,
) -> Result<CpuStorage> {
    match (s1, s2) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => Ok(CpuStorage::F32(f32_fn(
            &contiguous(a, l1),
            &contiguous(b, l2),
        ))),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => Ok(CpuStorage::F64(f64_fn(
            &contiguous(a, l1),
            &contiguous(b, l2),
        ))),
        (a, b) => bail!(
            "{name}: unsupported dtypes {:?} and {:?} (f32 or f64 expected)",
            a.dtype(),
            b.dtype()
        ),
    }
}

/// `conv3d(x, w)`: arg 1 is the input `[b, c_in, d, h, w]`, arg 2 the weight
/// `[c_out, c_in, k, k, k]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv3dOp {
    pub stride: usize,
    pub padding: usize,
}

impl CustomOp2 for Conv3dOp {
    fn name(&self) -> &'static str {
        "conv3d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::forward(l1.dims(), l2.dims(), self.stride, self.padding)?;
        let y = with_slices(
            self.name(),
            (s1, l1),
            (s2, l2),
            |x, w| kernels::forward(&g, x, w),
            |x, w| kernels::forward(&g, x, w),
        )?;
        Ok((y, g.output_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // Skip the gradients nobody asked for (e.g. of the input image).
        let dx = if x.track_op() {
            let (_, _, d, h, wd) = x.dims5()?;
            let op = Conv3dInputGrad {
                stride: self.stride,
                padding: self.padding,
                input: [d, h, wd],
            };
            Some(dy.apply_op2_no_bwd(w, &op)?)
        } else {
            None
        };
        let dw = if w.track_op() {
            let op = Conv3dWeightGrad {
                stride: self.stride,
                padding: self.padding,
                k: w.dim(2)?,
            };
            Some(x.apply_op2_no_bwd(dy, &op)?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// The input gradient: arg 1 is `dy` `[b, c_out, d_out, h_out, w_out]`, arg 2 the weight
/// `[c_out, c_in, k, k, k]`; the result has the input's shape `[b, c_in, d, h, w]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv3dInputGrad {
    pub stride: usize,
    pub padding: usize,
    /// The forward input's spatial size `[d, h, w]`.
    pub input: [usize; 3],
}

impl CustomOp2 for Conv3dInputGrad {
    fn name(&self) -> &'static str {
        "conv3d-input-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[b, c_out, ..], &[_, c_in, ..]) = (l1.dims(), l2.dims()) else {
            bail!(
                "{}: expected 5-D dy and weight, got {:?} and {:?}",
                self.name(),
                l1.dims(),
                l2.dims()
            )
        };
        let [d, h, w] = self.input;
        let g = Geometry::forward(&[b, c_in, d, h, w], l2.dims(), self.stride, self.padding)?;
        if g.output_shape().dims() != l1.dims() || g.c_out != c_out {
            bail!(
                "{}: dy {:?} does not match the forward output {:?}",
                self.name(),
                l1.dims(),
                g.output_shape()
            )
        }
        let dx = with_slices(
            self.name(),
            (s1, l1),
            (s2, l2),
            |dy, w| kernels::input_grad(&g, dy, w),
            |dy, w| kernels::input_grad(&g, dy, w),
        )?;
        Ok((dx, Shape::from((b, c_in, d, h, w))))
    }
}

/// The weight gradient: arg 1 is the input `x` `[b, c_in, d, h, w]`, arg 2 `dy`
/// `[b, c_out, d_out, h_out, w_out]`; the result has the weight's shape `[c_out, c_in, k, k, k]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv3dWeightGrad {
    pub stride: usize,
    pub padding: usize,
    /// Kernel edge.
    pub k: usize,
}

impl CustomOp2 for Conv3dWeightGrad {
    fn name(&self) -> &'static str {
        "conv3d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[_, c_in, ..], &[_, c_out, ..]) = (l1.dims(), l2.dims()) else {
            bail!(
                "{}: expected 5-D x and dy, got {:?} and {:?}",
                self.name(),
                l1.dims(),
                l2.dims()
            )
        };
        let k = self.k;
        let g = Geometry::forward(
            l1.dims(),
            &[c_out, c_in, k, k, k],
            self.stride,
            self.padding,
        )?;
        if g.output_shape().dims() != l2.dims() {
            bail!(
                "{}: dy {:?} does not match the forward output {:?}",
                self.name(),
                l2.dims(),
                g.output_shape()
            )
        }
        let dw = with_slices(
            self.name(),
            (s1, l1),
            (s2, l2),
            |x, dy| kernels::weight_grad(&g, x, dy),
            |x, dy| kernels::weight_grad(&g, x, dy),
        )?;
        Ok((dw, Shape::from((c_out, c_in, k, k, k))))
    }
}
