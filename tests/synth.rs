//! The demo-cohort generator: determinism, balance, files, and image/report agreement.

use std::fs;
use std::path::Path;

use brainclip::config::{Label, Sequence, SynthConfig};
use brainclip::io::cohort::read_cohort;
use brainclip::io::nifti_read::read_nifti;
use brainclip::io::synth::{generate_cohort, generate_studies};

fn small(n: usize, seed: u64) -> SynthConfig {
    SynthConfig {
        n,
        seed,
        label_noise: 0.0,
        matrix_scale: 0.25,
    }
}

fn all_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_few_studies_generated_alone_are_those_of_the_whole_cohort() {
    let (whole, part) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = small(6, 13);
    generate_cohort(whole.path(), &cfg, &|| {}).unwrap();
    let entries = generate_studies(part.path(), &cfg, &[4, 1]).unwrap();
    let cohort = read_cohort(whole.path()).unwrap();
    assert_eq!(
        entries,
        [cohort.entries[4].clone(), cohort.entries[1].clone()]
    );
    for e in &entries {
        let rel = Path::new("studies").join(&e.study_id);
        assert!(
            all_files(&whole.path().join(&rel)) == all_files(&part.path().join(&rel)),
            "{}",
            e.study_id
        );
    }
    // Only those two were written; an index outside the cohort is refused.
    assert_eq!(
        fs::read_dir(part.path().join("studies")).unwrap().count(),
        2
    );
    let err = generate_studies(part.path(), &cfg, &[6])
        .unwrap_err()
        .to_string();
    assert!(err.contains("index 6 is outside a cohort of 6"), "{err}");
    let err = generate_studies(part.path(), &cfg, &[2, 2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("index 2 is given twice"), "{err}");
    // Generating a study again replaces its folder: a stray file does not survive.
    let rel = Path::new("studies").join(&entries[0].study_id);
    fs::write(part.path().join(&rel).join("stray.txt"), "x").unwrap();
    generate_studies(part.path(), &cfg, &[4]).unwrap();
    assert!(all_files(&whole.path().join(&rel)) == all_files(&part.path().join(&rel)));
}

#[test]
fn same_seed_gives_byte_identical_cohorts_and_other_seeds_differ() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate_cohort(a.path(), &small(5, 7), &|| {}).unwrap();
    generate_cohort(b.path(), &small(5, 7), &|| {}).unwrap();
    generate_cohort(c.path(), &small(5, 8), &|| {}).unwrap();
    let (fa, fb, fc) = (
        all_files(a.path()),
        all_files(b.path()),
        all_files(c.path()),
    );
    assert_eq!(
        fa.len(),
        5 * 6 + 2,
        "5 studies x (3 sequences, report, study.json, truth) + cohort.csv + synth.json"
    );
    assert!(fa == fb, "same seed must give identical bytes");
    assert!(fa != fc, "another seed must give another cohort");
}

#[test]
fn cohort_is_balanced_split_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate_cohort(dir.path(), &small(10, 3), &|| {}).unwrap();
    assert_eq!(summary.n, 10);
    let cohort = read_cohort(dir.path()).unwrap();
    for label in Label::ALL {
        assert_eq!(
            cohort.entries.iter().filter(|e| e.label == label).count(),
            2,
            "{label}"
        );
    }
    for e in &cohort.entries {
        let sdir = cohort.study_dir(&e.study_id);
        for seq in Sequence::ALL {
            let v = read_nifti(&sdir.join(format!("{}.nii.gz", seq.file_stem()))).unwrap();
            assert!(v.info.warnings.is_empty(), "{:?}", v.info.warnings);
            assert!(v.volume.data.iter().all(|x| x.is_finite() && *x >= 0.0));
        }
        let report = fs::read_to_string(sdir.join("report.txt")).unwrap();
        assert!(!report.trim().is_empty());
    }
}

#[test]
fn sequences_have_their_own_geometry_in_one_world() {
    let dir = tempfile::tempdir().unwrap();
    generate_cohort(dir.path(), &small(1, 11), &|| {}).unwrap();
    let s = dir.path().join("studies/demo-0001");
    let load = |n: &str| read_nifti(&s.join(n)).unwrap();
    let (dwi, t2s, flair) = (load("dwi.nii.gz"), load("t2s.nii.gz"), load("flair.nii.gz"));
    assert_eq!(dwi.info.orientation, "LPS");
    assert_eq!(t2s.info.orientation, "LAS");
    assert_eq!(flair.info.orientation, "RAS");
    assert!(dwi.info.voxel_size_mm[0] > 1.5 * t2s.info.voxel_size_mm[0]);
    assert!(flair.info.voxel_size_mm[0] < t2s.info.voxel_size_mm[0]);
    // The fields of view overlap almost entirely in world space.
    let (a, b) = (dwi.volume.world_bounds(), flair.volume.world_bounds());
    for ax in 0..3 {
        let overlap = a.1[ax].min(b.1[ax]) - a.0[ax].max(b.0[ax]);
        assert!(overlap > 0.8 * (b.1[ax] - b.0[ax]), "axis {ax}");
    }
}

