//! Sizes of one 3-D convolution and how its output is cut into tiles.

use candle_core::{Result, Shape, bail};

/// Bytes of a tile's gathered input (per rayon task): small enough to stay in a core's L2
/// cache (2 MiB here) between being written and being read by GEMM, which reads it unpacked.
/// Measured on the encoder layers: 256 and 512 KiB are within noise, 1 MiB is ~15% slower.
const TARGET_COL_BYTES: usize = 512 << 10;

/// The sizes of a cubic-kernel 3-D convolution `y = conv(x, w)`.
///
/// Input voxel `i` along an axis feeds output voxel `o` through kernel tap `t` when
/// `i = o * stride + t - pad`. `pad` is signed so that the transposed convolution (the input
/// gradient, see [`Geometry::transposed`]) is a `Geometry` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geometry {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    /// Kernel edge (cubic kernels only).
    pub k: usize,
    pub stride: usize,
    pub pad: isize,
    /// Input spatial size `[d, h, w]`.
    pub input: [usize; 3],
    /// Output spatial size `[d_out, h_out, w_out]`.
    pub output: [usize; 3],
}

/// One unit of parallel work: output rows `rows.start..rows.end` of sample `b`, where output row
/// `r` is the line of voxels `(od, oh) = (r / h_out, r % h_out)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tile {
    pub b: usize,
    pub rows: std::ops::Range<usize>,
}

impl Geometry {
    /// Geometry of `conv3d(x, w)` from the dims of `x` `[b, c_in, d, h, w]` and of `w`
    /// `[c_out, c_in, k, k, k]`; errors when they do not fit.
    pub fn forward(x: &[usize], w: &[usize], stride: usize, padding: usize) -> Result<Self> {
        let (&[batch, c_in, d, h, wd], &[c_out, c_in_w, kd, kh, kw]) = (x, w) else {
            bail!("conv3d: expected 5-D input and weight, got {x:?} and {w:?}")
        };
        if c_in != c_in_w || kd != kh || kh != kw || kd == 0 || stride == 0 {
            bail!("conv3d: input {x:?} and weight {w:?} do not fit (stride {stride})")
        }
        let out = |n: usize| (n + 2 * padding).checked_sub(kd).map(|v| v / stride + 1);
        let (Some(d_out), Some(h_out), Some(w_out)) = (out(d), out(h), out(wd)) else {
            bail!("conv3d: kernel {kd} larger than padded input {x:?} (padding {padding})")
        };
        Ok(Geometry {
            batch,
            c_in,
            c_out,
            k: kd,
            stride,
            pad: padding as isize,
            input: [d, h, wd],
            output: [d_out, h_out, w_out],
        })
    }

    /// The stride-1 convolution that computes the input gradient: it runs over `dy` with the
    /// flipped, channel-swapped kernel and padding `k - 1 - pad`, and produces an output of the
    /// input's size. Only valid for `stride == 1`.
    pub fn transposed(&self) -> Self {
        debug_assert_eq!(self.stride, 1);
        Geometry {
            c_in: self.c_out,
            c_out: self.c_in,
            pad: self.k as isize - 1 - self.pad,
            input: self.output,
            output: self.input,
            ..*self
        }
    }

    /// Voxels of one input channel.
    pub fn in_voxels(&self) -> usize {
        self.input.iter().product()
    }

    /// Voxels of one output channel.
    pub fn out_voxels(&self) -> usize {
        self.output.iter().product()
    }

    /// Taps of the kernel cube, `k³`.
    pub fn taps(&self) -> usize {
        self.k * self.k * self.k
    }

    /// Rows of the column matrix (the GEMM's inner dimension), `c_in · k³`.
    pub fn col_rows(&self) -> usize {
        self.c_in * self.taps()
    }

    /// The output shape `[b, c_out, d_out, h_out, w_out]`.
    pub fn output_shape(&self) -> Shape {
        let [d, h, w] = self.output;
        Shape::from((self.batch, self.c_out, d, h, w))
    }

