//! One study on disk: a folder with the three sequences, the report and optional metadata.
//!
//! ```text
//! <study_id>/
//!   dwi.nii.gz     DWI b1000          (.nii accepted too)
//!   t2s.nii.gz     T2*-weighted GRE
//!   flair.nii.gz   T2 FLAIR
//!   report.txt     radiology report, UTF-8, not empty
//!   study.json     optional: a JSON object, may hold "label" and any metadata
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{IoError, Result};
use super::nifti_read::{LoadedNifti, read_nifti};
use crate::config::{Label, Sequence};

/// Report file name inside a study folder.
pub const REPORT_FILE: &str = "report.txt";
/// Optional metadata file name inside a study folder.
pub const META_FILE: &str = "study.json";

/// A study folder whose files exist and whose text parts are loaded. Volumes are read
/// separately ([`load_volumes`]) because they are large.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// The folder name.
    pub id: String,
    /// The folder.
    pub dir: PathBuf,
    /// Paths of the DWI, T2* and FLAIR files, in channel order ([`Sequence::ALL`]).
    pub sequence_paths: [PathBuf; 3],
    /// The report text as written (not trimmed); never empty or whitespace-only.
    pub report: String,
    /// Contents of `study.json`, when present (always a JSON object).
    pub meta: Option<serde_json::Value>,
}

impl Study {
    /// The `label` field of `study.json`, when present and a string.
    pub fn meta_label(&self) -> Option<&str> {
        self.meta.as_ref()?.get("label")?.as_str()
    }

    /// Path of the file holding `seq`.
    pub fn sequence_path(&self, seq: Sequence) -> &Path {
        &self.sequence_paths[seq.channel()]
    }
}

/// Finds `<stem>.nii.gz` or `<stem>.nii` for `seq` in `dir`; both at once is an error
/// (which one is the study's would be a guess).
pub fn find_sequence(dir: &Path, seq: Sequence) -> Result<PathBuf> {
    let stem = seq.file_stem();
    let found: Vec<PathBuf> = ["nii.gz", "nii"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [one] => return Ok(one.clone()),
        [gz, _] => {
            return Err(IoError::invalid(
                gz,
                format!("both {stem}.nii.gz and {stem}.nii are there: keep one"),
            ));
        }
        _ => {}
    }
    Err(IoError::missing(
        format!(
            "{} sequence ({stem}.nii.gz or {stem}.nii)",
            seq.display_name()
        ),
        dir,
    ))
}

/// Largest report accepted: radiology impressions are a few kilobytes.
pub const MAX_REPORT_BYTES: u64 = 1 << 20;

/// Reads and checks the report: UTF-8 (a leading byte-order mark dropped), not blank, at
/// most [`MAX_REPORT_BYTES`].
fn read_report(dir: &Path) -> Result<String> {
    let path = dir.join(REPORT_FILE);
    if !path.is_file() {
        return Err(IoError::missing(format!("report ({REPORT_FILE})"), dir));
    }
    let size = fs::metadata(&path)
        .map_err(|e| IoError::os("read", &path, e))?
        .len();
    if size > MAX_REPORT_BYTES {
        return Err(IoError::invalid(
            &path,
            format!("report of {size} bytes; at most {MAX_REPORT_BYTES} are read"),
        ));
    }
    let mut bytes = fs::read(&path).map_err(|e| IoError::os("read", &path, e))?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        IoError::invalid(
            &path,
            format!(
                "report is not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(IoError::invalid(&path, "report is empty"));
    }
    Ok(text)
}

/// A UTF-8 byte-order mark, which some editors put before the text.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `study.json` when present; it must be a JSON object whose `label`, if any, is one
/// of the five classes.
fn read_meta(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join(META_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound && fs::symlink_metadata(&path).is_err() =>
        {
            return Ok(None);
        }
        Err(e) => return Err(IoError::os("read", &path, e)),
    };
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(&bytes);
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| IoError::invalid(&path, format!("invalid JSON ({e})")))?;
    if !value.is_object() {
        return Err(IoError::invalid(
            &path,
            "study metadata must be a JSON object",
        ));
    }
    if let Some(label) = value.get("label") {
        let known = label.as_str().and_then(|l| l.parse::<Label>().ok());
        if known.is_none() {
            return Err(IoError::invalid(
                &path,
                format!(
                    "\"label\" is {label}; it must be one of infarct, tumor, hemorrhage, normal, \
                     other"
                ),
            ));
        }
    }
    Ok(Some(value))
}

