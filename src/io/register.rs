//! Affine registration of a study to the MNI ICBM152 template, so that the model grid is
//! defined in template space: the same grid voxel holds the same anatomy in every head,
//! whatever the patient's position, tilt and head size in the scanner.
//!
//! # Method
//! Nine parameters (translation, rotation about x, y and z, a scale per axis: FSL FLIRT's
//! "traditional" 9 degrees of freedom) map template millimetres to the study's world:
//! `world = t + R(rx, ry, rz) * diag(exp(s)) * mni`. They maximise the normalised mutual
//! information `(H(A) + H(B)) / H(A, B)` ([`BINS`]-bin joint histogram) between the
//! brain-extracted T1 template and the study's T2*, both Gaussian-blurred to the level's
//! resolution and sampled on the template's lattice points in and at the edge of its brain
//! ([`BRAIN_EDGE`]) that fall inside the study's field of view. Mutual information asks only
//! that one image's intensities predict the other's, so T1 against T2* contrast works.
//!
//! Two levels, [`LEVELS_MM`]: a translation start from the head centroids, a scan of the
//! superior shift (slabs cover the head to different heights), then a pattern search
//! (each parameter tried a step either way, steps halved when nothing improves) at 8 mm,
//! refined at 4 mm. Parameters stay within [`MAX_ROTATION_DEG`], [`MAX_LOG_SCALE`] and
//! [`MAX_SHIFT_MM`] of the start. About 400 evaluations of the cost, a fraction of a second
//! per study in a release build.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::normalize::{otsu_threshold, percentiles};
use super::resample::gaussian_prefilter;
use super::template;
use super::volume::{Affine, Volume};

/// Resolutions of the two levels, in mm (coarse first).
pub const LEVELS_MM: [f64; 2] = [8.0, 4.0];
/// Intensity bins per image of the joint histogram.
pub const BINS: usize = 32;
/// The lattice of template points spans the brain's box plus this margin (the blurred edge).
pub const MARGIN_MM: f64 = 16.0;
/// Template points count when their blurred value exceeds this fraction of the top value:
/// the brain and its blurred edge. The template is brain-extracted: its zero outside
/// stands for air, scalp, skull and CSF alike, and with those points in the histogram the
/// optimum grew the template by about 10 % to cover the study's scalp.
pub const BRAIN_EDGE: f32 = 0.02;
/// Largest rotation about each axis, degrees.
pub const MAX_ROTATION_DEG: f64 = 20.0;
/// Largest |log| of each axis' scale (exp(0.22) = 1.25).
pub const MAX_LOG_SCALE: f64 = 0.22;
/// Largest distance of each translation component from the centroid start, mm.
pub const MAX_SHIFT_MM: f64 = 60.0;
/// The overlap (template points inside the study's field of view) must hold at least this
/// fraction of the template points, or the pose is rejected.
const MIN_OVERLAP: f64 = 0.2;
/// Values above this fraction of the 99.5th percentile share the top bin.
const TOP_PERCENTILE: f64 = 99.5;
/// Initial steps (mm, degrees, log scale) and the smallest ones, per level.
const STEPS: [[f64; 3]; 2] = [[8.0, 4.0, 0.04], [2.0, 1.0, 0.02]];
const MIN_STEPS: [[f64; 3]; 2] = [[2.0, 1.0, 0.01], [0.5, 0.25, 0.005]];
/// The superior-shift scan at the coarse level: +-this many mm in steps of the level.
const Z_SCAN_MM: f64 = 40.0;
/// Safety stop of the pattern search, per level.
const MAX_EVALUATIONS: usize = 600;

/// Why a study could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    /// The embedded template could not be decoded (a broken build).
    #[error("the MNI template cannot be read: {0}")]
    Template(String),
    /// No head could be separated from the background.
    #[error("no head foreground found")]
    NoForeground,
    /// The image's transform cannot be inverted.
    #[error("the voxel-to-world transform is singular or not finite")]
    Singular,
    /// No pose overlaps the template enough.
    #[error("the image does not overlap the template")]
    NoOverlap,
}

