//! What the viewer knows, folded from worker events in one place ([`AppState::apply`], a pure
//! function). Panels read it and push commands; they never change it directly.

use std::path::PathBuf;
use std::sync::Arc;

use crate::train::provenance::how_seen;
use crate::train::run::EpochMetrics;
use crate::train::{Outcome, TrainEvent};
use crate::worker::{
    CohortInfo, Event, Explanation, LoadedStudy, MapPoint, MatrixView, RankedStudy, RunInfo, Slot,
};

/// Errors kept for the status bar at most.
const MAX_ERRORS: usize = 20;

/// A job the worker is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    /// What.
    pub task: String,
    /// Units done.
    pub done: usize,
    /// Units in all (0 = unknown).
    pub total: usize,
}

/// The state of the training panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingState {
    /// A run is in progress.
    pub running: bool,
    /// Its folder.
    pub run: Option<PathBuf>,
    /// Current epoch (1-based) and the last one.
    pub epoch: usize,
    /// The run's last epoch.
    pub epochs: usize,
    /// Current step and steps per epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// First epoch trained by this call.
    pub start_epoch: usize,
    /// What the loop is preparing.
    pub preparing: Option<String>,
    /// Finished epochs.
    pub metrics: Vec<EpochMetrics>,
    /// (fractional epoch, loss) of the steps seen.
    pub step_losses: Vec<[f64; 2]>,
    /// How the last run ended, in words.
    pub ended: Option<String>,
}

impl TrainingState {
    /// Fraction of this call's work done, 0-1.
    pub fn fraction(&self) -> f64 {
        let epochs = (self.epochs + 1).saturating_sub(self.start_epoch.max(1));
        if epochs == 0 || self.steps == 0 {
            return 0.0;
        }
        let done_epochs = self.epoch.saturating_sub(self.start_epoch.max(1));
        ((done_epochs as f64 + self.step as f64 / self.steps as f64) / epochs as f64)
            .clamp(0.0, 1.0)
    }
}

/// Everything the worker has told the viewer.
#[derive(Default)]
pub struct AppState {
    /// The open cohort.
    pub cohort: Option<CohortInfo>,
    /// The open run.
    pub run: Option<RunInfo>,
    /// The open study.
    pub primary: Option<Arc<LoadedStudy>>,
    /// The study compared with it.
    pub compare: Option<Arc<LoadedStudy>>,
    /// Zero-shot probabilities of the open study (study id, probabilities).
    pub zero_shot: Option<(String, Vec<f32>)>,
    /// Similar cases (query id, ranking).
    pub similar: Option<(String, Vec<RankedStudy>)>,
    /// Text query results (text, ranking).
    pub text_results: Option<(String, Vec<RankedStudy>)>,
    /// The last similarity matrix.
    pub matrix: Option<Arc<MatrixView>>,
    /// The embedding map.
    pub map: Vec<MapPoint>,
    /// The last occlusion explanation.
    pub explanation: Option<Arc<Explanation>>,
    /// Training.
    pub training: TrainingState,
    /// Curves of a finished run opened for inspection (folder, epochs).
    pub curves: Option<(PathBuf, Vec<EpochMetrics>)>,
    /// What the worker is doing.
    pub busy: Option<Busy>,
    /// Readable error messages, newest last.
    pub errors: Vec<String>,
    /// The worker thread has ended.
    pub worker_gone: bool,
}

