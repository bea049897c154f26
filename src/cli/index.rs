//! `brainclip index --run DIR --cohort DIR`: embed every study and report of a cohort with a
//! trained run into an index stored in the run folder with the run's fingerprint.

use std::path::PathBuf;

use super::run_args::RunArgs;
use crate::train::CancelToken;
use crate::train::indexing::{build_index, index_path};

/// Arguments of `brainclip index`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Cohort folder.
    #[arg(long)]
    pub cohort: PathBuf,
}

/// Runs `brainclip index`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let session = args.run.open()?;
    let index = build_index(&session, &args.cohort, &CancelToken::new(), &mut |_, _| {})?;
    let path = index_path(&args.run.run, &args.cohort);
    index.save(&path)?;
    println!(
        "indexed {} studies ({}-d) -> {}",
        index.len(),
        index.dim,
        path.display()
    );
    Ok(())
}
