//! Embedding a whole cohort with a trained run, and the run's saved index of a cohort. Shared
//! by `eval`, `index`, `query` and the viewer's worker.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::TrainError;
use super::cancel::CancelToken;
use super::data::{Sample, describe, prepare};
use super::session::Session;
use crate::config::{Label, Split};
use crate::index::store::{EmbeddingIndex, IndexEntry};
use crate::io::cache::{PreprocessCache, default_cache_dir};
use crate::io::cohort::read_cohort;
use rayon::prelude::*;

/// The embeddings of some splits of a cohort: ids, labels, image and report embeddings.
pub struct SplitEmbeddings {
    /// Study ids.
    pub ids: Vec<String>,
    /// Labels.
    pub labels: Vec<Label>,
    /// Study (image) embeddings.
    pub image: Vec<Vec<f32>>,
    /// Report embeddings.
    pub text: Vec<Vec<f32>>,
}

/// The studies of some splits of a cohort, loaded once (preprocessed where the cache lacks
/// them) so that several runs can embed them.
pub struct PreparedSplits {
    root: PathBuf,
    cache: PreprocessCache,
    /// The studies, in cohort order.
    pub samples: Arc<Vec<Sample>>,
}

/// Loads the studies of `splits` of a cohort; an empty selection is an error.
pub fn prepare_splits(cohort_dir: &Path, splits: &[Split]) -> Result<PreparedSplits, TrainError> {
    let cohort = read_cohort(cohort_dir)?;
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let samples = Arc::new(prepare(&cohort, splits, &cache)?);
    if samples.is_empty() {
        return Err(TrainError::Empty("no studies in the requested split(s)"));
    }
    Ok(PreparedSplits {
        root: cohort.root,
        cache,
        samples,
    })
}

impl PreparedSplits {
    /// Embeds every study and report with a session; `progress(done, total)` follows the
    /// studies.
    pub fn embed(
        &self,
        session: &Session,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<SplitEmbeddings, TrainError> {
        let samples = &self.samples;
        let image = session.embed_samples(samples, &self.cache, cancel, progress)?;
        let reports: Vec<&str> = samples.iter().map(|s| s.report.as_str()).collect();
        let text = session.embed_reports(&self.root, &reports)?;
        Ok(SplitEmbeddings {
            ids: samples.iter().map(|s| s.study_id.clone()).collect(),
            labels: samples.iter().map(|s| s.label).collect(),
            image,
            text,
        })
    }
}

/// Embeds every study and report of `splits` of a cohort with a session; `progress(done,
/// total)` follows the studies.
pub fn embed_cohort(
    session: &Session,
    cohort_dir: &Path,
    splits: &[Split],
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(SplitEmbeddings, Arc<Vec<Sample>>), TrainError> {
    let prepared = prepare_splits(cohort_dir, splits)?;
    let out = prepared.embed(session, cancel, progress)?;
    Ok((out, prepared.samples))
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

/// Embeds a whole cohort (every split) into an index.
pub fn build_index(
    session: &Session,
    cohort: &Path,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EmbeddingIndex, TrainError> {
    let (e, samples) = embed_cohort(session, cohort, &Split::ALL, cancel, progress)?;
    let entries = samples.iter().map(index_entry).collect();
    Ok(EmbeddingIndex::new(
        session.fingerprint.clone(),
        entries,
        e.image,
        e.text,
    )?)
}

/// What an index holds about a study.
pub fn index_entry(s: &Sample) -> IndexEntry {
    IndexEntry {
        study_id: s.study_id.clone(),
        label: s.label,
        split: s.split,
        report: s.report.clone(),
        key: s.key.clone(),
    }
}

/// What an index of the cohort must hold now, in cohort order: each study's id, label, split,
/// report and image key. Hashes every NIfTI file; reads no preprocessed tensor.
pub fn cohort_entries(cohort: &Path) -> Result<Vec<IndexEntry>, TrainError> {
    let table = read_cohort(cohort)?;
    let entries: Result<Vec<IndexEntry>, crate::io::IoError> = table
        .entries
        .par_iter()
        .map(|e| describe(&table, e).map(|(_, s)| index_entry(&s)))
        .collect();
    Ok(entries?)
}

/// The run's saved index of `cohort` when it is there, matches the run's weights and holds
/// exactly `current` (see [`cohort_entries`]: a study added, removed, relabelled, its report
/// edited or its images changed invalidates it); else builds it and saves it (atomically).
/// Returns the index and whether it was built.
pub fn load_or_build_index(
    session: &Session,
    cohort: &Path,
    current: &[IndexEntry],
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(EmbeddingIndex, bool), TrainError> {
    let path = index_path(&session.run_dir, cohort);
    if path.is_file() {
        match EmbeddingIndex::load(&path, Some(&session.fingerprint)) {
            Ok(index) if index.entries == current => return Ok((index, false)),
            Ok(_) => tracing::warn!("rebuilding the index: the cohort has changed"),
            Err(e) => tracing::warn!("rebuilding the index: {e:#}"),
        }
    }
    let index = build_index(session, cohort, cancel, progress)?;
    index.save(&path)?;
    Ok((index, true))
}
