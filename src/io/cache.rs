//! A content-addressed cache of preprocessed studies, so training never repeats the work.
//!
//! Key: SHA-256 over [`PREPROCESS_VERSION`], the tensor shape, and the bytes of the three
//! sequence files in channel order (each prefixed with its length). Renaming or moving a
//! study keeps its entry; changing a file or the algorithm version makes a new one.
//!
//! File `<dir>/<hex key>.bin`, little-endian:
//! ```text
//! magic  b"BCPP"
//! u32    format version (CACHE_FORMAT_VERSION)
//! u32    rank (4)
//! u32 x4 shape [c, d, h, w]
//! f32 x  c*d*h*w values, row-major
//! [u8;32] SHA-256 of the values' bytes
//! ```
//! Entries are written atomically. An entry that is short, has the wrong magic, version,
//! shape or checksum, or holds non-finite values is treated as absent and recomputed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::atomic::write_atomic_with;
use super::cohort::Cohort;
use super::error::{IoError, Result};
use super::preprocess::{PREPROCESS_VERSION, StudyTensor, TENSOR_SHAPE, preprocess_study};
use super::study::{Study, load_study};

/// First four bytes of every cache entry.
pub const CACHE_MAGIC: &[u8; 4] = b"BCPP";
/// Version of the entry layout (not of the algorithm: that is [`PREPROCESS_VERSION`]).
pub const CACHE_FORMAT_VERSION: u32 = 1;
/// Bytes before the values: magic, version, rank, four dims.
const HEADER_LEN: usize = 4 + 4 + 4 + 4 * 4;
/// Bytes of the trailing checksum.
const CHECKSUM_LEN: usize = 32;

/// The default cache folder of a cohort: `<cohort>/.cache/preprocessed`.
pub fn default_cache_dir(cohort_root: &Path) -> PathBuf {
    cohort_root.join(".cache").join("preprocessed")
}

/// The cache key of a study: lower-case hex SHA-256 (see module docs). Reads the three
/// sequence files.
pub fn cache_key(study: &Study) -> Result<String> {
    cache_key_for(study, PREPROCESS_VERSION)
}

/// The cache key a study has under the preprocessing `version` (diagnostics that compare
/// entries written by builds with another preprocessing version).
pub fn cache_key_for(study: &Study, version: &str) -> Result<String> {
    let mut h = Sha256::new();
    h.update(version.as_bytes());
    h.update([0u8]);
    for d in TENSOR_SHAPE {
        h.update((d as u32).to_le_bytes());
    }
    for path in &study.sequence_paths {
        let bytes = fs::read(path).map_err(|e| IoError::os("read", path, e))?;
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes a tensor as a cache entry.
fn encode(tensor: &StudyTensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * tensor.data.len() + CHECKSUM_LEN);
    out.extend_from_slice(CACHE_MAGIC);
    out.extend_from_slice(&CACHE_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(TENSOR_SHAPE.len() as u32).to_le_bytes());
    for d in TENSOR_SHAPE {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    for v in &tensor.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let sum = Sha256::digest(&out[HEADER_LEN..]);
    out.extend_from_slice(&sum);
    out
}

/// Decodes a cache entry; `None` for anything but a complete, intact entry of the current
/// format and shape.
fn decode(bytes: &[u8]) -> Option<StudyTensor> {
    let expected_len = HEADER_LEN + 4 * StudyTensor::LEN + CHECKSUM_LEN;
    if bytes.len() != expected_len || &bytes[..4] != CACHE_MAGIC {
        return None;
    }
    let u32_at = |o: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?))
    };
    if u32_at(4)? != CACHE_FORMAT_VERSION || u32_at(8)? != TENSOR_SHAPE.len() as u32 {
        return None;
    }
    for (n, d) in TENSOR_SHAPE.iter().enumerate() {
        if u32_at(12 + 4 * n)? != *d as u32 {
            return None;
        }
    }
    let (values, sum) = bytes[HEADER_LEN..].split_at(4 * StudyTensor::LEN);
    if Sha256::digest(values).as_slice() != sum {
        return None;
    }
    let data: Vec<f32> = values
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if data.iter().any(|v| !v.is_finite()) {
        return None;
    }
    StudyTensor::new(data)
}

