//! The three CPU kernels of the convolution on contiguous slices (forward, input gradient,
//! weight gradient), dispatching to one of two implementations:
//!
//! - [`lines`]: stride 1 with a kernel wider than 1 (every 3x3x3 layer of the model). Taps along
//!   `w` become shifted views of one matrix, so the gather is 3x smaller than vol2col's.
//! - [`cols`]: everything else: classic vol2col + GEMM (and a no-copy path for 1x1x1).
//!
//! Both cut the output into [`Tile`]s of whole output rows; a rayon task fills an L2-sized
//! buffer for its tile and runs single-threaded GEMMs on it, so the buffer never leaves the
//! core's cache and memory stays bounded (see `geometry::TARGET_COL_BYTES`). The input
//! gradient of a stride-1 convolution is the forward kernel run over `dy` with the flipped,
//! channel-swapped kernel ([`Geometry::transposed`]), so its tiles write disjoint outputs too.

use super::cols;
use super::gemm::Element;
use super::geometry::{Geometry, Tile};
use super::lines;

/// Forward convolution.
///
/// # Shapes
/// - `x`: `[b, c_in, d, h, w]`, `w`: `[c_out, c_in · k³]`
/// - result: `[b, c_out, d_out, h_out, w_out]`
pub(super) fn forward<T: Element>(g: &Geometry, x: &[T], w: &[T]) -> Vec<T> {
    if g.in_voxels() == 0 || g.c_in == 0 {
        return vec![T::ZERO; g.batch * g.c_out * g.out_voxels()];
    }
    if lines::applies(g) {
        lines::forward(g, x, w)
    } else {
        cols::forward(g, x, w)
    }
}

/// Gradient of the convolution with respect to its input.
///
/// # Shapes
/// - `dy`: `[b, c_out, d_out, h_out, w_out]`, `w`: `[c_out, c_in · k³]`
/// - result: `[b, c_in, d, h, w]`
pub(super) fn input_grad<T: Element>(g: &Geometry, dy: &[T], w: &[T]) -> Vec<T> {
    if g.stride == 1 {
        forward(&g.transposed(), dy, &flip_kernel(g, w))
    } else {
        cols::input_grad_strided(g, dy, w)
    }
}

/// Gradient of the convolution with respect to its weight.
///
/// # Shapes
/// - `x`: `[b, c_in, d, h, w]`, `dy`: `[b, c_out, d_out, h_out, w_out]`
/// - result: `[c_out, c_in · k³]`
pub(super) fn weight_grad<T: Element>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    if g.in_voxels() == 0 || g.out_voxels() == 0 {
        return vec![T::ZERO; g.c_out * g.col_rows()];
    }
    if lines::applies(g) {
        lines::weight_grad(g, x, dy)
    } else {
        cols::weight_grad(g, x, dy)
    }
}

/// The kernel of the transposed (input-gradient) convolution:
/// `wt[ci, co, t] = w[co, ci, k³ - 1 - t]`.
///
/// # Shapes
/// - `w`: `[c_out, c_in · k³]`; result `[c_in, c_out · k³]`
fn flip_kernel<T: Element>(g: &Geometry, w: &[T]) -> Vec<T> {
    let taps = g.taps();
    let mut wt = vec![T::ZERO; w.len()];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            for t in 0..taps {
                wt[(ci * g.c_out + co) * taps + t] = w[(co * g.c_in + ci) * taps + taps - 1 - t];
            }
        }
    }
    wt
}

/// Per-task scratch buffers, reused across the tiles a rayon task processes.
pub(super) struct Scratch<T> {
    /// The gathered input of a tile (column or tap matrix).
    pub gathered: Vec<T>,
    /// The tile's GEMM output (or the tile's `dy`).
    pub out: Vec<T>,
}

impl<T> Scratch<T> {
    pub fn new() -> Self {
        Scratch {
            gathered: Vec::new(),
            out: Vec::new(),
        }
    }
}

/// Resizes `buf` to `len` and returns it; stale contents are left for the caller to overwrite.
pub(super) fn scratch<T: Element>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    buf.resize(len, T::ZERO);
    &mut buf[..len]
}

/// The number of threads tasks are spread over.
pub(super) fn threads() -> usize {
    rayon::current_num_threads()
}

/// Pairs each tile with its slices of the output `y` (`[b, c_out, d_out · h_out · w_out]`): a tile
/// owns the same voxel range in every output-channel row of its sample, so the tasks can
/// write those disjoint segments without locks. `tiles` must come from [`Geometry::tiles`].
pub(super) fn output_segments<'a, T>(
    g: &Geometry,
    tiles: &'a [Tile],
    y: &'a mut [T],
) -> Vec<(&'a Tile, Vec<&'a mut [T]>)> {
    let (m, n_out) = (g.c_out, g.out_voxels());
    let mut jobs: Vec<(&Tile, Vec<&mut [T]>)> =
        tiles.iter().map(|t| (t, Vec::with_capacity(m))).collect();
    let (Some(first), true) = (tiles.first(), m * n_out > 0) else {
        return jobs;
    };
    let tile_voxels = first.rows.len() * g.output[2];
    let tiles_per_sample = tiles.len() / g.batch.max(1);
    for (b, yb) in y.chunks_exact_mut(m * n_out).enumerate() {
        for row in yb.chunks_exact_mut(n_out) {
            for (t, seg) in row.chunks_mut(tile_voxels).enumerate() {
                jobs[b * tiles_per_sample + t].1.push(seg);
            }
        }
    }
    jobs
}

/// Element-wise sum of two weight-gradient accumulators (the rayon reduction).
pub(super) fn add_into<T: Element>(mut a: Vec<T>, b: Vec<T>) -> Vec<T> {
    for (a, b) in a.iter_mut().zip(&b) {
        *a += *b;
    }
    a
}
