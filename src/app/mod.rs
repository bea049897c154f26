//! The desktop viewer (eframe/egui). Panels read [`AppState`] and the UI-only [`ViewState`]
//! and emit [`Intent`]s; the app turns them into worker [`Command`]s after the frame. The UI
//! thread never touches candle or the disk: everything heavy runs on the worker.
//!
//! Must not use candle, `std::fs` or spawn threads.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use eframe::egui;

mod compare;
mod library;
mod matrix;
mod plots;
pub mod settings;
mod side;
mod slices;
pub mod state;
mod training;
mod view;

pub use settings::{Settings, Tab};
pub use state::AppState;
pub use training::run_name_problem;
pub use view::ViewState;

use crate::train::CancelToken;
use crate::worker::{Command, DemoSetup, Event, MatrixView, SendError, Slot, WorkerHandle};
use slices::SliceTextures;

/// Key of the persisted settings in eframe storage.
const SETTINGS_KEY: &str = "brainclip-settings";

/// What the viewer does on its first frame.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// Prepare (generate/fetch) and open the demo set-up.
    pub demo: Option<DemoSetup>,
    /// Or open this cohort.
    pub cohort: Option<PathBuf>,
    /// And this run.
    pub run: Option<PathBuf>,
    /// Then open this study.
    pub study: Option<String>,
    /// At this slice (T2* slice index).
    pub slice: Option<usize>,
    /// And compare it with this one.
    pub compare: Option<String>,
    /// And explain their similarity.
    pub explain: bool,
    /// The tab to show first (the matrix and the map are computed for it).
    pub tab: Option<Tab>,
    /// A free-text query to run.
    pub query: Option<String>,
    /// Start a training run of this name with the form's defaults.
    pub train: Option<String>,
    /// Report the UI's frame times on stderr every few seconds.
    pub frame_stats: bool,
}

/// A user's intent, emitted by panels and carried out after the frame.
#[derive(Debug, Clone)]
pub enum Intent {
    /// Send a command as it is.
    Send(Command),
    /// Open a study of the cohort: load it, rank similar cases.
    OpenStudy(String),
    /// Show a study beside the open one.
    Compare(String),
    /// Open two studies side by side.
    OpenPair(String, String),
    /// Choose a folder (cohort, run, study) with the system dialog.
    PickFolder(FolderKind),
    /// Open a dropped or chosen folder.
    OpenPath(PathBuf),
    /// Start training with the form's settings.
    StartTraining {
        /// Run folder.
        out: PathBuf,
        /// Resume it.
        resume: bool,
    },
    /// Switch between the viewer and compare mode.
    ToggleCompare,
    /// Stop the running training after its current step.
    StopTraining,
    /// Write an image as PNG (through the worker): a name and the image.
    ExportPng(String, Arc<egui::ColorImage>),
    /// Export the similarity matrix as drawn.
    ExportMatrix(Arc<MatrixView>),
    /// Export the whole window as PNG under a name.
    Screenshot(String),
}

/// What a folder dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// A cohort, a run or a study.
    Any,
    /// A finished run whose curves to show.
    Curves,
}

/// The viewer.
pub struct BrainclipApp {
    /// What the worker has reported.
    pub state: AppState,
    /// Persisted settings.
    pub settings: Settings,
    /// UI-only state (slices, windows, filters, forms).
    pub view: ViewState,
    worker: WorkerHandle,
    textures: SliceTextures,
    startup: Option<Startup>,
    intents: Vec<Intent>,
    training_cancel: Option<CancelToken>,
    dialog: Option<(FolderKind, Receiver<Option<PathBuf>>)>,
    screenshot: Option<(String, Receiver<Arc<egui::ColorImage>>)>,
    frame_stats: Option<FrameStats>,
}

/// Shown when the slice sampler thread has stopped.
const SAMPLER_GONE: &str = "the slice sampler has stopped; slices are drawn on the UI thread";

/// Time spent drawing each frame (UI work only, not the GPU), reported on stderr.
#[derive(Default)]
struct FrameStats {
    millis: Vec<f64>,
    last_report: Option<Instant>,
}

