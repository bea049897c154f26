//! `brainclip synth`: generate the synthetic demo cohort.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::SynthConfig;
use crate::io::synth::generate_cohort;

/// Arguments of `brainclip synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output cohort folder (created; may hold a previous cohort, which is overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of studies, balanced over the five labels.
    #[arg(long, default_value_t = 400)]
    pub n: usize,
    /// Random seed; the same seed gives byte-identical output.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Probability of replacing a study's cohort label by a random other label.
    #[arg(long, default_value_t = 0.0)]
    pub label_noise: f64,
    /// Scale of every sequence's matrix (1 = clinical size; smaller for quick tests).
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub matrix_scale: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `brainclip synth`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        n: args.n,
        seed: args.seed,
        label_noise: args.label_noise,
        matrix_scale: args.matrix_scale,
    };
    let bar = ProgressBar::new(cfg.n as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} studies, {elapsed} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("synth");
    let start = Instant::now();
    let summary = generate_cohort(&args.out, &cfg, &|| bar.inc(1))
        .with_context(|| format!("generating the demo cohort in {}", args.out.display()))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["seconds"] = serde_json::json!(secs);
        println!("{v}");
    } else {
        println!(
            "wrote {} studies ({} train / {} val / {} test, {} noisy labels), {:.1} MB in {:.1} s to {}",
            summary.n,
            summary.train,
            summary.val,
            summary.test,
            summary.noisy_labels,
            summary.bytes as f64 / 1e6,
            secs,
            args.out.display()
        );
    }
    Ok(())
}
