//! The runs committed under `models/` open with this build: configuration, packed weights,
//! metrics and, where the text encoder has been fetched, the whole inference session.

use std::path::Path;

use brainclip::io::preprocess::TENSOR_SHAPE;
use brainclip::train::embed::embed_tensor_batch;
use brainclip::train::run::{SHIPPED_RUNS, load_run, read_metrics};
use brainclip::train::session::{ClassPrompts, Session};
use candle_core::Device;

use crate::text::real_model_dir;

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn every_run_folder_in_models_is_listed_as_shipped() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for entry in std::fs::read_dir(&models).unwrap() {
        let dir = entry.unwrap().path();
        let name = format!("models/{}", dir.file_name().unwrap().to_string_lossy());
        if dir.join("config.json").is_file() && dir.join("metrics.jsonl").is_file() {
            assert!(
                SHIPPED_RUNS.iter().any(|(d, _)| *d == name),
                "{name} is not in SHIPPED_RUNS"
            );
        }
    }
}

#[test]
fn the_viewer_opens_a_shipped_run_by_default() {
    use brainclip::cli::view::DEFAULT_VIEW_RUN;
    assert!(
        SHIPPED_RUNS.iter().any(|(d, _)| *d == DEFAULT_VIEW_RUN),
        "{DEFAULT_VIEW_RUN} is not in SHIPPED_RUNS"
    );
}

#[test]
fn shipped_runs_record_what_they_were_trained_on() {
    use brainclip::config::Split;
    use brainclip::train::provenance::read_training_set;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let count = |name: &str, split: Split| -> usize {
        let set = read_training_set(&root.join(name)).unwrap().unwrap();
        set.studies.iter().filter(|s| s.split == split).count()
    };
    assert_eq!(
        (
            count("models/demo", Split::Train),
            count("models/demo", Split::Val)
        ),
        (280, 40)
    );
    assert_eq!(
        (
            count("models/large", Split::Train),
            count("models/large", Split::Val)
        ),
        (1400, 200)
    );
    // The large run saw none of the demo model's studies (ids repeat across cohorts; the
    // images do not).
    let demo = read_training_set(&root.join("models/demo"))
        .unwrap()
        .unwrap();
    let large = read_training_set(&root.join("models/large"))
        .unwrap()
        .unwrap();
    let large_keys = large.by_key();
    assert!(
        demo.studies
            .iter()
            .all(|s| !large_keys.contains_key(s.key.as_str()))
    );
}

/// The demo model's record matches the demo cohort this build generates: synthesis and the
/// cache key are byte-stable (on this platform, with this preprocessing version), so the
/// viewer's "trained on" marks and eval's warnings hold for `data/demo` as the app makes it.
#[test]
fn the_demo_models_record_matches_the_demo_cohort_this_build_generates() {
    use brainclip::config::{Split, SynthConfig};
    use brainclip::io::cache::cache_key;
    use brainclip::io::study::load_study;
    use brainclip::io::synth::generate_studies;
    use brainclip::train::provenance::read_training_set;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let record = read_training_set(&root.join("models/demo"))
        .unwrap()
        .unwrap();
    let by_key = record.by_key();
    let out = tempfile::tempdir().unwrap();
    // `brainclip synth --out data/demo --n 400 --seed 42`: a training, a test and a
    // validation study (demo-0001, demo-0006, demo-0015).
    let cfg = SynthConfig {
        n: 400,
        seed: 42,
        ..SynthConfig::default()
    };
    let entries = generate_studies(out.path(), &cfg, &[0, 5, 14]).unwrap();
    let splits: Vec<Split> = entries.iter().map(|e| e.split).collect();
    assert_eq!(splits, [Split::Train, Split::Test, Split::Val]);
    for e in &entries {
        let study = load_study(&out.path().join("studies").join(&e.study_id)).unwrap();
        let key = cache_key(&study).unwrap();
        let recorded = by_key.get(key.as_str()).copied();
        let expected = (e.split != Split::Test).then_some(e.split);
        assert_eq!(
            recorded, expected,
            "{}: not as models/demo recorded it (the synthesised images or the cache key \
             changed: the shipped runs' records no longer describe this build's cohorts)",
            e.study_id
        );
    }
}

#[test]
fn shipped_runs_open_and_embed_with_this_build() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = real_model_dir();
    for (name, _) in SHIPPED_RUNS {
        let run = root.join(name);
        let metrics = read_metrics(&run).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!metrics.is_empty(), "{name}: no epochs in metrics.jsonl");
        assert!(
            metrics
                .iter()
                .all(|m| m.train_loss.is_finite() && m.val_loss.is_finite()),
            "{name}: non-finite losses"
        );
        let Some(text) = &text else {
            load_run(&run, 384, &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"));
            continue;
        };
        let session =
            Session::open(&run, Some(text), &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A blank study and one with a bright spot in one hemisphere of the DWI.
        let n: usize = TENSOR_SHAPE.iter().product();
        let [_, d, h, w] = TENSOR_SHAPE;
        let mut images = vec![0f32; 2 * n];
        for z in d / 2 - 1..d / 2 + 1 {
            for y in h / 2 - 6..h / 2 + 6 {
                for x in w / 4 - 6..w / 4 + 6 {
                    images[n + (z * h + y) * w + x] = 4.0;
                }
            }
        }
        let e = embed_tensor_batch(&session.model, images, 2, &Device::Cpu).unwrap();
        assert_eq!(e.len(), 2);
        for v in &e {
            assert_eq!(v.len(), 256, "{name}");
            assert!((norm(v) - 1.0).abs() < 1e-3, "{name}: not unit length");
        }
        let moved: f32 = e[0].iter().zip(&e[1]).map(|(a, b)| (a - b).abs()).sum();
        assert!(
            moved > 1e-3,
            "{name}: the spot did not change the embedding"
        );
        let classes = session
            .class_embeddings(&ClassPrompts::builtin().unwrap())
            .unwrap();
        for p in session.zero_shot(&e, &classes).unwrap() {
            let sum: f32 = p.iter().sum();
            assert!(
                p.iter().all(|x| x.is_finite()) && (sum - 1.0).abs() < 1e-4,
                "{name}"
            );
        }
    }
}
