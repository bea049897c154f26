//! `brainclip eval --run DIR --cohort DIR [--split test] [--json] [--matrix F.csv]
//! [--matrix-png F.png] [--against RUN]`: retrieval, class precision and zero-shot metrics of
//! a trained run on one split, with 95% bootstrap intervals; or, with `--against`, the
//! paired difference to a baseline run on the same studies.

use std::path::PathBuf;

use super::run_args::RunArgs;
use crate::config::Split;
use crate::index::eval::{EvalInputs, evaluate};
use crate::index::matrix::{class_order, write_matrix_csv, write_matrix_png};
use crate::index::paired::compare;
use crate::index::sim::cosine_matrix;
use crate::train::CancelToken;
use crate::train::indexing::{PreparedSplits, SplitEmbeddings, prepare_splits};
use crate::train::provenance::{read_training_set_or_warn, seen_warning};
use crate::train::session::{ClassPrompts, DEFAULT_PROMPTS, Session};

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
    /// Compare with this baseline run on the same studies instead: both runs' metrics and
    /// the 95% paired bootstrap interval of each difference.
    #[arg(long, value_name = "RUN")]
    pub against: Option<PathBuf>,
}

/// Runs `brainclip eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let split = args.split;
    let prompts = ClassPrompts::load(&args.prompts)?;
    let session = args.run.open()?;
    // A wrong baseline is named before minutes of embedding.
    let baseline = args
        .against
        .as_ref()
        .map(|dir| {
            // The same encoder folder and device (the baseline's fingerprint is still checked).
            RunArgs {
                run: dir.clone(),
                ..args.run.clone()
            }
            .open()
            .map(|s| (dir, s))
        })
        .transpose()?;
    // The studies are loaded once for both runs.
    let studies = prepare_splits(&args.cohort, &[split])?;
    // Scoring studies a run was trained or selected on is said, not refused (a train-split
    // eval is a fair question; reporting it as held-out is not).
    for dir in std::iter::once(&args.run.run).chain(args.against.as_ref()) {
        let record =
            read_training_set_or_warn(dir, "these numbers may not be held-out", &mut |w| {
                eprintln!("warning: {w}")
            });
        if let Some(warning) = record.and_then(|r| seen_warning(dir, &r, &studies.samples)) {
            eprintln!("warning: {warning}");
        }
    }
    let this = SplitEval::embed(&session, &studies, &prompts)?;
    drop(session);
    let (e, inputs) = (&this.e, this.inputs());
    // The matrices are the run's, also when it is compared with a baseline.
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
    if let Some((base_dir, base_session)) = baseline {
        let base = SplitEval::embed(&base_session, &studies, &prompts)?;
        let paired = compare(&inputs, &base.inputs(), args.bootstrap, 0)?;
        if args.json {
            let out = serde_json::json!({
                "run": args.run.run.display().to_string(),
                "baseline": base_dir.display().to_string(),
                "split": split.as_str(),
                "n": paired.n, "metrics": paired.metrics,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!(
                "{} split of {} ({} studies): run {} against baseline {}",
                split.as_str(),
                args.cohort.display(),
                paired.n,
                args.run.run.display(),
                base_dir.display()
            );
            print!("{}", paired.to_table());
        }
        return Ok(());
    }
    let report = evaluate(&inputs, args.bootstrap, 0)?;
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

/// One run's embeddings of a split: studies, reports and class prompts.
struct SplitEval {
    e: SplitEmbeddings,
    classes: Vec<Vec<f32>>,
    logit_scale: f32,
}

impl SplitEval {
    fn embed(
        session: &Session,
        studies: &PreparedSplits,
        prompts: &ClassPrompts,
    ) -> anyhow::Result<Self> {
        let e = studies.embed(session, &CancelToken::new(), &mut |_, _| {})?;
        Ok(Self {
            e,
            classes: session.class_embeddings(prompts)?,
            logit_scale: session.logit_scale()?,
        })
    }

    fn inputs(&self) -> EvalInputs<'_> {
        EvalInputs {
            image: &self.e.image,
            text: &self.e.text,
            labels: &self.e.labels,
            class_prompts: &self.classes,
            logit_scale: self.logit_scale,
        }
    }
}
