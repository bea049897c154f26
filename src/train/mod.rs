//! The one training loop: data (preprocessing cache + prefetch), augmentation, schedules, run
//! folders; reports through an observer trait and stops on a cancel token.
//!
//! Must not use egui.

use std::path::PathBuf;

pub mod augment;
pub mod bank;
pub mod cancel;
pub mod curves;
pub mod data;
pub mod embed;
pub mod explain;
pub mod indexing;
pub mod localize;
pub mod optim;
pub mod provenance;
pub mod reports;
pub mod run;
pub mod schedule;
pub mod session;
pub mod spec;
pub mod trainer;
pub mod validate;
pub mod zspace;

pub use cancel::CancelToken;
pub use trainer::{Observer, Outcome, TrainEvent, TrainRequest, TrainSummary, train};

/// Why training (or embedding with a trained model) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The settings are invalid.
    #[error("invalid training settings: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// The run folder could not be read or written.
    #[error(transparent)]
    Run(#[from] run::RunError),
    /// A checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] crate::model::checkpoint::CheckpointError),
    /// The text encoder failed.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// The report-embedding cache failed.
    #[error(transparent)]
    TextCache(#[from] crate::index::text_cache::TextCacheError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] crate::index::eval::EvalError),
    /// The embedding index failed.
    #[error(transparent)]
    Index(#[from] crate::index::store::IndexError),
    /// A tensor operation failed.
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Another process is training into the run folder.
    #[error("another process is training into this run folder: {}", .0.display())]
    RunBusy(PathBuf),
    /// A run folder already holds a run and `--resume` was not given.
    #[error("a run already exists here (use --resume to continue it, or another --out): {}", .0.display())]
    RunExists(PathBuf),
    /// `--resume` on a folder without a run.
    #[error("nothing to resume (no config.json): {}", .0.display())]
    NothingToResume(PathBuf),
    /// `--resume` on a run with trained epochs but no resume state.
    #[error(
        "cannot resume: the run has trained epochs but no resume state (resume.json), so it \
         would start over and overwrite them; train into a new folder instead: {}",
        .0.display()
    )]
    NoResumeState(PathBuf),
    /// The resume checkpoint does not fit the model.
    #[error("resume checkpoint unusable ({}): {}", .1, .0.display())]
    CorruptResume(PathBuf, String),
    /// The text encoder differs from the one the run was trained with.
    #[error("the text model differs from the one this run was trained with (fingerprint mismatch)")]
    TextModelChanged,
    /// The run was trained on inputs from another preprocessing algorithm.
    #[error(
        "this run was trained on inputs from {run}, this build preprocesses with {build}: \
         retrain it (`brainclip train`) with this build"
    )]
    PreprocessChanged {
        /// The run's preprocessing version.
        run: String,
        /// This build's.
        build: &'static str,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged (non-finite loss) at epoch {epoch}, step {step}; lower the learning rate"
    )]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step.
        step: usize,
    },
    /// Not enough data, or an empty result.
    #[error("{0}")]
    Empty(&'static str),
    /// The cancel token was set.
    #[error("cancelled")]
    Cancelled,
}
