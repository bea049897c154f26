//! The error type of the `io` module. Messages name the problem first and the file last.

use std::path::{Path, PathBuf};

/// An I/O or data-validation failure, always naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The operating system refused or failed a read or write.
    #[error("{action} failed: {source}: {}", path.display())]
    Os {
        /// What was attempted ("read", "write", "create directory", ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
        /// The file.
        path: PathBuf,
    },
    /// A required file does not exist.
    #[error("missing {what}: {}", path.display())]
    Missing {
        /// What was expected ("DWI sequence", "report", "cohort.csv").
        what: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file exists but its content is unusable.
    #[error("{problem}: {}", path.display())]
    Invalid {
        /// What is wrong, in words a user understands.
        problem: String,
        /// The file.
        path: PathBuf,
    },
}

impl IoError {
    /// An [`IoError::Invalid`] for `path`.
    pub fn invalid(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        IoError::Invalid {
            problem: problem.into(),
            path: path.as_ref().to_path_buf(),
        }
    }

    /// An [`IoError::Os`] for `path`.
    pub fn os(action: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        IoError::Os {
            action,
            source,
            path: path.as_ref().to_path_buf(),
        }
    }

    /// An [`IoError::Missing`] for `path`.
    pub fn missing(what: impl Into<String>, path: impl AsRef<Path>) -> Self {
        IoError::Missing {
            what: what.into(),
            path: path.as_ref().to_path_buf(),
        }
    }
}

/// Result alias for the `io` module.
pub type Result<T> = std::result::Result<T, IoError>;
