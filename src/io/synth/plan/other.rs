//! Other pathology: small-vessel disease, demyelination, hydrocephalus, arachnoid cyst.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::super::findings::{Finding, Region};
use super::super::lesion::{LesionObject, Replace, Shape, sub};
use super::super::regions::{centre, side_of};
use super::super::subject::MassEffect;
use super::super::tissue::Tissue;
use super::builder::{Builder, is_deep_wm, is_parenchyma, round1, round2};
use super::vascular::lacune;

pub(super) fn other<R: Rng + ?Sized>(b: &mut Builder<'_, R>) -> Finding {
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
            hemisphere: 0.0,
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
                hemisphere: 0.0,
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
    let t = centre(region, side);
    let c = [
        t[0] + b.range(-4.0, 4.0),
        t[1] + b.range(-6.0, 6.0),
        t[2] + b.range(-4.0, 4.0),
    ];
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