/// A study's registration to the template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Registration {
    /// Maps MNI millimetres to the study's world millimetres.
    pub world_from_mni: Affine,
    /// The nine parameters: translation (mm), rotation about x, y, z (degrees), log scale
    /// per axis.
    pub params: [f64; 9],
    /// Normalised mutual information at the fine level (1 = independent, 2 = identical).
    pub nmi: f64,
    /// Cost evaluations used.
    pub evaluations: usize,
}

/// One level of the template: points (MNI mm) and their intensity bins.
struct Level {
    points: Vec<[f64; 3]>,
    bins: Vec<u8>,
}

/// The template, prepared once per process.
struct Template {
    levels: Vec<Level>,
    /// Centroid of the template's brain, MNI mm.
    centroid: [f64; 3],
}

/// The prepared template (decoded and blurred on first use, about a second).
fn template() -> Result<&'static Template, RegisterError> {
    static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(build_template)
        .as_ref()
        .map_err(|e| RegisterError::Template(e.clone()))
}

fn build_template() -> Result<Template, String> {
    let t1 = template::T1.read().map_err(|e| format!("{e:#}"))?;
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    let (mut sum, mut count) = ([0.0; 3], 0.0);
    let [nx, ny, nz] = t1.dims;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if t1.at(i, j, k) > 0.0 {
                    let p = t1.world_from_voxel.apply([i as f64, j as f64, k as f64]);
                    for ax in 0..3 {
                        lo[ax] = lo[ax].min(p[ax]);
                        hi[ax] = hi[ax].max(p[ax]);
                        sum[ax] += p[ax];
                    }
                    count += 1.0;
                }
            }
        }
    }
    if count == 0.0 {
        return Err("the T1 template is empty".into());
    }
    let voxel_from_mni = t1
        .world_from_voxel
        .inverse()
        .ok_or("the T1 template's transform is singular")?;
    let levels = LEVELS_MM
        .iter()
        .map(|&mm| {
            let blurred = blur_to(&t1, mm);
            let top = top_value(&blurred.data).unwrap_or(1.0);
            let mut points = Vec::new();
            let mut bins = Vec::new();
            let n = |ax: usize| ((hi[ax] - lo[ax] + 2.0 * MARGIN_MM) / mm).floor() as usize + 1;
            for k in 0..n(2) {
                for j in 0..n(1) {
                    for i in 0..n(0) {
                        let p = [
                            lo[0] - MARGIN_MM + i as f64 * mm,
                            lo[1] - MARGIN_MM + j as f64 * mm,
                            lo[2] - MARGIN_MM + k as f64 * mm,
                        ];
                        let v = blurred
                            .sample_trilinear(voxel_from_mni.apply(p))
                            .unwrap_or(0.0);
                        if v > BRAIN_EDGE * top {
                            points.push(p);
                            bins.push(bin(v, top));
                        }
                    }
                }
            }
            Level { points, bins }
        })
        .collect();
    Ok(Template {
        levels,
        centroid: sum.map(|s| s / count),
    })
}

/// Gaussian blur to about `mm` resolution (sigma `mm / 2` along each axis whose voxels are
/// finer than that).
fn blur_to(vol: &Volume, mm: f64) -> Volume {
    let sigmas = vol.spacing_mm().map(|s| {
        let sigma = 0.5 * mm / s;
        if sigma > 0.5 { sigma } else { 0.0 }
    });
    gaussian_prefilter(vol, sigmas)
}

/// The value that maps to the top bin: the 99.5th percentile of the positive values.
fn top_value(values: &[f32]) -> Option<f32> {
    let stride = values.len().div_ceil(1 << 18).max(1);
    let positive: Vec<f32> = values
        .iter()
        .step_by(stride)
        .copied()
        .filter(|v| *v > 0.0)
        .collect();
    percentiles(&positive, &[TOP_PERCENTILE])?
        .first()
        .copied()
        .filter(|t| *t > 0.0 && t.is_finite())
}

