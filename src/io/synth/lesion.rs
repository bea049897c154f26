//! Lesion objects: simple smooth shapes in template space that replace normal tissue, and
//! how they are composited into the tissue fractions of a point.

use super::anatomy::Context;
use super::tissue::{N_TISSUES, Tissue};

/// Geometry of a lesion object, in template (MNI) millimetres.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Ellipsoid with orthonormal `axes` (rows) and `radii`.
    Ellipsoid {
        /// Centre.
        centre: [f64; 3],
        /// Unit axes (rows).
        axes: [[f64; 3]; 3],
        /// Semi-axes in mm.
        radii: [f64; 3],
    },
    /// Wedge: a cone from a deep `apex` along `axis`, `length` long, `half_width` at its base
    /// (territorial infarct: cortex plus underlying white matter).
    Cone {
        /// Apex.
        apex: [f64; 3],
        /// Unit direction.
        axis: [f64; 3],
        /// Length in mm.
        length: f64,
        /// Half-width at the base in mm.
        half_width: f64,
    },
    /// White matter around the lateral ventricles, where ventricle proximity exceeds
    /// `threshold` (periventricular caps and bands, transependymal halo).
    Periventricular {
        /// Proximity threshold in (0, 1): lower reaches further from the ventricles.
        threshold: f64,
    },
}

/// Which tissue a lesion object replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Parenchyma and earlier lesion tissue; CSF, bone and fat stay.
    Parenchyma,
    /// White matter only (oedema fingers, white-matter hyperintensities).
    WhiteMatter,
    /// Everything (extra-axial masses, haematomas, cysts, sinus contents).
    All,
    /// Only the empty (air) fraction: soft tissue of the face around the sinuses.
    Air,
}

/// One lesion object.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionObject {
    /// Geometry.
    pub shape: Shape,
    /// Tissue it becomes; `None` is air (sinus lumen).
    pub tissue: Option<Tissue>,
    /// What it replaces.
    pub replace: Replace,
    /// Extra radius (mm) on T2* only: susceptibility blooming of blood products.
    pub bloom_mm: f64,
    /// Boundary irregularity, as a fraction of the radius.
    pub roughness: f64,
    /// Phases of the boundary noise.
    pub phases: [f64; 3],
    /// Ground-truth label: 0 = not in the truth mask, 1 = lesion, 2 = associated change.
    pub truth: u8,
    /// Restricts the object to one hemisphere of the template: -1 = left (x < 0), 1 = right,
    /// 0 = both (midline-crossing lesions).
    pub hemisphere: f64,
}

impl LesionObject {
    /// Quick bounding sphere `(centre, radius)` including bloom and roughness.
    pub fn bounds(&self) -> Option<([f64; 3], f64)> {
        let grow = 1.0 + self.roughness;
        match &self.shape {
            Shape::Ellipsoid { centre, radii, .. } => {
                let r = radii.iter().cloned().fold(0.0, f64::max);
                Some((*centre, r * grow + self.bloom_mm + 2.0))
            }
            Shape::Cone {
                apex,
                axis,
                length,
                half_width,
            } => {
                let c = add(*apex, scale(*axis, length * 0.5));
                Some((c, (length * 0.5).hypot(*half_width) * grow + 2.0))
            }
            Shape::Periventricular { .. } => None,
        }
    }

    /// Membership in [0, 1] at template point `p`; `bloom` adds the T2* blooming margin.
    #[inline]
    pub fn membership(&self, p: [f64; 3], ctx: &Context, bloom: bool) -> f32 {
        let m = self.shape_membership(p, ctx, bloom);
        if self.hemisphere == 0.0 || m == 0.0 {
            return m;
        }
        // Soft 2 mm transition at the midline.
        m * ((p[0] * self.hemisphere + 1.0) / 2.0).clamp(0.0, 1.0) as f32
    }

    #[inline]
    fn shape_membership(&self, p: [f64; 3], ctx: &Context, bloom: bool) -> f32 {
        let extra = if bloom { self.bloom_mm } else { 0.0 };
        let noise = |local: [f64; 3], scale_mm: f64| {
            let f = std::f64::consts::TAU / scale_mm.max(4.0);
            ((local[0] * f + self.phases[0]).sin()
                + (local[1] * f * 1.3 + self.phases[1]).sin()
                + (local[2] * f * 0.7 + self.phases[2]).sin())
                / 3.0
        };
        match &self.shape {
            Shape::Ellipsoid {
                centre,
                axes,
                radii,
            } => {
                let d = sub(p, *centre);
                let mut rho2 = 0.0;
                let mut local = [0.0; 3];
                for a in 0..3 {
                    local[a] = dot(d, axes[a]);
                    let r = radii[a] + extra;
                    rho2 += (local[a] / r) * (local[a] / r);
                }
                let rmin = radii.iter().cloned().fold(f64::INFINITY, f64::min) + extra;
                let rho = rho2.sqrt() / (1.0 + self.roughness * noise(local, rmin * 1.5));
                edge(rho, 0.8 / rmin.max(0.5))
            }
            Shape::Cone {
                apex,
                axis,
                length,
                half_width,
            } => {
                let d = sub(p, *apex);
                let t = dot(d, *axis);
                if t <= 0.0 || t > *length + extra {
                    return 0.0;
                }
                let radial = norm(sub(d, scale(*axis, t)));
                let width = half_width * (t / length).sqrt() + extra;
                let rho = radial / width / (1.0 + self.roughness * noise(d, *half_width));
                edge(rho, 1.0 / half_width.max(1.0))
            }
            Shape::Periventricular { threshold } => {
                let t = *threshold as f32;
                ((ctx.vent_prox - t) / (1.0 - t).max(1e-3) * 3.0).clamp(0.0, 1.0)
            }
        }
    }

