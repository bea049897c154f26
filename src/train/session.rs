//! A trained run opened for inference: the model, its frozen text encoder and the zero-shot
//! class prompts, producing joint-space embeddings as plain vectors. Shared by `eval`,
//! `index`, `query`, `classify` and the viewer's worker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;

use super::TrainError;
use super::cancel::CancelToken;
use super::data::Sample;
use super::embed::{embed_images, project_texts};
use super::reports::{pooling, text_cache_dir};
use super::run::{LoadedRun, load_run, run_fingerprint};
use crate::config::{Label, TrainConfig};
use crate::index::metrics::softmax_rows;
use crate::index::sim::{cosine_matrix, l2_normalize};
use crate::index::text_cache::TextEmbeddingCache;
use crate::io::IoError;
use crate::io::cache::PreprocessCache;
use crate::io::preprocess::PREPROCESS_VERSION;
use crate::model::clip::ClipModel;
use crate::model::text::TextEncoder;

/// The default zero-shot prompt file (documented and editable).
pub const DEFAULT_PROMPTS: &str = "assets/zero_shot_prompts.json";

/// Zero-shot prompts: for each class, sentences whose mean embedding stands for the class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassPrompts {
    /// Prompts per class, in [`Label::ALL`] order.
    pub prompts: Vec<Vec<String>>,
}

impl ClassPrompts {
    /// Reads a JSON object `{"infarct": ["...", ...], "tumor": [...], ...}` with every class.
    pub fn load(path: &Path) -> Result<Self, IoError> {
        let text = std::fs::read_to_string(path).map_err(|e| IoError::os("read", path, e))?;
        Self::from_json(&text, path)
    }

    /// The prompts of [`DEFAULT_PROMPTS`] as built into the binary (for a viewer started
    /// outside the repository).
    pub fn builtin() -> Result<Self, IoError> {
        Self::from_json(
            include_str!("../../assets/zero_shot_prompts.json"),
            Path::new(DEFAULT_PROMPTS),
        )
    }

    /// Parses prompt-file content; `path` only names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, IoError> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| IoError::invalid(path, format!("not a JSON object of prompts: {e}")))?;
        // A misspelt class would otherwise be dropped without a word.
        if let Some(key) = map
            .keys()
            .find(|k| !k.starts_with('_') && !Label::ALL.iter().any(|l| l.as_str() == *k))
        {
            return Err(IoError::invalid(
                path,
                format!(
                    "unknown class {key:?} (the classes are infarct, tumor, hemorrhage, normal \
                     and other; keys starting with _ are comments)"
                ),
            ));
        }
        let mut prompts = Vec::with_capacity(Label::ALL.len());
        for label in Label::ALL {
            let list: Vec<String> = map
                .get(label.as_str())
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| {
                    IoError::invalid(path, format!("no list of prompts for class {label}"))
                })?;
            if list.is_empty() || list.iter().any(|p| p.trim().is_empty()) {
                return Err(IoError::invalid(
                    path,
                    format!("class {label} needs at least one non-empty prompt"),
                ));
            }
            prompts.push(list);
        }
        Ok(Self { prompts })
    }
}

/// A run ready for inference.
pub struct Session {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Its settings.
    pub config: TrainConfig,
    /// The model.
    pub model: ClipModel,
    /// The frozen text encoder.
    pub encoder: TextEncoder,
    /// Where it runs.
    pub device: Device,
    /// Identity of the run's weights (index fingerprint).
    pub fingerprint: String,
}

impl Session {
    /// Opens a run folder. `text_model` overrides the encoder folder of `config.json` (the
    /// encoder must still be the one the run was trained with).
    pub fn open(
        run: &Path,
        text_model: Option<&Path>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let config = super::run::read_config(run)?;
        if config.preprocess != PREPROCESS_VERSION {
            return Err(TrainError::PreprocessChanged {
                run: config.preprocess,
                build: PREPROCESS_VERSION,
            });
        }
        let dir = text_model.map_or_else(|| PathBuf::from(&config.text_model), Path::to_path_buf);
        let encoder = TextEncoder::load(&dir, pooling(config.text_pooling), device)?;
        if !config.text_fingerprint.is_empty() && config.text_fingerprint != encoder.fingerprint() {
            return Err(TrainError::TextModelChanged);
        }
        let LoadedRun {
            config,
            model,
            weights,
            ..
        } = load_run(run, encoder.hidden_size(), device)?;
        let fingerprint = run_fingerprint(run, &weights)?;
        Ok(Self {
            run_dir: run.to_path_buf(),
            config,
            model,
            encoder,
            device: device.clone(),
            fingerprint,
        })
    }

