//! A run folder: `config.json` (everything needed to rebuild the model), `metrics.jsonl` (one
//! line per finished epoch), `best.safetensors` (the weights with the best validation
//! retrieval), `last.safetensors` (the latest epoch's weights), and the resume pair
//! `resume-<epoch>.safetensors` (weights + optimiser moments) / `resume.json` (loop state
//! naming that file). Every file is written atomically; `resume.json` is written last and
//! names a checkpoint that is complete, so a run killed at any instant resumes cleanly.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::schedule::LrSchedule;
use crate::config::{MAX_EPOCHS, TrainConfig};
use crate::io::IoError;
use crate::io::atomic::write_atomic;
use crate::model::checkpoint::{CheckpointError, load_varmap};
use crate::model::clip::ClipModel;
use crate::model::init::seeded_var_builder;

/// The run's settings.
pub const CONFIG_FILE: &str = "config.json";
/// Per-epoch metrics, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Weights of the best epoch by validation retrieval.
pub const BEST_FILE: &str = "best.safetensors";
/// Weights of the latest finished epoch.
pub const LAST_FILE: &str = "last.safetensors";
/// Loop state for `--resume`.
pub const RESUME_FILE: &str = "resume.json";

/// The runs committed under `models/` (relative to the repository root), with what each was
/// trained on.
pub const SHIPPED_RUNS: [(&str, &str); 2] = [
    (
        "models/demo",
        "the demo model: 280 training studies of the demo cohort",
    ),
    (
        "models/large",
        "the viewer's default: 1400 training studies of another generated cohort, none of \
         the demo cohort's; clearly better report -> study R@10, median rank, mAP and \
         zero-shot on the demo cohort's test split",
    ),
];

/// What one finished epoch measured (a line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Contrastive loss on the validation split (batches of the training batch size).
    pub val_loss: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Logit scale `exp(t)` at the end of the epoch.
    pub temperature: f64,
    /// Validation report -> study recall@1 over the whole split.
    pub val_r1: f64,
    /// Validation report -> study recall@5.
    pub val_r5: f64,
    /// Validation retrieval score used to keep the best model: the mean of report -> study
    /// and study -> report recall@1 and recall@5.
    #[serde(default)]
    pub val_score: f64,
    /// Wall time of the epoch including validation.
    pub seconds: f64,
}

/// The loop state saved after each epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    /// Epochs finished.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub global_step: u64,
    /// Best validation score so far and its epoch.
    pub best_score: f64,
    /// Epoch of `best_score` (0 = none yet).
    pub best_epoch: usize,
    /// The learning-rate schedule's state.
    pub schedule: LrSchedule,
    /// File name (in the run folder) of the checkpoint with weights and optimiser moments.
    pub checkpoint: String,
}

/// A failure reading or writing a run folder.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Weights could not be saved or restored.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The model could not be built.
    #[error("cannot build the model of the run: {0}")]
    Model(#[from] candle_core::Error),
}

/// Path of `name` in the run folder `dir`.
pub fn run_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Reads `config.json` of a run folder.
pub fn read_config(dir: &Path) -> Result<TrainConfig, IoError> {
    let path = dir.join(CONFIG_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            IoError::missing("run configuration (is this a run folder?)", &path)
        } else {
            IoError::os("read", &path, e)
        }
    })?;
    let cfg: TrainConfig = serde_json::from_slice(&bytes)
        .map_err(|e| IoError::invalid(&path, format!("not a run configuration: {e}")))?;
    cfg.validate().map_err(|p| IoError::invalid(&path, p))?;
    Ok(cfg)
}

/// Writes `config.json` atomically.
pub fn write_config(dir: &Path, cfg: &TrainConfig) -> Result<(), IoError> {
    let path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(cfg)
        .map_err(|e| IoError::invalid(&path, format!("cannot serialise: {e}")))?;
    write_atomic(&path, format!("{text}\n").as_bytes())
}

/// Reads `metrics.jsonl`; absent = empty. Lines that do not parse (a partial line from an
/// older writer) are skipped with a warning.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>, IoError> {
    let path = dir.join(METRICS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::os("read", &path, e)),
    };
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str(line) {
            Ok(m) => out.push(m),
            Err(e) => tracing::warn!(line = i + 1, "skipping an unreadable metrics line: {e}"),
        }
    }
    Ok(out)
}

