//! `brainclip index --run DIR --cohort DIR`: embed every study and report of a cohort with a
//! trained run into an index stored in the run folder with the run's fingerprint.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::eval::embed_cohort;
use super::run_args::RunArgs;
use crate::config::Split;
use crate::index::store::{EmbeddingIndex, IndexEntry};
use crate::train::session::Session;

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

/// Where the index of `cohort` built by `run` lives: `<run>/index/<cohort name>-<hash of its
/// absolute path>.bcix`.
pub fn index_path(run: &Path, cohort: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(cohort).unwrap_or_else(|_| cohort.to_path_buf());
    let hash = Sha256::digest(abs.to_string_lossy().as_bytes());
    let tag: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let name = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cohort".into());
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    run.join("index").join(format!("{safe}-{tag}.bcix"))
}

/// Embeds a whole cohort into an index.
pub fn build_index(session: &Session, cohort: &Path) -> anyhow::Result<EmbeddingIndex> {
    let (e, samples) = embed_cohort(session, cohort, &Split::ALL)?;
    let entries = samples
        .iter()
        .map(|s| IndexEntry {
            study_id: s.study_id.clone(),
            label: s.label,
            split: s.split,
            report: s.report.clone(),
        })
        .collect();
    Ok(EmbeddingIndex::new(
        session.fingerprint.clone(),
        entries,
        e.image,
        e.text,
    )?)
}

/// Runs `brainclip index`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let session = args.run.open()?;
    let index = build_index(&session, &args.cohort)?;
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