    /// Joint-space embeddings of free texts (not cached).
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TrainError> {
        let pooled = self.encoder.embed(texts)?;
        project_texts(&self.model, &pooled, &self.device)
    }

    /// Joint-space embeddings of reports, through the cohort's report-embedding cache.
    pub fn embed_reports(
        &self,
        cohort_root: &Path,
        texts: &[&str],
    ) -> Result<Vec<Vec<f32>>, TrainError> {
        let mut cache = TextEmbeddingCache::open(
            &text_cache_dir(cohort_root),
            self.encoder.fingerprint(),
            self.encoder.hidden_size(),
        )?;
        let pooled = cache.embed_all(texts, |batch: &[&str]| {
            self.encoder.embed(batch).map_err(TrainError::from)
        })?;
        project_texts(&self.model, &pooled, &self.device)
    }

    /// Joint-space embeddings of studies from the preprocessing cache.
    pub fn embed_samples(
        &self,
        samples: &Arc<Vec<Sample>>,
        cache: &PreprocessCache,
        cancel: &CancelToken,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>, TrainError> {
        embed_images(&self.model, samples, cache, &self.device, cancel, progress)
    }

    /// One unit-length embedding per class: the normalised mean of its prompts' embeddings.
    pub fn class_embeddings(&self, prompts: &ClassPrompts) -> Result<Vec<Vec<f32>>, TrainError> {
        let mut out = Vec::with_capacity(prompts.prompts.len());
        for list in &prompts.prompts {
            let refs: Vec<&str> = list.iter().map(String::as_str).collect();
            let e = self.embed_texts(&refs)?;
            let mut mean = vec![0f32; e[0].len()];
            for v in &e {
                for (m, x) in mean.iter_mut().zip(v) {
                    *m += x;
                }
            }
            l2_normalize(&mut mean);
            out.push(mean);
        }
        Ok(out)
    }

    /// The model's logit scale.
    pub fn logit_scale(&self) -> Result<f32, TrainError> {
        Ok(self.model.logit_scale_value()?)
    }

    /// Zero-shot class probabilities of image embeddings (softmax of the scaled cosine to each
    /// class embedding), rows in [`Label::ALL`] order.
    pub fn zero_shot(
        &self,
        images: &[Vec<f32>],
        classes: &[Vec<f32>],
    ) -> Result<Vec<Vec<f32>>, TrainError> {
        let sim = cosine_matrix(images, classes);
        let rows: Vec<Vec<f32>> = (0..sim.rows()).map(|r| sim.row(r).to_vec()).collect();
        Ok(softmax_rows(&rows, self.logit_scale()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClassPrompts, String> {
        ClassPrompts::from_json(text, Path::new("p.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shipped_prompts_parse_and_bad_files_are_refused_by_name() {
        let built = ClassPrompts::builtin().unwrap();
        assert_eq!(built.prompts.len(), Label::ALL.len());
        assert!(built.prompts.iter().all(|p| !p.is_empty()));
        let all = r#""infarct": ["a"], "tumor": ["b"], "hemorrhage": ["c"], "normal": ["d"]"#;
        let ok = parse(&format!(r#"{{{all}, "other": ["e", "f"], "_note": 1}}"#)).unwrap();
        assert_eq!(ok.prompts[4], ["e", "f"]);
        for (text, want) in [
            ("[]".to_string(), "not a JSON object"),
            (format!("{{{all}}}"), "no list of prompts for class other"),
            (format!(r#"{{{all}, "other": []}}"#), "class other needs"),
            (format!(r#"{{{all}, "other": [" "]}}"#), "class other needs"),
            (
                format!(r#"{{{all}, "other": ["e"], "haemorrhage": ["x"]}}"#),
                "unknown class \"haemorrhage\"",
            ),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(want) && err.contains("p.json"), "{err}");
        }
    }
}
