//! Simulated acquisition: each sequence's clinical geometry (own matrix, voxel size, slice
//! thickness and gap, storage orientation) in the shared scanner world frame, slice-profile
//! partial volume, receive-coil bias, EPI blur and distortion for DWI, and Rician noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::subject::{Subject, merge_truth};
use super::tissue::{N_TISSUES, SignalTable};
use crate::config::Sequence;
use crate::io::volume::{Affine, Volume};

/// Noise standard deviation in stored units. Small, so that the stored integers compress
/// well (the cohort must fit in under 800 MB); the SNR sets the tissue level above it.
const NOISE_SIGMA: f64 = 1.6;

/// Geometry of one sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Voxels along i, j, k.
    pub matrix: [usize; 3],
    /// In-plane voxel size (mm) along i and j.
    pub pixel_mm: [f64; 2],
    /// Slice thickness (mm).
    pub thickness_mm: f64,
    /// Gap between slices (mm).
    pub gap_mm: f64,
    /// Storage orientation code of the voxel axes ("RAS", "LAS", "LPS").
    pub orientation: String,
    /// World position (mm) of the centre of the field of view.
    pub centre_world: [f64; 3],
    /// Signal-to-noise ratio of white matter.
    pub snr_wm: f64,
}

impl Geometry {
    /// Voxel-to-world transform.
    pub fn world_from_voxel(&self) -> Affine {
        let o = self.orientation.as_bytes();
        let sx = if o.first() == Some(&b'L') { -1.0 } else { 1.0 };
        let sy = if o.get(1) == Some(&b'P') { -1.0 } else { 1.0 };
        let step = [
            sx * self.pixel_mm[0],
            sy * self.pixel_mm[1],
            self.thickness_mm + self.gap_mm,
        ];
        let t =
            [0, 1, 2].map(|a| self.centre_world[a] - step[a] * (self.matrix[a] as f64 - 1.0) / 2.0);
        Affine::from_parts(
            [
                [step[0], 0.0, 0.0],
                [0.0, step[1], 0.0],
                [0.0, 0.0, step[2]],
            ],
            t,
        )
    }
}

/// Draws the clinical geometry of one sequence. `scale` shrinks matrices for tests.
pub fn draw_geometry<R: Rng + ?Sized>(
    seq: Sequence,
    centre: [f64; 3],
    scale: f64,
    rng: &mut R,
) -> Geometry {
    // (matrix i, matrix j, pixel mm, thickness, gap, orientation, snr range)
    let (mi, mj, px, th, gap, orient, snr) = match seq {
        Sequence::Dwi => (128, 128, 1.8, 5.0, 1.5, "LPS", (9.0, 16.0)),
        Sequence::T2s => (208, 256, 0.9, 5.0, 1.5, "LAS", (20.0, 35.0)),
        Sequence::Flair => (216, 270, 0.85, 5.0, 1.5, "RAS", (15.0, 30.0)),
    };
    let fov_jitter = rng.random_range(0.96..1.04);
    let coverage_mm: f64 = 150.0;
    let spacing = th + gap;
    let nz = (coverage_mm / spacing).round();
    let m = |n: f64| ((n * scale).round() as usize).max(8);
    let matrix = [
        m(mi as f64),
        m(mj as f64),
        ((nz * scale).round() as usize).max(4),
    ];
    let pixel = [
        px * fov_jitter * mi as f64 / matrix[0] as f64,
        px * fov_jitter * mj as f64 / matrix[1] as f64,
    ];
    let zf = nz / matrix[2] as f64;
    let offset = [
        rng.random_range(-4.0..4.0),
        rng.random_range(-4.0..4.0),
        rng.random_range(-4.0..4.0),
    ];
    Geometry {
        matrix,
        pixel_mm: pixel,
        thickness_mm: th * zf,
        gap_mm: gap * zf,
        orientation: orient.to_string(),
        centre_world: [
            centre[0] + offset[0],
            centre[1] + offset[1],
            centre[2] + offset[2],
        ],
        snr_wm: rng.random_range(snr.0..snr.1),
    }
}

/// Smooth multiplicative receive-coil bias, brighter at the periphery.
#[derive(Debug, Clone, Copy)]
struct Bias {
    centre: [f64; 3],
    radial: f64,
    linear: [f64; 3],
}