    /// A 1x1x1 convolution with stride 1 and no padding: the column matrix is the input itself.
    pub fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }

    /// Output indices `lo..hi` along `axis` whose input index `o * stride + tap - pad` lies inside
    /// the input; the others read padding. Empty (`lo == hi`) when none does.
    pub fn valid_range(&self, axis: usize, tap: usize) -> (usize, usize) {
        let s = self.stride as isize;
        let shift = tap as isize - self.pad; // i = o * s + shift
        let n_in = self.input[axis] as isize;
        let n_out = self.output[axis] as isize;
        // o >= ceil(-shift / s) and o <= floor((n_in - 1 - shift) / s)
        let lo = (-shift + s - 1).div_euclid(s).clamp(0, n_out);
        let hi = ((n_in - 1 - shift).div_euclid(s) + 1).clamp(lo, n_out);
        (lo as usize, hi as usize)
    }

    /// Output rows (lines along `w_out`) of one sample, `d_out · h_out`.
    pub fn out_rows(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// Cuts the output into tiles of whole output rows whose buffer (`row_bytes` per output row)
    /// stays near [`TARGET_COL_BYTES`], with at least a few tiles per thread where the problem
    /// allows it so that both cores stay busy.
    pub fn tiles(&self, row_bytes: usize, threads: usize) -> Vec<Tile> {
        let rows = self.out_rows();
        if rows == 0 || self.batch == 0 {
            return Vec::new();
        }
        let mut per_tile = (TARGET_COL_BYTES / row_bytes.max(1)).clamp(1, rows);
        let want = 4 * threads.max(1);
        let tiles_per_sample = rows.div_ceil(per_tile);
        if self.batch * tiles_per_sample < want {
            let per_sample = want.div_ceil(self.batch);
            per_tile = rows.div_ceil(per_sample).clamp(1, per_tile);
        }
        (0..self.batch)
            .flat_map(|b| {
                (0..rows).step_by(per_tile).map(move |r0| Tile {
                    b,
                    rows: r0..(r0 + per_tile).min(rows),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(n: usize, k: usize, stride: usize, padding: usize) -> Geometry {
        Geometry::forward(&[1, 1, n, n, n], &[1, 1, k, k, k], stride, padding).unwrap()
    }

    /// The valid range must agree with a brute-force scan of every output index.
    #[test]
    fn valid_range_matches_brute_force() {
        for n in 1..8 {
            for (k, stride, padding) in [
                (3, 1, 1),
                (3, 1, 0),
                (3, 2, 1),
                (3, 2, 0),
                (1, 1, 0),
                (1, 2, 1),
                (3, 1, 2),
            ] {
                if n + 2 * padding < k {
                    continue;
                }
                let g = geometry(n, k, stride, padding);
                let gs = if stride == 1 {
                    vec![g, g.transposed()]
                } else {
                    vec![g]
                };
                for g in gs {
                    for tap in 0..k {
                        let valid: Vec<usize> = (0..g.output[0])
                            .filter(|&o| {
                                let i = (o * g.stride + tap) as isize - g.pad;
                                i >= 0 && i < g.input[0] as isize
                            })
                            .collect();
                        let (lo, hi) = g.valid_range(0, tap);
                        assert_eq!(valid, (lo..hi).collect::<Vec<_>>(), "{g:?} tap {tap}");
                    }
                }
            }
        }
    }

    #[test]
    fn tiles_cover_every_row_once() {
        let g = Geometry::forward(&[3, 5, 7, 9, 11], &[4, 5, 3, 3, 3], 1, 1).unwrap();
        let tiles = g.tiles(4 * g.col_rows() * g.output[2], 2);
        assert!(tiles.len() >= 8);
        for b in 0..3 {
            let rows: Vec<usize> = tiles
                .iter()
                .filter(|t| t.b == b)
                .flat_map(|t| t.rows.clone())
                .collect();
            assert_eq!(rows, (0..g.out_rows()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn rejects_mismatched_shapes() {
        assert!(Geometry::forward(&[1, 2, 4, 4, 4], &[1, 3, 3, 3, 3], 1, 1).is_err());
        assert!(Geometry::forward(&[1, 2, 2, 4, 4], &[1, 2, 3, 3, 3], 1, 0).is_err());
        assert!(Geometry::forward(&[1, 2, 4, 4, 4], &[1, 2, 3, 3, 3], 0, 1).is_err());
        assert!(Geometry::forward(&[2, 4, 4, 4], &[1, 2, 3, 3, 3], 1, 1).is_err());
    }
}
