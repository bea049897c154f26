//! vol2col (gather input patches into a column matrix) and its adjoint col2vol (scatter-add).
//!
//! The column matrix of a tile is `[c_in · k³, n]` row-major, `n` = the tile's output voxels
//! in `(od, oh, ow)` order, so every write runs along `ow`. Padding is handled by ranges
//! precomputed per kernel tap ([`Geometry::valid_range`]), never by a per-element test. Only
//! strided and padded 1x1x1 convolutions use this path (see `kernels`).

use std::ops::Range;

use super::gemm::Element;
use super::geometry::Geometry;

/// Per-tap valid output ranges along d, h and w.
struct TapRanges {
    d: Vec<(usize, usize)>,
    h: Vec<(usize, usize)>,
    w: Vec<(usize, usize)>,
}

impl TapRanges {
    fn new(g: &Geometry) -> Self {
        let axis = |a: usize| (0..g.k).map(|t| g.valid_range(a, t)).collect();
        TapRanges {
            d: axis(0),
            h: axis(1),
            w: axis(2),
        }
    }
}

/// Input index along an axis for output `o` and tap `t`; only called inside a valid range.
fn input_index(g: &Geometry, o: usize, t: usize) -> usize {
    ((o * g.stride + t) as isize - g.pad) as usize
}

/// Fills `col` (`[c_in · k³, rows.len() · w_out]`, row-major) with the patches of output rows
/// `rows` of one sample `x` (`[c_in, d, h, w]`).
pub(super) fn vol2col<T: Element>(g: &Geometry, x: &[T], rows: Range<usize>, col: &mut [T]) {
    let n = rows.len() * g.output[2];
    let in_vox = g.in_voxels();
    let ranges = TapRanges::new(g);
    debug_assert_eq!(col.len(), g.col_rows() * n);
    let mut col_rows = col.chunks_exact_mut(n.max(1));
    for xc in x.chunks_exact(in_vox).take(g.c_in) {
        // [d, h, w] of one channel
        for kd in 0..g.k {
            for kh in 0..g.k {
                for kw in 0..g.k {
                    let Some(dst) = col_rows.next() else { return };
                    fill_col_row(g, &ranges, xc, rows.clone(), [kd, kh, kw], dst);
                }
            }
        }
    }
}

/// One row of the column matrix: tap `[kd, kh, kw]` of channel `xc` (`[d, h, w]`) for every
/// voxel of output rows `rows`, line by line.
fn fill_col_row<T: Element>(
    g: &Geometry,
    ranges: &TapRanges,
    xc: &[T],
    rows: Range<usize>,
    [kd, kh, kw]: [usize; 3],
    dst: &mut [T],
) {
    let [_, h_out, w_out] = g.output;
    let [_, h, w] = g.input;
    let (wlo, whi) = ranges.w[kw];
    let ((dlo, dhi), (hlo, hhi)) = (ranges.d[kd], ranges.h[kh]);
    for (r, seg) in rows.zip(dst.chunks_exact_mut(w_out)) {
        let (od, oh) = (r / h_out, r % h_out);
        if od < dlo || od >= dhi || oh < hlo || oh >= hhi || wlo >= whi {
            seg.fill(T::ZERO);
            continue;
        }
        let line = (input_index(g, od, kd) * h + input_index(g, oh, kh)) * w;
        copy_line(g, &xc[line..line + w], (wlo, whi), kw, seg);
    }
}

/// One output line from input line `src` (`[w]`): zeros outside the valid `wlo..whi`.
fn copy_line<T: Element>(
    g: &Geometry,
    src: &[T],
    (wlo, whi): (usize, usize),
    kw: usize,
    seg: &mut [T],
) {
    let iw0 = input_index(g, wlo, kw);
    seg[..wlo].fill(T::ZERO);
    seg[whi..].fill(T::ZERO);
    if g.stride == 1 {
        seg[wlo..whi].copy_from_slice(&src[iw0..iw0 + (whi - wlo)]);
    } else {
        for (d, s) in seg[wlo..whi]
            .iter_mut()
            .zip(src[iw0..].iter().step_by(g.stride))
        {
            *d = *s;
        }
    }
}

/// Adds the column matrix `col` (layout as [`vol2col`]) back onto the input-shaped `dx`
/// (`[c_in, d, h, w]`): the adjoint of [`vol2col`].
pub(super) fn col2vol_add<T: Element>(g: &Geometry, col: &[T], rows: Range<usize>, dx: &mut [T]) {
    let [_, h_out, w_out] = g.output;
    let [_, h, w] = g.input;
    let n = rows.len() * w_out;
    let in_vox = g.in_voxels();
    let ranges = TapRanges::new(g);
    debug_assert_eq!(col.len(), g.col_rows() * n);
    let mut col_rows = col.chunks_exact(n.max(1));
    for dxc in dx.chunks_exact_mut(in_vox).take(g.c_in) {
        // [d, h, w] of one channel
        for kd in 0..g.k {
            for kh in 0..g.k {
                for kw in 0..g.k {
                    let Some(src) = col_rows.next() else { return };
                    let (wlo, whi) = ranges.w[kw];
                    let (dlo, dhi) = ranges.d[kd];
                    let (hlo, hhi) = ranges.h[kh];
                    if wlo >= whi {
                        continue;
                    }
                    for (r, seg) in rows.clone().zip(src.chunks_exact(w_out)) {
                        let (od, oh) = (r / h_out, r % h_out);
                        if od < dlo || od >= dhi || oh < hlo || oh >= hhi {
                            continue;
                        }
                        let line = (input_index(g, od, kd) * h + input_index(g, oh, kh)) * w;
                        let dst = &mut dxc[line..line + w];
                        let iw0 = input_index(g, wlo, kw);
                        for (d, s) in dst[iw0..].iter_mut().step_by(g.stride).zip(&seg[wlo..whi]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<vol2col(x), c> == <x, col2vol(c)>` for arbitrary x and c: the two are adjoint.
    #[test]
    fn col2vol_is_the_adjoint_of_vol2col() {
        for (stride, padding) in [(1, 1), (2, 1), (2, 0), (1, 0)] {
            let g = Geometry::forward(&[1, 2, 5, 4, 7], &[1, 2, 3, 3, 3], stride, padding).unwrap();
            let rows = 1..g.out_rows();
            let n = rows.len() * g.output[2];
            let x: Vec<f64> = (0..2 * g.in_voxels())
                .map(|i| (i as f64 * 0.73).sin())
                .collect();
            let c: Vec<f64> = (0..g.col_rows() * n)
                .map(|i| (i as f64 * 0.41).cos())
                .collect();
            let mut col = vec![f64::NAN; g.col_rows() * n];
            vol2col(&g, &x, rows.clone(), &mut col);
            let mut back = vec![0.0; x.len()];
            col2vol_add(&g, &c, rows, &mut back);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-9,
                "stride {stride} padding {padding}: {lhs} vs {rhs}"
            );
        }
    }
}
