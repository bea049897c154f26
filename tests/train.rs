//! Training, evaluation, indexing and querying end to end through the `brainclip` binary, on a
//! tiny synthetic cohort with a tiny random-weight BERT (no download) and a tiny image tower;
//! plus `kill -9` mid-epoch followed by `--resume`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::cli::{brainclip, ok};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use brainclip::model::checkpoint::load_weights;
use brainclip::model::text::{TextModelKind, write_random_model};
use brainclip::train::provenance::read_training_set;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 10-study cohort (6 train, 2 val, 2 test), a tiny text model and a tiny run config,
/// shared by the tests of this module.
struct Fixture {
    _tmp: tempfile::TempDir,
    cohort: PathBuf,
    config: PathBuf,
    root: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let cohort = root.join("cohort");
        ok(&brainclip(&[
            "synth",
            "--out",
            s(&cohort),
            "--n",
            "10",
            "--seed",
            "11",
        ]));
        crate::viewer_fixture::resplit(&cohort);
        let text = root.join("tiny-bert");
        write_random_model(&text, TextModelKind::Bert, 7).unwrap();
        let config = root.join("tiny.json");
        let cfg = serde_json::json!({
            "model": {
                "image": {"preset": "unet", "f_maps": [4, 8], "embed_dim": 16},
                "text_head": "mlp",
                "text_hidden": 32
            },
            "text_model": s(&text),
            "batch_size": 4,
            "epochs": 2,
            "seed": 5,
            "optim": {"lr": 0.003}
        });
        std::fs::write(&config, cfg.to_string()).unwrap();
        Fixture {
            _tmp: tmp,
            cohort,
            config,
            root,
        }
    })
}

/// `brainclip train --cohort <the fixture's cohort> --out OUT` followed by `extra`.
fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--cohort", s(&fixture().cohort), "--out", s(out)];
    args.extend_from_slice(extra);
    brainclip(&args)
}

