//! One simulated subject: where the head sits in the scanner, its individual shape (smooth
//! random deformation, head size, tilt, ventricular enlargement, mass effect), its scalp and
//! skull, and its lesions. Answers one question: which tissues are at a scanner-world point.

use rand::Rng;

use super::anatomy::Anatomy;
use super::grid::Grid;
use super::lesion::{LesionObject, add, norm, scale, sub};
use super::tissue::{N_TISSUES, Tissue};
use crate::io::volume::Affine;

/// Spacing of the smooth deformation field (mm).
const WARP_MM: f64 = 6.0;
/// Template-space box covered by the deformation field (MNI mm).
const WARP_LO: [f64; 3] = [-110.0, -150.0, -100.0];
const WARP_HI: [f64; 3] = [110.0, 110.0, 110.0];

/// A radial push away from a centre (mass effect of an intra-axial lesion).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MassEffect {
    /// Centre in MNI mm.
    pub centre: [f64; 3],
    /// Radius (mm) of the volume that the mass adds.
    pub radius_mm: f64,
}

impl MassEffect {
    /// Maps a displaced point back to where its tissue came from in the template: tissue at
    /// distance `r` came from `r0 = cbrt(r³ - R³)` (volume conservation), so the anatomy is
    /// pushed outward and the effect fades as R³ / r².
    #[inline]
    pub fn source_of(&self, p: [f64; 3]) -> [f64; 3] {
        let d = sub(p, self.centre);
        let r = norm(d);
        if r > 8.0 * self.radius_mm || r < 1e-6 {
            return p;
        }
        let r3 = r * r * r - self.radius_mm.powi(3);
        let r0 = if r3 > 0.0 { r3.cbrt() } else { 0.0 };
        add(self.centre, scale(d, r0 / r))
    }

    /// Midline shift (mm) this mass causes at the midline point level with its centre.
    pub fn midline_shift_mm(&self) -> f64 {
        let m = [0.0, self.centre[1], self.centre[2]];
        let src = self.source_of(m);
        (src[0] - m[0]).abs()
    }
}

/// Soft-tissue layers outside the brain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shells {
    /// Subarachnoid CSF thickness.
    pub csf_mm: f64,
    /// Skull thickness.
    pub bone_mm: f64,
    /// Scalp thickness.
    pub scalp_mm: f64,
}

/// A simulated subject.
pub struct Subject<'a> {
    anatomy: &'a Anatomy,
    /// Template (MNI) mm from scanner world mm: rigid tilt, translation and head size.
    pub mni_from_world: Affine,
    /// Smooth deformation: displacement (mm), sampled on a coarse template grid.
    warp: Grid<3>,
    /// Sulcal widening (fraction of grey matter next to sulcal CSF turned into CSF).
    pub sulcal_atrophy: f32,
    /// Soft tissue layers.
    pub shells: Shells,
    /// Lesion objects, applied in order.
    pub lesions: Vec<LesionObject>,
    /// Mass effects of intra-axial lesions.
    pub masses: Vec<MassEffect>,
}

/// Ventricular enlargement: fraction by which the lateral ventricles' surroundings are
/// pulled in (0 = none, 0.15 = moderate atrophy, 0.4 = hydrocephalus).
pub fn ventricle_pull(p: [f64; 3], amount: f64) -> [f64; 3] {
    if amount <= 0.0 {
        return [0.0; 3];
    }
    let mut d = [0.0; 3];
    for cx in [-14.0, 14.0] {
        let c = [cx, -12.0, 14.0];
        let rel = sub(p, c);
        let g = (-0.5
            * ((rel[0] / 12.0).powi(2) + (rel[1] / 28.0).powi(2) + (rel[2] / 14.0).powi(2)))
        .exp();
        // Points near the ventricle sample the template closer to its centre.
        d = add(d, scale(rel, -amount * g));
    }
    d
}