/// Loads a study folder: checks that the three sequences exist, reads the report and the
/// optional `study.json`. Does not read the volumes.
///
/// Errors: folder missing, a sequence missing (naming which and both accepted file names),
/// report missing, empty, whitespace-only or not UTF-8, `study.json` not a JSON object.
pub fn load_study(dir: &Path) -> Result<Study> {
    if !dir.is_dir() {
        return Err(IoError::missing("study folder", dir));
    }
    // `dir` may be "." or end in "..": then name the folder it resolves to.
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            let canonical = dir.canonicalize().ok()?;
            Some(canonical.file_name()?.to_string_lossy().into_owned())
        })
        .ok_or_else(|| IoError::invalid(dir, "cannot determine the study id (folder name)"))?;
    let [dwi, t2s, flair] = Sequence::ALL;
    let sequence_paths = [
        find_sequence(dir, dwi)?,
        find_sequence(dir, t2s)?,
        find_sequence(dir, flair)?,
    ];
    let report = read_report(dir)?;
    let meta = read_meta(dir)?;
    Ok(Study {
        id,
        dir: dir.to_path_buf(),
        sequence_paths,
        report,
        meta,
    })
}

/// Reads the three sequences of `study`, in channel order ([`Sequence::ALL`]).
pub fn load_volumes(study: &Study) -> Result<[LoadedNifti; 3]> {
    let [a, b, c] = &study.sequence_paths;
    Ok([read_nifti(a)?, read_nifti(b)?, read_nifti(c)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    const SEQS: [(&str, &[u8]); 3] = [("dwi.nii.gz", b""), ("t2s.nii", b""), ("flair.nii.gz", b"")];

    #[test]
    fn loads_text_parts_and_accepts_both_extensions() {
        let mut files = SEQS.to_vec();
        files.push(("report.txt", "No acute infarct.\n".as_bytes()));
        files.push(("study.json", br#"{"label": "normal", "age": 70}"#));
        let dir = study_dir(&files);
        let s = load_study(dir.path()).unwrap();
        assert_eq!(s.report, "No acute infarct.\n");
        assert_eq!(s.meta_label(), Some("normal"));
        assert!(s.sequence_path(Sequence::T2s).ends_with("t2s.nii"));
        assert!(s.sequence_paths[0].ends_with("dwi.nii.gz"));
        assert_eq!(s.id, dir.path().file_name().unwrap().to_string_lossy());
    }

    #[test]
    fn missing_sequence_names_it() {
        let dir = study_dir(&[
            ("dwi.nii.gz", b""),
            ("t2s.nii.gz", b""),
            ("report.txt", b"x"),
        ]);
        let msg = load_study(dir.path()).unwrap_err().to_string();
        assert!(
            msg.starts_with("missing FLAIR sequence (flair.nii.gz or flair.nii)"),
            "{msg}"
        );
    }

    #[test]
    fn bad_reports_and_metadata_are_refused() {
        for (report, want) in [
            (&b"  \n\t"[..], "report is empty"),
            (&b""[..], "report is empty"),
            (&b"ok \xff\xfe"[..], "not valid UTF-8"),
        ] {
            let mut files = SEQS.to_vec();
            files.push(("report.txt", report));
            let dir = study_dir(&files);
            let msg = load_study(dir.path()).unwrap_err().to_string();
            assert!(msg.contains(want) && msg.ends_with("report.txt"), "{msg}");
        }
        let dir = study_dir(&SEQS);
        let msg = load_study(dir.path()).unwrap_err().to_string();
        assert!(msg.starts_with("missing report"), "{msg}");
        for meta in [
            &b"{not json"[..],
            b"[1, 2]",
            br#"{"label": 3}"#,
            br#"{"label": "haemorrhage"}"#,
        ] {
            let mut files = SEQS.to_vec();
            files.push(("report.txt", b"fine"));
            files.push(("study.json", meta));
            let dir = study_dir(&files);
            let msg = load_study(dir.path()).unwrap_err().to_string();
            assert!(msg.ends_with("study.json"), "{msg}");
        }
    }

    #[test]
    fn byte_order_marks_huge_reports_and_two_files_for_one_sequence() {
        // A byte-order mark is not text: alone it is an empty report, and it is dropped.
        for (report, meta, want) in [
            (&b"\xEF\xBB\xBF\n"[..], &b"{}"[..], Err("report is empty")),
            (
                b"\xEF\xBB\xBFNo mass.",
                b"\xEF\xBB\xBF{\"label\": \"tumor\"}",
                Ok("No mass."),
            ),
        ] {
            let mut files = SEQS.to_vec();
            files.push(("report.txt", report));
            files.push(("study.json", meta));
            let dir = study_dir(&files);
            match (load_study(dir.path()), want) {
                (Ok(s), Ok(text)) => {
                    assert_eq!(s.report, text);
                    assert_eq!(s.meta_label(), Some("tumor"));
                }
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, _) => panic!("{got:?}"),
            }
        }
        let huge = vec![b'a'; (MAX_REPORT_BYTES + 1) as usize];
        let mut files = SEQS.to_vec();
        files.push(("report.txt", &huge));
        let dir = study_dir(&files);
        let msg = load_study(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("at most 1048576") && msg.ends_with("report.txt"),
            "{msg}"
        );
        let mut files = SEQS.to_vec();
        files.push(("flair.nii", b""));
        files.push(("report.txt", b"fine"));
        let dir = study_dir(&files);
        let msg = load_study(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("both flair.nii.gz and flair.nii"), "{msg}");
    }
}
