//! Keeps the module boundaries of STYLE.md true: `io` never touches candle or egui.
//! `app` never touches candle, the disk or threads; `worker` never touches egui.

use std::fs;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn violations(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut found = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in forbidden {
                if code.contains(bad) {
                    found.push(format!("{}:{}: uses {bad}", f.display(), n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn io_uses_neither_candle_nor_egui() {
    let v = violations("src/io", &["candle", "egui", "eframe"]);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn app_uses_neither_candle_nor_the_disk_nor_threads() {
    let v = violations(
        "src/app",
        &["candle", "std::fs", "fs::", "thread::", "File::", "rayon"],
    );
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn worker_and_training_use_no_egui() {
    for dir in ["src/worker", "src/train", "src/model", "src/index"] {
        let v = violations(dir, &["egui", "eframe"]);
        assert!(v.is_empty(), "{v:#?}");
    }
}

#[test]
fn the_scan_itself_finds_forbidden_names() {
    // Guards against a scan that silently looks at nothing.
    let v = violations("src/io", &["fn "]);
    assert!(v.len() > 50);
}
