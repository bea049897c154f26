//! Class-specific planning of a study: draws the findings (what the report will say) and the
//! lesion objects, mass effects and ventricle size that render them.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::anatomy::Anatomy;
use super::findings::{
    Atrophy, BleedPattern, Finding, Incidentals, Region, Side, Sinus, StudyFindings, Territory,
};
use super::lesion::{LesionObject, Replace, Shape, add, norm, normalize, scale, sub};
use super::regions::{BRAIN_CENTRE, centre, side_of};
use super::subject::MassEffect;
use super::tissue::Tissue;
use crate::config::Label;

/// Everything needed to render one study.
pub struct Plan {
    /// Structured findings (report source and ground truth).
    pub findings: StudyFindings,
    /// Lesion objects in template space, applied in order.
    pub lesions: Vec<LesionObject>,
    /// Mass effects.
    pub masses: Vec<MassEffect>,
    /// Lateral-ventricle enlargement for the deformation field.
    pub ventricle_amount: f64,
    /// Sulcal widening.
    pub sulcal_atrophy: f32,
}

struct Builder<'a, R: Rng + ?Sized> {
    rng: &'a mut R,
    anatomy: &'a Anatomy,
    lesions: Vec<LesionObject>,
    masses: Vec<MassEffect>,
}

impl<R: Rng + ?Sized> Builder<'_, R> {
    fn side(&mut self) -> Side {
        if self.rng.random_bool(0.5) {
            Side::Left
        } else {
            Side::Right
        }
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        self.rng.random_range(lo..=hi)
    }

    /// A random point near `c` (Gaussian spread) whose template tissue passes `ok`.
    fn point_near(
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

    fn normal(&mut self) -> f64 {
        // Sum of uniforms: cheap, bounded, close enough to Gaussian for placement.
        (0..4)
            .map(|_| self.rng.random_range(-1.0..1.0))
            .sum::<f64>()
            * 0.866
    }

    fn axes(&mut self, long: Option<[f64; 3]>) -> [[f64; 3]; 3] {
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
    fn ellipsoid(
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
        }
    }

    fn blob(
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

    fn push(&mut self, o: LesionObject) {
        self.lesions.push(o);
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn is_parenchyma(a: &Anatomy, p: [f64; 3]) -> bool {
    let f = a.fractions(p);
    f.gm + f.wm > 0.8
}

fn is_deep_wm(a: &Anatomy, p: [f64; 3]) -> bool {
    a.fractions(p).wm > 0.8 && a.context(p).depth_mm > 8.0
}

fn is_junction(a: &Anatomy, p: [f64; 3]) -> bool {
    let f = a.fractions(p);
    f.gm > 0.3 && f.wm > 0.3
}

/// Plans one study of the given class.
pub fn plan_study<R: Rng + ?Sized>(label: Label, anatomy: &Anatomy, rng: &mut R) -> Plan {
    let age_years = rng.random_range(25..=88u32);
    let atrophy = match age_years {
        0..55 => Atrophy::None,
        55..70 => {
            if rng.random_bool(0.6) {
                Atrophy::Mild
            } else {
                Atrophy::None
            }
        }
        _ => {
            if rng.random_bool(0.5) {
                Atrophy::Moderate
            } else {
                Atrophy::Mild
            }
        }
    };
    let (mut ventricle_amount, sulcal_atrophy) = match atrophy {
        Atrophy::None => (rng.random_range(0.0..0.04), 0.05),
        Atrophy::Mild => (rng.random_range(0.07..0.12), 0.3),
        Atrophy::Moderate => (rng.random_range(0.14..0.2), 0.55),
    };
    let mut b = Builder {
        rng,
        anatomy,
        lesions: Vec::new(),
        masses: Vec::new(),
    };
    face_and_sinuses(&mut b);
    let sinus = if b.rng.random_bool(0.2) {
        let kind = if b.rng.random_bool(0.5) {
            Sinus::Maxillary
        } else {
            Sinus::Ethmoid
        };
        let side = *[Side::Left, Side::Right, Side::Bilateral]
            .choose(b.rng)
            .unwrap_or(&Side::Left);
        sinus_disease(&mut b, kind, side);
        Some((kind, side))
    } else {
        None
    };
    let mut findings = Vec::new();
    let mut fazekas = 0u8;
    match label {
        Label::Infarct => findings.push(infarct(&mut b)),
        Label::Hemorrhage => findings.push(hemorrhage(&mut b)),
        Label::Tumor => findings.push(tumor(&mut b)),
        Label::Normal => {}
        Label::Other => {
            let f = other(&mut b);
            match &f {
                Finding::SmallVesselDisease { fazekas: g, .. } => fazekas = *g,
                Finding::Hydrocephalus { evans_index, .. } => {
                    ventricle_amount = evans_to_amount(*evans_index);
                }
                _ => {}
            }
            findings.push(f);
        }
    }
    let mut wmh_foci = 0;
    if fazekas == 0 {
        let p1 = if age_years >= 50 { 0.45 } else { 0.15 };
        if b.rng.random_bool(p1) {
            fazekas = 1;
            wmh_foci = b.rng.random_range(2..=6);
            for _ in 0..wmh_foci {
                let c = b.point_near([0.0, -10.0, 30.0], 18.0, is_deep_wm);
                let s = b.range(2.5, 5.0);
                let o = b.blob(c, s, Tissue::Gliosis, Replace::WhiteMatter, 0, 0.1);
                b.push(o);
            }
        }
    }
    Plan {
        findings: StudyFindings {
            label,
            age_years,
            findings,
            incidental: Incidentals {
                atrophy,
                fazekas,
                wmh_foci,
                sinus,
            },
        },
        lesions: b.lesions,
        masses: b.masses,
        ventricle_amount,
        sulcal_atrophy,
    }
}

/// Maps an Evans index to the ventricle enlargement of the deformation field (a normal
/// template Evans index is about 0.26).
fn evans_to_amount(evans: f64) -> f64 {
    (1.0 - 0.26 / evans) / 0.6
}

fn face_and_sinuses<R: Rng + ?Sized>(b: &mut Builder<'_, R>) {
    let face = b.ellipsoid(
        [0.0, 48.0, -58.0],
        [52.0, 40.0, 30.0],
        Some([1.0, 0.0, 0.0]),
        Some(Tissue::Fat),
        Replace::Air,
        0,
        0.05,
    );
    b.push(face);
    for x in [-30.0, 30.0] {
        let o = b.ellipsoid(
            [x, 24.0, -60.0],
            [11.0, 15.0, 13.0],
            Some([1.0, 0.0, 0.0]),
            None,
            Replace::All,
            0,
            0.05,
        );
        b.push(o);
    }
    let o = b.ellipsoid(
        [0.0, 40.0, -46.0],
        [11.0, 12.0, 7.0],
        Some([1.0, 0.0, 0.0]),
        None,
        Replace::All,
        0,
        0.05,
    );
    b.push(o);
}

fn sinus_disease<R: Rng + ?Sized>(b: &mut Builder<'_, R>, kind: Sinus, side: Side) {
    let xs: &[f64] = match (kind, side) {
        (Sinus::Maxillary, Side::Left) => &[-30.0],
        (Sinus::Maxillary, Side::Right) => &[30.0],
        (Sinus::Maxillary, _) => &[-30.0, 30.0],
        (Sinus::Ethmoid, Side::Left) => &[-5.0],
        (Sinus::Ethmoid, Side::Right) => &[5.0],
        (Sinus::Ethmoid, _) => &[-5.0, 5.0],
    };
    for &x in xs {
        let (c, r) = match kind {
            Sinus::Maxillary => ([x, 24.0, -60.0], [11.0, 15.0, 13.0]),
            Sinus::Ethmoid => ([x, 40.0, -46.0], [6.0, 12.0, 7.0]),
        };
        let t = b.range(0.25, 0.6);
        let m = b.ellipsoid(
            c,
            r,
            Some([1.0, 0.0, 0.0]),
            Some(Tissue::Mucosa),
            Replace::All,
            0,
            0.1,
        );
        b.push(m);
        let air = b.ellipsoid(
            c,
            r.map(|v| v * (1.0 - t)),
            Some([1.0, 0.0, 0.0]),
            None,
            Replace::All,
            0,
            0.1,
        );
        b.push(air);
    }
}

fn infarct<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
    let acute = b.rng.random_bool(0.5);
    let side = b.side();
    if b.rng.random_bool(0.4) {
        let region = *[
            Region::Putamen,
            Region::Thalamus,
            Region::InternalCapsule,
            Region::CoronaRadiata,
            Region::Pons,
            Region::Caudate,
        ]
        .choose(b.rng)
        .unwrap_or(&Region::Putamen);
        let size_mm = b.range(5.0, 15.0);
        let c = b.point_near(centre(region, side), 3.0, |a, p| {
            is_parenchyma(a, p) && side_of(p) == side
        });
        lacune(b, c, size_mm, acute);
        return if acute {
            Finding::AcuteInfarct {
                territory: Territory::Perforator,
                region,
                side,
                size_mm: round1(size_mm),
                lacunar: true,
                haemorrhagic_transformation: false,
                centre_mni: c,
            }
        } else {
            Finding::ChronicInfarct {
                territory: Territory::Perforator,
                region,
                side,
                size_mm: round1(size_mm),
                lacunar: true,
                centre_mni: c,
            }
        };
    }
    let u: f64 = b.rng.random();
    let (territory, region, deep) = if u < 0.55 {
        let r = *[
            Region::FrontalLobe,
            Region::ParietalLobe,
            Region::TemporalLobe,
            Region::Insula,
        ]
        .choose(b.rng)
        .unwrap_or(&Region::FrontalLobe);
        (Territory::Mca, r, [-20.0, 0.0, 10.0])
    } else if u < 0.75 {
        (Territory::Pca, Region::OccipitalLobe, [-14.0, -45.0, 5.0])
    } else if u < 0.85 {
        (Territory::Aca, Region::MedialFrontal, [-8.0, 15.0, 18.0])
    } else if u < 0.95 {
        (
            Territory::Cerebellar,
            Region::Cerebellum,
            [-20.0, -55.0, -32.0],
        )
    } else {
        (
            Territory::Watershed,
            Region::CentrumSemiovale,
            [-26.0, -15.0, 36.0],
        )
    };
    let deep = if side == Side::Right {
        [-deep[0], deep[1], deep[2]]
    } else {
        deep
    };
    let target = centre(region, side);
    let size_mm = match territory {
        Territory::Cerebellar | Territory::Watershed => b.range(15.0, 35.0),
        _ => b.range(25.0, 65.0),
    };
    let haem = acute && b.rng.random_bool(0.2);
    let tissue = if acute {
        Tissue::AcuteInfarct
    } else {
        Tissue::Gliosis
    };
    let c = match territory {
        Territory::Cerebellar | Territory::Watershed => {
            let c = b.point_near(target, 3.0, is_parenchyma);
            let radii = [size_mm / 2.0, size_mm / 4.0, size_mm / 4.5];
            let long = if territory == Territory::Watershed {
                [0.0, 1.0, 0.0]
            } else {
                [0.3, 1.0, 0.2]
            };
            let o = b.ellipsoid(
                c,
                radii,
                Some(long),
                Some(tissue),
                Replace::Parenchyma,
                1,
                0.25,
            );
            b.push(o);
            if !acute {
                let o = b.ellipsoid(
                    c,
                    radii.map(|r| r * 0.6),
                    Some(long),
                    Some(Tissue::Csf),
                    Replace::Parenchyma,
                    1,
                    0.25,
                );
                b.push(o);
            }
            c
        }
        _ => {
            let dir = normalize(sub(target, BRAIN_CENTRE));
            let surface = b.anatomy.surface_along(BRAIN_CENTRE, dir).unwrap_or(target);
            let apex = add(surface, scale(sub(deep, surface), b.range(0.55, 0.85)));
            let axis = normalize(sub(surface, apex));
            let length = norm(sub(surface, apex)) + 6.0;
            let half_width = size_mm / 2.0;
            let phases = [b.range(0.0, 6.3), b.range(0.0, 6.3), b.range(0.0, 6.3)];
            b.push(LesionObject {
                shape: Shape::Cone {
                    apex,
                    axis,
                    length,
                    half_width,
                },
                tissue: Some(tissue),
                replace: Replace::Parenchyma,
                bloom_mm: 0.0,
                roughness: 0.2,
                phases,
                truth: 1,
            });
            if !acute {
                let shape = Shape::Cone {
                    apex: add(apex, scale(axis, length * 0.3)),
                    axis,
                    length: length * 0.7,
                    half_width: half_width * 0.6,
                };
                b.push(LesionObject {
                    shape,
                    tissue: Some(Tissue::Csf),
                    replace: Replace::Parenchyma,
                    bloom_mm: 0.0,
                    roughness: 0.2,
                    phases,
                    truth: 1,
                });
            }
            let c = add(apex, scale(axis, length * 0.6));
            if haem {
                for _ in 0..b.rng.random_range(2..=5) {
                    let p = b.point_near(c, size_mm / 5.0, is_parenchyma);
                    let size = b.range(2.0, 5.0);
                    let mut o = b.blob(p, size, Tissue::Haemosiderin, Replace::All, 1, 0.1);
                    o.bloom_mm = 1.5;
                    b.push(o);
                }
            }
            c
        }
    };
    if acute {
        Finding::AcuteInfarct {
            territory,
            region,
            side,
            size_mm: round1(size_mm),
            lacunar: false,
            haemorrhagic_transformation: haem,
            centre_mni: c,
        }
    } else {
        Finding::ChronicInfarct {
            territory,
            region,
            side,
            size_mm: round1(size_mm),
            lacunar: false,
            centre_mni: c,
        }
    }
}

fn lacune<R: Rng + ?Sized>(b: &mut Builder<'_, R>, c: [f64; 3], size_mm: f64, acute: bool) {
    if acute {
        let o = b.blob(
            c,
            size_mm,
            Tissue::AcuteInfarct,
            Replace::Parenchyma,
            1,
            0.1,
        );
        b.push(o);
    } else {
        let o = b.blob(
            c,
            size_mm * 1.4,
            Tissue::Gliosis,
            Replace::Parenchyma,
            2,
            0.1,
        );
        b.push(o);
        let o = b.blob(c, size_mm, Tissue::Csf, Replace::Parenchyma, 1, 0.1);
        b.push(o);
    }
}

fn hemorrhage<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
    if b.rng.random_bool(0.35) {
        let count = b.rng.random_range(3..=15usize);
        let pattern = if b.rng.random_bool(0.5) {
            BleedPattern::Deep
        } else {
            BleedPattern::Lobar
        };
        let mut centres = Vec::new();
        for _ in 0..count {
            let side = b.side();
            let c = match pattern {
                BleedPattern::Deep => {
                    let r = *[
                        Region::Putamen,
                        Region::Thalamus,
                        Region::Pons,
                        Region::Cerebellum,
                        Region::InternalCapsule,
                    ]
                    .choose(b.rng)
                    .unwrap_or(&Region::Thalamus);
                    b.point_near(centre(r, side), 5.0, is_parenchyma)
                }
                BleedPattern::Lobar => {
                    let r = *[
                        Region::FrontalLobe,
                        Region::ParietalLobe,
                        Region::TemporalLobe,
                        Region::OccipitalLobe,
                    ]
                    .choose(b.rng)
                    .unwrap_or(&Region::FrontalLobe);
                    b.point_near(centre(r, side), 12.0, is_junction)
                }
            };
            let size = b.range(2.0, 5.0);
            let mut o = b.blob(c, size, Tissue::Haemosiderin, Replace::All, 1, 0.0);
            o.bloom_mm = b.range(1.0, 2.0);
            b.push(o);
            centres.push(c);
        }
        return Finding::Microbleeds {
            count,
            pattern,
            centres_mni: centres,
        };
    }
    let side = b.side();
    let u: f64 = b.rng.random();
    let (region, lobar) = if u < 0.35 {
        (Region::Putamen, false)
    } else if u < 0.6 {
        (Region::Thalamus, false)
    } else if u < 0.65 {
        (Region::Pons, false)
    } else if u < 0.75 {
        (Region::Cerebellum, false)
    } else {
        (
            *[
                Region::FrontalLobe,
                Region::ParietalLobe,
                Region::TemporalLobe,
                Region::OccipitalLobe,
            ]
            .choose(b.rng)
            .unwrap_or(&Region::ParietalLobe),
            true,
        )
    };
    let mut target = centre(region, side);
    if lobar {
        target = add(target, scale(sub(BRAIN_CENTRE, target), 0.25));
    }
    let size_mm = if region == Region::Pons {
        b.range(10.0, 20.0)
    } else {
        b.range(15.0, 50.0)
    };
    let c = b.point_near(target, 3.0, |a, p| {
        is_parenchyma(a, p) && side_of(p) != Side::Midline
    });
    let oedema = b.rng.random_bool(0.8);
    if oedema {
        let o = b.blob(
            c,
            size_mm * 1.5,
            Tissue::Oedema,
            Replace::Parenchyma,
            2,
            0.2,
        );
        b.push(o);
    }
    let mut rim = b.blob(
        c,
        size_mm * 1.08,
        Tissue::Haemosiderin,
        Replace::All,
        1,
        0.12,
    );
    rim.bloom_mm = b.range(1.5, 3.0);
    let mut core = rim.clone();
    if let Shape::Ellipsoid { radii, .. } = &mut core.shape {
        *radii = radii.map(|r| r / 1.08);
    }
    core.tissue = Some(Tissue::Haematoma);
    b.push(rim);
    b.push(core);
    let mass_effect = size_mm > 28.0;
    if mass_effect {
        b.masses.push(MassEffect {
            centre: c,
            radius_mm: size_mm * 0.3,
        });
    }
    Finding::Haematoma {
        region,
        side: side_of(c),
        size_mm: round1(size_mm),
        oedema,
        mass_effect,
        centre_mni: c,
    }
}

fn tumor<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
    let u: f64 = b.rng.random();
    if u < 0.5 {
        let side = b.side();
        let region = *[
            Region::FrontalLobe,
            Region::TemporalLobe,
            Region::ParietalLobe,
        ]
        .choose(b.rng)
        .unwrap_or(&Region::FrontalLobe);
        let t = centre(region, side);
        let c = b.point_near(add(t, scale(sub(BRAIN_CENTRE, t), 0.3)), 4.0, |a, p| {
            a.fractions(p).wm > 0.5
        });
        let size_mm = b.range(25.0, 55.0);
        let o = b.blob(
            c,
            size_mm * 2.0,
            Tissue::Oedema,
            Replace::WhiteMatter,
            2,
            0.35,
        );
        b.push(o);
        let solid = b.blob(c, size_mm, Tissue::TumourSolid, Replace::All, 1, 0.2);
        let necrosis = b.rng.random_bool(0.7);
        let mut core = solid.clone();
        b.push(solid);
        if necrosis {
            if let Shape::Ellipsoid { radii, .. } = &mut core.shape {
                *radii = radii.map(|r| r * 0.55);
            }
            core.tissue = Some(Tissue::Necrosis);
            b.push(core);
        }
        let m = MassEffect {
            centre: c,
            radius_mm: size_mm * 0.35,
        };
        b.masses.push(m);
        let shift = (m.midline_shift_mm() * 2.0).round() / 2.0;
        return Finding::Glioma {
            region,
            side: side_of(c),
            size_mm: round1(size_mm),
            necrosis,
            midline_shift_mm: shift,
            centre_mni: c,
        };
    }
    if u < 0.65 {
        let count = if b.rng.random_bool(0.4) {
            1
        } else {
            b.rng.random_range(2..=4usize)
        };
        let (mut centres, mut regions, mut largest) = (Vec::new(), Vec::new(), 0.0f64);
        for _ in 0..count {
            let side = b.side();
            let region = *[
                Region::FrontalLobe,
                Region::ParietalLobe,
                Region::TemporalLobe,
                Region::OccipitalLobe,
                Region::Cerebellum,
            ]
            .choose(b.rng)
            .unwrap_or(&Region::FrontalLobe);
            let c = b.point_near(centre(region, side), 8.0, |a, p| {
                is_junction(a, p) && side_of(p) == side
            });
            let s = b.range(6.0, 22.0);
            largest = largest.max(s);
            let o = b.blob(c, s * 3.0, Tissue::Oedema, Replace::WhiteMatter, 2, 0.3);
            b.push(o);
            let solid = b.blob(c, s, Tissue::TumourSolid, Replace::All, 1, 0.1);
            let mut core = solid.clone();
            b.push(solid);
            if s > 15.0 {
                if let Shape::Ellipsoid { radii, .. } = &mut core.shape {
                    *radii = radii.map(|r| r * 0.5);
                }
                core.tissue = Some(Tissue::Necrosis);
                b.push(core);
            }
            centres.push(c);
            regions.push(region);
        }
        let sides: Vec<Side> = centres.iter().map(|&c| side_of(c)).collect();
        let side = if sides.iter().all(|&s| s == sides[0]) {
            sides[0]
        } else {
            Side::Bilateral
        };
        return Finding::Metastases {
            count,
            largest_mm: round1(largest),
            side,
            regions,
            centres_mni: centres,
        };
    }
    if u < 0.9 {
        let side = b.side();
        let region = *[
            Region::Convexity,
            Region::Falx,
            Region::SphenoidWing,
            Region::Parasagittal,
        ]
        .choose(b.rng)
        .unwrap_or(&Region::Convexity);
        let size_mm = b.range(20.0, 50.0);
        let r = size_mm / 2.0;
        let t = centre(region, side);
        let c = match region {
            Region::Convexity | Region::Parasagittal => {
                let dir = normalize(sub(t, BRAIN_CENTRE));
                let s = b.anatomy.surface_along(BRAIN_CENTRE, dir).unwrap_or(t);
                add(s, scale(dir, r * 0.25))
            }
            Region::Falx => [t[0].signum() * r * 0.6, t[1], t[2]],
            _ => t,
        };
        if b.rng.random_bool(0.3) {
            let o = b.blob(
                c,
                size_mm * 1.5,
                Tissue::Oedema,
                Replace::WhiteMatter,
                2,
                0.3,
            );
            b.push(o);
        }
        let radii = [r, r * b.range(0.8, 0.95), r * b.range(0.75, 0.9)];
        let cleft = b.ellipsoid(
            c,
            radii.map(|v| v + 1.5),
            None,
            Some(Tissue::Csf),
            Replace::All,
            0,
            0.05,
        );
        let mut mass = cleft.clone();
        if let Shape::Ellipsoid { radii: rr, .. } = &mut mass.shape {
            *rr = radii;
        }
        mass.tissue = Some(Tissue::Meningioma);
        mass.truth = 1;
        b.push(cleft);
        b.push(mass);
        b.masses.push(MassEffect {
            centre: c,
            radius_mm: r * 0.45,
        });
        return Finding::Meningioma {
            region,
            side: side_of(c),
            size_mm: round1(size_mm),
            centre_mni: c,
        };
    }
    let size_mm = b.range(12.0, 30.0);
    let supra = size_mm > 18.0;
    let c = [0.0, 0.0, -34.0 + if supra { size_mm * 0.25 } else { 0.0 }];
    let r = size_mm / 2.0;
    let o = b.ellipsoid(
        c,
        [r * 0.85, r * 0.8, r],
        Some([0.0, 0.0, 1.0]),
        Some(Tissue::Adenoma),
        Replace::All,
        1,
        0.05,
    );
    b.push(o);
    Finding::PituitaryMacroadenoma {
        size_mm: round1(size_mm),
        suprasellar_extension: supra,
        centre_mni: c,
    }
}