/// Intensity bin of `v` on `[0, top]`.
#[inline]
fn bin(v: f32, top: f32) -> u8 {
    let b = (v.max(0.0) / top * BINS as f32) as usize;
    b.min(BINS - 1) as u8
}

/// Rotation about x, then y, then z (degrees): `Rz * Ry * Rx`.
fn rotation_deg(rx: f64, ry: f64, rz: f64) -> [[f64; 3]; 3] {
    let (sx, cx) = rx.to_radians().sin_cos();
    let (sy, cy) = ry.to_radians().sin_cos();
    let (sz, cz) = rz.to_radians().sin_cos();
    [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ]
}

/// `world_from_mni` of the nine parameters (see the module docs).
pub fn world_from_mni(params: &[f64; 9]) -> Affine {
    let r = rotation_deg(params[3], params[4], params[5]);
    let mut lin = [[0.0; 3]; 3];
    for (row, out) in lin.iter_mut().enumerate() {
        for (col, v) in out.iter_mut().enumerate() {
            *v = r[row][col] * params[6 + col].exp();
        }
    }
    Affine::from_parts(lin, [params[0], params[1], params[2]])
}

/// The study side of one level: the blurred image and its top value.
struct Moving {
    image: Volume,
    top: f32,
    voxel_from_world: Affine,
}

impl Moving {
    fn new(vol: &Volume, mm: f64) -> Result<Moving, RegisterError> {
        let image = blur_to(vol, mm);
        let top = top_value(&image.data).ok_or(RegisterError::NoForeground)?;
        let voxel_from_world = image
            .world_from_voxel
            .inverse()
            .ok_or(RegisterError::Singular)?;
        Ok(Moving {
            image,
            top,
            voxel_from_world,
        })
    }

    /// Normalised mutual information of the pose `params`; `None` when the overlap is too
    /// small.
    fn nmi(&self, level: &Level, params: &[f64; 9]) -> Option<f64> {
        let m = self.voxel_from_world.compose(&world_from_mni(params));
        let joint = level
            .points
            .par_chunks(4096)
            .zip(level.bins.par_chunks(4096))
            .fold(
                || vec![0u32; BINS * BINS],
                |mut h, (pts, bins)| {
                    for (p, &b) in pts.iter().zip(bins) {
                        if let Some(v) = self.image.sample_trilinear(m.apply(*p)) {
                            h[b as usize * BINS + bin(v, self.top) as usize] += 1;
                        }
                    }
                    h
                },
            )
            .reduce(
                || vec![0u32; BINS * BINS],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let n: u32 = joint.iter().sum();
        if (n as f64) < MIN_OVERLAP * level.points.len() as f64 {
            return None;
        }
        Some(normalised_mutual_information(&joint, n as f64))
    }
}

/// `(H(A) + H(B)) / H(A, B)` of a `BINS x BINS` joint histogram with `n` counts.
fn normalised_mutual_information(joint: &[u32], n: f64) -> f64 {
    let entropy = |counts: &mut dyn Iterator<Item = u32>| -> f64 {
        counts
            .filter(|&c| c > 0)
            .map(|c| {
                let p = c as f64 / n;
                -p * p.ln()
            })
            .sum()
    };
    let h_joint = entropy(&mut joint.iter().copied());
    let h_a = entropy(&mut (0..BINS).map(|a| joint[a * BINS..(a + 1) * BINS].iter().sum()));
    let h_b = entropy(&mut (0..BINS).map(|b| (0..BINS).map(|a| joint[a * BINS + b]).sum()));
    if h_joint > 0.0 {
        (h_a + h_b) / h_joint
    } else {
        1.0
    }
}

/// World centroid of the Otsu foreground of `vol`.
fn foreground_centroid(vol: &Volume) -> Option<[f64; 3]> {
    let t = otsu_threshold(&vol.data)?;
    let [nx, ny, nz] = vol.dims;
    let (mut sum, mut count) = ([0.0; 3], 0.0);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if vol.at(i, j, k) > t {
                    let p = vol.world_from_voxel.apply([i as f64, j as f64, k as f64]);
                    (0..3).for_each(|ax| sum[ax] += p[ax]);
                    count += 1.0;
                }
            }
        }
    }
    (count > 0.0).then(|| sum.map(|s| s / count))
}

