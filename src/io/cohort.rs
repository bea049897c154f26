//! A cohort on disk: `cohort.csv` listing the studies, and the study folders.
//!
//! ```text
//! <cohort>/
//!   cohort.csv            header exactly `study_id,split,label`
//!   studies/<study_id>/   one study folder each (see `study`)
//! ```
//! `split` ∈ train, val, test; `label` ∈ infarct, tumor, hemorrhage, normal, other. Study ids
//! are folder names: not empty, no path separators, not `.` or `..`, no `..` inside, unique.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::error::{IoError, Result};
use crate::config::{Label, Split};

/// Name of the cohort table inside a cohort folder.
pub const COHORT_FILE: &str = "cohort.csv";
/// Name of the folder holding the study folders.
pub const STUDIES_DIR: &str = "studies";
/// The exact header of `cohort.csv`.
pub const COHORT_HEADER: [&str; 3] = ["study_id", "split", "label"];

/// One row of `cohort.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortEntry {
    /// Study folder name under `studies/`.
    pub study_id: String,
    /// Which split the study belongs to.
    pub split: Split,
    /// The study's class label.
    pub label: Label,
}

/// A cohort whose table parsed and whose study folders exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// The cohort folder.
    pub root: PathBuf,
    /// The rows of `cohort.csv`, in file order.
    pub entries: Vec<CohortEntry>,
}

impl Cohort {
    /// Folder of the study with id `study_id` (`<root>/studies/<study_id>`).
    pub fn study_dir(&self, study_id: &str) -> PathBuf {
        self.root.join(STUDIES_DIR).join(study_id)
    }

    /// Entries of one split, in file order.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &CohortEntry> {
        self.entries.iter().filter(move |e| e.split == split)
    }
}