impl Bias {
    fn draw<R: Rng + ?Sized>(centre: [f64; 3], rng: &mut R) -> Bias {
        Bias {
            centre,
            radial: rng.random_range(0.10..0.25),
            linear: [
                rng.random_range(-0.08..0.08),
                rng.random_range(-0.08..0.08),
                rng.random_range(-0.08..0.08),
            ],
        }
    }

    #[inline]
    fn at(&self, p: [f64; 3]) -> f64 {
        let r = 90.0;
        let d = [
            (p[0] - self.centre[0]) / r,
            (p[1] - self.centre[1]) / r,
            (p[2] - self.centre[2]) / r,
        ];
        1.0 + self.radial * (d[0] * d[0] + d[1] * d[1])
            + self.linear[0] * d[0]
            + self.linear[1] * d[1]
            + self.linear[2] * d[2]
    }
}

/// Result of acquiring one sequence.
pub struct Acquired {
    /// Magnitude image in stored units.
    pub image: Volume,
    /// Ground-truth lesion labels on the same grid (only filled when requested).
    pub truth: Option<Vec<u8>>,
}

/// Simulates one sequence of a subject. `seed` fixes the noise and bias; `want_truth`
/// also returns the lesion label map on this grid.
pub fn acquire(
    subject: &Subject<'_>,
    table: &SignalTable,
    seq: Sequence,
    geom: &Geometry,
    seed: u64,
    want_truth: bool,
) -> Acquired {
    let w = geom.world_from_voxel();
    let [nx, ny, nz] = geom.matrix;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bias = Bias::draw(geom.centre_world, &mut rng);
    let distortion_mm = if seq == Sequence::Dwi {
        rng.random_range(1.5..3.5)
    } else {
        0.0
    };
    let signal = &table.values[seq.channel()];
    let bloom = seq == Sequence::T2s;
    let th = geom.thickness_mm;
    let offsets: &[f64] = if bloom {
        &[-th / 3.0, 0.0, th / 3.0]
    } else {
        &[-th / 4.0, th / 4.0]
    };
    let weight = 1.0 / offsets.len() as f32;
    let z_base = geom.centre_world[2] - 45.0;
    let level = geom.snr_wm * NOISE_SIGMA;
    // The template is an average of 152 brains and carries no detail finer than about
    // 1.5 mm, so sub-millimetre sequences are rendered on a coarser in-plane lattice and
    // interpolated up before the noise (which stays per voxel) is added.
    let step = geom
        .pixel_mm
        .map(|px| (1.6 / px).round().clamp(1.0, 3.0) as usize);
    let (rx, ry) = (nx.div_ceil(step[0]) + 1, ny.div_ceil(step[1]) + 1);
    let slices: Vec<(Vec<f32>, Vec<u8>)> = (0..nz)
        .into_par_iter()
        .map(|k| {
            let mut coarse = vec![0.0f32; rx * ry];
            let mut coarse_lab = vec![0u8; if want_truth { rx * ry } else { 0 }];
            for jr in 0..ry {
                for ir in 0..rx {
                    let p = w.apply([(ir * step[0]) as f64, (jr * step[1]) as f64, k as f64]);
                    // EPI susceptibility distortion along the phase-encode (A-P) axis,
                    // strongest near the skull base.
                    let dy = distortion_mm * (-((p[2] - z_base) / 20.0).powi(2)).exp();
                    let mut acc = [0.0f32; N_TISSUES];
                    let mut truth = 0u8;
                    // Slice profile: samples across the slice thickness (three on T2*, whose
                    // small blooming dots must not fall between samples).
                    for &dz in offsets {
                        let (f, t) = subject.tissue_at([p[0], p[1] + dy, p[2] + dz], bloom);
                        for (a, v) in acc.iter_mut().zip(f) {
                            *a += weight * v;
                        }
                        truth = merge_truth(truth, t);
                    }
                    let s: f32 = acc.iter().zip(signal).map(|(f, s)| f * s).sum();
                    coarse[ir + rx * jr] = (s as f64 * bias.at(p) * level) as f32;
                    if want_truth {
                        coarse_lab[ir + rx * jr] = truth;
                    }
                }
            }
            let mut img = vec![0.0f32; nx * ny];
            let mut lab = vec![0u8; if want_truth { nx * ny } else { 0 }];
            for j in 0..ny {
                let (j0, fy) = (j / step[1], (j % step[1]) as f32 / step[1] as f32);
                for i in 0..nx {
                    let (i0, fx) = (i / step[0], (i % step[0]) as f32 / step[0] as f32);
                    let at = |a: usize, b: usize| coarse[a + rx * b];
                    let top = at(i0, j0) + (at(i0 + 1, j0) - at(i0, j0)) * fx;
                    let bottom = at(i0, j0 + 1) + (at(i0 + 1, j0 + 1) - at(i0, j0 + 1)) * fx;
                    img[i + nx * j] = top + (bottom - top) * fy;
                    if want_truth {
                        let (ni, nj) = (i0 + usize::from(fx >= 0.5), j0 + usize::from(fy >= 0.5));
                        lab[i + nx * j] = coarse_lab[ni + rx * nj];
                    }
                }
            }
            if seq == Sequence::Dwi {
                img = blur2(&img, nx, ny, 0.6);
            }
            // Rician magnitude noise, seeded per slice so threads do not change the output.
            let mut r = ChaCha8Rng::seed_from_u64(
                seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1)),
            );
            for v in img.iter_mut() {
                let a: f64 = StandardNormal.sample(&mut r);
                let b: f64 = StandardNormal.sample(&mut r);
                let re = *v as f64 + NOISE_SIGMA * a;
                let im = NOISE_SIGMA * b;
                *v = (re * re + im * im).sqrt() as f32;
            }
            (img, lab)
        })
        .collect();
    let mut data = Vec::with_capacity(nx * ny * nz);
    let mut truth = Vec::with_capacity(if want_truth { nx * ny * nz } else { 0 });
    for (img, lab) in slices {
        data.extend_from_slice(&img);
        truth.extend_from_slice(&lab);
    }
    Acquired {
        image: Volume {
            dims: geom.matrix,
            data,
            world_from_voxel: w,
        },
        truth: want_truth.then_some(truth),
    }
}

