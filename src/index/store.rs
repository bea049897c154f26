//! The embedding index: every study's image and report embedding with the fingerprint of
//! the model that made them, saved as one checksummed binary file.
//!
//! File layout, little-endian:
//! ```text
//! magic  b"BCIX"
//! u32    format version (INDEX_FORMAT_VERSION)
//! u64    metadata length m
//! [u8;m] metadata, UTF-8 JSON: {"fingerprint", "dim", "entries": [IndexEntry, ...]}
//! f32 x  n*dim image embeddings, row-major, then n*dim report embeddings
//! [u8;32] SHA-256 of every byte before it
//! ```
//! Written atomically. Loading refuses a short or over-long file, another magic or version,
//! a checksum mismatch, inconsistent metadata, non-finite values, and (when asked) an index
//! built by a different model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sim::top_k;
use crate::config::{Label, MAX_WIDTH, Split};
use crate::io::IoError;
use crate::io::atomic::write_atomic;

/// First four bytes of every index file.
pub const INDEX_MAGIC: &[u8; 4] = b"BCIX";
/// Version of the file layout.
pub const INDEX_FORMAT_VERSION: u32 = 2;
/// Bytes before the metadata: magic, version, metadata length.
const HEADER_LEN: usize = 4 + 4 + 8;
/// Bytes of the trailing checksum.
const CHECKSUM_LEN: usize = 32;

/// Why an index cannot be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file is not an intact index of this format.
    #[error("corrupt embedding index ({problem}): rebuild it with `brainclip index`: {}", path.display())]
    Corrupt {
        /// What is wrong.
        problem: String,
        /// The file.
        path: PathBuf,
    },
    /// The file is an index of another format (written by another version of brainclip).
    #[error(
        "embedding index of format version {found}, this build reads {INDEX_FORMAT_VERSION}: rebuild it with `brainclip index`: {}",
        path.display()
    )]
    OtherFormat {
        /// Format version stored in the file.
        found: u32,
        /// The file.
        path: PathBuf,
    },
    /// The index was built by another model than the one running.
    #[error(
        "index was built by model {found}, this run is {expected}: rebuild it with `brainclip index`: {}",
        path.display()
    )]
    FingerprintMismatch {
        /// Fingerprint stored in the file.
        found: String,
        /// Fingerprint of the running model.
        expected: String,
        /// The file.
        path: PathBuf,
    },
    /// The in-memory index is inconsistent (entry and embedding counts or dimensions).
    #[error("inconsistent embedding index: {0}")]
    Inconsistent(String),
}

/// One study of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Study id (folder name in the cohort).
    pub study_id: String,
    /// Diagnostic label.
    pub label: Label,
    /// Data split.
    pub split: Split,
    /// The report text (whole, or its beginning, as the builder chose).
    pub report: String,
    /// What its images were embedded from: the preprocessing-cache key (a hash of its NIfTI
    /// files and the preprocessing version), so that changed images are noticed.
    pub key: String,
}

/// A search result: position in the index and cosine score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position in [`EmbeddingIndex::entries`].
    pub index: usize,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// The embedding index of a cohort under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingIndex {
    /// Identifies the model (weights and config) that made the embeddings.
    pub fingerprint: String,
    /// One per study, in the order of `image` and `text`.
    pub entries: Vec<IndexEntry>,
    /// Image embeddings in the joint space, `entries.len() x dim`.
    pub image: Vec<Vec<f32>>,
    /// Report embeddings in the joint space, `entries.len() x dim`.
    pub text: Vec<Vec<f32>>,
    /// Embedding dimension.
    pub dim: usize,
}

/// The metadata block of the file.
#[derive(Serialize, Deserialize)]
struct Meta {
    fingerprint: String,
    dim: usize,
    entries: Vec<IndexEntry>,
}

impl EmbeddingIndex {
    /// An index from its parts, checked for consistency; `dim` is taken from the vectors
    /// (0 when there are none).
    pub fn new(
        fingerprint: impl Into<String>,
        entries: Vec<IndexEntry>,
        image: Vec<Vec<f32>>,
        text: Vec<Vec<f32>>,
    ) -> Result<Self, IndexError> {
        let dim = image.first().map_or(0, Vec::len);
        let index = EmbeddingIndex {
            fingerprint: fingerprint.into(),
            entries,
            image,
            text,
            dim,
        };
        index.validate()?;
        Ok(index)
    }