/// The preprocessing cache: a folder of entries keyed by input content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreprocessCache {
    /// The cache folder (created on first write).
    pub dir: PathBuf,
}

impl PreprocessCache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PreprocessCache { dir: dir.into() }
    }

    /// Path of the entry for `key`.
    pub fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.bin"))
    }

    /// Reads the entry for `key`: `Ok(None)` when absent or unusable (short, corrupt, other
    /// format), never a half-trusted tensor.
    ///
    /// # Shapes
    /// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
    pub fn load_key(&self, key: &str) -> Result<Option<StudyTensor>> {
        let path = self.entry_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IoError::os("read", &path, e)),
        };
        let tensor = decode(&bytes);
        if tensor.is_none() {
            tracing::warn!(key, "unusable preprocessing cache entry; recomputing");
        }
        Ok(tensor)
    }

    /// The cached tensor of `study`, if there is an intact entry for its current files.
    ///
    /// # Shapes
    /// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
    pub fn load(&self, study: &Study) -> Result<Option<StudyTensor>> {
        self.load_key(&cache_key(study)?)
    }

    /// Stores `tensor` under `key`, atomically.
    pub fn store(&self, key: &str, tensor: &StudyTensor) -> Result<()> {
        let bytes = encode(tensor);
        write_atomic_with(&self.entry_path(key), |f| f.write_all(&bytes))
    }

    /// The cached tensor of `study`, or preprocesses it and stores the result. Returns the
    /// tensor and whether it came from the cache.
    ///
    /// # Shapes
    /// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
    pub fn get_or_compute(&self, study: &Study) -> Result<(StudyTensor, bool)> {
        self.get_or_compute_keyed(&cache_key(study)?, study)
    }

    /// [`Self::get_or_compute`] with the study's [`cache_key`] already computed.
    ///
    /// # Shapes
    /// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
    pub fn get_or_compute_keyed(&self, key: &str, study: &Study) -> Result<(StudyTensor, bool)> {
        if let Some(t) = self.load_key(key)? {
            return Ok((t, true));
        }
        let tensor = preprocess_study(study)?;
        if let Err(e) = self.store(key, &tensor) {
            // Two workers with identical inputs may race on the same entry; if an intact
            // entry is there now, the work is saved all the same.
            if self.load_key(key)?.is_none() {
                return Err(e);
            }
        }
        Ok((tensor, false))
    }
}

/// Fills the cache for every study of `cohort` in parallel; `progress` is called once per
/// finished study. Returns each study id with `Ok(true)` for a cache hit, `Ok(false)` when it
/// was computed, or the study's error.
pub fn preprocess_cohort(
    cohort: &Cohort,
    cache: &PreprocessCache,
    progress: &(dyn Fn() + Sync),
) -> Vec<(String, Result<bool>)> {
    cohort
        .entries
        .par_iter()
        .map(|entry| {
            let dir = cohort.study_dir(&entry.study_id);
            let outcome = load_study(&dir)
                .and_then(|study| cache.get_or_compute(&study))
                .map(|(_, hit)| hit);
            progress();
            (entry.study_id.clone(), outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor() -> StudyTensor {
        StudyTensor::new(
            (0..StudyTensor::LEN)
                .map(|i| (i % 1000) as f32 * 0.01 - 5.0)
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn entries_round_trip_and_corruption_is_detected() {
        let t = tensor();
        let bytes = encode(&t);
        assert_eq!(&bytes[..4], b"BCPP");
        assert_eq!(decode(&bytes), Some(t.clone()));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None, "short");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), None, "magic");
        let mut bad = bytes.clone();
        bad[HEADER_LEN + 100] ^= 0x40;
        assert_eq!(decode(&bad), None, "payload bit flip");
        let mut bad = bytes;
        bad[12] = 4;
        assert_eq!(decode(&bad), None, "shape");
    }

    #[test]
    fn store_and_load_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PreprocessCache::new(dir.path().join("c"));
        assert_eq!(cache.load_key("abc").unwrap(), None);
        cache.store("abc", &tensor()).unwrap();
        assert_eq!(cache.load_key("abc").unwrap(), Some(tensor()));
        fs::write(cache.entry_path("abc"), b"BCPP").unwrap();
        assert_eq!(cache.load_key("abc").unwrap(), None);
    }
}
