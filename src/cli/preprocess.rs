//! `brainclip preprocess --cohort DIR [--cache DIR] [--json]`: fill the preprocessing cache
//! for every study of a cohort, in parallel.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::io::cache::{PreprocessCache, default_cache_dir, preprocess_cohort};
use crate::io::cohort::read_cohort;

/// Arguments of `brainclip preprocess`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cohort folder (with `cohort.csv` and `studies/`).
    #[arg(long)]
    pub cohort: PathBuf,
    /// Cache folder [default: <cohort>/.cache/preprocessed].
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print one JSON summary object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One study that could not be preprocessed.
#[derive(Debug, Serialize)]
struct Failure {
    study_id: String,
    error: String,
}

/// What a run did, for the summary line or `--json`.
#[derive(Debug, Serialize)]
struct Summary {
    studies: usize,
    computed: usize,
    cached: usize,
    failed: usize,
    elapsed_secs: f64,
    cache_dir: PathBuf,
    failures: Vec<Failure>,
}

/// Runs `brainclip preprocess`. Every study is attempted; failures are listed (with their
/// cause chain) and make the command fail after the summary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Instant::now();
    let cohort = read_cohort(&args.cohort).context("cannot read the cohort")?;
    let cache_dir = args
        .cache
        .unwrap_or_else(|| default_cache_dir(&cohort.root));
    let cache = PreprocessCache::new(cache_dir.clone());
    let bar = super::progress_bar("preprocessing", "studies", cohort.entries.len());

    // `Ok(true)` = cache hit, `Ok(false)` = computed.
    // `Ok(true)` = cache hit, `Ok(false)` = computed.
    let outcomes = preprocess_cohort(&cohort, &cache, &|| bar.inc(1));
    bar.finish_and_clear();

    let mut summary = Summary {
        studies: outcomes.len(),
        computed: 0,
        cached: 0,
        failed: 0,
        elapsed_secs: 0.0,
        cache_dir,
        failures: Vec::new(),
    };
    for (study_id, outcome) in outcomes {
        match outcome {
            Ok(true) => summary.cached += 1,
            Ok(false) => summary.computed += 1,
            Err(e) => {
                summary.failed += 1;
                summary.failures.push(Failure {
                    study_id,
                    error: format!("{e:#}"),
                });
            }
        }
    }
    summary.elapsed_secs = start.elapsed().as_secs_f64();

    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        for f in &summary.failures {
            eprintln!("failed {}: {}", f.study_id, f.error);
        }
        println!(
            "{} studies: {} computed, {} cached, {} failed in {:.1} s (cache {})",
            summary.studies,
            summary.computed,
            summary.cached,
            summary.failed,
            summary.elapsed_secs,
            summary.cache_dir.display()
        );
    }
    if summary.failed > 0 {
        anyhow::bail!(
            "{} of {} studies could not be preprocessed",
            summary.failed,
            summary.studies
        );
    }
    Ok(())
}