/// Pattern search state: the best parameters so far and their cost (higher is better).
struct Search<'a> {
    cost: &'a dyn Fn(&[f64; 9]) -> Option<f64>,
    start: [f64; 3],
    best: [f64; 9],
    value: f64,
    evaluations: usize,
}

impl Search<'_> {
    /// Keeps `params` within the bounds around the start.
    fn clamp(&self, mut p: [f64; 9]) -> [f64; 9] {
        for ax in 0..3 {
            p[ax] = p[ax].clamp(self.start[ax] - MAX_SHIFT_MM, self.start[ax] + MAX_SHIFT_MM);
            p[3 + ax] = p[3 + ax].clamp(-MAX_ROTATION_DEG, MAX_ROTATION_DEG);
            p[6 + ax] = p[6 + ax].clamp(-MAX_LOG_SCALE, MAX_LOG_SCALE);
        }
        p
    }

    /// Evaluates `params`; keeps them when better. True when kept.
    fn try_params(&mut self, params: [f64; 9]) -> bool {
        let p = self.clamp(params);
        if p == self.best {
            return false;
        }
        self.evaluations += 1;
        match (self.cost)(&p) {
            Some(v) if v > self.value => {
                self.best = p;
                self.value = v;
                true
            }
            _ => false,
        }
    }

    /// Pattern search from the current best with the given steps per group (translation,
    /// rotation, scale) down to `min_steps`.
    fn pattern(&mut self, steps: [f64; 3], min_steps: [f64; 3]) {
        let mut step: [f64; 9] = std::array::from_fn(|i| steps[i / 3]);
        let min: [f64; 9] = std::array::from_fn(|i| min_steps[i / 3]);
        let budget = self.evaluations + MAX_EVALUATIONS;
        while self.evaluations < budget {
            let mut improved = false;
            for i in 0..9 {
                for sign in [1.0, -1.0] {
                    let mut p = self.best;
                    p[i] += sign * step[i];
                    if self.try_params(p) {
                        improved = true;
                        break;
                    }
                }
            }
            if !improved {
                if step.iter().zip(&min).all(|(s, m)| s <= m) {
                    break;
                }
                for (s, m) in step.iter_mut().zip(&min) {
                    *s = (*s / 2.0).max(*m);
                }
            }
        }
    }
}

