//! The lesion-building toolkit shared by the class planners.

use rand::Rng;

use super::super::anatomy::Anatomy;
use super::super::findings::Side;
use super::super::lesion::{LesionObject, Replace, Shape, normalize};
use super::super::subject::MassEffect;
use super::super::tissue::Tissue;

/// Collects the lesion objects and mass effects of one study.
pub(super) struct Builder<'a, R: Rng + ?Sized> {
    pub rng: &'a mut R,
    pub anatomy: &'a Anatomy,
    pub lesions: Vec<LesionObject>,
    pub masses: Vec<MassEffect>,
}

impl<R: Rng + ?Sized> Builder<'_, R> {
    pub fn side(&mut self) -> Side {
        if self.rng.random_bool(0.5) {
            Side::Left
        } else {
            Side::Right
        }
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        self.rng.random_range(lo..=hi)
    }

    /// A random point near `c` (Gaussian spread) whose template tissue passes `ok`.
    pub fn point_near(
        &mut self,
        c: [f64; 3],
        spread: f64,
        ok: impl Fn(&Anatomy, [f64; 3]) -> bool,
    ) -> [f64; 3] {
        for _ in 0..300 {
            let p = [
                c[0] + spread * self.normal(),
                c[1] + spread * self.normal(),
                c[2] + spread * self.normal(),
            ];
            if ok(self.anatomy, p) {
                return p;
            }
        }
        c
    }

    pub fn normal(&mut self) -> f64 {
        // Sum of uniforms: cheap, bounded, close enough to Gaussian for placement.
        (0..4)
            .map(|_| self.rng.random_range(-1.0..1.0))
            .sum::<f64>()
            * 0.866
    }

    pub fn axes(&mut self, long: Option<[f64; 3]>) -> [[f64; 3]; 3] {
        let a = match long {
            Some(v) => normalize(v),
            None => normalize([self.normal(), self.normal(), self.normal() + 1e-3]),
        };
        let helper = if a[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        let b = normalize(cross(a, helper));
        let c = cross(a, b);
        [a, b, c]
    }

    #[allow(clippy::too_many_arguments)]
    pub fn ellipsoid(
        &mut self,
        c: [f64; 3],
        radii: [f64; 3],
        long: Option<[f64; 3]>,
        tissue: Option<Tissue>,
        replace: Replace,
        truth: u8,
        rough: f64,
    ) -> LesionObject {
        let axes = self.axes(long);
        LesionObject {
            shape: Shape::Ellipsoid {
                centre: c,
                axes,
                radii,
            },
            tissue,
            replace,
            bloom_mm: 0.0,
            roughness: rough,
            phases: [
                self.range(0.0, 6.3),
                self.range(0.0, 6.3),
                self.range(0.0, 6.3),
            ],
            truth,
            hemisphere: 0.0,
        }
    }

    pub fn blob(
        &mut self,
        c: [f64; 3],
        size_mm: f64,
        tissue: Tissue,
        replace: Replace,
        truth: u8,
        rough: f64,
    ) -> LesionObject {
        let r = size_mm / 2.0;
        let radii = [r, r * self.range(0.7, 0.95), r * self.range(0.6, 0.9)];
        self.ellipsoid(c, radii, None, Some(tissue), replace, truth, rough)
    }

    pub fn push(&mut self, o: LesionObject) {
        self.lesions.push(o);
    }
}

pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub fn is_parenchyma(a: &Anatomy, p: [f64; 3]) -> bool {
    let f = a.fractions(p);
    f.gm + f.wm > 0.8
}

pub fn is_deep_wm(a: &Anatomy, p: [f64; 3]) -> bool {
    a.fractions(p).wm > 0.8 && a.context(p).depth_mm > 8.0
}

pub fn is_junction(a: &Anatomy, p: [f64; 3]) -> bool {
    let f = a.fractions(p);
    f.gm > 0.3 && f.wm > 0.3
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