/// Seconds between two frame-time reports.
const FRAME_REPORT_SECS: u64 = 10;

impl FrameStats {
    fn record(&mut self, millis: f64, training: bool) {
        self.millis.push(millis);
        let now = Instant::now();
        let due = self
            .last_report
            .is_none_or(|t| now.duration_since(t).as_secs() >= FRAME_REPORT_SECS);
        if due && self.millis.len() > 1 {
            let mut m = std::mem::take(&mut self.millis);
            m.sort_by(f64::total_cmp);
            let at = |q: f64| m[((m.len() - 1) as f64 * q).round() as usize];
            eprintln!(
                "ui frames: {} (training: {training}), median {:.2} ms, p99 {:.2} ms, worst {:.2} ms, over 16 ms: {}",
                m.len(),
                at(0.5),
                at(0.99),
                at(1.0),
                m.iter().filter(|x| **x > 16.0).count()
            );
            self.last_report = Some(now);
        } else if self.last_report.is_none() {
            self.last_report = Some(now);
        }
    }
}

impl BrainclipApp {
    /// A viewer talking to `worker`; `startup` runs on the first frame.
    pub fn new(settings: Settings, worker: WorkerHandle, startup: Startup) -> Self {
        Self {
            state: AppState::default(),
            view: ViewState::default(),
            settings,
            worker,
            textures: SliceTextures::default(),
            startup: Some(startup),
            intents: Vec::new(),
            training_cancel: None,
            dialog: None,
            screenshot: None,
            frame_stats: None,
        }
    }

    /// How many slice views have a slice to show (tests and diagnostics).
    pub fn slices_ready(&self) -> usize {
        self.textures.ready()
    }

