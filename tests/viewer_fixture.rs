//! A tiny cohort, tiny text model and a tiny trained run for the worker and viewer tests,
//! built once through the library, plus helpers to wait for worker events.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use brainclip::config::SynthConfig;
use brainclip::io::synth::generate_cohort;
use brainclip::model::text::{TextModelKind, write_random_model};
use brainclip::train::spec::TrainSpec;
use brainclip::train::{CancelToken, Observer, TrainEvent, TrainRequest, train};
use brainclip::worker::{Event, WorkerHandle};

/// Paths of the shared fixture.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    /// 10 studies: 6 train, 2 val, 2 test.
    pub cohort: PathBuf,
    /// A tiny training configuration (2 epochs).
    pub config: PathBuf,
    /// A run trained with it.
    pub run: PathBuf,
    /// Scratch space for the tests.
    pub root: PathBuf,
}

struct Quiet;
impl Observer for Quiet {
    fn event(&mut self, _: &TrainEvent) {}
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let cohort = root.join("cohort");
        let cfg = SynthConfig {
            n: 10,
            seed: 23,
            label_noise: 0.0,
            matrix_scale: 0.5,
        };
        generate_cohort(&cohort, &cfg, &|| {}).unwrap();
        resplit(&cohort);
        let text = root.join("tiny-bert");
        write_random_model(&text, TextModelKind::Bert, 7).unwrap();
        let config = root.join("tiny.json");
        let json = serde_json::json!({
            "model": {
                "image": {"preset": "unet", "f_maps": [4, 8], "embed_dim": 16},
                "text_head": "mlp",
                "text_hidden": 32
            },
            "text_model": text.to_str().unwrap(),
            "batch_size": 4,
            "epochs": 2,
            "seed": 5,
            "optim": {"lr": 0.003}
        });
        std::fs::write(&config, json.to_string()).unwrap();
        let run = root.join("run");
        let request = TrainRequest {
            cohort: cohort.clone(),
            out: run.clone(),
            config: TrainSpec {
                config_file: Some(config.clone()),
                ..TrainSpec::default()
            }
            .build()
            .unwrap(),
            resume: false,
            resume_epochs: None,
        };
        let cpu = candle_core::Device::Cpu;
        train(&request, &cpu, &mut Quiet, &CancelToken::new()).unwrap();
        Fixture {
            _tmp: tmp,
            cohort,
            config,
            run,
            root,
        }
    })
}

/// The stratified split of 10 studies leaves no validation studies: 6/2/2 instead.
pub fn resplit(cohort: &Path) {
    let csv = std::fs::read_to_string(cohort.join("cohort.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    for (i, line) in lines.iter_mut().skip(1).enumerate() {
        let parts: Vec<&str> = line.split(',').collect();
        let split = match i {
            0..=5 => "train",
            6 | 7 => "val",
            _ => "test",
        };
        *line = format!("{},{split},{}", parts[0], parts[2]);
    }
    std::fs::write(cohort.join("cohort.csv"), lines.join("\n") + "\n").unwrap();
}

/// A worker on the CPU that wakes nobody.
pub fn worker() -> WorkerHandle {
    WorkerHandle::spawn("cpu", Arc::new(|| {})).unwrap()
}

/// Events until one satisfies `done` (returned last); panics on `Failed` or after 5 minutes
/// (a hung worker, not a slow one: the tiny jobs take seconds).
pub fn until(w: &WorkerHandle, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(300) {
        if let Some(e) = w.recv_timeout(Duration::from_millis(200)) {
            if let Event::Failed { task, message } = &e {
                panic!("worker failed at {task}: {message}");
            }
            let stop = done(&e);
            seen.push(e);
            if stop {
                return seen;
            }
        }
    }
    panic!("no such event within 5 minutes; saw {} events", seen.len());
}

/// The next `Failed` event's message (panics if `Done` comes first).
pub fn failure(w: &WorkerHandle) -> String {
    loop {
        match w.recv_timeout(Duration::from_secs(300)) {
            Some(Event::Failed { message, .. }) => return message,
            Some(Event::Done) => panic!("expected a failure, the job succeeded"),
            Some(_) => {}
            None => panic!("no failure reported"),
        }
    }
}

/// A copy of the run folder `run` at `to` (its files), for a test that damages one.
pub fn copy_run(run: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(run).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}
