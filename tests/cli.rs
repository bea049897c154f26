//! End-to-end runs of the `brainclip` binary on a tiny synthetic cohort in a temp dir.

use std::path::Path;
use std::process::{Command, Output};

use brainclip::config::Split;

pub(crate) fn brainclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brainclip"))
        .args(args)
        .output()
        .expect("run brainclip")
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn synth_inspect_preprocess_sheet_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let cohort = tmp.path().join("cohort");
    let c = cohort.to_str().unwrap();
    let out = ok(&brainclip(&[
        "synth",
        "--out",
        c,
        "--n",
        "5",
        "--seed",
        "3",
        "--matrix-scale",
        "0.25",
        "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["n"], 5);

    let study = cohort.join("studies/demo-0001");
    let info: serde_json::Value = serde_json::from_str(
        ok(&brainclip(&[
            "inspect",
            study.join("dwi.nii.gz").to_str().unwrap(),
            "--json",
        ]))
        .trim(),
    )
    .unwrap();
    assert_eq!(info["orientation"], "LPS");
    assert_eq!(info["datatype"], "i16");
    let text = ok(&brainclip(&["inspect", study.to_str().unwrap()]));
    assert!(text.contains("FLAIR") || text.contains("flair"), "{text}");
    let whole = brainclip(&["inspect", c]);
    assert!(!whole.status.success());
    assert!(
        String::from_utf8_lossy(&whole.stderr).contains("is a cohort; inspect one of its studies")
    );
    assert!(
        text.contains("registration of the T2* to the MNI template")
            && text.contains("registered grid:"),
        "{text}"
    );
    let js: serde_json::Value = serde_json::from_str(
        ok(&brainclip(&["inspect", study.to_str().unwrap(), "--json"])).trim(),
    )
    .unwrap();
    let reg = &js["registration"];
    let inside = reg["head_inside"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&inside), "{reg}");
    assert!(reg["registered_grid"].is_boolean(), "{reg}");
    // A clean synthetic head registers: nine parameters and a positive NMI, no error.
    assert!(reg["error"].is_null(), "{reg}");
    assert_eq!(reg["params"].as_array().map(Vec::len), Some(9), "{reg}");
    assert!(reg["nmi"].as_f64().is_some_and(|v| v > 0.0), "{reg}");

    let pre = ok(&brainclip(&["preprocess", "--cohort", c, "--json"]));
    let pre: serde_json::Value = serde_json::from_str(pre.trim()).unwrap();
    assert_eq!(pre["failed"], 0, "{pre}");
    // A second run is served from the cache.
    let again: serde_json::Value =
        serde_json::from_str(ok(&brainclip(&["preprocess", "--cohort", c, "--json"])).trim())
            .unwrap();
    assert_eq!(again["cached"], 5, "{again}");

    let png = tmp.path().join("sheet.png");
    ok(&brainclip(&[
        "sheet",
        "--cohort",
        c,
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn bad_input_exits_non_zero_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.nii");
    std::fs::write(&bad, b"not a nifti file at all").unwrap();
    let out = brainclip(&["inspect", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.nii"), "{err}");
    let out = brainclip(&[
        "preprocess",
        "--cohort",
        Path::new("/nonexistent/cohort").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cohort"));
}

#[test]
fn bench_reports_the_documented_json_keys() {
    let out = ok(&brainclip(&[
        "bench", "--batch", "1", "--steps", "1", "--f-maps", "4,8", "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in [
        "preset",
        "f_maps",
        "batch",
        "device",
        "train_step_s",
        "embed_study_s",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["preset"], "unet");
    assert_eq!(v["f_maps"], serde_json::json!([4, 8]));
    assert!(v["train_step_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_refuses_bad_settings_clearly() {
    let out = brainclip(&["bench", "--f-maps", "12,24", "--steps", "1", "--batch", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of 8"));
    let out = brainclip(&["bench", "--device", "cuda", "--steps", "1", "--batch", "1"]);
    if cfg!(not(feature = "cuda")) {
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
    }
}

#[test]
fn eval_against_a_baseline_pairs_the_same_studies() {
    let f = crate::viewer_fixture::fixture();
    let (run, cohort) = (f.run.to_str().unwrap(), f.cohort.to_str().unwrap());
    let args = [
        "eval",
        "--run",
        run,
        "--cohort",
        cohort,
        "--split",
        "train",
        "--bootstrap",
        "30",
    ];
    let out = ok(&brainclip(
        &[&args[..], &["--against", run, "--json"]].concat(),
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["n"], 6, "{v}");
    let metrics = v["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 14);
    assert_eq!(metrics[0]["metric"], "text_to_image.r1");
    for m in metrics {
        // A run against itself: equal values, a zero difference, a zero-width interval.
        assert_eq!(m["run"], m["baseline"], "{m}");
        assert_eq!(m["difference"].as_f64(), Some(0.0), "{m}");
        assert_eq!(m["interval"]["lo"].as_f64(), Some(0.0), "{m}");
    }
    let seen = brainclip(&[&args[..], &["--against", run]].concat());
    let table = ok(&seen);
    assert!(table.contains("against baseline") && table.contains("zero_shot.macro_auc"));
    // Both runs were trained on these studies (training_set.json), and eval says so.
    let warning = String::from_utf8_lossy(&seen.stderr);
    let said = warning.matches("6 of these 6 studies were seen by").count();
    assert_eq!(said, 2, "{warning}");
    let test_split = args.map(|a| if a == "train" { "test" } else { a });
    let test = brainclip(&test_split);
    ok(&test);
    assert!(!String::from_utf8_lossy(&test.stderr).contains("were seen by"));
    let missing = f.root.join("no-such-run");
    let err = brainclip(&[&args[..], &["--against", missing.to_str().unwrap()]].concat());
    assert!(!err.status.success());
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(msg.contains("no-such-run"), "{msg}");
}

#[test]
fn classify_notes_when_the_run_has_seen_the_study() {
    let f = crate::viewer_fixture::fixture();
    let cohort = brainclip::io::cohort::read_cohort(&f.cohort).unwrap();
    for split in [Split::Train, Split::Val, Split::Test] {
        let e = cohort.entries.iter().find(|e| e.split == split).unwrap();
        let out = brainclip(&[
            "classify",
            "--run",
            f.run.to_str().unwrap(),
            "--study",
            f.cohort.join("studies").join(&e.study_id).to_str().unwrap(),
        ]);
        ok(&out);
        let note = String::from_utf8_lossy(&out.stderr);
        let want = match split {
            Split::Train => Some("(trained on)"),
            Split::Val => Some("(selected on)"),
            Split::Test => None,
        };
        match want {
            Some(how) => assert!(note.contains(how) && note.contains(&e.study_id), "{note}"),
            None => assert!(!note.contains("has seen"), "{note}"),
        }
    }
}

#[test]
fn query_marks_the_studies_the_run_has_seen() {
    let f = crate::viewer_fixture::fixture();
    let cohort = brainclip::io::cohort::read_cohort(&f.cohort).unwrap();
    let train = cohort
        .entries
        .iter()
        .find(|e| e.split == brainclip::config::Split::Train)
        .unwrap();
    let query = |run: &std::path::Path| {
        brainclip(&[
            "query",
            "--run",
            run.to_str().unwrap(),
            "--cohort",
            f.cohort.to_str().unwrap(),
            "--study",
            &train.study_id,
            "--k",
            "9",
        ])
    };
    let out = query(&f.run);
    let table = ok(&out);
    // The other nine studies: 5 train, 2 val, 2 test.
    assert_eq!(table.lines().count(), 9, "{table}");
    assert_eq!(table.matches("(trained on)").count(), 5, "{table}");
    assert_eq!(table.matches("(selected on)").count(), 2, "{table}");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains(&format!("has seen {} (trained on)", train.study_id)),
        "{note}"
    );
    // A damaged record does not stop the query: it is said, and nothing is marked.
    let damaged = f.root.join("query-run-with-damaged-record");
    crate::viewer_fixture::copy_run(&f.run, &damaged);
    let record = damaged.join(brainclip::train::provenance::TRAINING_SET_FILE);
    std::fs::write(&record, "not json").unwrap();
    let out = query(&damaged);
    let table = ok(&out);
    assert_eq!(table.lines().count(), 9, "{table}");
    assert!(
        !table.contains("(trained on)") && !table.contains("(selected on)"),
        "{table}"
    );
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("warning:") && warning.contains(&record.display().to_string()),
        "{warning}"
    );
}
