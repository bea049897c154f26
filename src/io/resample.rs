//! Resampling a volume into a target grid through world space: an anti-aliasing Gaussian
//! prefilter (when the grid is coarser than the source) followed by trilinear interpolation.
//!
//! The target grid is described like any volume: voxel counts `[nx, ny, nz]` and a
//! `world_from_grid` affine mapping grid voxel `(i, j, k)` to world millimetres. Output values
//! are `i` fastest, the same layout as [`Volume::data`].

use rayon::prelude::*;

use super::volume::{Affine, Volume};

/// Gaussian sigma, in grid voxels, of the anti-aliasing prefilter: `sigma_src =
/// ANTIALIAS_SIGMA_FACTOR * grid_spacing / source_spacing` along each source voxel axis.
pub const ANTIALIAS_SIGMA_FACTOR: f64 = 0.4;
/// Below this sigma (in source voxels) the prefilter is skipped: it would barely change the
/// result and trilinear interpolation already averages neighbours.
pub const MIN_PREFILTER_SIGMA_VOXELS: f64 = 0.5;

/// Why a volume could not be resampled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResampleError {
    /// The source's `world_from_voxel` cannot be inverted.
    #[error("the voxel-to-world transform is singular or not finite")]
    SingularSource,
    /// The target grid's affine is unusable.
    #[error("the target grid transform is singular or not finite")]
    SingularGrid,
}

/// A volume resampled into a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Resampled {
    /// Interpolated values, `i` fastest; 0 where the grid voxel lies outside the source.
    pub data: Vec<f32>,
    /// `true` where the grid voxel lies inside the source volume.
    pub inside: Vec<bool>,
}

impl Resampled {
    /// Number of grid voxels inside the source volume.
    pub fn inside_count(&self) -> usize {
        self.inside.iter().filter(|v| **v).count()
    }
}

/// Per-source-axis prefilter sigmas (in source voxels) for resampling `src` into a grid whose
/// voxel axes are described by `world_from_grid`. For each source axis with world direction
/// `u`, the grid spacing along `u` is `1 / |G⁻¹ u|` (the world distance along `u` that moves
/// one grid voxel); axes where the sigma is below [`MIN_PREFILTER_SIGMA_VOXELS`] get 0.
pub fn antialias_sigmas(src: &Affine, world_from_grid: &Affine) -> Result<[f64; 3], ResampleError> {
    let grid_from_world = world_from_grid
        .inverse()
        .ok_or(ResampleError::SingularGrid)?;
    let g_inv = grid_from_world.linear();
    let s = src.linear();
    let spacing = src.column_norms();
    let mut sigmas = [0.0; 3];
    for (ax, sigma) in sigmas.iter_mut().enumerate() {
        if !spacing[ax].is_finite() || spacing[ax] <= 0.0 {
            return Err(ResampleError::SingularSource);
        }
        let u = [
            s[0][ax] / spacing[ax],
            s[1][ax] / spacing[ax],
            s[2][ax] / spacing[ax],
        ];
        let gu: f64 = (0..3)
            .map(|r| {
                let v: f64 = (0..3).map(|c| g_inv[r][c] * u[c]).sum();
                v * v
            })
            .sum::<f64>()
            .sqrt();
        let grid_spacing = 1.0 / gu.max(1e-12);
        let sig = ANTIALIAS_SIGMA_FACTOR * grid_spacing / spacing[ax];
        *sigma = if sig > MIN_PREFILTER_SIGMA_VOXELS {
            sig
        } else {
            0.0
        };
    }
    Ok(sigmas)
}

