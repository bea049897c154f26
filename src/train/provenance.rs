//! What a run was trained on: `<run>/training_set.json` names every study of the training
//! and validation splits (validation selects the kept epoch, so it is seen too) with the
//! cache key of its images (SHA-256 over the preprocessing version, the preprocessed tensor
//! shape and the bytes of the three NIfTI files). Matching by key, not by id, finds a study
//! in any cohort, under any name; so `eval` can say when it is scoring studies the run has
//! seen, and the viewer can mark them. The match is byte-exact: a study re-saved or
//! re-compressed is a new study to the record.
//!
//! The record informs; it never stops a run from being used. A damaged record is reported
//! and then treated as missing by eval, query, classify and the viewer
//! ([`read_training_set_or_warn`]); only training, which adds to it, refuses to go on with
//! one.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::data::Sample;
use crate::config::Split;
use crate::io::IoError;
use crate::io::atomic::write_atomic;

/// The record's file name in a run folder.
pub const TRAINING_SET_FILE: &str = "training_set.json";

/// One study a run was trained on (or selected on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainedStudy {
    /// Its id in the cohort it was trained from.
    pub study_id: String,
    /// `train` or `val`.
    pub split: Split,
    /// Preprocessing-cache key of its images.
    pub key: String,
}

/// The studies a run has seen, by image key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingSet {
    /// Every study, in the order recorded.
    pub studies: Vec<TrainedStudy>,
}

impl TrainingSet {
    /// The training and validation studies of a run.
    pub fn of(train: &[Sample], val: &[Sample]) -> Self {
        let studies = train
            .iter()
            .chain(val)
            .map(|s| TrainedStudy {
                study_id: s.study_id.clone(),
                split: s.split,
                key: s.key.clone(),
            })
            .collect();
        Self { studies }
    }

    /// This set with the studies of `other` it lacks added (a run resumed on another cohort
    /// has seen both).
    fn union(mut self, other: Self) -> Self {
        let known: std::collections::HashSet<(String, Split)> = self
            .studies
            .iter()
            .map(|s| (s.key.clone(), s.split))
            .collect();
        self.studies.extend(
            other
                .studies
                .into_iter()
                .filter(|s| !known.contains(&(s.key.clone(), s.split))),
        );
        self
    }

    /// How each study whose images the run has seen was used, by key (`train` wins over
    /// `val` when a study was recorded in both).
    pub fn by_key(&self) -> HashMap<&str, Split> {
        let mut map = HashMap::new();
        for s in &self.studies {
            let e = map.entry(s.key.as_str()).or_insert(s.split);
            if s.split == Split::Train {
                *e = Split::Train;
            }
        }
        map
    }

    /// The ids of `samples` whose images the run has seen, with how it used them.
    pub fn seen<'a>(&self, samples: impl IntoIterator<Item = &'a Sample>) -> Vec<(String, Split)> {
        let by_key = self.by_key();
        samples
            .into_iter()
            .filter_map(|s| by_key.get(s.key.as_str()).map(|u| (s.study_id.clone(), *u)))
            .collect()
    }
}

/// A note for people that the run at `run` has seen `study` (used as `used`), ending with
/// what that means to the reader (`so`, e.g. "its matches may be memorised pairs").
pub fn seen_note(run: &Path, study: &str, used: Split, so: &str) -> String {
    format!(
        "note: {} has seen {study} ({}): {so}",
        run.display(),
        how_seen(used)
    )
}

/// How a run used a study it has seen, in words: "trained on" for a training study,
/// "selected on" for a validation study (it chose the kept epoch).
pub fn how_seen(used: Split) -> &'static str {
    match used {
        Split::Train => "trained on",
        _ => "selected on",
    }
}

/// Reads a run's record; `None` for a run trained before runs kept one. A record that is
/// not JSON of this shape, or that lists a test study (no run trains on its test split), is
/// an error naming the file.
pub fn read_training_set(run: &Path) -> Result<Option<TrainingSet>, IoError> {
    let path = run.join(TRAINING_SET_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::os("read", &path, e)),
    };
    let set: TrainingSet = serde_json::from_str(&text)
        .map_err(|e| IoError::invalid(&path, format!("not a training-set record: {e}")))?;
    if let Some(s) = set.studies.iter().find(|s| s.split == Split::Test) {
        return Err(IoError::invalid(
            &path,
            format!(
                "lists the test study {} as seen (a record holds train and val studies only)",
                s.study_id
            ),
        ));
    }
    Ok(Some(set))
}

/// Reads a run's record for a reader that can do without it: a damaged record is passed to
/// `warn` in words, naming the file and ending with what it means to this reader
/// (`unknown_means`, e.g. "no match is marked"), and read as no record.
pub fn read_training_set_or_warn(
    run: &Path,
    unknown_means: &str,
    warn: &mut dyn FnMut(String),
) -> Option<TrainingSet> {
    read_training_set(run).unwrap_or_else(|e| {
        warn(format!(
            "{e}; which studies the run has seen is unknown, so {unknown_means}"
        ));
        None
    })
}

