//! Frozen report embeddings, computed once per (text model, text) and kept on disk.
//!
//! The text tower is frozen, so a report's embedding depends only on the model (its
//! fingerprint) and the exact text. One file per model, `<dir>/<fingerprint>.bin`, maps the
//! SHA-256 of each text to its embedding. A file that is unreadable as a cache (truncated,
//! corrupted, another dimension or model) is ignored with a warning and rebuilt: it only
//! ever costs recomputation.
//!
//! # File format (little-endian)
//! ```text
//! [8]  magic b"BCTXTEMB"
//! u32  format version (1)
//! u32  dim
//! u32  fingerprint length f, then [f] fingerprint (UTF-8)
//! u64  count
//! count × ([32] SHA-256 of the text, dim × f32)
//! [32] SHA-256 of everything above
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::io::IoError;
use crate::io::atomic::write_atomic;

const MAGIC: &[u8; 8] = b"BCTXTEMB";
const VERSION: u32 = 1;
/// Longest accepted fingerprint (a hex SHA-256 has 64 characters).
const MAX_FINGERPRINT_LEN: usize = 128;

/// SHA-256 of a text: the cache key.
type Key = [u8; 32];

/// Why the cache could not be used or filled.
#[derive(Debug, thiserror::Error)]
pub enum TextCacheError {
    /// Reading or writing the cache file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The fingerprint cannot name a file.
    #[error(
        "text model fingerprint {0:?} cannot name a cache file (expected 1-128 letters, digits, '-' or '_')"
    )]
    BadFingerprint(String),
    /// An embedding dimension of zero.
    #[error("text embedding dimension must be positive")]
    ZeroDim,
    /// The compute function returned the wrong number of embeddings.
    #[error("text encoder returned {got} embeddings for {expected} texts")]
    WrongCount {
        /// Texts asked for.
        expected: usize,
        /// Embeddings returned.
        got: usize,
    },
    /// The compute function returned an embedding of the wrong length or with NaN/infinity.
    #[error("text encoder returned an unusable embedding ({problem})")]
    BadEmbedding {
        /// What is wrong with it.
        problem: String,
    },
}

/// Report embeddings of one text model, keyed by the SHA-256 of the text.
#[derive(Debug)]
pub struct TextEmbeddingCache {
    path: PathBuf,
    fingerprint: String,
    dim: usize,
    entries: HashMap<Key, Vec<f32>>,
}

impl TextEmbeddingCache {
    /// Opens the cache of the model `fingerprint` in `dir` (e.g. `<cohort>/.cache/text`),
    /// whose embeddings have `dim` values. A missing file is an empty cache, and so is a
    /// file that is corrupt or belongs to another dimension or model (with a warning). Only
    /// an invalid fingerprint, a zero `dim` or an unreadable file is an error.
    pub fn open(dir: &Path, fingerprint: &str, dim: usize) -> Result<Self, TextCacheError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if fingerprint.is_empty()
            || fingerprint.len() > MAX_FINGERPRINT_LEN
            || !fingerprint.chars().all(valid_char)
        {
            return Err(TextCacheError::BadFingerprint(fingerprint.to_string()));
        }
        if dim == 0 {
            return Err(TextCacheError::ZeroDim);
        }
        let path = dir.join(format!("{fingerprint}.bin"));
        let entries = match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes, fingerprint, dim).unwrap_or_else(|problem| {
                tracing::warn!("ignoring the text embedding cache ({problem}); it will be rebuilt");
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(IoError::os("read", &path, e).into()),
        };
        Ok(TextEmbeddingCache {
            path,
            fingerprint: fingerprint.to_string(),
            dim,
            entries,
        })
    }

    /// The cached embedding of `text` (exact text, byte for byte).
    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.entries.get(&key(text)).map(Vec::as_slice)
    }

    /// The embedding of every text, in order. The texts not cached yet are passed, each once,
    /// to one call of `compute`, which must return one `dim`-long finite embedding per text
    /// in the order given; the new embeddings are then saved (atomically). `compute` is not
    /// called when everything is cached.
    pub fn embed_all<E>(
        &mut self,
        texts: &[&str],
        mut compute: impl FnMut(&[&str]) -> Result<Vec<Vec<f32>>, E>,
    ) -> Result<Vec<Vec<f32>>, E>
    where
        E: From<TextCacheError>,
    {
        let keys: Vec<Key> = texts.iter().map(|t| key(t)).collect();
        let mut queued = HashSet::new();
        let (miss_keys, misses): (Vec<Key>, Vec<&str>) = keys
            .iter()
            .zip(texts)
            .filter(|(k, _)| !self.entries.contains_key(*k) && queued.insert(**k))
            .map(|(k, t)| (*k, *t))
            .unzip();
        if !misses.is_empty() {
            let computed = compute(&misses)?;
            self.check(&computed, misses.len())?;
            self.entries.extend(miss_keys.into_iter().zip(computed));
            self.save()?;
        }
        let out: Option<Vec<Vec<f32>>> =
            keys.iter().map(|k| self.entries.get(k).cloned()).collect();
        // Every key was either cached or just inserted.
        out.ok_or_else(|| {
            TextCacheError::WrongCount {
                expected: texts.len(),
                got: 0,
            }
            .into()
        })
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cache file (it may not exist yet).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check(&self, computed: &[Vec<f32>], expected: usize) -> Result<(), TextCacheError> {
        if computed.len() != expected {
            return Err(TextCacheError::WrongCount {
                expected,
                got: computed.len(),
            });
        }
        for v in computed {
            if v.len() != self.dim {
                return Err(TextCacheError::BadEmbedding {
                    problem: format!("{} values, expected {}", v.len(), self.dim),
                });
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(TextCacheError::BadEmbedding {
                    problem: "not finite".into(),
                });
            }
        }
        Ok(())
    }

    fn save(&self) -> Result<(), TextCacheError> {
        write_atomic(
            &self.path,
            &encode(&self.entries, &self.fingerprint, self.dim),
        )?;
        Ok(())
    }
}