    /// Drains worker events into the state (also while the window is hidden).
    pub fn drain_events(&mut self, ctx: &egui::Context) {
        if let Some(startup) = self.startup.take() {
            self.start(startup);
        }
        match self.worker.poll() {
            Ok(events) => {
                for e in events {
                    self.view.on_event(&e, &self.settings);
                    match &e {
                        Event::StudyLoaded { slot, .. } => self.textures.forget(*slot),
                        Event::Explained(_) => self.textures.forget_overlays(),
                        Event::CohortOpened(info) => {
                            self.settings.remember_cohort(info.root.clone());
                        }
                        Event::RunOpened(info) => self.settings.remember_run(info.dir.clone()),
                        _ => {}
                    }
                    self.state.apply(e);
                }
            }
            Err(_) => self.state.worker_gone = true,
        }
        for slice in self.worker.slices().poll() {
            self.textures.receive(slice);
        }
        if let Some((name, rx)) = &self.screenshot
            && let Ok(image) = rx.try_recv()
        {
            self.intents.push(Intent::ExportPng(name.clone(), image));
            self.screenshot = None;
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        for path in dropped {
            self.intents.push(Intent::OpenPath(path));
        }
        if let Some((kind, rx)) = &self.dialog
            && let Ok(choice) = rx.try_recv()
        {
            let kind = *kind;
            self.dialog = None;
            if let Some(path) = choice {
                self.intents.push(match kind {
                    FolderKind::Any => Intent::OpenPath(path),
                    FolderKind::Curves => Intent::Send(Command::ReadMetrics(path)),
                });
            }
        }
        self.carry_out(ctx);
    }

    fn start(&mut self, startup: Startup) {
        if let Some(demo) = startup.demo {
            self.send(Command::PrepareDemo(demo));
        }
        if let Some(c) = startup.cohort {
            self.send(Command::OpenCohort(c));
        }
        if let Some(r) = startup.run {
            self.send(Command::OpenRun(r));
        }
        // Commands run in order, so the study opens once the cohort (and run) are ready.
        if let Some(id) = &startup.study {
            self.open_study(id);
            self.view.start_slice = startup.slice;
            if let Some(other) = startup.compare {
                self.compare(other.clone());
                if startup.explain {
                    self.view.overlay = true;
                    self.send(Command::Explain {
                        query: id.clone(),
                        other,
                    });
                }
            }
        }
        if let Some(text) = startup.query {
            self.view.query_text.clone_from(&text);
            self.send(Command::TextQuery {
                text,
                k: self.settings.k,
            });
        }
        if let Some(name) = startup.train {
            self.view.train_form.name.clone_from(&name);
            self.intents.push(Intent::StartTraining {
                out: self.settings.runs_root.join(name.trim()),
                resume: false,
            });
        }
        if startup.frame_stats {
            self.frame_stats = Some(FrameStats::default());
        }
        if let Some(tab) = startup.tab {
            self.settings.tab = tab;
            match tab {
                Tab::Matrix => {
                    self.view.matrix_split = Some(crate::config::Split::Test);
                    self.send(Command::Matrix(self.view.matrix_split));
                }
                Tab::Map => self.send(Command::EmbeddingMap),
                _ => {}
            }
        }
    }

    /// Draws every panel, then carries out what the user asked for.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let start = Instant::now();
        self.draw(ui);
        if let Some(stats) = &mut self.frame_stats {
            stats.record(
                start.elapsed().as_secs_f64() * 1e3,
                self.state.training.running,
            );
        }
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        view::keyboard(ui.ctx(), &self.state, &mut self.view, &mut self.intents);
        side::top_bar_ui(
            ui,
            &self.state,
            &mut self.settings,
            &mut self.view,
            &mut self.intents,
        );
        side::status_bar_ui(ui, &self.state);
        egui::Panel::left("library")
            .resizable(true)
            .default_size(260.0)
            .min_size(230.0)
            .show(ui, |ui| {
                library::library_ui(ui, &self.state, &mut self.view, &mut self.intents);
            });
        egui::Panel::right("cases")
            .resizable(true)
            .default_size(340.0)
            .min_size(300.0)
            .show(ui, |ui| {
                side::cases_ui(
                    ui,
                    &self.state,
                    &mut self.settings,
                    &mut self.view,
                    &mut self.intents,
                );
            });
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.settings.tab, tab, tab.title());
                }
            });
            ui.separator();
            match self.settings.tab {
                Tab::Viewer => view::viewer_ui(
                    ui,
                    &self.state,
                    &mut self.settings,
                    &mut self.view,
                    &mut self.textures,
                    &mut self.intents,
                ),
                Tab::Compare => compare::compare_ui(
                    ui,
                    &self.state,
                    &mut self.settings,
                    &mut self.view,
                    &mut self.textures,
                    &mut self.intents,
                ),
                Tab::Matrix => {
                    matrix::matrix_ui(ui, &self.state, &mut self.view, &mut self.intents)
                }
                Tab::Map => plots::map_ui(ui, &self.state, &mut self.intents),
                Tab::Training => training::training_ui(
                    ui,
                    &self.state,
                    &mut self.settings,
                    &mut self.view,
                    &mut self.intents,
                ),
            }
        });
        if self.view.show_help {
            side::help_window(ui.ctx(), &mut self.view.show_help);
        }
        self.carry_out(ui.ctx());
        self.request_slices(ui.ctx());
    }

    /// Sends the slices the views asked for to the sampler; one it cannot take now (its
    /// queue is full) is asked for again on the next frame.
    fn request_slices(&mut self, ctx: &egui::Context) {
        for job in self.textures.requests() {
            match self.worker.slices().send(job) {
                Ok(()) => {}
                Err((SendError::Busy, job)) => {
                    self.textures.unsent(job.view, job.ticket);
                    ctx.request_repaint();
                }
                Err((SendError::Gone, job)) => {
                    // The sampler has stopped (it should not): sample here, and say so once.
                    if !self.state.errors.iter().any(|e| e == SAMPLER_GONE) {
                        self.state.push_error(SAMPLER_GONE.into());
                    }
                    self.textures.receive(job.sample());
                    ctx.request_repaint();
                }
            }
        }
    }

    fn open_study(&mut self, id: &str) {
        self.view.overlay = false;
        self.send(Command::LoadStudy {
            slot: Slot::Primary,
            study_id: id.to_string(),
        });
        let similar = self.view.similar_command(id, None, &self.settings);
        self.send(similar);
    }

    fn compare(&mut self, id: String) {
        self.send(Command::LoadStudy {
            slot: Slot::Compare,
            study_id: id,
        });
        self.settings.tab = Tab::Compare;
    }

    fn send(&mut self, command: Command) {
        match self.worker.send(command) {
            Ok(()) => {}
            Err(SendError::Gone) => self.state.worker_gone = true,
            Err(e) => self.state.push_error(format!("{e}")),
        }
    }

    fn carry_out(&mut self, ctx: &egui::Context) {
        for intent in std::mem::take(&mut self.intents) {
            match intent {
                Intent::Send(c) => self.send(c),
                Intent::OpenStudy(id) => self.open_study(&id),
                Intent::Compare(id) => self.compare(id),
                Intent::OpenPair(a, b) => {
                    self.open_study(&a);
                    self.compare(b);
                }
                Intent::PickFolder(kind) => {
                    if self.dialog.is_none() {
                        let waker = ctx.clone();
                        match crate::worker::dialog::pick_folder(Arc::new(move || {
                            waker.request_repaint()
                        })) {
                            Ok(rx) => self.dialog = Some((kind, rx)),
                            Err(e) => self.state.push_error(format!("folder dialog: {e}")),
                        }
                    }
                }
                Intent::OpenPath(path) => self.send(Command::OpenPath {
                    path,
                    k: self.settings.k,
                    radiological: self.settings.radiological,
                }),
                Intent::StartTraining { out, resume } => {
                    self.view.train_form.started_secs = Some(ctx.input(|i| i.time));
                    let cancel = CancelToken::new();
                    let command = Command::Train {
                        out: out.clone(),
                        spec: self.view.train_form.spec(),
                        resume,
                        cancel: cancel.clone(),
                    };
                    match self.worker.send(command) {
                        Ok(()) => {
                            self.training_cancel = Some(cancel);
                            self.state.training_started(out);
                        }
                        Err(e) => self.state.push_error(format!("training: {e}")),
                    }
                }
                Intent::ToggleCompare => {
                    self.settings.tab = if self.settings.tab == Tab::Compare {
                        Tab::Viewer
                    } else {
                        Tab::Compare
                    };
                }
                Intent::StopTraining => {
                    if let Some(c) = &self.training_cancel {
                        c.cancel();
                    }
                }
                Intent::ExportPng(name, image) => {
                    self.send(Command::ExportPng {
                        folder: self.settings.export_dir.clone(),
                        name,
                        width: image.size[0],
                        height: image.size[1],
                        rgba: image.as_raw().to_vec(),
                    });
                }
                Intent::ExportMatrix(matrix) => self.send(Command::ExportMatrix {
                    folder: self.settings.export_dir.clone(),
                    matrix,
                }),
                Intent::Screenshot(name) => {
                    let (tx, rx) = sync_channel(1);
                    let waker = ctx.clone();
                    ctx.request_screenshot(move |image| {
                        // The app may be gone by the time the image is ready.
                        let _ = tx.send(image);
                        waker.request_repaint();
                    });
                    self.screenshot = Some((name, rx));
                }
            }
        }
    }
}

impl eframe::App for BrainclipApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_events(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }

    fn on_exit(&mut self) {
        // A run still training stops after its current step (its last epoch stays saved).
        if let Some(c) = &self.training_cancel {
            c.cancel();
        }
    }
}

/// Opens the viewer window and runs until it is closed.
pub fn run_native(startup: Startup, device: &str) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("brainclip")
            .with_inner_size([1500.0, 900.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let device = device.to_string();
    eframe::run_native(
        "brainclip",
        options,
        Box::new(move |cc| {
            let settings: Settings = cc
                .storage
                .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
                .unwrap_or_default();
            let ctx = cc.egui_ctx.clone();
            let worker = WorkerHandle::spawn(&device, Arc::new(move || ctx.request_repaint()))?;
            Ok(Box::new(BrainclipApp::new(settings, worker, startup)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