/// Registers `vol` (a T2*- or T2-weighted head) to the template. See the module docs.
pub fn register_to_template(vol: &Volume) -> Result<Registration, RegisterError> {
    let tpl = template()?;
    let centroid = foreground_centroid(vol).ok_or(RegisterError::NoForeground)?;
    let start: [f64; 3] = std::array::from_fn(|ax| centroid[ax] - tpl.centroid[ax]);
    let mut params = [0.0; 9];
    params[..3].copy_from_slice(&start);
    let mut evaluations = 0;
    let mut nmi = 0.0;
    for (level_index, (&mm, level)) in LEVELS_MM.iter().zip(&tpl.levels).enumerate() {
        let moving = Moving::new(vol, mm)?;
        let cost = |p: &[f64; 9]| moving.nmi(level, p);
        let mut search = Search {
            cost: &cost,
            start,
            best: params,
            value: cost(&params).unwrap_or(f64::NEG_INFINITY),
            evaluations: 1,
        };
        if level_index == 0 {
            let n = (Z_SCAN_MM / mm).round() as i32;
            for s in -n..=n {
                let mut p = params;
                p[2] += s as f64 * mm;
                search.try_params(p);
            }
        }
        search.pattern(STEPS[level_index], MIN_STEPS[level_index]);
        if !search.value.is_finite() {
            return Err(RegisterError::NoOverlap);
        }
        params = search.best;
        nmi = search.value;
        evaluations += search.evaluations;
    }
    Ok(Registration {
        world_from_mni: world_from_mni(&params),
        params,
        nmi,
        evaluations,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The template's T1 seen through `world_from_mni` on an LAS study grid of 2 x 2 x 6 mm,
    /// with another contrast.
    pub(crate) fn posed_template(world_from_mni_true: &Affine) -> Volume {
        let t1 = template::T1.read().unwrap();
        let voxel_from_mni = t1.world_from_voxel.inverse().unwrap();
        let mni_from_world = world_from_mni_true.inverse().unwrap();
        let dims = [100, 120, 24];
        let world_from_voxel = Affine::from_parts(
            [[-2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 6.0]],
            [100.0, -120.0, -60.0],
        );
        let mut data = Vec::with_capacity(dims.iter().product());
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let w = world_from_voxel.apply([i as f64, j as f64, k as f64]);
                    let v = t1
                        .sample_trilinear(voxel_from_mni.apply(mni_from_world.apply(w)))
                        .unwrap_or(0.0);
                    // A contrast unlike the template's (inverted, offset) so mutual
                    // information, not intensity matching, has to do the work.
                    data.push(if v > 0.0 { 400.0 - v } else { 20.0 });
                }
            }
        }
        Volume::new(dims, data, world_from_voxel).unwrap()
    }

    #[test]
    fn recovers_a_known_pose_with_another_contrast() {
        let truth = [6.0, 14.0, -9.0, 7.0, -3.0, 4.0, 0.06, -0.03, 0.04];
        let want = world_from_mni(&truth);
        let study = posed_template(&want);
        let reg = register_to_template(&study).unwrap();
        // Mean distance between where the two transforms put brain points.
        let mut worst = 0.0f64;
        for p in [
            [0.0, -18.0, 10.0],
            [50.0, -20.0, 20.0],
            [-50.0, 10.0, 0.0],
            [0.0, 60.0, 10.0],
            [0.0, -90.0, 10.0],
            [20.0, -30.0, 60.0],
            [-20.0, -40.0, -40.0],
        ] {
            let a = want.apply(p);
            let b = reg.world_from_mni.apply(p);
            let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
            worst = worst.max(d);
        }
        assert!(worst < 2.5, "worst point error {worst:.2} mm, {reg:?}");
        assert!(reg.nmi > 1.1, "{reg:?}");
    }

    #[test]
    fn identity_parameters_give_the_identity() {
        let a = world_from_mni(&[0.0; 9]);
        assert_eq!(a, Affine::identity());
        let r = world_from_mni(&[1.0, 2.0, 3.0, 10.0, -5.0, 3.0, 0.0, 0.0, 0.0]);
        assert!(
            (r.determinant() - 1.0).abs() < 1e-12,
            "a rotation keeps volume"
        );
    }

    #[test]
    fn mutual_information_is_highest_for_a_deterministic_relation() {
        let mut same = vec![0u32; BINS * BINS];
        let mut indep = vec![0u32; BINS * BINS];
        for a in 0..4 {
            same[a * BINS + (3 - a)] = 10;
            for b in 0..4 {
                indep[a * BINS + b] = 10;
            }
        }
        assert!((normalised_mutual_information(&same, 40.0) - 2.0).abs() < 1e-12);
        assert!((normalised_mutual_information(&indep, 160.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_flat_image_is_refused() {
        let flat = Volume::new([8, 8, 8], vec![0.0; 512], Affine::identity()).unwrap();
        assert_eq!(
            register_to_template(&flat).unwrap_err(),
            RegisterError::NoForeground
        );
    }
}