/// Records `set` in the run folder (atomically), keeping the studies an earlier call
/// recorded (fields this version does not know are not kept).
pub fn record_training_set(run: &Path, set: TrainingSet) -> Result<(), IoError> {
    let set = match read_training_set(run)? {
        Some(old) => old.union(set),
        None => set,
    };
    let path = run.join(TRAINING_SET_FILE);
    let mut text = String::from("{\"studies\": [\n");
    for (i, s) in set.studies.iter().enumerate() {
        let line = serde_json::to_string(s)
            .map_err(|e| IoError::invalid(&path, format!("cannot serialise: {e}")))?;
        text.push_str("  ");
        text.push_str(&line);
        text.push_str(if i + 1 < set.studies.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    text.push_str("]}\n");
    write_atomic(&path, text.as_bytes())
}

/// A warning for people when `samples` (a split about to be scored) holds studies that the
/// run at `run`, with the record `set`, was trained or selected on; `None` when it holds none.
pub fn seen_warning(run: &Path, set: &TrainingSet, samples: &[Sample]) -> Option<String> {
    let seen = set.seen(samples);
    if seen.is_empty() {
        return None;
    }
    let trained = seen.iter().filter(|(_, u)| *u == Split::Train).count();
    Some(format!(
        "{} of these {} studies were seen by {} ({trained} trained on, {} used to select its \
         epoch; {TRAINING_SET_FILE}): these numbers are not held-out",
        seen.len(),
        samples.len(),
        run.display(),
        seen.len() - trained
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Label;

    fn sample(id: &str, split: Split, key: &str) -> Sample {
        Sample {
            study_id: id.into(),
            label: Label::Normal,
            split,
            report: "Normal.".into(),
            key: key.into(),
        }
    }

    #[test]
    fn studies_are_matched_by_their_images_not_their_names() {
        let set = TrainingSet::of(
            &[sample("a", Split::Train, "k1")],
            &[sample("b", Split::Val, "k2")],
        );
        // Another cohort: "a" is a different study; "x" has a's images.
        let other = [
            sample("a", Split::Test, "k9"),
            sample("x", Split::Test, "k1"),
            sample("y", Split::Test, "k2"),
        ];
        assert_eq!(
            set.seen(&other),
            vec![("x".into(), Split::Train), ("y".into(), Split::Val)]
        );
    }

    #[test]
    fn the_record_round_trips_and_a_second_call_adds_to_it() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_training_set(dir.path()).unwrap(), None);
        let first = TrainingSet::of(&[sample("a", Split::Train, "k1")], &[]);
        record_training_set(dir.path(), first.clone()).unwrap();
        assert_eq!(read_training_set(dir.path()).unwrap(), Some(first));
        // A resumed run (or one resumed on another cohort) adds; what it recorded stays.
        record_training_set(
            dir.path(),
            TrainingSet::of(&[sample("c", Split::Train, "k3")], &[]),
        )
        .unwrap();
        let both = TrainingSet::of(
            &[
                sample("a", Split::Train, "k1"),
                sample("c", Split::Train, "k3"),
            ],
            &[],
        );
        assert_eq!(read_training_set(dir.path()).unwrap(), Some(both));
    }

    #[test]
    fn a_warning_counts_the_seen_studies() {
        let dir = tempfile::tempdir().unwrap();
        let set = TrainingSet::of(
            &[sample("a", Split::Train, "k1")],
            &[sample("b", Split::Val, "k2")],
        );
        let test = [sample("t", Split::Test, "k5")];
        assert_eq!(seen_warning(dir.path(), &set, &test), None);
        let mixed = [
            sample("a", Split::Train, "k1"),
            sample("b", Split::Val, "k2"),
            sample("t", Split::Test, "k5"),
        ];
        let w = seen_warning(dir.path(), &set, &mixed).unwrap();
        assert!(w.starts_with("2 of these 3 studies were seen"), "{w}");
        assert!(w.contains("1 trained on, 1 used to select"), "{w}");
    }

    #[test]
    fn a_damaged_record_is_an_error_for_training_and_a_warning_for_readers() {
        let dir = tempfile::tempdir().unwrap();
        let mut warnings = Vec::new();
        let path = dir.path().join(TRAINING_SET_FILE);
        let test_study = r#"{"studies": [{"study_id": "t", "split": "test", "key": "k5"}]}"#;
        for (text, says) in [
            ("{\"studies\": [", "not a training-set record"),
            (test_study, "test study t"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_training_set(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(TRAINING_SET_FILE) && err.contains(says),
                "{err}"
            );
            let set = TrainingSet::of(&[sample("a", Split::Train, "k1")], &[]);
            assert!(record_training_set(dir.path(), set).is_err());
            let read = read_training_set_or_warn(dir.path(), "x", &mut |w| warnings.push(w));
            assert_eq!(read, None);
        }
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings
                .iter()
                .all(|w| w.contains(TRAINING_SET_FILE) && w.ends_with("so x")),
            "{warnings:?}"
        );
        // A later version's extra field does not make a record unreadable.
        std::fs::write(
            &path,
            r#"{"version": 2, "studies": [{"study_id": "a", "split": "train", "key": "k1"}]}"#,
        )
        .unwrap();
        assert_eq!(
            read_training_set(dir.path())
                .unwrap()
                .unwrap()
                .studies
                .len(),
            1
        );
    }
}
