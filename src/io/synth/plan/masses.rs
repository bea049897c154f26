//! Tumours: glioma, metastases, meningioma, pituitary macroadenoma.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::super::findings::{Finding, Region, Side};
use super::super::lesion::{Replace, Shape, add, normalize, scale, sub};
use super::super::regions::{BRAIN_CENTRE, centre, side_of};
use super::super::subject::MassEffect;
use super::super::tissue::Tissue;
use super::builder::{Builder, is_junction, round1};

pub(super) fn tumor<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
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
        // Dural attachment varies along the convexity / falx; sizes stay within the slab.
        let jitter = [
            b.range(-12.0, 12.0),
            b.range(-25.0, 25.0),
            b.range(-12.0, 8.0),
        ];
        let c = match region {
            Region::Convexity | Region::Parasagittal => {
                let dir = normalize(sub(add(t, jitter), BRAIN_CENTRE));
                let s = b.anatomy.surface_along(BRAIN_CENTRE, dir).unwrap_or(t);
                add(s, scale(dir, r * 0.25))
            }
            Region::Falx => [t[0].signum() * r * 0.6, t[1] + jitter[1], t[2] + jitter[2]],
            _ => add(t, scale(jitter, 0.2)),
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
    let c = [
        b.range(-2.0, 2.0),
        b.range(-2.0, 2.0),
        -34.0 + if supra { size_mm * 0.25 } else { 0.0 },
    ];
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