fn key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

/// The file bytes; entries sorted by key so equal caches give equal files.
fn encode(entries: &HashMap<Key, Vec<f32>>, fingerprint: &str, dim: usize) -> Vec<u8> {
    let mut sorted: Vec<(&Key, &Vec<f32>)> = entries.iter().collect();
    sorted.sort_by_key(|(k, _)| **k);
    let mut out = Vec::with_capacity(64 + fingerprint.len() + entries.len() * (32 + 4 * dim));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.extend_from_slice(&(fingerprint.len() as u32).to_le_bytes());
    out.extend_from_slice(fingerprint.as_bytes());
    out.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for (k, v) in sorted {
        out.extend_from_slice(k);
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

/// Parses a cache file; `Err` says in words why it is unusable.
fn decode(bytes: &[u8], fingerprint: &str, dim: usize) -> Result<HashMap<Key, Vec<f32>>, String> {
    let body_len = bytes
        .len()
        .checked_sub(32)
        .ok_or("file too short for a checksum")?;
    let (body, checksum) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != checksum {
        return Err("checksum mismatch (truncated or corrupted)".into());
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a text embedding cache".into());
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let file_dim = r.u32()? as usize;
    if file_dim != dim {
        return Err(format!("dimension {file_dim}, expected {dim}"));
    }
    let f_len = r.u32()? as usize;
    if r.take(f_len)? != fingerprint.as_bytes() {
        return Err("written for another text model".into());
    }
    let count = usize::try_from(r.u64()?).map_err(|_| "entry count too large")?;
    let entry_len = 32 + 4 * dim;
    if count.checked_mul(entry_len) != Some(r.0.len()) {
        return Err(format!(
            "{} bytes of entries for {count} entries",
            r.0.len()
        ));
    }
    let mut entries = HashMap::with_capacity(count);
    for chunk in r.0.chunks_exact(entry_len) {
        let (k, values) = chunk.split_at(32);
        let mut key = [0u8; 32];
        key.copy_from_slice(k);
        let v = values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        entries.insert(key, v);
    }
    Ok(entries)
}

/// A bounds-checked cursor over the file body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("file ends inside its header".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "abc123";

    /// A fake encoder: a deterministic vector per text, counting calls and texts.
    struct Fake {
        calls: usize,
        texts: usize,
    }

    impl Fake {
        fn compute(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, TextCacheError> {
            self.calls += 1;
            self.texts += texts.len();
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.bytes().map(f32::from).sum(), 1.0])
                .collect())
        }
    }

    #[test]
    fn computes_only_the_misses_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = TextEmbeddingCache::open(dir.path(), FP, 3).unwrap();
        assert!(cache.is_empty());
        let mut fake = Fake { calls: 0, texts: 0 };
        let a = cache
            .embed_all(&["one", "two", "one"], |t| fake.compute(t))
            .unwrap();
        assert_eq!((fake.calls, fake.texts), (1, 2));
        assert_eq!(a[0], a[2]);
        assert_eq!(cache.len(), 2);
        let b = cache
            .embed_all(&["two", "three", "one", "three"], |t| fake.compute(t))
            .unwrap();
        assert_eq!((fake.calls, fake.texts), (2, 3));
        assert_eq!(b[0], a[1]);
        assert_eq!(b[2], a[0]);
        cache
            .embed_all(&["one", "three"], |t| fake.compute(t))
            .unwrap();
        assert_eq!(fake.calls, 2, "all cached: compute not called");
        assert_eq!(cache.get("three").unwrap(), &b[1][..]);
        assert!(cache.get("four").is_none());
        assert!(
            cache
                .embed_all(&[], |t| fake.compute(t))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reload_from_disk_equals() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cache/text");
        let mut cache = TextEmbeddingCache::open(&sub, FP, 3).unwrap();
        let mut fake = Fake { calls: 0, texts: 0 };
        let texts = ["Acute infarct.", "Normal study.", "Mass effect."];
        let first = cache.embed_all(&texts, |t| fake.compute(t)).unwrap();
        let reloaded = TextEmbeddingCache::open(&sub, FP, 3).unwrap();
        assert_eq!(reloaded.len(), 3);
        for (t, v) in texts.iter().zip(&first) {
            assert_eq!(reloaded.get(t).unwrap(), &v[..]);
        }
        assert_eq!(reloaded.entries, cache.entries);
        // Another model or dimension does not see these entries.
        assert!(
            TextEmbeddingCache::open(&sub, "other", 3)
                .unwrap()
                .is_empty()
        );
        assert!(TextEmbeddingCache::open(&sub, FP, 4).unwrap().is_empty());
    }

    #[test]
    fn corrupt_files_are_treated_as_empty_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut fake = Fake { calls: 0, texts: 0 };
        let mut cache = TextEmbeddingCache::open(dir.path(), FP, 3).unwrap();
        cache.embed_all(&["a", "b"], |t| fake.compute(t)).unwrap();
        let path = cache.path().to_path_buf();
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[40] ^= 1;
        // Another model's file copied under this name: valid checksum, wrong fingerprint.
        let foreign = encode(&cache.entries, "zzz", 3);
        let mut bad_files = vec![
            Vec::new(),
            b"garbage".to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..20].to_vec(),
            flipped,
            foreign,
        ];
        // A valid checksum over a lying entry count.
        let mut lying = good[..good.len() - 32].to_vec();
        let count_at = 8 + 4 + 4 + 4 + FP.len();
        lying[count_at] = 9;
        let sum = Sha256::digest(&lying);
        lying.extend_from_slice(&sum);
        bad_files.push(lying);
        for bad in bad_files {
            std::fs::write(&path, &bad).unwrap();
            let mut c = TextEmbeddingCache::open(dir.path(), FP, 3).unwrap();
            assert!(c.is_empty());
            c.embed_all(&["a"], |t| fake.compute(t)).unwrap();
            assert_eq!(
                TextEmbeddingCache::open(dir.path(), FP, 3).unwrap().len(),
                1
            );
        }
    }

    #[test]
    fn bad_compute_output_and_bad_arguments_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = TextEmbeddingCache::open(dir.path(), FP, 2).unwrap();
        let r = cache.embed_all(&["a", "b"], |_| Ok::<_, TextCacheError>(vec![vec![0.0; 2]]));
        assert!(matches!(
            r,
            Err(TextCacheError::WrongCount {
                expected: 2,
                got: 1
            })
        ));
        let r = cache.embed_all(&["a"], |_| Ok::<_, TextCacheError>(vec![vec![0.0; 3]]));
        assert!(matches!(r, Err(TextCacheError::BadEmbedding { .. })));
        let r = cache.embed_all(&["a"], |_| Ok::<_, TextCacheError>(vec![vec![f32::NAN; 2]]));
        assert!(matches!(r, Err(TextCacheError::BadEmbedding { .. })));
        assert!(cache.is_empty(), "nothing cached from a failed call");
        assert!(!cache.path().exists());
        for fp in ["", "../x", "a b", &"f".repeat(129)] {
            assert!(matches!(
                TextEmbeddingCache::open(dir.path(), fp, 2),
                Err(TextCacheError::BadFingerprint(_))
            ));
        }
        assert!(matches!(
            TextEmbeddingCache::open(dir.path(), FP, 0),
            Err(TextCacheError::ZeroDim)
        ));
    }
}