/// Writes all of `metrics.jsonl` atomically.
pub fn write_metrics(dir: &Path, metrics: &[EpochMetrics]) -> Result<(), IoError> {
    let path = dir.join(METRICS_FILE);
    let mut text = String::new();
    for m in metrics {
        let line = serde_json::to_string(m)
            .map_err(|e| IoError::invalid(&path, format!("cannot serialise: {e}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(&path, text.as_bytes())
}

/// Reads `resume.json`; `None` when the run has not finished an epoch.
pub fn read_resume(dir: &Path) -> Result<Option<ResumeState>, IoError> {
    let path = dir.join(RESUME_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::os("read", &path, e)),
    };
    let state: ResumeState = serde_json::from_slice(&bytes)
        .map_err(|e| IoError::invalid(&path, format!("unreadable resume state: {e}")))?;
    if state.epoch > MAX_EPOCHS {
        return Err(IoError::invalid(
            &path,
            format!(
                "resume state names epoch {}, beyond any run ({MAX_EPOCHS} at most)",
                state.epoch
            ),
        ));
    }
    Ok(Some(state))
}

/// Writes `resume.json` atomically.
pub fn write_resume(dir: &Path, state: &ResumeState) -> Result<(), IoError> {
    let path = dir.join(RESUME_FILE);
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| IoError::invalid(&path, format!("cannot serialise: {e}")))?;
    write_atomic(&path, text.as_bytes())
}

/// Lock file of a run folder ([`RunLock`]).
pub const LOCK_FILE: &str = ".lock";

/// Held while a process trains into a run folder: an OS lock on `<run>/.lock`, released when
/// the process ends, however it ends (so `kill -9` leaves nothing to clean up). A second
/// process, or the viewer and the CLI, cannot train into the same folder at once.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock of the existing folder `dir`; `Ok(None)` when another process holds it.
    pub fn take(dir: &Path) -> Result<Option<Self>, IoError> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| IoError::os("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(IoError::os("lock", &path, e)),
        }
    }
}

/// Removes temporary files that a killed writer left in the run folder (names
/// `.<file>.tmp-<pid>-<n>` of [`crate::io::atomic::temp_path_for`]) from other processes.
/// Returns how many were removed.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let own = format!(".tmp-{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with('.') && name.contains(".tmp-") && !name.contains(&own)
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// A trained model rebuilt from its run folder.
pub struct LoadedRun {
    /// The run's settings.
    pub config: TrainConfig,
    /// The model, on the requested device.
    pub model: ClipModel,
    /// Its variables.
    pub varmap: VarMap,
    /// Which weights were loaded (`best.safetensors`, else `last.safetensors`).
    pub weights: PathBuf,
}

/// Rebuilds the model of a run folder from `config.json` and its best weights (the last ones
/// when no best exists yet).
pub fn load_run(dir: &Path, text_dim: usize, device: &Device) -> Result<LoadedRun, RunError> {
    let config = read_config(dir)?;
    let weights = [BEST_FILE, LAST_FILE]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| IoError::missing("trained weights (best or last.safetensors)", dir))?;
    let varmap = VarMap::new();
    let vb = seeded_var_builder(&varmap, config.seed, DType::F32, device);
    let model = ClipModel::new(&config.model, text_dim, vb)?;
    load_varmap(&varmap, &weights)?;
    Ok(LoadedRun {
        config,
        model,
        varmap,
        weights,
    })
}

/// A short identity of a run's weights for the index: SHA-256 over `config.json` and the
/// weights file, hex.
pub fn run_fingerprint(dir: &Path, weights: &Path) -> Result<String, IoError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in [dir.join(CONFIG_FILE), weights.to_path_buf()] {
        let bytes = std::fs::read(&p).map_err(|e| IoError::os("read", &p, e))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 1.0,
            val_loss: 2.0,
            lr: 1e-3,
            temperature: 14.3,
            val_r1: 0.1,
            val_r5: 0.5,
            val_score: 0.3,
            seconds: 3.0,
        }
    }

    #[test]
    fn metrics_round_trip_and_partial_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_metrics(dir.path()).unwrap().is_empty());
        let m = vec![metrics(1), metrics(2)];
        write_metrics(dir.path(), &m).unwrap();
        assert_eq!(read_metrics(dir.path()).unwrap(), m);
        let path = dir.path().join(METRICS_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"epoch\": 3, \"train_lo");
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_metrics(dir.path()).unwrap(), m);
    }

    #[test]
    fn a_folder_without_config_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_config(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        std::fs::write(dir.path().join(CONFIG_FILE), "{not json").unwrap();
        let err = read_config(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a run configuration"), "{err}");
        let err = load_run(dir.path(), 8, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
    }

    #[test]
    fn a_resume_state_beyond_any_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_resume(dir.path()).unwrap().is_none());
        let cfg = TrainConfig::default();
        let mut state = ResumeState {
            epoch: 3,
            global_step: 105,
            best_score: 0.2,
            best_epoch: 2,
            schedule: LrSchedule::new(cfg.schedule, cfg.optim.lr, 35, cfg.epochs),
            checkpoint: "resume-0003.safetensors".into(),
        };
        write_resume(dir.path(), &state).unwrap();
        assert_eq!(read_resume(dir.path()).unwrap().unwrap().epoch, 3);
        state.epoch = usize::MAX;
        write_resume(dir.path(), &state).unwrap();
        let err = read_resume(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("beyond any run") && err.contains(RESUME_FILE),
            "{err}"
        );
    }
}