/// In-plane Gaussian blur of one slice (EPI point-spread).
fn blur2(img: &[f32], nx: usize, ny: usize, sigma: f64) -> Vec<f32> {
    let k: Vec<f32> = [-2i32, -1, 0, 1, 2]
        .iter()
        .map(|&x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let norm: f32 = k.iter().sum();
    let mut tmp = vec![0.0f32; img.len()];
    for j in 0..ny {
        for i in 0..nx {
            let mut acc = 0.0;
            for (t, kv) in k.iter().enumerate() {
                let ii = (i as i64 + t as i64 - 2).clamp(0, nx as i64 - 1) as usize;
                acc += kv * img[ii + nx * j];
            }
            tmp[i + nx * j] = acc / norm;
        }
    }
    let mut out = vec![0.0f32; img.len()];
    for j in 0..ny {
        for i in 0..nx {
            let mut acc = 0.0;
            for (t, kv) in k.iter().enumerate() {
                let jj = (j as i64 + t as i64 - 2).clamp(0, ny as i64 - 1) as usize;
                acc += kv * tmp[i + nx * jj];
            }
            out[i + nx * j] = acc / norm;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_centred_and_oriented() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let g = draw_geometry(Sequence::Dwi, [1.0, 2.0, 3.0], 1.0, &mut rng);
        let w = g.world_from_voxel();
        assert_eq!(w.orientation_code(), "LPS");
        let c = w.apply([
            (g.matrix[0] - 1) as f64 / 2.0,
            (g.matrix[1] - 1) as f64 / 2.0,
            (g.matrix[2] - 1) as f64 / 2.0,
        ]);
        for a in 0..3 {
            assert!((c[a] - g.centre_world[a]).abs() < 1e-9);
        }
        let f = draw_geometry(Sequence::Flair, [0.0; 3], 1.0, &mut rng);
        assert_eq!(f.world_from_voxel().orientation_code(), "RAS");
        assert!(f.pixel_mm[0] < 0.9 && g.pixel_mm[0] > 1.6);
    }
}
