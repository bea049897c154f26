//! `brainclip view [--cohort DIR] [--run DIR] [--device auto]` (also `brainclip` with no
//! subcommand): the desktop viewer. Without `--cohort` it opens the demo cohort with
//! [`DEFAULT_VIEW_RUN`], generating the cohort and fetching the text encoder first when they
//! are missing (with progress in the window).

use std::path::PathBuf;

use crate::io::fetch::DEFAULT_MODEL_DIR;

/// The run the viewer opens on the demo cohort: `models/large`, which never saw a study of
/// the demo cohort (so every similar-case list is the model's, not a memorised training
/// pair) and ranks and classifies its test split better than `models/demo`, the model
/// trained on the demo cohort itself (README, "The demo model").
pub const DEFAULT_VIEW_RUN: &str = "models/large";

/// Arguments of `brainclip view`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Cohort folder to open instead of the demo cohort.
    #[arg(long)]
    pub cohort: Option<PathBuf>,
    /// Trained run to open (default: models/large with the demo cohort).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Study of the cohort to open once it is loaded.
    #[arg(long)]
    pub study: Option<String>,
    /// With --study: the slice to show first (T2* slice index; default the middle one).
    #[arg(long, requires = "study")]
    pub slice: Option<usize>,
    /// With --study: a second study to compare it with (opens compare mode).
    #[arg(long, requires = "study")]
    pub compare: Option<String>,
    /// With --compare: compute the "why similar" overlay at start.
    #[arg(long, requires = "compare")]
    pub explain: bool,
    /// Rank the cohort for this free text at start.
    #[arg(long)]
    pub query: Option<String>,
    /// Start a training run of this name (under models/runs, the form's defaults) at start.
    #[arg(long)]
    pub train: Option<String>,
    /// Print the UI's frame times (median, p99, worst) on stderr every 10 s.
    #[arg(long)]
    pub frame_stats: bool,
    /// Tab to show first: viewer, compare, matrix (computed for the test split), map
    /// (computed) or training.
    #[arg(long)]
    pub tab: Option<String>,
    /// Compute device: auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            cohort: None,
            run: None,
            study: None,
            slice: None,
            compare: None,
            explain: false,
            tab: None,
            query: None,
            train: None,
            frame_stats: false,
            device: "auto".into(),
        }
    }
}

/// Runs the viewer until its window is closed.
#[cfg(feature = "gui")]
pub fn run(args: Args) -> anyhow::Result<()> {
    use crate::app::{Startup, Tab, run_native};
    use crate::worker::DemoSetup;
    let tab = match args.tab.as_deref() {
        None => None,
        Some(name) => Some(
            Tab::ALL
                .into_iter()
                .find(|t| t.title().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown tab {name:?} (viewer, compare, matrix, map or training)"
                    )
                })?,
        ),
    };
    if let Some(problem) = args.train.as_deref().and_then(crate::app::run_name_problem) {
        anyhow::bail!("--train: {problem}");
    }
    let extra = Startup {
        slice: args.slice,
        compare: args.compare,
        explain: args.explain,
        tab,
        query: args.query,
        train: args.train,
        frame_stats: args.frame_stats,
        ..Startup::default()
    };
    let startup = match args.cohort {
        Some(cohort) => Startup {
            demo: None,
            cohort: Some(cohort),
            run: args.run,
            study: args.study,
            ..extra.clone()
        },
        None => Startup {
            demo: Some(DemoSetup {
                cohort: PathBuf::from("data/demo"),
                n: 400,
                seed: 42,
                text_model: PathBuf::from(DEFAULT_MODEL_DIR),
                run: args.run.unwrap_or_else(|| PathBuf::from(DEFAULT_VIEW_RUN)),
            }),
            cohort: None,
            run: None,
            study: args.study,
            ..extra
        },
    };
    run_native(startup, &args.device)
}

/// Without the `gui` feature there is no viewer.
#[cfg(not(feature = "gui"))]
pub fn run(_args: Args) -> anyhow::Result<()> {
    let _ = DEFAULT_MODEL_DIR;
    anyhow::bail!("this build has no viewer (built without the `gui` feature); use the subcommands")
}
