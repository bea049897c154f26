//! The padded-lines path for stride-1 convolutions with `k > 1` (all 3x3x3 layers).
//!
//! For a tile of output rows, the *tap matrix* `B[c_in · k², cols]` holds, in row
//! `(ci, kd, kh)`, the zero-padded input line `(od + kd - pad, oh + kh - pad)` of each of the
//! tile's output rows, laid end to end, `wp = w + 2 · pad` columns per row. Output voxel
//! `(row i, ow)` is column `i · wp + ow`, and its tap `kw` sits `kw` columns further, so with
//! `W_kw = W[:, :, :, :, kw]` (`[M, c_in · k²]`, a strided view, no copy):
//!
//! - forward: `Y[M, cols] = Σ_kw W_kw · B[:, kw..kw + cols]`, `k` GEMMs on shifted views of
//!   one matrix; the `k - 1` columns per line past `w_out` are computed and dropped;
//! - weight gradient: `dW_kw += dY[M, cols] · B[:, kw..kw + cols]ᵀ`, with `dY` spread to the same
//!   columns and zero in the dropped ones.
//!
//! Compared with vol2col (`c_in · k³` rows of `N` voxels), `B` has `k` times fewer rows to
//! gather; the extra GEMM columns cost `(k - 1) / wp` (2% at w = 112, 12% at w = 14).

use std::ops::Range;

use rayon::prelude::*;

use super::gemm::{Element, MatMut, MatRef, matmul};
use super::geometry::Geometry;
use super::kernels::{Scratch, add_into, output_segments, scratch, threads};

/// Tile columns are padded to a multiple of the widest SIMD vector (16 f32): gemm copies
/// (repacks) operands whose length is not a multiple of it.
const ALIGN: usize = 16;

/// Whether this path computes `g`: stride 1, a kernel wider than 1 and no negative padding.
pub(super) fn applies(g: &Geometry) -> bool {
    g.stride == 1 && g.k > 1 && g.pad >= 0
}

/// Sizes of the padded input and of a tile's tap matrix.
struct Lines {
    /// Padding on each side.
    pad: usize,
    /// Padded size `[dp, hp, wp]`.
    padded: [usize; 3],
    /// Rows of the tap matrix, `c_in · k²`.
    taps: usize,
}

impl Lines {
    fn new(g: &Geometry) -> Self {
        let pad = g.pad.max(0) as usize;
        Lines {
            pad,
            padded: g.input.map(|n| n + 2 * pad),
            taps: g.c_in * g.k * g.k,
        }
    }

    /// GEMM columns of a tile of `rows` output rows.
    fn cols(&self, rows: usize) -> usize {
        (rows * self.padded[2]).div_ceil(ALIGN) * ALIGN
    }

    /// Bytes of the tap matrix per output row, for [`Geometry::tiles`].
    fn row_bytes<T>(&self) -> usize {
        self.taps * self.padded[2] * size_of::<T>()
    }
}

/// Fills the tap matrix `taps` (`[c_in · k², ld]`, row-major) for output rows `rows` of one
/// sample `x` (`[c_in, d, h, w]`): per output row, the padded input line `wp` long. Columns
/// past `rows.len() · wp` keep whatever they held: they only feed dropped outputs (forward) or
/// meet zeros in `dy` (weight gradient).
///
/// This copies line by line from the unpadded input: a zero-padded copy of the whole input
/// would make the per-row copies single blocks, but costs more in page faults (fresh memory
/// every call) than it saves.
fn fill_taps<T: Element>(
    g: &Geometry,
    l: &Lines,
    x: &[T],
    rows: Range<usize>,
    ld: usize,
    taps: &mut [T],
) {
    let [d, h, w] = g.input;
    let h_out = g.output[1];
    let (p, wp) = (l.pad, l.padded[2]);
    let mut dst_rows = taps.chunks_exact_mut(ld);
    for xc in x.chunks_exact(g.in_voxels()) {
        // [d, h, w] of one channel
        for kd in 0..g.k {
            for kh in 0..g.k {
                let Some(dst) = dst_rows.next() else { return };
                for (r, seg) in rows.clone().zip(dst.chunks_exact_mut(wp)) {
                    // Input line (od + kd - p, oh + kh - p), if inside the input.
                    let (id, ih) = (
                        (r / h_out + kd).wrapping_sub(p),
                        (r % h_out + kh).wrapping_sub(p),
                    );
                    if id >= d || ih >= h {
                        seg.fill(T::ZERO);
                        continue;
                    }
                    let line = (id * h + ih) * w;
                    let (left, rest) = seg.split_at_mut(p);
                    let (mid, right) = rest.split_at_mut(w);
                    zero_small(left);
                    mid.copy_from_slice(&xc[line..line + w]);
                    zero_small(right);
                }
            }
        }
    }
}

/// Zeroes a slice of padding (usually one element) without a `memset` call.
fn zero_small<T: Element>(s: &mut [T]) {
    for v in s {
        *v = T::ZERO;
    }
}

