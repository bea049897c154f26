//! `brainclip sheet`: render a contact sheet PNG of a cohort (one study per class).

use std::path::PathBuf;

use anyhow::Context;

use crate::io::sheet::contact_sheet;

/// Arguments of `brainclip sheet`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cohort folder.
    #[arg(long)]
    pub cohort: PathBuf,
    /// Output PNG.
    #[arg(long, default_value = "assets/contact_sheet.png")]
    pub out: PathBuf,
}

/// Runs `brainclip sheet`.
pub fn run(args: Args) -> anyhow::Result<()> {
    contact_sheet(&args.cohort, &args.out)
        .with_context(|| format!("rendering the contact sheet of {}", args.cohort.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