impl<'a> Subject<'a> {
    /// Draws an individual head shape. `ventricle_amount` enlarges the lateral ventricles.
    pub fn new<R: Rng + ?Sized>(
        anatomy: &'a Anatomy,
        rng: &mut R,
        ventricle_amount: f64,
        sulcal_atrophy: f32,
    ) -> Subject<'a> {
        // World from template: head size, small tilt (pitch dominant), translation.
        let size = rng.random_range(0.92..1.08);
        let aniso = [
            size * rng.random_range(0.96..1.04),
            size * rng.random_range(0.96..1.04),
            size * rng.random_range(0.96..1.04),
        ];
        let (pitch, roll, yaw) = (
            rng.random_range(-8.0f64..8.0).to_radians(),
            rng.random_range(-4.0f64..4.0).to_radians(),
            rng.random_range(-5.0f64..5.0).to_radians(),
        );
        let rot = rotation(pitch, roll, yaw);
        let mut lin = [[0.0; 3]; 3];
        for (r, row) in lin.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = rot[r][c] * aniso[c];
            }
        }
        let t = [
            rng.random_range(-6.0..6.0),
            rng.random_range(-8.0..8.0) + 18.0,
            rng.random_range(-8.0..8.0) - 10.0,
        ];
        let world_from_mni = Affine::from_parts(lin, t);
        let mni_from_world = world_from_mni.inverse().unwrap_or_else(Affine::identity);

        // Smooth random deformation: a few low-frequency sinusoids per axis, evaluated once
        // on a coarse grid (evaluating them per voxel would dominate the run time).
        let mut waves = Vec::new();
        for axis in 0..3 {
            for _ in 0..3 {
                let k = [
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                ];
                let kn = norm(k).max(1e-3);
                let wavelength = rng.random_range(60.0..140.0);
                let f = std::f64::consts::TAU / wavelength / kn;
                waves.push((
                    axis,
                    scale(k, f),
                    rng.random_range(0.0..std::f64::consts::TAU),
                    rng.random_range(0.5..2.0),
                ));
            }
        }
        let dims = [0, 1, 2].map(|a| ((WARP_HI[a] - WARP_LO[a]) / WARP_MM).ceil() as usize + 1);
        let warp = Grid::from_fn(dims, WARP_LO, WARP_MM, |p| {
            let mut c = ventricle_pull(p, ventricle_amount).map(|v| v as f32);
            for &(axis, kv, phase, amp) in &waves {
                c[axis] += (amp * (dot3(kv, p) + phase).sin()) as f32;
            }
            c
        });
        Subject {
            anatomy,
            mni_from_world,
            warp,
            sulcal_atrophy,
            shells: Shells {
                csf_mm: rng.random_range(1.5..3.0),
                bone_mm: rng.random_range(5.0..8.0),
                scalp_mm: rng.random_range(4.0..7.0),
            },
            lesions: Vec::new(),
            masses: Vec::new(),
        }
    }

    /// Template point (before mass effect) of a scanner-world point: where lesions live.
    #[inline]
    pub fn lesion_space(&self, p_world: [f64; 3]) -> [f64; 3] {
        let p = self.mni_from_world.apply(p_world);
        let d = self.warp.sample(p).unwrap_or([0.0; 3]);
        [p[0] + d[0] as f64, p[1] + d[1] as f64, p[2] + d[2] as f64]
    }

    /// Tissue fractions at a scanner-world point and the ground-truth label there. `bloom`
    /// widens blood products (T2*).
    pub fn tissue_at(&self, p_world: [f64; 3], bloom: bool) -> ([f32; N_TISSUES], u8) {
        let p = self.lesion_space(p_world);
        let q = self.masses.iter().fold(p, |q, m| m.source_of(q));
        let mut f = [0.0f32; N_TISSUES];
        let s = self.shells;
        let outer = s.csf_mm + s.bone_mm + s.scalp_mm + 1.0;
        let ctx = self.anatomy.context(q);
        let d = ctx.dist_out_mm as f64;
        let near_lesion = || {
            self.lesions.iter().any(|l| {
                l.bounds().is_some_and(|(c, r)| {
                    let dd = sub(p, c);
                    dd[0].abs() <= r && dd[1].abs() <= r && dd[2].abs() <= r
                })
            })
        };
        if d > outer && !near_lesion() {
            return (f, 0);
        }
        if d < 0.75 {
            let fr = self.anatomy.fractions(q);
            let loss = self.sulcal_atrophy * fr.gm * ctx.sulc_prox;
            f[Tissue::Gm as usize] = fr.gm - loss;
            f[Tissue::Wm as usize] = fr.wm;
            f[Tissue::Csf as usize] = fr.csf + loss;
        } else {
            // Smooth 1 mm transitions between the layers.
            let ramp = |x: f64| (x + 0.5).clamp(0.0, 1.0) as f32;
            let in_csf = ramp(s.csf_mm - d);
            let in_bone = ramp(s.csf_mm + s.bone_mm - d) - in_csf;
            let in_fat = ramp(s.csf_mm + s.bone_mm + s.scalp_mm - d) - in_csf - in_bone;
            f[Tissue::Csf as usize] = in_csf;
            f[Tissue::Bone as usize] = in_bone.max(0.0);
            f[Tissue::Fat as usize] = in_fat.max(0.0);
        }
        let mut truth = 0u8;
        for les in &self.lesions {
            if let Some((c, r)) = les.bounds() {
                let dd = sub(p, c);
                if dd[0].abs() > r || dd[1].abs() > r || dd[2].abs() > r {
                    continue;
                }
            }
            let m = les.membership(p, &ctx, bloom);
            if m > 0.0 {
                let taken = les.composite(&mut f, m);
                if les.truth > 0 {
                    // Truth counts what the lesion took over (not CSF or skull inside its
                    // shape) and never the blooming margin.
                    let m_true = if bloom && les.bloom_mm > 0.0 {
                        les.membership(p, &ctx, false)
                    } else {
                        m
                    };
                    if taken * (m_true / m) >= 0.5 {
                        truth = merge_truth(truth, les.truth);
                    }
                }
            }
        }
        (f, truth)
    }
}