fn other<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
    let u: f64 = b.rng.random();
    if u < 0.35 {
        let fazekas = if b.rng.random_bool(0.5) { 2 } else { 3 };
        let shape = Shape::Periventricular {
            threshold: if fazekas == 2 { 0.45 } else { 0.25 },
        };
        let phases = [0.0; 3];
        b.push(LesionObject {
            shape,
            tissue: Some(Tissue::Gliosis),
            replace: Replace::WhiteMatter,
            bloom_mm: 0.0,
            roughness: 0.0,
            phases,
            truth: 1,
        });
        let (n, lo, hi) = if fazekas == 2 {
            (10, 3.0, 7.0)
        } else {
            (22, 5.0, 12.0)
        };
        for _ in 0..n {
            let c = b.point_near([0.0, -10.0, 30.0], 18.0, is_deep_wm);
            let s = b.range(lo, hi);
            let o = b.blob(c, s, Tissue::Gliosis, Replace::WhiteMatter, 1, 0.2);
            b.push(o);
        }
        let lacunes = b.rng.random_range(0..=3usize);
        for _ in 0..lacunes {
            let side = b.side();
            let r = *[Region::Putamen, Region::Thalamus, Region::CoronaRadiata]
                .choose(b.rng)
                .unwrap_or(&Region::Putamen);
            let c = b.point_near(centre(r, side), 3.0, is_parenchyma);
            let s = b.range(3.0, 8.0);
            lacune(b, c, s, false);
        }
        return Finding::SmallVesselDisease { fazekas, lacunes };
    }
    if u < 0.65 {
        let count = b.rng.random_range(4..=12usize);
        let active = b.rng.random_bool(0.3);
        let (mut regions, mut centres) = (Vec::new(), Vec::new());
        for i in 0..count {
            let side = b.side();
            let region = *[
                Region::Periventricular,
                Region::Periventricular,
                Region::Juxtacortical,
                Region::CorpusCallosum,
                Region::CentrumSemiovale,
                Region::Pons,
                Region::Cerebellum,
            ]
            .choose(b.rng)
            .unwrap_or(&Region::Periventricular);
            let c = b.point_near(centre(region, side), 6.0, |a, p| a.fractions(p).wm > 0.5);
            let s = b.range(3.0, 15.0);
            // Ovoid plaques perpendicular to the ventricles (Dawson's fingers).
            let radial = sub(c, [c[0].signum() * 14.0, -12.0, 14.0]);
            let tissue = if active && i == 0 {
                Tissue::ActivePlaque
            } else {
                Tissue::Gliosis
            };
            let o = b.ellipsoid(
                c,
                [s / 2.0, s / 3.5, s / 3.5],
                Some(radial),
                Some(tissue),
                Replace::Parenchyma,
                1,
                0.1,
            );
            b.push(o);
            regions.push(region);
            centres.push(c);
        }
        return Finding::Demyelination {
            count,
            regions,
            active,
            centres_mni: centres,
        };
    }
    if u < 0.85 {
        let evans_index = round2(b.range(0.32, 0.40));
        let halo = b.rng.random_bool(0.6);
        if halo {
            let shape = Shape::Periventricular { threshold: 0.55 };
            b.push(LesionObject {
                shape,
                tissue: Some(Tissue::Oedema),
                replace: Replace::WhiteMatter,
                bloom_mm: 0.0,
                roughness: 0.0,
                phases: [0.0; 3],
                truth: 1,
            });
        }
        return Finding::Hydrocephalus {
            evans_index,
            periventricular_halo: halo,
        };
    }
    let side = b.side();
    let region = if b.rng.random_bool(0.7) {
        Region::MiddleCranialFossa
    } else {
        Region::PosteriorFossa
    };
    let size_mm = b.range(20.0, 50.0);
    let c = centre(region, side);
    let o = b.blob(c, size_mm, Tissue::Csf, Replace::All, 1, 0.05);
    b.push(o);
    b.masses.push(MassEffect {
        centre: c,
        radius_mm: size_mm * 0.2,
    });
    Finding::ArachnoidCyst {
        region,
        side: side_of(c),
        size_mm: round1(size_mm),
        centre_mni: c,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
