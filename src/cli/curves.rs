//! `brainclip curves --run DIR [--run DIR ...] --out FILE.svg`: training curves of one or more
//! run folders (from their `metrics.jsonl`) as one SVG image.

use std::path::PathBuf;

use anyhow::Context;

use crate::io::atomic::write_atomic;
use crate::train::curves::render_svg;
use crate::train::run::read_metrics;

/// Arguments of `brainclip curves`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (repeat to compare runs); its folder name labels the curves.
    #[arg(long = "run", required = true)]
    pub runs: Vec<PathBuf>,
    /// Output SVG file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Reads every run's metrics and writes the SVG atomically.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut runs = Vec::with_capacity(args.runs.len());
    for dir in &args.runs {
        let metrics = read_metrics(dir)?;
        if metrics.is_empty() {
            anyhow::bail!(
                "{}: no finished epoch in metrics.jsonl (is it a run folder?)",
                dir.display()
            );
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        runs.push((name, metrics));
    }
    let svg = render_svg(&runs);
    write_atomic(&args.out, svg.as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
