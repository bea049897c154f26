//! `brainclip demo`: the main job until the viewer exists — generate the demo cohort if it
//! is missing, then preprocess it into the model-input cache.

use std::path::PathBuf;

use super::{preprocess, synth};

/// Arguments of `brainclip demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cohort folder.
    #[arg(long, default_value = "data/demo")]
    pub out: PathBuf,
    /// Number of studies when generating.
    #[arg(long, default_value_t = 400)]
    pub n: usize,
    /// Seed when generating.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Runs `brainclip demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.out.join("cohort.csv").exists() {
        eprintln!(
            "demo cohort present in {}; skipping generation",
            args.out.display()
        );
    } else {
        synth::run(synth::Args {
            out: args.out.clone(),
            n: args.n,
            seed: args.seed,
            label_noise: 0.0,
            matrix_scale: 1.0,
            json: false,
        })?;
    }
    preprocess::run(preprocess::Args {
        cohort: args.out,
        cache: None,
        json: false,
    })
}
