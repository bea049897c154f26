//! What a run was trained on: `<run>/training_set.json` names every study of the training
//! and validation splits (validation selects the kept epoch, so it is seen too) with the
//! cache key of its images (SHA-256 over the preprocessing version and the three NIfTI
//! files). Matching by key, not by id, finds a study in any cohort, under any name; so
//! `eval` can say when it is scoring studies the run has seen, and the viewer can mark them.

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
#[serde(deny_unknown_fields)]
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

/// How a run used a study it has seen, in words: "trained on" for a training study,
/// "selected on" for a validation study (it chose the kept epoch).
pub fn how_seen(used: Split) -> &'static str {
    match used {
        Split::Train => "trained on",
        _ => "selected on",
    }
}

/// Reads a run's record; `None` for a run trained before runs kept one.
pub fn read_training_set(run: &Path) -> Result<Option<TrainingSet>, IoError> {
    let path = run.join(TRAINING_SET_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::os("read", &path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| IoError::invalid(&path, format!("not a training-set record: {e}")))
}

/// Records `set` in the run folder (atomically), keeping what an earlier call recorded.
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

/// A warning for people when `samples` (a split about to be scored) holds studies the run
/// at `run` was trained or selected on; `None` when it holds none or the run kept no record.
pub fn seen_warning(run: &Path, samples: &[Sample]) -> Result<Option<String>, IoError> {
    let Some(set) = read_training_set(run)? else {
        return Ok(None);
    };
    let seen = set.seen(samples);
    if seen.is_empty() {
        return Ok(None);
    }
    let trained = seen.iter().filter(|(_, u)| *u == Split::Train).count();
    Ok(Some(format!(
        "{} of these {} studies were seen by {} ({trained} trained on, {} used to select its \
         epoch; {TRAINING_SET_FILE}): these numbers are not held-out",
        seen.len(),
        samples.len(),
        run.display(),
        seen.len() - trained
    )))
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
        let second = TrainingSet::of(
            &[
                sample("a", Split::Train, "k1"),
                sample("c", Split::Train, "k3"),
            ],
            &[],
        );
        record_training_set(dir.path(), second.clone()).unwrap();
        assert_eq!(read_training_set(dir.path()).unwrap(), Some(second));
    }

    #[test]
    fn a_warning_counts_the_seen_studies_and_a_damaged_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let test = [sample("t", Split::Test, "k5")];
        assert_eq!(seen_warning(dir.path(), &test).unwrap(), None);
        record_training_set(
            dir.path(),
            TrainingSet::of(&[sample("a", Split::Train, "k1")], &[]),
        )
        .unwrap();
        assert_eq!(seen_warning(dir.path(), &test).unwrap(), None);
        let train = [
            sample("a", Split::Train, "k1"),
            sample("t", Split::Test, "k5"),
        ];
        let w = seen_warning(dir.path(), &train).unwrap().unwrap();
        assert!(w.starts_with("1 of these 2 studies were seen"), "{w}");
        assert!(w.contains("1 trained on, 0 used to select"), "{w}");
        std::fs::write(dir.path().join(TRAINING_SET_FILE), "{\"studies\": [").unwrap();
        let err = seen_warning(dir.path(), &test).unwrap_err().to_string();
        assert!(err.contains(TRAINING_SET_FILE), "{err}");
    }
}