    /// Applies this object with membership `m` to tissue fractions and returns the fraction
    /// of the point it took over (what the ground truth counts).
    #[inline]
    pub fn composite(&self, f: &mut [f32; N_TISSUES], m: f32) -> f32 {
        if m <= 0.0 {
            return 0.0;
        }
        let keep = |t: usize| {
            t == Tissue::Csf as usize || t == Tissue::Bone as usize || t == Tissue::Fat as usize
        };
        let mut taken = 0.0;
        match self.replace {
            Replace::All => {
                for v in f.iter_mut() {
                    *v *= 1.0 - m;
                }
                taken = m;
            }
            Replace::Parenchyma => {
                for (t, v) in f.iter_mut().enumerate() {
                    if !keep(t) {
                        taken += *v * m;
                        *v *= 1.0 - m;
                    }
                }
            }
            Replace::Air => {
                let filled: f32 = f.iter().sum();
                taken = (1.0 - filled).max(0.0) * m;
            }
            Replace::WhiteMatter => {
                let w = &mut f[Tissue::Wm as usize];
                taken = *w * m;
                *w -= taken;
            }
        }
        if let Some(t) = self.tissue {
            f[t as usize] += taken;
        }
        taken
    }
}

/// Smooth inside-outside transition: 1 well inside (`rho` < 1), 0 outside, over `width`.
#[inline]
fn edge(rho: f64, width: f64) -> f32 {
    let x = ((1.0 + width - rho) / (2.0 * width)).clamp(0.0, 1.0);
    (x * x * (3.0 - 2.0 * x)) as f32
}

/// Vector helpers for 3-vectors.
#[inline]
pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
/// a + b.
#[inline]
pub fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
/// s * a.
#[inline]
pub fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}
/// Dot product.
#[inline]
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
/// Euclidean norm.
#[inline]
pub fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
/// Unit vector (zero stays zero).
pub fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a);
    if n > 0.0 { scale(a, 1.0 / n) } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ball(r: f64, tissue: Tissue, replace: Replace) -> LesionObject {
        LesionObject {
            shape: Shape::Ellipsoid {
                centre: [0.0; 3],
                axes: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                radii: [r; 3],
            },
            tissue: Some(tissue),
            replace,
            bloom_mm: 2.0,
            roughness: 0.0,
            phases: [0.0; 3],
            truth: 1,
            hemisphere: 0.0,
        }
    }

    #[test]
    fn ellipsoid_membership_and_bloom() {
        let b = ball(10.0, Tissue::Haematoma, Replace::All);
        let c = Context::default();
        assert_eq!(b.membership([0.0; 3], &c, false), 1.0);
        assert_eq!(b.membership([0.0, 0.0, 11.5], &c, false), 0.0);
        assert!(b.membership([0.0, 0.0, 11.0], &c, true) > 0.9);
    }

    #[test]
    fn cone_is_narrow_at_apex_and_wide_at_base() {
        let o = LesionObject {
            shape: Shape::Cone {
                apex: [0.0; 3],
                axis: [1.0, 0.0, 0.0],
                length: 40.0,
                half_width: 15.0,
            },
            ..ball(1.0, Tissue::AcuteInfarct, Replace::Parenchyma)
        };
        let c = Context::default();
        assert_eq!(o.membership([5.0, 8.0, 0.0], &c, false), 0.0);
        assert_eq!(o.membership([38.0, 8.0, 0.0], &c, false), 1.0);
        assert_eq!(o.membership([-1.0, 0.0, 0.0], &c, false), 0.0);
    }

    #[test]
    fn compositing_conserves_fractions() {
        let mut f = [0.0f32; N_TISSUES];
        f[Tissue::Gm as usize] = 0.5;
        f[Tissue::Wm as usize] = 0.3;
        f[Tissue::Csf as usize] = 0.2;
        ball(1.0, Tissue::AcuteInfarct, Replace::Parenchyma).composite(&mut f, 0.5);
        let total: f32 = f.iter().sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!((f[Tissue::Csf as usize] - 0.2).abs() < 1e-6);
        assert!((f[Tissue::AcuteInfarct as usize] - 0.4).abs() < 1e-6);
        ball(1.0, Tissue::Oedema, Replace::WhiteMatter).composite(&mut f, 1.0);
        assert_eq!(f[Tissue::Wm as usize], 0.0);
    }
}