impl AppState {
    /// How the open run used a study of the cohort, for people ("trained on", or "selected
    /// on" for a validation study), when the run's record says it saw the study's images.
    pub fn seen_by_run(&self, study_id: &str) -> Option<&'static str> {
        let used = self.run.as_ref()?.seen.as_ref()?.get(study_id)?;
        Some(how_seen(*used))
    }

    /// Folds one worker event into the state.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Progress { task, done, total } => self.busy = Some(Busy { task, done, total }),
            Event::Done => self.busy = None,
            Event::CohortOpened(info) => {
                self.cohort = Some(info);
                self.primary = None;
                self.compare = None;
                // What the open run indexed and saw was of the old cohort; the worker
                // reopens the run on the new one and says again.
                if let Some(run) = &mut self.run {
                    run.indexed = 0;
                    run.seen = None;
                }
                self.forget_results();
            }
            Event::RunOpened(info) => {
                if let Some(problem) = &info.record_problem {
                    self.push_error(problem.clone());
                }
                self.curves = Some((info.dir.clone(), info.metrics.clone()));
                self.run = Some(info);
                self.forget_results();
            }
            Event::RunClosed => {
                self.run = None;
                self.forget_results();
            }
            Event::StudyLoaded { slot, study } => match slot {
                Slot::Primary => {
                    if self
                        .zero_shot
                        .as_ref()
                        .is_some_and(|z| z.0 != study.study_id)
                    {
                        self.zero_shot = None;
                    }
                    // A new study ends the comparison with the old one's match.
                    if self
                        .primary
                        .as_ref()
                        .is_none_or(|p| p.study_id != study.study_id)
                    {
                        self.compare = None;
                    }
                    self.primary = Some(study);
                }
                Slot::Compare => self.compare = Some(study),
            },
            Event::ZeroShot {
                study_id,
                probabilities,
            } => self.zero_shot = Some((study_id, probabilities)),
            Event::Similar { study_id, hits } => self.similar = Some((study_id, hits)),
            Event::TextResults { text, hits } => self.text_results = Some((text, hits)),
            Event::Matrix(m) => self.matrix = Some(m),
            Event::Map(points) => self.map = points,
            Event::Explained(e) => self.explanation = Some(e),
            Event::Training(e) => self.apply_training(e),
            Event::TrainingEnded(result) => {
                let ended = match result {
                    Ok(summary) => {
                        let how = match summary.outcome {
                            Outcome::Completed => "completed",
                            Outcome::EarlyStopped => "stopped early",
                            Outcome::Cancelled => "stopped",
                        };
                        format!("{how}; best epoch {}", summary.best_epoch)
                    }
                    Err(message) => {
                        self.push_error(format!("training: {message}"));
                        format!("failed: {message}")
                    }
                };
                let t = &mut self.training;
                t.running = false;
                t.preparing = None;
                t.ended = Some(ended);
            }
            Event::Metrics { run, metrics } => self.curves = Some((run, metrics)),
            // The view shows where the file went.
            Event::Exported(_) => {}
            Event::Failed { task, message } => {
                self.busy = None;
                self.push_error(format!("{task}: {message}"));
            }
        }
    }

    fn apply_training(&mut self, event: TrainEvent) {
        let t = &mut self.training;
        match event {
            TrainEvent::Preparing(what) => t.preparing = Some(what),
            TrainEvent::Started {
                steps_per_epoch,
                epochs,
                start_epoch,
                ..
            } => {
                t.preparing = None;
                t.steps = steps_per_epoch;
                t.epochs = epochs;
                t.start_epoch = start_epoch;
                t.epoch = start_epoch;
                t.step = 0;
            }
            TrainEvent::Step {
                epoch,
                step,
                steps,
                loss,
                ..
            } => {
                t.epoch = epoch;
                t.step = step;
                t.steps = steps;
                let x = (epoch - 1) as f64 + step as f64 / steps.max(1) as f64;
                t.step_losses.push([x, loss]);
            }
            TrainEvent::Epoch { metrics, .. } => t.metrics.push(metrics),
        }
    }

    /// Drops what the previous run or cohort computed.
    fn forget_results(&mut self) {
        self.similar = None;
        self.text_results = None;
        self.zero_shot = None;
        self.matrix = None;
        self.map.clear();
        self.explanation = None;
    }

    /// Marks a training run as started (the UI calls this when it sends the command).
    pub fn training_started(&mut self, run: PathBuf) {
        self.training = TrainingState {
            running: true,
            run: Some(run),
            ..TrainingState::default()
        };
    }

    /// Keeps a readable error for the status bar.
    pub fn push_error(&mut self, message: String) {
        self.errors.push(message);
        if self.errors.len() > MAX_ERRORS {
            self.errors.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Label, Split};
    use crate::train::TrainSummary;
    use crate::worker::StudyRow;

    fn cohort() -> CohortInfo {
        CohortInfo {
            root: PathBuf::from("c"),
            studies: vec![StudyRow {
                study_id: "s1".into(),
                label: Label::Tumor,
                split: Split::Test,
                report: "Mass.".into(),
            }],
        }
    }

    #[test]
    fn progress_done_and_failures() {
        let mut s = AppState::default();
        s.apply(Event::Progress {
            task: "indexing".into(),
            done: 3,
            total: 10,
        });
        assert_eq!(s.busy.as_ref().map(|b| b.done), Some(3));
        s.apply(Event::Failed {
            task: "loading the study".into(),
            message: "truncated file x.nii".into(),
        });
        assert!(s.busy.is_none());
        assert_eq!(s.errors, vec!["loading the study: truncated file x.nii"]);
        for i in 0..30 {
            s.push_error(format!("e{i}"));
        }
        assert_eq!(s.errors.len(), MAX_ERRORS);
        assert_eq!(s.errors.last().map(String::as_str), Some("e29"));
    }

    #[test]
    fn a_new_cohort_clears_what_belonged_to_the_old_one() {
        let mut s = AppState {
            similar: Some(("x".into(), Vec::new())),
            zero_shot: Some(("x".into(), vec![1.0])),
            ..AppState::default()
        };
        s.apply(Event::CohortOpened(cohort()));
        assert!(s.similar.is_none() && s.zero_shot.is_none());
        assert_eq!(s.cohort.as_ref().map(|c| c.studies.len()), Some(1));
    }

    #[test]
    fn a_new_cohort_forgets_which_studies_the_open_run_saw_until_it_is_reopened() {
        let mut s = AppState::default();
        let run = |seen: &[(&str, Split)]| crate::worker::RunInfo {
            dir: PathBuf::from("r"),
            device: "cpu".into(),
            metrics: Vec::new(),
            indexed: 1,
            seen: Some(seen.iter().map(|(id, u)| (id.to_string(), *u)).collect()),
            record_problem: None,
        };
        s.apply(Event::RunOpened(run(&[("s1", Split::Train)])));
        assert_eq!(s.seen_by_run("s1"), Some("trained on"));
        // Another cohort whose "s1" is another patient: no mark from the old one.
        s.apply(Event::CohortOpened(cohort()));
        assert_eq!(s.seen_by_run("s1"), None);
        assert_eq!(s.run.as_ref().map(|r| r.indexed), Some(0));
        s.apply(Event::RunOpened(run(&[("s1", Split::Val)])));
        assert_eq!(s.seen_by_run("s1"), Some("selected on"));
        assert!(s.errors.is_empty());
        // A run whose record could not be read opens unmarked, and the reason is shown.
        s.apply(Event::RunOpened(crate::worker::RunInfo {
            seen: None,
            record_problem: Some("r/training_set.json: not a record".into()),
            ..run(&[])
        }));
        assert_eq!(s.seen_by_run("s1"), None);
        assert_eq!(s.errors, ["r/training_set.json: not a record"]);
    }

    fn loaded(id: &str) -> Arc<LoadedStudy> {
        let v =
            crate::io::Volume::new([1, 1, 1], vec![1.0], crate::io::Affine::identity()).unwrap();
        let frame = crate::io::display::DisplayFrame::new(&[&v], 0).unwrap();
        Arc::new(LoadedStudy {
            study_id: id.into(),
            label: None,
            report: "r".into(),
            volumes: [v.clone(), v.clone(), v],
            auto_windows: [(0.0, 1.0); 3],
            frame,
            head_z_mm: (0.0, 1.0),
        })
    }

    #[test]
    fn a_new_study_ends_the_comparison_and_a_closed_run_its_results() {
        let mut s = AppState::default();
        s.apply(Event::StudyLoaded {
            slot: Slot::Primary,
            study: loaded("a"),
        });
        s.apply(Event::StudyLoaded {
            slot: Slot::Compare,
            study: loaded("b"),
        });
        // The same study again (e.g. reloaded) keeps the match.
        s.apply(Event::StudyLoaded {
            slot: Slot::Primary,
            study: loaded("a"),
        });
        assert!(s.compare.is_some());
        s.apply(Event::StudyLoaded {
            slot: Slot::Primary,
            study: loaded("c"),
        });
        assert!(s.compare.is_none());
        s.zero_shot = Some(("c".into(), vec![1.0]));
        s.apply(Event::RunClosed);
        assert!(s.zero_shot.is_none() && s.run.is_none());
    }

    #[test]
    fn training_events_drive_progress_and_outcome() {
        let mut s = AppState::default();
        s.training_started(PathBuf::from("runs/a"));
        s.apply(Event::Training(TrainEvent::Started {
            train: 6,
            val: 2,
            steps_per_epoch: 2,
            epochs: 2,
            start_epoch: 1,
        }));
        assert_eq!(s.training.fraction(), 0.0);
        s.apply(Event::Training(TrainEvent::Step {
            epoch: 2,
            step: 1,
            steps: 2,
            loss: 1.5,
            lr: 1e-3,
        }));
        assert!((s.training.fraction() - 0.75).abs() < 1e-12);
        assert_eq!(s.training.step_losses, vec![[1.5, 1.5]]);
        s.apply(Event::TrainingEnded(Ok(TrainSummary {
            outcome: Outcome::Cancelled,
            metrics: Vec::new(),
            best_epoch: 1,
            best_score: 0.5,
        })));
        assert!(!s.training.running);
        assert_eq!(s.training.ended.as_deref(), Some("stopped; best epoch 1"));
        s.apply(Event::TrainingEnded(Err("diverged".into())));
        assert_eq!(s.errors, vec!["training: diverged"]);
    }
}
