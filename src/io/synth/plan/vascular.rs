//! Infarcts and haemorrhages.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::super::findings::{BleedPattern, Finding, Region, Side, Territory};
use super::super::lesion::{LesionObject, Replace, Shape, add, norm, normalize, scale, sub};
use super::super::regions::{BRAIN_CENTRE, centre, side_of};
use super::super::subject::MassEffect;
use super::super::tissue::Tissue;
use super::builder::{Builder, is_junction, is_parenchyma, round1};

pub(super) fn infarct<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
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
                hemisphere: 0.0,
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
                    hemisphere: 0.0,
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

pub(super) fn lacune<R: Rng + ?Sized>(
    b: &mut Builder<'_, R>,
    c: [f64; 3],
    size_mm: f64,
    acute: bool,
) {
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

pub(super) fn hemorrhage<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
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
            let size = b.range(3.0, 6.0);
            let mut o = b.blob(c, size, Tissue::Haemosiderin, Replace::All, 1, 0.0);
            o.bloom_mm = b.range(1.5, 2.5);
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
    // Deep haematomas are smaller than lobar ones; caps keep them in their hemisphere.
    let size_mm = match region {
        Region::Pons => b.range(10.0, 20.0),
        Region::Thalamus => b.range(12.0, 28.0),
        Region::Putamen => b.range(15.0, 40.0),
        Region::Cerebellum => b.range(15.0, 35.0),
        _ => b.range(20.0, 50.0),
    };
    let c = b.point_near(target, 3.0, |a, p| {
        is_parenchyma(a, p) && side_of(p) != Side::Midline
    });
    let oedema = b.rng.random_bool(0.8);
    let mut rim = b.blob(
        c,
        size_mm * 1.08,
        Tissue::Haemosiderin,
        Replace::All,
        1,
        0.12,
    );
    rim.bloom_mm = b.range(1.5, 3.0);
    if oedema {
        // A halo around the haematoma: the same ellipsoid, wider, not a separate blob.
        let mut halo = rim.clone();
        if let Shape::Ellipsoid { radii, .. } = &mut halo.shape {
            *radii = radii.map(|r| r / 1.08 * 1.5);
        }
        halo.tissue = Some(Tissue::Oedema);
        halo.replace = Replace::Parenchyma;
        halo.bloom_mm = 0.0;
        halo.roughness = 0.2;
        halo.truth = 2;
        b.push(halo);
    }
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