/// Normalised 1-D Gaussian taps for `sigma` (voxels), radius `ceil(3 sigma)` but at most
/// `max_radius`: an axis of `n` voxels never reads a tap farther than `n - 1` from the centre
/// (and [`convolve_axis`] renormalises the taps it reads), so capping at `n` changes nothing
/// but keeps absurd voxel sizes (sigma 1e29 from a 1e-30 mm pixdim) from allocating without
/// bound.
fn gaussian_kernel(sigma: f64, max_radius: usize) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0).min(max_radius.max(1) as f64) as usize;
    let taps: Vec<f64> = (0..=2 * radius)
        .map(|t| {
            let x = t as f64 - radius as f64;
            (-0.5 * x * x / (sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|w| (w / sum) as f32).collect()
}

/// Convolves `vol` along voxel axis `axis` with `kernel` (odd length, centred). Near the edges
/// the taps that fall outside are dropped and the rest renormalised, so borders do not darken.
/// Parallel over `k` planes. Along `j` and `k` whole rows are accumulated at once (contiguous,
/// so the compiler vectorises them); along `i` each row is convolved on its own.
fn convolve_axis(vol: &Volume, axis: usize, kernel: &[f32]) -> Vec<f32> {
    let [nx, ny, _] = vol.dims;
    let n_axis = vol.dims[axis];
    let radius = kernel.len() / 2;
    // Per output position along the axis: first tap, last tap (exclusive) and 1/sum(weights).
    // Tap `t` of position `p` reads position `p + t - radius`, in range for `t0 <= t < t1`.
    let spans: Vec<(usize, usize, f32)> = (0..n_axis)
        .map(|p| {
            let t0 = radius.saturating_sub(p);
            let t1 = kernel.len().min(radius + n_axis - p);
            let norm: f32 = kernel[t0..t1].iter().sum();
            (t0, t1, 1.0 / norm)
        })
        .collect();
    let src = &vol.data;
    let row_at = |j: usize, k: usize| &src[nx * (j + ny * k)..nx * (j + ny * k + 1)];
    let mut out = vec![0.0f32; src.len()];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(k, out_plane)| {
            for (j, row_out) in out_plane.chunks_exact_mut(nx).enumerate() {
                if axis == 0 {
                    let row_in = row_at(j, k);
                    for (i, o) in row_out.iter_mut().enumerate() {
                        let (t0, t1, inv) = spans[i];
                        let start = i + t0 - radius;
                        let acc: f32 = kernel[t0..t1]
                            .iter()
                            .zip(&row_in[start..start + (t1 - t0)])
                            .map(|(w, x)| w * x)
                            .sum();
                        *o = acc * inv;
                    }
                    continue;
                }
                let p = if axis == 1 { j } else { k };
                let (t0, t1, inv) = spans[p];
                for (t, w) in kernel.iter().enumerate().take(t1).skip(t0) {
                    let q = p + t - radius;
                    let row_in = if axis == 1 {
                        row_at(q, k)
                    } else {
                        row_at(j, q)
                    };
                    let w = w * inv;
                    for (o, x) in row_out.iter_mut().zip(row_in) {
                        *o += w * x;
                    }
                }
            }
        });
    out
}

/// Separable Gaussian smoothing with one sigma (in voxels) per voxel axis; a sigma of 0 leaves
/// that axis alone. Returns a new volume with the same geometry.
pub fn gaussian_prefilter(vol: &Volume, sigmas: [f64; 3]) -> Volume {
    let mut cur = vol.clone();
    for (axis, &sigma) in sigmas.iter().enumerate() {
        if sigma > 0.0 && vol.dims[axis] > 1 {
            cur.data = convolve_axis(&cur, axis, &gaussian_kernel(sigma, vol.dims[axis]));
        }
    }
    cur
}

/// Trilinear resampling of `src` into the grid `(dims, world_from_grid)`: grid voxel →
/// world → source voxel through `src.world_from_voxel`'s inverse. Grid voxels outside the
/// source get 0 and `inside = false`. No prefilter; see [`resample_antialiased`].
///
/// # Shapes
/// Output `data` and `inside` have `dims[0] * dims[1] * dims[2]` entries, `i` fastest
/// (read row-major as `[k, j, i]`).
pub fn resample_trilinear(
    src: &Volume,
    dims: [usize; 3],
    world_from_grid: &Affine,
) -> Result<Resampled, ResampleError> {
    let voxel_from_world = src
        .world_from_voxel
        .inverse()
        .ok_or(ResampleError::SingularSource)?;
    let m = voxel_from_world.compose(world_from_grid);
    if !m.0.iter().flatten().all(|v| v.is_finite()) {
        return Err(ResampleError::SingularGrid);
    }
    let [nx, ny, nz] = dims;
    let n = nx * ny * nz;
    let mut data = vec![0.0f32; n];
    let mut inside = vec![false; n];
    let step_i = [m.0[0][0], m.0[1][0], m.0[2][0]];
    if nx == 0 {
        return Ok(Resampled { data, inside });
    }
    // One task per grid row (fixed j, k); within a row the source point moves by `step_i`.
    data.par_chunks_mut(nx)
        .zip(inside.par_chunks_mut(nx))
        .enumerate()
        .for_each(|(row, (out, ins))| {
            let (j, k) = (row % ny.max(1), row / ny.max(1));
            let p0 = m.apply([0.0, j as f64, k as f64]);
            for (i, (o, inn)) in out.iter_mut().zip(ins.iter_mut()).enumerate() {
                let fi = i as f64;
                let p = [
                    p0[0] + fi * step_i[0],
                    p0[1] + fi * step_i[1],
                    p0[2] + fi * step_i[2],
                ];
                if let Some(v) = src.sample_trilinear(p) {
                    *o = v;
                    *inn = true;
                }
            }
        });
    Ok(Resampled { data, inside })
}

/// Resamples `src` into the grid with an anti-aliasing Gaussian prefilter along each source
/// axis where the grid is markedly coarser (see [`antialias_sigmas`]), then trilinear
/// interpolation (see [`resample_trilinear`]).
///
/// # Shapes
/// As [`resample_trilinear`]: `dims[0] * dims[1] * dims[2]` values, `i` fastest.
pub fn resample_antialiased(
    src: &Volume,
    dims: [usize; 3],
    world_from_grid: &Affine,
) -> Result<Resampled, ResampleError> {
    let sigmas = antialias_sigmas(&src.world_from_voxel, world_from_grid)?;
    if sigmas.iter().all(|s| *s == 0.0) {
        return resample_trilinear(src, dims, world_from_grid);
    }
    let filtered = gaussian_prefilter(src, sigmas);
    resample_trilinear(&filtered, dims, world_from_grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(sx: f64, sy: f64, sz: f64, t: [f64; 3]) -> Affine {
        Affine::from_parts([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, sz]], t)
    }

    /// A volume whose value is a linear function of world position.
    fn linear_world_volume(dims: [usize; 3], a: Affine) -> Volume {
        let mut data = Vec::new();
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let w = a.apply([i as f64, j as f64, k as f64]);
                    data.push((2.0 * w[0] - 3.0 * w[1] + 0.5 * w[2] + 7.0) as f32);
                }
            }
        }
        Volume::new(dims, data, a).unwrap()
    }

    #[test]
    fn trilinear_into_grid_reproduces_a_linear_field_across_orientations() {
        // LPS source, 2 x 2 x 5 mm: i runs to the left, j posterior.
        let src_aff = diag(-2.0, -2.0, 5.0, [40.0, 40.0, -20.0]);
        let src = linear_world_volume([41, 41, 9], src_aff);
        // RAS grid, 3 mm, inside the source.
        let grid = diag(3.0, 3.0, 4.0, [-30.0, -30.0, -10.0]);
        let r = resample_trilinear(&src, [10, 12, 5], &grid).unwrap();
        assert!(r.inside.iter().all(|v| *v));
        for k in 0..5 {
            for j in 0..12 {
                for i in 0..10 {
                    let w = grid.apply([i as f64, j as f64, k as f64]);
                    let want = 2.0 * w[0] - 3.0 * w[1] + 0.5 * w[2] + 7.0;
                    let got = r.data[i + 10 * (j + 12 * k)] as f64;
                    assert!((got - want).abs() < 1e-3, "{got} vs {want} at {i},{j},{k}");
                }
            }
        }
    }

    #[test]
    fn outside_the_source_is_zero_and_flagged() {
        let src = Volume::new([4, 4, 4], vec![5.0; 64], Affine::identity()).unwrap();
        let grid = diag(1.0, 1.0, 1.0, [2.0, 0.0, 0.0]);
        let r = resample_trilinear(&src, [4, 1, 1], &grid).unwrap();
        assert_eq!(r.data, vec![5.0, 5.0, 0.0, 0.0]);
        assert_eq!(r.inside, vec![true, true, false, false]);
        assert_eq!(r.inside_count(), 2);
    }

    #[test]
    fn prefilter_sigmas_follow_the_spacing_ratio() {
        // 0.7 mm source into 1.8 mm grid in-plane; 5 mm slices into 9 mm grid slices.
        let src = diag(-0.7, 0.7, 5.0, [0.0; 3]);
        let grid = diag(1.8, 1.8, 9.0, [0.0; 3]);
        let s = antialias_sigmas(&src, &grid).unwrap();
        assert!((s[0] - 0.4 * 1.8 / 0.7).abs() < 1e-9);
        assert!((s[2] - 0.4 * 9.0 / 5.0).abs() < 1e-9);
        // Finer grid than source: no prefilter.
        let s = antialias_sigmas(&diag(2.0, 2.0, 5.0, [0.0; 3]), &grid).unwrap();
        assert_eq!(s[0], 0.0);
        // Sagittal storage: voxel axis 0 runs along world z (5 mm), 1 along x (0.7 mm), 2
        // along -y (0.9 mm); each sigma must use the grid's spacing along its own direction.
        let sagittal = Affine::from_parts(
            [[0.0, 0.7, 0.0], [0.0, 0.0, -0.9], [5.0, 0.0, 0.0]],
            [0.0; 3],
        );
        let s = antialias_sigmas(&sagittal, &diag(1.8, 2.0, 9.0, [0.0; 3])).unwrap();
        let want = [0.4 * 9.0 / 5.0, 0.4 * 1.8 / 0.7, 0.4 * 2.0 / 0.9];
        for (got, want) in s.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn prefilter_preserves_constants_and_mass() {
        let v = Volume::new([9, 7, 5], vec![3.0; 315], Affine::identity()).unwrap();
        let f = gaussian_prefilter(&v, [1.2, 0.8, 1.0]);
        assert!(f.data.iter().all(|x| (x - 3.0).abs() < 1e-5));
        // An impulse far from the borders (edge renormalisation does not conserve mass).
        let mut d = vec![0.0f32; 15 * 15 * 3];
        let centre = 7 + 15 * (7 + 15);
        d[centre] = 1.0;
        let v = Volume::new([15, 15, 3], d, Affine::identity()).unwrap();
        let f = gaussian_prefilter(&v, [1.0, 1.0, 0.0]);
        let total: f32 = f.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // 2-D Gaussian peak for sigma 1 is about 1 / (2 pi) = 0.159.
        assert!((f.data[centre] - 0.159).abs() < 0.01, "{}", f.data[centre]);
        // Nothing leaks into other k planes when sigma_k = 0.
        assert!(f.data[..15 * 15].iter().all(|x| *x == 0.0));
    }

    #[test]
    fn a_kernel_wider_than_the_axis_is_capped_without_changing_the_result() {
        let dims = [3, 4, 5];
        let data: Vec<f32> = (0..60).map(|n| ((n * 13) % 11) as f32).collect();
        let v = Volume::new(dims, data, Affine::identity()).unwrap();
        // Uncapped (radius 150 on a 5-voxel axis) and capped kernels read the same taps.
        let wide = convolve_axis(&v, 2, &gaussian_kernel(50.0, usize::MAX));
        let capped = gaussian_prefilter(&v, [0.0, 0.0, 50.0]);
        for (a, b) in wide.iter().zip(&capped.data) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // A sigma from a 1e-30 mm voxel: a flat kernel, so every line becomes its mean.
        let flat = gaussian_prefilter(&v, [0.0, 0.0, 1e29]);
        for j in 0..4 {
            for i in 0..3 {
                let line: Vec<usize> = (0..5).map(|k| i + 3 * (j + 4 * k)).collect();
                let mean = line.iter().map(|&n| v.data[n]).sum::<f32>() / 5.0;
                for &n in &line {
                    assert!(
                        (flat.data[n] - mean).abs() < 1e-4,
                        "{} vs {mean}",
                        flat.data[n]
                    );
                }
            }
        }
    }

    #[test]
    fn convolution_matches_a_naive_reference_on_every_axis() {
        let dims = [6, 5, 7];
        let data: Vec<f32> = (0..210).map(|n| ((n * 37) % 17) as f32).collect();
        let v = Volume::new(dims, data, Affine::identity()).unwrap();
        let kernel = gaussian_kernel(0.9, 8);
        let radius = kernel.len() as isize / 2;
        for axis in 0..3 {
            let got = convolve_axis(&v, axis, &kernel);
            for k in 0..dims[2] {
                for j in 0..dims[1] {
                    for i in 0..dims[0] {
                        let (mut acc, mut norm) = (0.0f32, 0.0f32);
                        for (t, w) in kernel.iter().enumerate() {
                            let mut p = [i as isize, j as isize, k as isize];
                            p[axis] += t as isize - radius;
                            if (0..dims[axis] as isize).contains(&p[axis]) {
                                acc += w * v.at(p[0] as usize, p[1] as usize, p[2] as usize);
                                norm += w;
                            }
                        }
                        let g = got[v.index(i, j, k)];
                        assert!((g - acc / norm).abs() < 1e-4, "axis {axis} at {i},{j},{k}");
                    }
                }
            }
        }
    }

    #[test]
    fn singular_transforms_are_errors() {
        let flat = Affine::from_parts(
            [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            [0.0; 3],
        );
        let v = Volume::new([2, 2, 2], vec![0.0; 8], flat).unwrap();
        assert_eq!(
            resample_trilinear(&v, [2, 2, 2], &Affine::identity()),
            Err(ResampleError::SingularSource)
        );
    }
}
