//! Diagnostic: how well the registration to the MNI template (`io::register`) recovers each demo
//! study's true pose (`world_from_mni` in `study.json`, written by `synth` since generator
//! version 2; the head's affine pose, before its smooth deformation and atrophy).
//!
//! For every study (or the first `LIMIT`) the T2* is registered
//! (`registered_model_grid`, which also says whether the registered grid holds enough of the
//! head or falls back to the head box) and the error is the distance, in mm, between where the true and the estimated pose put points of
//! the template's brain (a 20 mm lattice inside it): mean and largest per study, then the
//! median, 90th percentile and maximum over studies, with the seconds per registration.
//!
//! ```text
//! cargo run --release --example registration               # data/demo
//! COHORT=DIR LIMIT=50 VERBOSE=1 cargo run --release --example registration
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::time::Instant;

use brainclip::config::Sequence;
use brainclip::io::Affine;
use brainclip::io::cohort::read_cohort;
use brainclip::io::nifti_read::read_nifti;
use brainclip::io::preprocess::registered_model_grid;
use brainclip::io::study::load_study;
use brainclip::io::template;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Points of the template's brain on a 20 mm lattice, MNI mm.
fn brain_points() -> Vec<[f64; 3]> {
    let t1 = template::T1.read().unwrap();
    let voxel_from_mni = t1.world_from_voxel.inverse().unwrap();
    let mut out = Vec::new();
    for x in (-80..=80).step_by(20) {
        for y in (-120..=80).step_by(20) {
            for z in (-80..=90).step_by(20) {
                let p = [x as f64, y as f64, z as f64];
                if t1
                    .sample_trilinear(voxel_from_mni.apply(p))
                    .is_some_and(|v| v > 0.0)
                {
                    out.push(p);
                }
            }
        }
    }
    out
}

fn main() {
    let dir = std::env::var("COHORT").unwrap_or_else(|_| "data/demo".into());
    let limit: usize = std::env::var("LIMIT").map_or(usize::MAX, |v| v.parse().unwrap());
    let cohort = read_cohort(Path::new(&dir)).expect("cohort");
    let points = brain_points();
    let (mut means, mut maxima, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut inside, mut fallbacks) = (Vec::new(), 0);
    for entry in cohort.entries.iter().take(limit) {
        let study_dir = cohort.study_dir(&entry.study_id);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(study_dir.join("study.json")).unwrap()).unwrap();
        let Some(rows) = json.get("world_from_mni") else {
            panic!(
                "{}: no world_from_mni (generated before synth 2)",
                study_dir.display()
            );
        };
        let truth: [[f64; 4]; 4] = serde_json::from_value(rows.clone()).unwrap();
        let truth = Affine(truth);
        let study = load_study(&study_dir).unwrap();
        let t2s = read_nifti(study.sequence_path(Sequence::T2s))
            .unwrap()
            .volume;
        let start = Instant::now();
        let grid = registered_model_grid(&t2s).unwrap();
        seconds.push(start.elapsed().as_secs_f64());
        inside.push(grid.head_inside);
        fallbacks += usize::from(!grid.registered);
        let reg = grid.registration.unwrap();
        let errors: Vec<f64> = points
            .iter()
            .map(|&p| {
                let (a, b) = (truth.apply(p), reg.world_from_mni.apply(p));
                (0..3).map(|ax| (a[ax] - b[ax]).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        if std::env::var_os("VERBOSE").is_some() {
            println!(
                "{} ({:?}): mean error {mean:.2} mm, parameters {:.2?}, NMI {:.3}",
                entry.study_id, entry.label, reg.params, reg.nmi
            );
        }
        means.push(mean);
        maxima.push(errors.iter().copied().fold(0.0, f64::max));
    }
    for v in [&mut means, &mut maxima, &mut seconds, &mut inside] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{} studies, {} brain points each (20 mm lattice)",
        means.len(),
        points.len()
    );
    println!("| per study | median | 90th pct. | max |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("mean error (mm)", &means),
        ("largest error (mm)", &maxima),
        ("seconds (registration and grid)", &seconds),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            percentile(v, 50.0),
            percentile(v, 90.0),
            v[v.len() - 1]
        );
    }
    println!(
        "head foreground inside the registered grid: lowest {:.3}, median {:.3}; \
         {fallbacks} studies fell back to the head box",
        inside[0],
        percentile(&inside, 50.0)
    );
}
