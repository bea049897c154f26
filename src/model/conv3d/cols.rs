//! The vol2col path: a tile's column matrix `[c_in · k³, N]` (`N` = the tile's output voxels)
//! gathered by [`vol2col`] (or the input itself for 1x1x1 stride-1 convolutions), then, with
//! `M = c_out` and `K = c_in · k³`:
//! - forward: `Y[M, N] = W[M, K] · col[K, N]`;
//! - weight gradient: `dW[M, K] += dY[M, N] · col[K, N]ᵀ`, summed over tiles and batch;
//! - input gradient for strides > 1: `dcol[K, N] = Wᵀ · dY[M, N]`, then col2vol scatter-add,
//!   one task per sample (the scatters of neighbouring tiles overlap).

use rayon::prelude::*;

use super::gemm::{Element, MatMut, MatRef, matmul};
use super::geometry::{Geometry, Tile};
use super::kernels::{Scratch, add_into, output_segments, scratch, threads};
use super::vol2col::{col2vol_add, vol2col};

/// Bytes of a tile's column matrix per output row.
fn row_bytes<T>(g: &Geometry) -> usize {
    g.col_rows() * g.output[2] * size_of::<T>()
}

/// The column matrix of `tile` (`[K, N]`): the input itself for pointwise convolutions,
/// otherwise vol2col into `col`.
fn col_matrix<'a, T: Element>(
    g: &Geometry,
    xb: &'a [T],
    tile: &Tile,
    col: &'a mut Vec<T>,
) -> MatRef<'a, T> {
    let n = tile.rows.len() * g.output[2];
    if g.is_pointwise() {
        let start = tile.rows.start * g.output[2];
        return MatRef {
            data: &xb[start..],
            rows: g.c_in,
            cols: n,
            rs: g.in_voxels(),
            cs: 1,
        };
    }
    let buf = scratch(col, g.col_rows() * n);
    vol2col(g, xb, tile.rows.clone(), buf);
    MatRef::row_major(buf, g.col_rows(), n)
}

/// Forward convolution (see [`super::kernels::forward`]).
pub(super) fn forward<T: Element>(g: &Geometry, x: &[T], w: &[T]) -> Vec<T> {
    let (m, n_out, n_in) = (g.c_out, g.out_voxels(), g.c_in * g.in_voxels());
    let mut y = vec![T::ZERO; g.batch * m * n_out]; // [b, c_out, d_out, h_out, w_out]
    let tiles = g.tiles(row_bytes::<T>(g), threads());
    let wm = MatRef::row_major(w, m, g.col_rows());
    output_segments(g, &tiles, &mut y)
        .into_par_iter()
        .for_each_init(Scratch::new, |s, (tile, mut segs)| {
            let n = tile.rows.len() * g.output[2];
            let xb = &x[tile.b * n_in..(tile.b + 1) * n_in]; // [c_in, d, h, w]
            let col = col_matrix(g, xb, tile, &mut s.gathered);
            let out = scratch(&mut s.out, m * n);
            matmul(MatMut::row_major(out, m, n), wm, col, false);
            for (seg, o) in segs.iter_mut().zip(out.chunks_exact(n)) {
                seg.copy_from_slice(o);
            }
        });
    y
}

/// Input gradient of a strided convolution: GEMM + col2vol, one task per sample. With batch 1
/// this runs on one core, but only strided convolutions (not used by the encoder) take it.
pub(super) fn input_grad_strided<T: Element>(g: &Geometry, dy: &[T], w: &[T]) -> Vec<T> {
    let (m, kk, n_out, n_in) = (
        g.c_out,
        g.col_rows(),
        g.out_voxels(),
        g.c_in * g.in_voxels(),
    );
    let mut dx = vec![T::ZERO; g.batch * n_in]; // [b, c_in, d, h, w]
    if n_in == 0 || m * n_out == 0 {
        return dx;
    }
    let tiles = Geometry { batch: 1, ..*g }.tiles(row_bytes::<T>(g), 1);
    let wt = MatRef::row_major(w, m, kk).t(); // [K, M]
    dx.par_chunks_exact_mut(n_in)
        .zip(dy.par_chunks_exact(m * n_out))
        .for_each_init(Vec::new, |col, (dxb, dyb)| {
            for tile in &tiles {
                let n = tile.rows.len() * g.output[2];
                let start = tile.rows.start * g.output[2];
                let dyt = MatRef {
                    data: &dyb[start..],
                    rows: m,
                    cols: n,
                    rs: n_out,
                    cs: 1,
                };
                let buf = scratch(col, kk * n);
                matmul(MatMut::row_major(buf, kk, n), wt, dyt, false);
                col2vol_add(g, buf, tile.rows.clone(), dxb);
            }
        });
    dx
}

/// Weight gradient (see [`super::kernels::weight_grad`]): one `dW` accumulator per rayon task
/// (a few per thread), summed at the end.
pub(super) fn weight_grad<T: Element>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (m, kk, n_out, n_in) = (
        g.c_out,
        g.col_rows(),
        g.out_voxels(),
        g.c_in * g.in_voxels(),
    );
    let threads = threads();
    let tiles = g.tiles(row_bytes::<T>(g), threads);
    let min_len = (tiles.len() / (4 * threads)).max(1);
    tiles
        .par_iter()
        .with_min_len(min_len)
        .fold(
            || (Vec::new(), vec![T::ZERO; m * kk]),
            |(mut col, mut dw), tile| {
                let n = tile.rows.len() * g.output[2];
                let start = tile.b * m * n_out + tile.rows.start * g.output[2];
                let dyt = MatRef {
                    data: &dy[start..],
                    rows: m,
                    cols: n,
                    rs: n_out,
                    cs: 1,
                };
                let xb = &x[tile.b * n_in..(tile.b + 1) * n_in]; // [c_in, d, h, w]
                let colm = col_matrix(g, xb, tile, &mut col);
                matmul(MatMut::row_major(&mut dw, m, kk), dyt, colm.t(), true);
                (col, dw)
            },
        )
        .map(|(_, dw)| dw)
        .reduce(|| vec![T::ZERO; m * kk], add_into)
}