/// The sides a report names, as whole words: left/right and the abbreviations L/R, Lt/Rt,
/// also inside "left-sided" and the like.
fn side_words(report: &str) -> std::collections::BTreeSet<&'static str> {
    let mut out = std::collections::BTreeSet::new();
    // "r/o" is "rule out", not "right".
    let report = report.replace("r/o", "rule-out");
    for w in report.split(|c: char| !c.is_ascii_alphanumeric()) {
        match w {
            "left" | "l" | "lt" => {
                out.insert("left");
            }
            "right" | "r" | "rt" => {
                out.insert("right");
            }
            _ => {}
        }
    }
    out
}

/// World-x centroid of voxels selected by `keep` (weights = 1).
fn centroid_x(v: &brainclip::io::Volume, keep: impl Fn(f32) -> bool) -> Option<f64> {
    let [nx, ny, nz] = v.dims;
    let (mut sum, mut n) = (0.0, 0usize);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if keep(v.at(i, j, k)) {
                    sum += v.world_from_voxel.apply([i as f64, j as f64, k as f64])[0];
                    n += 1;
                }
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[test]
fn lesion_side_in_the_image_matches_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    generate_cohort(dir.path(), &small(15, 5), &|| {}).unwrap();
    let cohort = read_cohort(dir.path()).unwrap();
    let mut checked = 0;
    for e in &cohort.entries {
        let sdir = cohort.study_dir(&e.study_id);
        let meta: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(sdir.join("study.json")).unwrap()).unwrap();
        let Some(finding) = meta["findings"]["findings"].get(0) else {
            continue;
        };
        let side = finding["side"].as_str().unwrap_or("");
        if side != "left" && side != "right" {
            continue;
        }
        let truth = read_nifti(&sdir.join("truth/lesion.nii.gz"))
            .unwrap()
            .volume;
        let t2s = read_nifti(&sdir.join("t2s.nii.gz")).unwrap().volume;
        let Some(lesion_x) = centroid_x(&truth, |v| v == 1.0) else {
            continue;
        };
        let head_x = centroid_x(&t2s, |v| v > 20.0).unwrap();
        // RAS+: the patient's left is -x.
        if side == "left" {
            assert!(
                lesion_x < head_x,
                "{}: left lesion at x {lesion_x:.1}, head {head_x:.1}",
                e.study_id
            );
        } else {
            assert!(
                lesion_x > head_x,
                "{}: right lesion at x {lesion_x:.1}, head {head_x:.1}",
                e.study_id
            );
        }
        checked += 1;
        if !meta["findings"]["incidental"]["sinus"].is_null() {
            continue; // an incidental sinus finding may name the other side
        }
        let report = fs::read_to_string(sdir.join("report.txt"))
            .unwrap()
            .to_lowercase();
        let other = if side == "left" { "right" } else { "left" };
        let words = side_words(&report);
        assert!(
            words.contains(side),
            "{}: no side word in: {report}",
            e.study_id
        );
        assert!(
            !words.contains(other),
            "{}: report names the other side: {report}",
            e.study_id
        );
    }
    assert!(
        checked >= 3,
        "too few lateralised findings checked: {checked}"
    );
}

#[test]
fn label_noise_flips_labels_but_not_images() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate_cohort(a.path(), &small(10, 9), &|| {}).unwrap();
    let noisy = SynthConfig {
        label_noise: 1.0,
        ..small(10, 9)
    };
    let s = generate_cohort(b.path(), &noisy, &|| {}).unwrap();
    assert_eq!(s.noisy_labels, 10);
    let (ca, cb) = (
        read_cohort(a.path()).unwrap(),
        read_cohort(b.path()).unwrap(),
    );
    for (x, y) in ca.entries.iter().zip(&cb.entries) {
        assert_ne!(x.label, y.label);
        let img = |root: &Path| {
            fs::read(root.join("studies").join(&x.study_id).join("flair.nii.gz")).unwrap()
        };
        assert_eq!(img(a.path()), img(b.path()));
    }
}

#[test]
fn output_does_not_depend_on_the_number_of_threads() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    one.install(|| generate_cohort(a.path(), &small(3, 21), &|| {}))
        .unwrap();
    three
        .install(|| generate_cohort(b.path(), &small(3, 21), &|| {}))
        .unwrap();
    assert!(all_files(a.path()) == all_files(b.path()));
}

#[test]
fn regenerating_with_fewer_studies_leaves_no_stale_folders() {
    let dir = tempfile::tempdir().unwrap();
    generate_cohort(dir.path(), &small(5, 1), &|| {}).unwrap();
    generate_cohort(dir.path(), &small(2, 1), &|| {}).unwrap();
    let n = fs::read_dir(dir.path().join("studies")).unwrap().count();
    assert_eq!(n, 2);
    assert_eq!(read_cohort(dir.path()).unwrap().entries.len(), 2);
}

#[test]
fn refuses_to_write_into_a_foreign_non_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
    let err = generate_cohort(dir.path(), &small(1, 1), &|| {}).unwrap_err();
    assert!(format!("{err}").contains("not empty"), "{err}");
    assert!(dir.path().join("precious.txt").exists());
}