fn read_metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_run_folder_another_process_trains_into_is_refused() {
    let f = fixture();
    let run = f.root.join("run-locked");
    std::fs::create_dir_all(&run).unwrap();
    let held = std::fs::File::create(run.join(".lock")).unwrap();
    held.lock().unwrap();
    let out = train(&run, &["--config", s(&f.config)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another process is training into this run folder"),
        "{err}"
    );
    assert!(!run.join("config.json").exists());
    drop(held);
}

#[test]
fn train_then_eval_index_query_and_classify() {
    let f = fixture();
    let run = f.root.join("run-e2e");
    let c = s(&f.cohort);
    let out = ok(&train(&run, &["--config", s(&f.config), "--json"]));
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["epochs"], 2, "{summary}");
    for file in [
        "config.json",
        "metrics.jsonl",
        "best.safetensors",
        "last.safetensors",
    ] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    let metrics = read_metrics(&run);
    assert_eq!(metrics.len(), 2);
    for key in [
        "epoch",
        "train_loss",
        "val_loss",
        "lr",
        "temperature",
        "val_r1",
        "val_r5",
        "seconds",
    ] {
        assert!(
            metrics[1].get(key).is_some(),
            "metrics lack {key}: {}",
            metrics[1]
        );
    }
    assert!(metrics[1]["train_loss"].as_f64().unwrap().is_finite());
    // The weights carry the cohort's per-voxel statistics and the embeddings' running ones,
    // moved away from their initial identity values.
    // On disk they are packed as mirror halves (`model::pack`; this config has no mask).
    let raw = brainclip::model::checkpoint::load_tensors(&run.join("best.safetensors")).unwrap();
    for packed in ["input_norm.mean.left", "input_norm.std.left"] {
        assert!(raw.contains_key(packed), "{packed} not packed");
    }
    let weights = load_weights(&run.join("best.safetensors")).unwrap();
    let spread =
        |name: &str| -> Vec<f32> { weights[name].flatten_all().unwrap().to_vec1().unwrap() };
    let mean = spread("input_norm.mean");
    assert_eq!(mean.len(), 3 * 16 * 112 * 112);
    assert!(mean.iter().any(|v| v.abs() > 0.1), "voxel means never set");
    assert!(spread("input_norm.std").iter().all(|v| *v >= 0.1));
    assert!(
        spread("image_norm.running_var")
            .iter()
            .any(|v| (v - 1.0).abs() > 1e-3)
    );
    assert!(
        spread("text_norm.running_mean")
            .iter()
            .any(|v| v.abs() > 1e-4)
    );
    // A second train into the same folder is refused.
    let again = train(&run, &["--config", s(&f.config)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));

    let csv = f.root.join("matrix.csv");
    let png = f.root.join("matrix.png");
    let out = ok(&brainclip(&[
        "eval",
        "--run",
        s(&run),
        "--cohort",
        c,
        "--split",
        "test",
        "--json",
        "--matrix",
        s(&csv),
        "--matrix-png",
        s(&png),
        "--bootstrap",
        "50",
    ]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "n",
        "text_to_image",
        "image_to_text",
        "class_precision",
        "map",
        "zero_shot",
        "per_class",
    ];
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(report["n"], 2);
    for k in ["r1", "r5", "r10", "median_rank"] {
        assert!(report["text_to_image"][k].is_number(), "{k}: {report}");
    }
    assert!(std::fs::read_to_string(&csv).unwrap().lines().count() == 3);
    assert!(image::open(&png).is_ok());
    // The human-readable table names its intervals.
    let table = ok(&brainclip(&[
        "eval",
        "--run",
        s(&run),
        "--cohort",
        c,
        "--bootstrap",
        "20",
    ]));
    assert!(table.contains("r1") || table.contains("R@1"), "{table}");

    ok(&brainclip(&["index", "--run", s(&run), "--cohort", c]));
    assert!(run.join("index").read_dir().unwrap().count() == 1);
    let out = ok(&brainclip(&[
        "query",
        "--run",
        s(&run),
        "--cohort",
        c,
        "--text",
        "acute infarct",
        "--k",
        "3",
        "--json",
    ]));
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits.len(), 3);
    for h in &hits {
        for k in ["study_id", "score", "label", "report"] {
            assert!(h.get(k).is_some(), "{h}");
        }
    }
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    let id = hits[0]["study_id"].as_str().unwrap();
    let out = ok(&brainclip(&[
        "query",
        "--run",
        s(&run),
        "--cohort",
        c,
        "--study",
        id,
        "--k",
        "4",
        "--json",
    ]));
    let similar: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(similar.len(), 4);
    assert!(
        similar.iter().all(|h| h["study_id"] != id),
        "a study is not its own match"
    );
    let out = ok(&brainclip(&[
        "query",
        "--run",
        s(&run),
        "--cohort",
        c,
        "--study",
        id,
        "--reports",
        "--json",
    ]));
    let reports: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(reports.len(), 10);

    // A saved index holds the cohort as it was indexed: a report edited since is embedded
    // again, not answered from the index.
    let copy = f.root.join("cohort-edited");
    copy_dir(&f.cohort, &copy);
    ok(&brainclip(&[
        "index",
        "--run",
        s(&run),
        "--cohort",
        s(&copy),
    ]));
    let edited = "Edited since indexing: xyzzy lesion.";
    std::fs::write(copy.join("studies").join(id).join("report.txt"), edited).unwrap();
    let query = |extra: &[&str]| {
        let mut a = vec![
            "query",
            "--run",
            s(&run),
            "--cohort",
            s(&copy),
            "--study",
            id,
        ];
        a.extend_from_slice(extra);
        brainclip(&a)
    };
    let out = ok(&query(&["--reports", "--json"]));
    let reports: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(reports.iter().any(|h| h["report"] == edited), "{out}");
    let zero = query(&["--k", "0"]);
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--k must be at least 1"));

    let study = f.cohort.join("studies").join(id);
    let out = ok(&brainclip(&[
        "classify",
        "--run",
        s(&run),
        "--study",
        s(&study),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total: f64 = v["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-4, "{v}");

    // Lesion localisation of the occlusion maps: one row per train study with a non-empty
    // lesion mask (at most --limit), every rate in 0..=1, the table names its baselines.
    let with_lesion = brainclip::io::cohort::read_cohort(&f.cohort)
        .unwrap()
        .split(brainclip::config::Split::Train)
        .filter(|e| {
            let truth = f
                .cohort
                .join("studies")
                .join(&e.study_id)
                .join("truth/lesion.nii.gz");
            truth.is_file()
                && brainclip::io::nifti_read::read_nifti(&truth)
                    .unwrap()
                    .volume
                    .data
                    .iter()
                    .any(|v| *v > 0.0)
        })
        .count();
    assert!(with_lesion > 0, "the fixture has no lesion in train");
    let explain = |extra: &[&str]| {
        let mut a = vec![
            "explain",
            "--run",
            s(&run),
            "--cohort",
            c,
            "--split",
            "train",
        ];
        a.extend_from_slice(extra);
        ok(&brainclip(&a))
    };
    let v: serde_json::Value = serde_json::from_str(&explain(&["--limit", "2", "--json"])).unwrap();
    let rows = v["studies"].as_array().unwrap();
    assert_eq!(rows.len(), with_lesion.min(2), "{v}");
    assert_eq!(v["summary"]["all"]["n"], rows.len());
    for key in ["hit_rate", "uniform_chance", "shuffled_masks", "heat_share"] {
        let x = v["summary"]["all"][key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{key} = {x}");
    }
    for r in rows {
        assert!(r["lesion_blocks"].as_u64().unwrap() >= 1, "{r}");
        assert!(r["head_blocks"].as_u64().unwrap() >= r["lesion_blocks"].as_u64().unwrap());
    }
    let table = explain(&["--limit", "1"]);
    assert!(
        table.contains("shuffled") && table.contains("uniform"),
        "{table}"
    );

    // The run records the preprocessing of its inputs; a run trained on another one is
    // refused, not silently misused. Run folders written before it was recorded (no field)
    // used the first version.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["preprocess"],
        brainclip::io::preprocess::PREPROCESS_VERSION
    );
    let other = f.root.join("run-other-preprocessing");
    std::fs::create_dir_all(&other).unwrap();
    for file in ["metrics.jsonl", "best.safetensors"] {
        std::fs::copy(run.join(file), other.join(file)).unwrap();
    }
    let mut changed = config.clone();
    changed["preprocess"] = "brainclip-preprocess-v0-elsewhere".into();
    std::fs::write(other.join("config.json"), changed.to_string()).unwrap();
    let refused = brainclip(&["eval", "--run", s(&other), "--cohort", c]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("brainclip-preprocess-v0-elsewhere") && err.contains("retrain"),
        "{err}"
    );
    let mut legacy = config.clone();
    legacy.as_object_mut().unwrap().remove("preprocess");
    std::fs::write(other.join("config.json"), legacy.to_string()).unwrap();
    let legacy_ok = brainclip(&[
        "eval",
        "--run",
        s(&other),
        "--cohort",
        c,
        "--bootstrap",
        "10",
    ]);
    let legacy_err = String::from_utf8_lossy(&legacy_ok.stderr);
    if brainclip::io::preprocess::PREPROCESS_VERSION == "brainclip-preprocess-v1" {
        assert!(legacy_ok.status.success(), "{legacy_err}");
    } else {
        // Refused for the version, not for anything else.
        assert!(!legacy_ok.status.success());
        assert!(
            legacy_err.contains("brainclip-preprocess-v1") && legacy_err.contains("retrain"),
            "{legacy_err}"
        );
    }
}

#[test]
fn kill_dash_nine_mid_epoch_then_resume_matches_an_uninterrupted_run() {
    let f = fixture();
    let c = s(&f.cohort);
    let epochs = "3";
    // Uninterrupted reference.
    let reference = f.root.join("run-ref");
    ok(&train(
        &reference,
        &["--config", s(&f.config), "--epochs", epochs],
    ));

    // The same run, killed during its second epoch.
    let run = f.root.join("run-killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args([
            "train",
            "--cohort",
            c,
            "--out",
            s(&run),
            "--config",
            s(&f.config),
            "--epochs",
            epochs,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while read_metrics(&run).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "epoch 1 never finished"
        );
        assert!(child.try_wait().unwrap().is_none(), "training exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before = read_metrics(&run).len();
    assert!(
        done_before < 3,
        "the run finished before it could be killed"
    );

    // The epochs the checkpoint holds must survive the resume as they are: a run started
    // over would write them again with other `seconds`.
    let resume: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("resume.json")).unwrap()).unwrap();
    let kept = resume["epoch"].as_u64().unwrap() as usize;
    assert!(kept >= 1, "no epoch was checkpointed before the kill");
    let before = read_metrics(&run);

    ok(&train(&run, &["--resume", "--epochs", epochs]));
    let metrics = read_metrics(&run);
    assert_eq!(
        metrics[..kept],
        before[..kept],
        "finished epochs were redone"
    );
    let epochs_seen: Vec<u64> = metrics
        .iter()
        .map(|m| m["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs_seen, [1, 2, 3]);
    // Nothing half-written is left behind, and the weights equal the uninterrupted run's.
    let leftovers: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The record of what the run saw is whole and the uninterrupted run's, not doubled.
    let record = |dir: &Path| read_training_set(dir).unwrap().unwrap();
    assert!(!record(&run).studies.is_empty());
    assert_eq!(record(&run), record(&reference));
    let a = std::fs::read(reference.join("last.safetensors")).unwrap();
    let b = std::fs::read(run.join("last.safetensors")).unwrap();
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );
    let ref_metrics = read_metrics(&reference);
    assert_eq!(ref_metrics[2]["train_loss"], metrics[2]["train_loss"]);
    // Resuming a finished run changes nothing; resuming nothing is refused.
    ok(&train(&run, &["--resume", "--epochs", epochs]));
    assert_eq!(read_metrics(&run), metrics);
    assert!(std::fs::read(run.join("last.safetensors")).unwrap() == b);
    let none = train(&f.root.join("nothing"), &["--resume"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("nothing to resume"));
    // Fewer epochs than trained, or settings a resumed run would not use, are refused.
    let fewer = train(&run, &["--resume", "--epochs", "1"]);
    assert!(!fewer.status.success());
    assert!(String::from_utf8_lossy(&fewer.stderr).contains("has trained 3 epochs already"));
    let lr = train(&run, &["--resume", "--lr", "0.1"]);
    assert_eq!(lr.status.code(), Some(2), "a command-line error");
    assert!(String::from_utf8_lossy(&lr.stderr).contains("cannot be used with"));
    // A finished run without its resume state (as a shipped model) is not trained over.
    std::fs::remove_file(run.join("resume.json")).unwrap();
    let over = train(&run, &["--resume", "--epochs", "4"]);
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("no resume state"));
    assert_eq!(read_metrics(&run), metrics);
    assert!(std::fs::read(run.join("last.safetensors")).unwrap() == b);
}

#[test]
fn the_side_head_trains_and_needs_its_flag() {
    let f = fixture();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f.config).unwrap()).unwrap();
    cfg["epochs"] = 1.into();
    cfg["side_loss_weight"] = 0.5.into();
    let without = f.root.join("side-without-head.json");
    std::fs::write(&without, cfg.to_string()).unwrap();
    let refused = train(&f.root.join("run-side-refused"), &["--config", s(&without)]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("side_head"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    cfg["model"]["side_head"] = true.into();
    let with = f.root.join("side.json");
    std::fs::write(&with, cfg.to_string()).unwrap();
    let run = f.root.join("run-side");
    ok(&train(&run, &["--config", s(&with)]));
    assert!(
        read_metrics(&run)[0]["train_loss"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let weights = load_weights(&run.join("best.safetensors")).unwrap();
    assert_eq!(weights["side_classifier.weight"].dims(), [3, 16]);
}

#[test]
fn the_affine_augmentation_in_standardised_space_trains_and_needs_voxel_norm() {
    let f = fixture();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f.config).unwrap()).unwrap();
    cfg["epochs"] = 1.into();
    cfg["augment"] = serde_json::json!({
        "rotate_deg": 10.0, "scale": 0.05, "translate_vox": 4.0, "space": "standardized"
    });
    cfg["model"]["voxel_norm"] = false.into();
    cfg["model"]["voxel_mask"] = false.into();
    let without = f.root.join("zaffine-without-norm.json");
    std::fs::write(&without, cfg.to_string()).unwrap();
    let refused = train(
        &f.root.join("run-zaffine-refused"),
        &["--config", s(&without)],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("standardized") && stderr.contains("voxel_norm"),
        "{stderr}"
    );
    cfg["model"]["voxel_norm"] = true.into();
    let with = f.root.join("zaffine.json");
    std::fs::write(&with, cfg.to_string()).unwrap();
    let run = f.root.join("run-zaffine");
    ok(&train(&run, &["--config", s(&with)]));
    let m = &read_metrics(&run)[0];
    assert!(m["train_loss"].as_f64().unwrap().is_finite());
    let stored = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(stored.contains("\"space\": \"standardized\""), "{stored}");
}

#[test]
fn the_report_bank_trains_and_is_recorded() {
    let f = fixture();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f.config).unwrap()).unwrap();
    cfg["epochs"] = 1.into();
    cfg["report_bank"] = true.into();
    let path = f.root.join("bank.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let run = f.root.join("run-bank");
    ok(&train(&run, &["--config", s(&path)]));
    let m = &read_metrics(&run)[0];
    assert!(m["train_loss"].as_f64().unwrap().is_finite());
    let stored = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(stored.contains("\"report_bank\": true"), "{stored}");
}

/// Copies a folder tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
