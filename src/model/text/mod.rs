//! The frozen text tower: any HuggingFace-style BERT or DistilBERT folder (`config.json`,
//! `tokenizer.json`, `model.safetensors`) turned into one pooled embedding per report.
//!
//! Reads no files except the model folder's config, tokenizer and weights in
//! [`TextEncoder::load`]; [`write_random_model`] writes a tiny random model for tests and
//! offline smoke runs.
//!
//! The default encoder is all-MiniLM-L6-v2 (provisioned by `brainclip fetch-model`, see
//! [`crate::io::fetch`]) with mean pooling, as sentence-transformers uses it.

mod config;
mod encoder;
mod tiny;
mod vocab;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::io::IoError;
use crate::model::checkpoint::CheckpointError;

pub use encoder::TextEncoder;
pub use tiny::write_random_model;

/// How the token states of a text become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the real (unpadded) tokens, special tokens included, as sentence-transformers.
    #[default]
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
}

impl Pooling {
    /// The lowercase name (`"mean"`, `"cls"`), as in configs and fingerprints.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// The architectures the text tower can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextModelKind {
    /// BERT (`model_type: "bert"`), e.g. all-MiniLM-L6-v2, BioClinicalBERT, PubMedBERT.
    Bert,
    /// DistilBERT (`model_type: "distilbert"`). candle-transformers 0.11 computes its `gelu`
    /// with the tanh approximation where PyTorch uses the exact erf form, so embeddings
    /// differ slightly (about 1e-3) from HuggingFace's; they are still deterministic.
    DistilBert,
}

/// Why a text model could not be loaded or run. Messages name the problem first, the file last.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A model file is missing or unreadable.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A model file exists but is unusable.
    #[error("{problem}: {}", path.display())]
    Invalid {
        /// What is wrong.
        problem: String,
        /// The file.
        path: PathBuf,
    },
    /// `config.json` describes an architecture other than BERT or DistilBERT.
    #[error(
        "unsupported text model type {model_type:?} (supported: bert, distilbert): {}",
        path.display()
    )]
    Unsupported {
        /// The `model_type` (or architecture) found.
        model_type: String,
        /// The `config.json`.
        path: PathBuf,
    },
    /// The weights do not fit the configuration (missing tensor, wrong shape).
    #[error("text model weights do not fit config.json ({error}): {}", path.display())]
    Weights {
        /// The candle error (in the message, not a `source`, so `{:#}` prints it once).
        error: Box<candle_core::Error>,
        /// The `model.safetensors`.
        path: PathBuf,
    },
    /// A text to embed is empty or only whitespace.
    #[error("text {index} is empty: there is nothing to embed")]
    EmptyText {
        /// Its position in the input.
        index: usize,
    },
    /// The tokenizer failed on a text.
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    /// A tensor operation of the forward pass failed.
    #[error("text encoder computation failed: {0}")]
    Tensor(Box<candle_core::Error>),
    /// Writing a random model failed.
    #[error(transparent)]
    Checkpoint(Box<CheckpointError>),
}

// candle's errors are large; boxed, `TextError` stays small enough to nest in other
// errors (clippy's `result_large_err`).

impl From<candle_core::Error> for TextError {
    fn from(e: candle_core::Error) -> Self {
        TextError::Tensor(Box::new(e))
    }
}

impl From<CheckpointError> for TextError {
    fn from(e: CheckpointError) -> Self {
        TextError::Checkpoint(Box::new(e))
    }
}

impl TextError {
    fn invalid(path: &std::path::Path, problem: impl Into<String>) -> Self {
        TextError::Invalid {
            problem: problem.into(),
            path: path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small_enough_to_nest() {
        assert!(std::mem::size_of::<TextError>() <= 64);
    }

    #[test]
    fn pooling_names_match_serde() {
        for p in [Pooling::Mean, Pooling::Cls] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<Pooling>(&json).unwrap(), p);
        }
        assert_eq!(Pooling::default(), Pooling::Mean);
    }
}