    /// Number of studies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index holds no study.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Position of the study with this id.
    pub fn position(&self, study_id: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.study_id == study_id)
    }

    /// Checks counts, dimensions and finiteness.
    pub fn validate(&self) -> Result<(), IndexError> {
        let n = self.entries.len();
        if self.dim > MAX_WIDTH {
            return Err(IndexError::Inconsistent(format!(
                "embedding dimension {} (a model's is at most {MAX_WIDTH})",
                self.dim
            )));
        }
        if self.dim == 0 && n > 0 {
            return Err(IndexError::Inconsistent(format!(
                "embedding dimension 0 for {n} studies"
            )));
        }
        for (what, vs) in [("image", &self.image), ("report", &self.text)] {
            if vs.len() != n {
                return Err(IndexError::Inconsistent(format!(
                    "{} {what} embeddings for {n} studies",
                    vs.len()
                )));
            }
            if let Some(i) = vs.iter().position(|v| v.len() != self.dim) {
                return Err(IndexError::Inconsistent(format!(
                    "{what} embedding of study {} has dimension {}, expected {}",
                    self.entries[i].study_id,
                    vs[i].len(),
                    self.dim
                )));
            }
            if let Some(i) = vs.iter().position(|v| v.iter().any(|x| !x.is_finite())) {
                return Err(IndexError::Inconsistent(format!(
                    "{what} embedding of study {} holds a non-finite value",
                    self.entries[i].study_id
                )));
            }
        }
        Ok(())
    }

    /// The `k` studies whose *images* are most similar to `query` (a joint-space vector),
    /// best first, ties to the lower position; `exclude` is never returned.
    pub fn query_image(&self, query: &[f32], k: usize, exclude: Option<usize>) -> Vec<Hit> {
        hits(top_k(query, &self.image, k, exclude))
    }

    /// The `k` studies whose *reports* are most similar to `query`, as [`Self::query_image`].
    pub fn query_text(&self, query: &[f32], k: usize, exclude: Option<usize>) -> Vec<Hit> {
        hits(top_k(query, &self.text, k, exclude))
    }

    /// The file bytes (see the module docs).
    fn encode(&self) -> Result<Vec<u8>, IndexError> {
        self.validate()?;
        let meta = Meta {
            fingerprint: self.fingerprint.clone(),
            dim: self.dim,
            entries: self.entries.clone(),
        };
        let json = serde_json::to_vec(&meta)
            .map_err(|e| IndexError::Inconsistent(format!("cannot encode metadata: {e}")))?;
        let values = 2 * self.entries.len() * self.dim;
        let mut out = Vec::with_capacity(HEADER_LEN + json.len() + 4 * values + CHECKSUM_LEN);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&INDEX_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for v in self.image.iter().chain(&self.text).flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        Ok(out)
    }

    /// Writes the index to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let bytes = self.encode()?;
        write_atomic(path, &bytes)?;
        Ok(())
    }

    /// Reads an index, refusing anything but an intact file of this format; with
    /// `expected_fingerprint`, also one built by another model.
    pub fn load(path: &Path, expected_fingerprint: Option<&str>) -> Result<Self, IndexError> {
        let bytes = std::fs::read(path).map_err(|e| IoError::os("read", path, e))?;
        if bytes.len() >= 8 && &bytes[..4] == INDEX_MAGIC {
            let found = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            if found != INDEX_FORMAT_VERSION {
                return Err(IndexError::OtherFormat {
                    found,
                    path: path.to_path_buf(),
                });
            }
        }
        let index = decode(&bytes).map_err(|problem| IndexError::Corrupt {
            problem,
            path: path.to_path_buf(),
        })?;
        if let Some(expected) = expected_fingerprint
            && index.fingerprint != expected
        {
            return Err(IndexError::FingerprintMismatch {
                found: index.fingerprint,
                expected: expected.to_string(),
                path: path.to_path_buf(),
            });
        }
        Ok(index)
    }
}

fn hits(scored: Vec<(usize, f32)>) -> Vec<Hit> {
    scored
        .into_iter()
        .map(|(index, score)| Hit { index, score })
        .collect()
}

/// Parses file bytes; the error says what is wrong in words.
fn decode(bytes: &[u8]) -> Result<EmbeddingIndex, String> {
    if bytes.len() < 4 || &bytes[..4] != INDEX_MAGIC {
        return Err("not a brainclip embedding index".into());
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(format!("truncated: {} bytes", bytes.len()));
    }
    // The format version (bytes 4..8) was checked by `load`.
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[8..16]);
    let meta_len = usize::try_from(u64::from_le_bytes(len8)).map_err(|_| "metadata too long")?;
    let body = bytes.len() - CHECKSUM_LEN;
    let meta_end = HEADER_LEN
        .checked_add(meta_len)
        .filter(|&end| end <= body)
        .ok_or_else(|| format!("truncated: metadata of {meta_len} bytes does not fit"))?;
    let (content, sum) = bytes.split_at(body);
    let checksum_ok = Sha256::digest(content).as_slice() == sum;
    let meta: Meta = serde_json::from_slice(&bytes[HEADER_LEN..meta_end]).map_err(|e| {
        if checksum_ok {
            format!("unreadable metadata: {e}")
        } else {
            "checksum mismatch".to_string()
        }
    })?;
    let n = meta.entries.len();
    let values = n
        .checked_mul(meta.dim)
        .and_then(|v| v.checked_mul(2))
        .ok_or("embedding count overflows")?;
    // Length before checksum, so that a cut-off file is reported as such.
    let expected_len = values
        .checked_mul(4)
        .and_then(|b| b.checked_add(meta_end + CHECKSUM_LEN))
        .ok_or("embedding count overflows")?;
    if bytes.len() < expected_len {
        return Err(format!(
            "truncated: {} bytes, expected {expected_len}",
            bytes.len()
        ));
    }
    if bytes.len() > expected_len {
        return Err(format!(
            "{} unexpected trailing bytes",
            bytes.len() - expected_len
        ));
    }
    if !checksum_ok {
        return Err("checksum mismatch".into());
    }
    let data = &bytes[meta_end..body];
    let floats: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // chunks(0) panics; a dimension of 0 means empty vectors.
    let rows = |part: &[f32]| -> Vec<Vec<f32>> {
        if meta.dim == 0 {
            vec![Vec::new(); n]
        } else {
            part.chunks_exact(meta.dim).map(<[f32]>::to_vec).collect()
        }
    };
    let (image, text) = floats.split_at(values / 2);
    let index = EmbeddingIndex {
        fingerprint: meta.fingerprint,
        image: rows(image),
        text: rows(text),
        entries: meta.entries,
        dim: meta.dim,
    };
    index.validate().map_err(|e| e.to_string())?;
    Ok(index)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
