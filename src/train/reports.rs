//! Frozen report embeddings for a run: computed once per (text model, report) through the
//! cohort's text cache, for each study's report and for its left-right mirrored wording (used
//! when augmentation flips the images).

use std::path::Path;

use candle_core::Device;

use super::TrainError;
use super::data::Sample;
use crate::config::{TextPooling, TrainConfig};
use crate::index::text_cache::TextEmbeddingCache;
use crate::io::synth::report::swap_sides;
use crate::model::text::{Pooling, TextEncoder};

/// Pooled report embeddings of a run's studies.
#[derive(Debug, Clone)]
pub struct ReportEmbeddings {
    /// Encoder width.
    pub dim: usize,
    /// The encoder's fingerprint.
    pub fingerprint: String,
    /// Training reports as written, in sample order.
    pub train: Vec<Vec<f32>>,
    /// Training reports with left and right swapped, in sample order.
    pub train_mirrored: Vec<Vec<f32>>,
    /// The mirrored report texts (the loss compares texts for duplicate positives).
    pub train_mirrored_text: Vec<String>,
    /// The plain training report texts.
    pub train_text: Vec<String>,
    /// Validation reports, in sample order.
    pub val: Vec<Vec<f32>>,
}

impl ReportEmbeddings {
    /// The embedding and text paired with training study `i`, mirrored when its image was.
    pub fn train_pair(&self, i: usize, mirrored: bool) -> (&[f32], &str) {
        if mirrored {
            (&self.train_mirrored[i], &self.train_mirrored_text[i])
        } else {
            (&self.train[i], &self.train_text[i])
        }
    }
}

/// The text pooling of the model module for a configured one.
pub fn pooling(p: TextPooling) -> Pooling {
    match p {
        TextPooling::Mean => Pooling::Mean,
        TextPooling::Cls => Pooling::Cls,
    }
}

/// Folder of a cohort's report-embedding cache.
pub fn text_cache_dir(cohort_root: &Path) -> std::path::PathBuf {
    cohort_root.join(".cache").join("text")
}

/// Embeds every report a run needs with the frozen encoder of `cfg`, reusing the cache.
pub fn report_embeddings(
    cfg: &TrainConfig,
    cohort_root: &Path,
    train: &[Sample],
    val: &[Sample],
    device: &Device,
) -> Result<ReportEmbeddings, TrainError> {
    let encoder = TextEncoder::load(
        Path::new(&cfg.text_model),
        pooling(cfg.text_pooling),
        device,
    )?;
    let train_text: Vec<String> = train.iter().map(|s| s.report.clone()).collect();
    let train_mirrored_text: Vec<String> = train_text.iter().map(|t| swap_sides(t)).collect();
    let val_text: Vec<String> = val.iter().map(|s| s.report.clone()).collect();
    let mut cache = TextEmbeddingCache::open(
        &text_cache_dir(cohort_root),
        encoder.fingerprint(),
        encoder.hidden_size(),
    )?;
    let mut embed = |texts: &[String]| -> Result<Vec<Vec<f32>>, TrainError> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        cache.embed_all(&refs, |batch: &[&str]| {
            encoder.embed(batch).map_err(TrainError::from)
        })
    };
    Ok(ReportEmbeddings {
        dim: encoder.hidden_size(),
        fingerprint: encoder.fingerprint().to_string(),
        train: embed(&train_text)?,
        train_mirrored: embed(&train_mirrored_text)?,
        val: embed(&val_text)?,
        train_mirrored_text,
        train_text,
    })
}