/// Why `name` is not usable as one folder name inside another folder (a study id, a run
/// name), or `None` when it is; the problem reads after the name's subject ("study id ...").
pub fn folder_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.contains("..") || name == "." {
        Some("contains \"..\" or is \".\"")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Reads `<root>/cohort.csv` and checks every row. Errors name the file and the line: wrong
/// header, wrong number of fields, unknown split or label, empty or unsafe study id, duplicate
/// id, missing study folder, no rows.
pub fn read_cohort(root: &Path) -> Result<Cohort> {
    if !root.is_dir() {
        return Err(IoError::missing("cohort folder", root));
    }
    let path = root.join(COHORT_FILE);
    if !path.is_file() {
        return Err(IoError::missing(
            format!("cohort table ({COHORT_FILE})"),
            &path,
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| IoError::os("read", &path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .map_err(|e| IoError::invalid(&path, format!("line 1: cannot read the header ({e})")))?;
    if header.iter().collect::<Vec<_>>() != COHORT_HEADER {
        return Err(IoError::invalid(
            &path,
            format!(
                "line 1: header must be exactly `{}`, found `{}`",
                COHORT_HEADER.join(","),
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let mut entries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    // (byte, line) where the previous record ended, to count each line break once.
    let mut counted = (0usize, 1u64);
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            IoError::invalid(&path, format!("line {line}: cannot parse ({e})"))
        })?;
        if !more {
            break;
        }
        // The csv reader dates a record from before the blank lines it skipped; its end is
        // exact, so count the lines up to it (its own line break excluded).
        let end = usize::try_from(reader.position().byte())
            .unwrap_or(bytes.len())
            .min(bytes.len());
        let last = end.saturating_sub(1).max(counted.0);
        let line = counted.1
            + bytes[counted.0..last]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
        counted = (last, line);
        let at = |problem: String| IoError::invalid(&path, format!("line {line}: {problem}"));
        if record.len() != 3 {
            return Err(at(format!("expected 3 fields, found {}", record.len())));
        }
        let id = &record[0];
        if let Some(problem) = folder_name_problem(id) {
            return Err(at(format!("study id {problem} ({id:?})")));
        }
        let split: Split = record[1].parse().map_err(at)?;
        let label: Label = record[2].parse().map_err(at)?;
        if let Some(first) = seen.insert(id.to_string(), line) {
            return Err(at(format!(
                "duplicate study id {id:?} (first on line {first})"
            )));
        }
        let dir = root.join(STUDIES_DIR).join(id);
        if !dir.is_dir() {
            return Err(IoError::missing(
                format!("study folder for {id:?} listed on line {line} of {COHORT_FILE}"),
                dir,
            ));
        }
        entries.push(CohortEntry {
            study_id: id.to_string(),
            split,
            label,
        });
    }
    if entries.is_empty() {
        return Err(IoError::invalid(&path, "cohort lists no studies"));
    }
    Ok(Cohort {
        root: root.to_path_buf(),
        entries,
    })
}

/// Writes `entries` as a cohort table to `path` atomically (header `study_id,split,label`).
/// Refuses unsafe study ids so the file always reads back.
pub fn write_cohort_csv(path: &Path, entries: &[CohortEntry]) -> Result<()> {
    if let Some((e, problem)) = entries
        .iter()
        .find_map(|e| folder_name_problem(&e.study_id).map(|p| (e, p)))
    {
        return Err(IoError::invalid(
            path,
            format!("cannot write: study id {problem} ({:?})", e.study_id),
        ));
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_err =
        |e: csv::Error| IoError::invalid(path, format!("cannot encode the cohort table ({e})"));
    writer.write_record(COHORT_HEADER).map_err(csv_err)?;
    for e in entries {
        writer
            .write_record([e.study_id.as_str(), e.split.as_str(), e.label.as_str()])
            .map_err(csv_err)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| IoError::invalid(path, format!("cannot encode the cohort table ({e})")))?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort_with(csv_text: &str, study_dirs: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(COHORT_FILE), csv_text).unwrap();
        for s in study_dirs {
            std::fs::create_dir_all(dir.path().join(STUDIES_DIR).join(s)).unwrap();
        }
        dir
    }

    #[test]
    fn round_trips_through_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            CohortEntry {
                study_id: "s001".into(),
                split: Split::Train,
                label: Label::Infarct,
            },
            CohortEntry {
                study_id: "s 002".into(),
                split: Split::Test,
                label: Label::Other,
            },
        ];
        write_cohort_csv(&dir.path().join(COHORT_FILE), &entries).unwrap();
        for e in &entries {
            std::fs::create_dir_all(dir.path().join(STUDIES_DIR).join(&e.study_id)).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(COHORT_FILE)).unwrap();
        assert!(
            text.starts_with("study_id,split,label\ns001,train,infarct\n"),
            "{text}"
        );
        let c = read_cohort(dir.path()).unwrap();
        assert_eq!(c.entries, entries);
        assert_eq!(c.study_dir("s001"), dir.path().join("studies/s001"));
        assert_eq!(c.split(Split::Test).count(), 1);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let cases = [
            (
                "id,split,label\n",
                &[][..],
                "line 1: header must be exactly",
            ),
            (
                "study_id,split,label\na,train,normal\nb,dev,normal\n",
                &["a", "b"][..],
                "line 3: unknown split",
            ),
            (
                "study_id,split,label\na,train,stroke\n",
                &["a"][..],
                "line 2: unknown label",
            ),
            (
                "study_id,split,label\na,train,normal\na,val,tumor\n",
                &["a"][..],
                "line 3: duplicate study id \"a\" (first on line 2)",
            ),
            (
                "study_id,split,label\n,train,normal\n",
                &[][..],
                "line 2: study id is empty",
            ),
            (
                "study_id,split,label\nx/y,train,normal\n",
                &[][..],
                "line 2: study id contains a path separator",
            ),
            (
                "study_id,split,label\n..,train,normal\n",
                &[][..],
                "line 2: study id contains \"..\"",
            ),
            (
                "study_id,split,label\na,train\n",
                &["a"][..],
                "line 2: expected 3 fields",
            ),
            ("study_id,split,label\n", &[][..], "cohort lists no studies"),
            (
                "study_id,split,label\n\na,train,normal\n\n\nb,dev,normal\n",
                &["a", "b"][..],
                "line 6: unknown split",
            ),
        ];
        for (text, dirs, want) in cases {
            let dir = cohort_with(text, dirs);
            let msg = read_cohort(dir.path()).unwrap_err().to_string();
            assert!(msg.contains(want), "{msg} (wanted {want})");
            assert!(msg.ends_with("cohort.csv"), "{msg}");
        }
        let dir = cohort_with("study_id,split,label\na,train,normal\n", &[]);
        let msg = read_cohort(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("study folder for \"a\" listed on line 2 of cohort.csv"),
            "{msg}"
        );
        assert!(msg.ends_with("a"), "{msg}");
    }

    #[test]
    fn writer_refuses_unsafe_ids() {
        let dir = tempfile::tempdir().unwrap();
        let bad = [CohortEntry {
            study_id: "../x".into(),
            split: Split::Val,
            label: Label::Tumor,
        }];
        assert!(write_cohort_csv(&dir.path().join(COHORT_FILE), &bad).is_err());
    }
}
