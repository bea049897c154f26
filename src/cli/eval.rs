//! `brainclip eval --run DIR --cohort DIR [--split test] [--json] [--matrix F.csv]
//! [--matrix-png F.png]`: retrieval, class precision and zero-shot metrics of a trained run on
//! one split, with 95% bootstrap intervals.

use std::path::PathBuf;

use super::run_args::RunArgs;
use crate::config::Split;
use crate::index::eval::{EvalInputs, evaluate};
use crate::index::matrix::{class_order, write_matrix_csv, write_matrix_png};
use crate::index::sim::cosine_matrix;
use crate::train::CancelToken;
use crate::train::indexing::embed_cohort;
use crate::train::session::{ClassPrompts, DEFAULT_PROMPTS};

/// Arguments of `brainclip eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trained run.
    #[command(flatten)]
    pub run: RunArgs,
    /// Cohort folder.
    #[arg(long)]
    pub cohort: PathBuf,
    /// Split to evaluate: train, val or test.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the split's report x study similarity matrix, sorted by class, as CSV.
    #[arg(long)]
    pub matrix: Option<PathBuf>,
    /// Write the same matrix as a PNG heat map with class boundaries.
    #[arg(long)]
    pub matrix_png: Option<PathBuf>,
    /// Zero-shot prompt file.
    #[arg(long, default_value = DEFAULT_PROMPTS)]
    pub prompts: PathBuf,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
}

/// Runs `brainclip eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let split = args.split;
    let session = args.run.open()?;
    let prompts = ClassPrompts::load(&args.prompts)?;
    let (e, _) = embed_cohort(
        &session,
        &args.cohort,
        &[split],
        &CancelToken::new(),
        &mut |_, _| {},
    )?;
    let classes = session.class_embeddings(&prompts)?;
    let report = evaluate(
        &EvalInputs {
            image: &e.image,
            text: &e.text,
            labels: &e.labels,
            class_prompts: &classes,
            logit_scale: session.logit_scale()?,
        },
        args.bootstrap,
        0,
    )?;
    if args.matrix.is_some() || args.matrix_png.is_some() {
        let sim = cosine_matrix(&e.text, &e.image);
        let order = class_order(&e.labels, &e.ids);
        if let Some(p) = &args.matrix {
            write_matrix_csv(p, &e.ids, &e.labels, &sim, &order)?;
        }
        if let Some(p) = &args.matrix_png {
            write_matrix_png(p, &sim, &e.labels, &order, 4)?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} split of {} ({} studies), run {}",
            split.as_str(),
            args.cohort.display(),
            e.ids.len(),
            args.run.run.display()
        );
        print!("{}", report.to_table());
    }
    Ok(())
}