/// Forward convolution (see [`super::kernels::forward`]).
pub(super) fn forward<T: Element>(g: &Geometry, x: &[T], w: &[T]) -> Vec<T> {
    let l = Lines::new(g);
    let (m, k, kk, w_out, wp) = (g.c_out, g.k, g.col_rows(), g.output[2], l.padded[2]);
    let sample = g.c_in * g.in_voxels();
    let mut y = vec![T::ZERO; g.batch * m * g.out_voxels()]; // [b, c_out, d_out, h_out, w_out]
    let tiles = g.tiles(l.row_bytes::<T>(), threads());
    output_segments(g, &tiles, &mut y)
        .into_par_iter()
        .for_each_init(Scratch::new, |s, (tile, mut segs)| {
            let cols = l.cols(tile.rows.len());
            let ld = cols + k - 1;
            let taps = scratch(&mut s.gathered, l.taps * ld);
            fill_taps(
                g,
                &l,
                &x[tile.b * sample..(tile.b + 1) * sample],
                tile.rows.clone(),
                ld,
                taps,
            );
            let out = scratch(&mut s.out, m * cols); // [c_out, cols]
            for kw in 0..k {
                let w_kw = MatRef {
                    data: &w[kw..],
                    rows: m,
                    cols: l.taps,
                    rs: kk,
                    cs: k,
                };
                let b_kw = MatRef {
                    data: &taps[kw..],
                    rows: l.taps,
                    cols,
                    rs: ld,
                    cs: 1,
                };
                matmul(MatMut::row_major(out, m, cols), w_kw, b_kw, kw > 0);
            }
            for (seg, o) in segs.iter_mut().zip(out.chunks_exact(cols)) {
                for (dst, src) in seg.chunks_exact_mut(w_out).zip(o.chunks_exact(wp)) {
                    dst.copy_from_slice(&src[..w_out]);
                }
            }
        });
    y
}

/// Weight gradient (see [`super::kernels::weight_grad`]): per rayon task an accumulator
/// `[k, c_in · k², c_out]` (one `dW_kwᵀ` per `kw`), summed, then reordered to the weight layout.
pub(super) fn weight_grad<T: Element>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let l = Lines::new(g);
    let (m, k, w_out, wp, n_out) = (g.c_out, g.k, g.output[2], l.padded[2], g.out_voxels());
    let sample = g.c_in * g.in_voxels();
    let per_kw = m * l.taps;
    let threads = threads();
    let tiles = g.tiles(l.row_bytes::<T>(), threads);
    let min_len = (tiles.len() / (4 * threads)).max(1);
    let acc = tiles
        .par_iter()
        .with_min_len(min_len)
        .fold(
            || (Scratch::new(), vec![T::ZERO; k * per_kw]),
            |(mut s, mut acc), tile| {
                let (rows, cols) = (tile.rows.len(), l.cols(tile.rows.len()));
                let ld = cols + k - 1;
                let taps = scratch(&mut s.gathered, l.taps * ld);
                fill_taps(
                    g,
                    &l,
                    &x[tile.b * sample..(tile.b + 1) * sample],
                    tile.rows.clone(),
                    ld,
                    taps,
                );
                // dy of the tile on the tap matrix's columns, zero in the dropped ones.
                let dyt = scratch(&mut s.out, m * cols); // [c_out, cols]
                dyt.fill(T::ZERO);
                let dyb = &dy[tile.b * m * n_out..(tile.b + 1) * m * n_out]; // [c_out, n_out]
                for (dst, src) in dyt.chunks_exact_mut(cols).zip(dyb.chunks_exact(n_out)) {
                    let src = &src[tile.rows.start * w_out..tile.rows.end * w_out];
                    for (d, s) in dst[..rows * wp]
                        .chunks_exact_mut(wp)
                        .zip(src.chunks_exact(w_out))
                    {
                        d[..w_out].copy_from_slice(s);
                    }
                }
                let dyt = MatRef::row_major(&*dyt, m, cols);
                for (kw, dw) in acc.chunks_exact_mut(per_kw).enumerate() {
                    let b_kw = MatRef {
                        data: &taps[kw..],
                        rows: l.taps,
                        cols,
                        rs: ld,
                        cs: 1,
                    };
                    // dW_kw is accumulated transposed (`[c_in · k², c_out]`): a column-major
                    // destination keeps gemm from transposing the product and repacking the
                    // large tap matrix on every call (measured 10-30% faster for c_out <= 32).
                    let dst = MatMut {
                        data: dw,
                        rows: m,
                        cols: l.taps,
                        rs: 1,
                        cs: m,
                    };
                    matmul(dst, dyt, b_kw.t(), true);
                }
                (s, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(|| vec![T::ZERO; k * per_kw], add_into);
    // [k, c_in · k², c_out] -> [c_out, c_in · k², k]
    let mut dw = vec![T::ZERO; k * per_kw];
    for (kw, a) in acc.chunks_exact(per_kw).enumerate() {
        for (i, v) in a.iter().enumerate() {
            let (t, co) = (i / m, i % m);
            dw[(co * l.taps + t) * k + kw] = *v;
        }
    }
    dw
}
