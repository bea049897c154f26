//! The command-line interface: one file per subcommand; each runs the library directly.

use clap::{Parser, Subcommand};

pub mod bench;
pub mod demo;
pub mod inspect;
pub mod preprocess;
pub mod sheet;
pub mod synth;

/// brainclip: compare brain MRI studies with an image + report model.
#[derive(Debug, Parser)]
#[command(name = "brainclip", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job: generate the demo cohort if missing, then preprocess it.
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
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Preprocess(a) => preprocess::run(a),
        Command::Sheet(a) => sheet::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