/// Combines two truth labels: lesion (1) wins over associated change (2), any over none.
#[inline]
pub fn merge_truth(a: u8, b: u8) -> u8 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (x, y) => x.min(y),
    }
}

fn dot3(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Rotation matrix from pitch (about x), roll (about y) and yaw (about z), radians.
pub fn rotation(pitch: f64, roll: f64, yaw: f64) -> [[f64; 3]; 3] {
    let (sx, cx) = pitch.sin_cos();
    let (sy, cy) = roll.sin_cos();
    let (sz, cz) = yaw.sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    matmul(rz, matmul(ry, rx))
}

fn matmul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut o = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            o[r][c] = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mass_effect_pushes_outward_and_fades() {
        let m = MassEffect {
            centre: [-30.0, 0.0, 20.0],
            radius_mm: 15.0,
        };
        // A point 25 mm away shows tissue that sat closer to the centre.
        let p = [-5.0, 0.0, 20.0];
        let s = m.source_of(p);
        assert!(s[0] < p[0] && s[0] > -30.0);
        let far = m.source_of([90.0, 0.0, 20.0]);
        assert!((far[0] - 90.0).abs() < 0.5);
        assert!(m.midline_shift_mm() > 1.0 && m.midline_shift_mm() < 10.0);
    }

    #[test]
    fn rotation_is_orthonormal() {
        let r = rotation(0.1, -0.05, 0.07);
        for a in 0..3 {
            for b in 0..3 {
                let d: f64 = (0..3).map(|k| r[a][k] * r[b][k]).sum();
                assert!((d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
