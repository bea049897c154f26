//! The reference 3-D convolution: one candle `conv2d` per kernel-depth tap, summed. Slow
//! (backward goes through `conv_transpose2d`), but it runs on every candle device, so it is the
//! GPU fallback and a second opinion in the tests.

use candle_core::{Result, Tensor};

/// Reference 3-D convolution: one candle `conv2d` per kernel-depth tap, summed.
///
/// # Shapes
/// - `x`: `[b, c_in, d, h, w]`
/// - `w`: `[c_out, c_in, kd, kh, kw]` (cubic kernels only: kd = kh = kw)
/// - result: `[b, c_out, d_out, h_out, w_out]` with `n_out = (n + 2 * padding - k) / stride + 1`
pub fn conv3d_reference(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    let (b, c_in, d, h, wd) = x.dims5()?;
    let (c_out, c_in_w, kd, kh, kw) = w.dims5()?;
    if c_in != c_in_w || kd != kh || kh != kw || stride == 0 {
        candle_core::bail!(
            "conv3d: input {:?} and weight {:?} do not fit (stride {stride})",
            x.dims(),
            w.dims()
        );
    }
    let d_out = (d + 2 * padding).checked_sub(kd).map(|v| v / stride + 1);
    let Some(d_out) = d_out else {
        candle_core::bail!(
            "conv3d: kernel {kd} larger than padded depth {}",
            d + 2 * padding
        )
    };
    let x = x.pad_with_zeros(2, padding, padding)?; // [b, c_in, d + 2p, h, w]
    let mut acc: Option<Tensor> = None;
    for t in 0..kd {
        // Depth slices t, t + stride, ... (d_out of them).
        let xs = x.narrow(2, t, stride * (d_out - 1) + 1)?;
        let xs = if stride > 1 {
            let xs = xs.pad_with_zeros(2, 0, stride - 1)?; // make the length a multiple of stride
            xs.reshape((b, c_in, d_out, stride, h, wd))?
                .narrow(3, 0, 1)?
                .squeeze(3)?
        } else {
            xs
        };
        let xs = xs
            .permute((0, 2, 1, 3, 4))?
            .reshape((b * d_out, c_in, h, wd))?; // [b*d_out, c_in, h, w]
        let wt = w.narrow(2, t, 1)?.squeeze(2)?.contiguous()?; // [c_out, c_in, kh, kw]
        let y = xs.contiguous()?.conv2d(&wt, padding, stride, 1, 1)?; // [b*d_out, c_out, ho, wo]
        acc = Some(match acc {
            None => y,
            Some(a) => (a + y)?,
        });
    }
    let y = acc.ok_or_else(|| candle_core::Error::Msg("conv3d: empty kernel".into()))?;
    let (_, _, ho, wo) = y.dims4()?;
    y.reshape((b, d_out, c_out, ho, wo))?
        .permute((0, 2, 1, 3, 4))?
        .contiguous()
}
