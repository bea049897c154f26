//! The viewer's worker without the UI: commands in, events out.

use std::path::Path;

use brainclip::config::{Label, Split};
use brainclip::io::fetch::{DEFAULT_MODEL_DIR, is_fetched};
use brainclip::train::CancelToken;
use brainclip::train::provenance::TRAINING_SET_FILE;
use brainclip::train::spec::TrainSpec;
use brainclip::worker::{Command, DemoSetup, Event, Slot};

use crate::viewer_fixture::{copy_run, failure, fixture, until, worker};

#[test]
fn bad_requests_become_readable_failures() {
    let w = worker();
    w.send(Command::LoadStudy {
        slot: Slot::Primary,
        study_id: "s1".into(),
    })
    .unwrap();
    assert!(failure(&w).contains("no cohort is open"));
    w.send(Command::OpenCohort("/nonexistent/cohort".into()))
        .unwrap();
    let m = failure(&w);
    assert!(m.contains("/nonexistent/cohort"), "{m}");
    w.send(Command::OpenCohort(fixture().cohort.clone()))
        .unwrap();
    until(&w, |e| matches!(e, Event::Done));
    w.send(Command::Similar {
        study_id: "x".into(),
        k: 3,
        slice_fraction: 0.5,
        radiological: true,
    })
    .unwrap();
    assert!(failure(&w).contains("no trained run is open"));
    let bogus = fixture().root.join("not-a-study");
    std::fs::create_dir_all(&bogus).unwrap();
    w.send(Command::OpenPath {
        path: bogus.clone(),
        k: 3,
        radiological: true,
    })
    .unwrap();
    let m = failure(&w);
    assert!(m.contains("not-a-study"), "{m}");
    // A damaged record of what the run saw is said, and the run opens without marks.
    let damaged = fixture().root.join("run-with-damaged-record");
    copy_run(&fixture().run, &damaged);
    std::fs::write(damaged.join(TRAINING_SET_FILE), "{\"studies\": [").unwrap();
    w.send(Command::OpenRun(damaged)).unwrap();
    let events = until(&w, |e| matches!(e, Event::RunOpened(_)));
    let Some(Event::RunOpened(run)) = events.last() else {
        unreachable!()
    };
    assert_eq!((run.indexed, run.seen.as_ref()), (10, None));
    let problem = run.record_problem.as_deref().unwrap_or_default();
    assert!(problem.contains(TRAINING_SET_FILE), "{problem}");
    until(&w, |e| matches!(e, Event::Done));
    assert!(w.is_alive());
}

#[test]
fn cohort_run_study_queries_and_explanation() {
    let f = fixture();
    let w = worker();
    w.send(Command::OpenCohort(f.cohort.clone())).unwrap();
    w.send(Command::OpenRun(f.run.clone())).unwrap();
    let events = until(&w, |e| matches!(e, Event::RunOpened(_)));
    let cohort = events
        .iter()
        .find_map(|e| match e {
            Event::CohortOpened(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(cohort.studies.len(), 10);
    let Some(Event::RunOpened(run)) = events.last() else {
        unreachable!()
    };
    assert_eq!(run.indexed, 10);
    assert_eq!(run.device, "cpu");
    assert_eq!(run.metrics.len(), 2);
    // The run's record names the studies it was trained and selected on, and only those.
    let seen = run
        .seen
        .as_ref()
        .expect("the fixture's run records its training set");
    for s in &cohort.studies {
        let want = (s.split != Split::Test).then_some(s.split);
        assert_eq!(seen.get(&s.study_id).copied(), want, "{}", s.study_id);
    }
    assert!(events.iter().any(|e| matches!(e, Event::Progress { .. })));

    let id = cohort.studies[0].study_id.clone();
    w.send(Command::LoadStudy {
        slot: Slot::Primary,
        study_id: id.clone(),
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::ZeroShot { .. }));
    let study = events
        .iter()
        .find_map(|e| match e {
            Event::StudyLoaded { study, .. } => Some(study.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(study.study_id, id);
    assert_eq!(study.label, Some(cohort.studies[0].label));
    assert!(!study.frame.slices_z_mm.is_empty());
    assert!(study.auto_windows.iter().all(|(lo, hi)| hi > lo));
    let Some(Event::ZeroShot { probabilities, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(probabilities.len(), Label::ALL.len());
    assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);

    w.send(Command::Similar {
        study_id: id.clone(),
        k: 3,
        slice_fraction: 0.5,
        radiological: true,
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::Similar { .. }));
    let Some(Event::Similar { study_id, hits }) = events.last() else {
        unreachable!()
    };
    assert_eq!(study_id, &id);
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.study_id != id));
    assert!(hits.windows(2).all(|p| p[0].score >= p[1].score));
    let t = hits[0].thumbnail.as_ref().unwrap();
    assert_eq!((t.width, t.height, t.pixels.len()), (112, 112, 112 * 112));
    assert!(t.pixels.iter().all(|v| (0.0..=1.0).contains(v)));

    w.send(Command::TextQuery {
        text: "acute infarct in the left MCA territory".into(),
        k: 4,
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::TextResults { .. }));
    let Some(Event::TextResults { hits, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(hits.len(), 4);

    w.send(Command::Matrix(None)).unwrap();
    let events = until(&w, |e| matches!(e, Event::Matrix(_)));
    let Some(Event::Matrix(m)) = events.last() else {
        unreachable!()
    };
    assert_eq!((m.ids.len(), m.values.len()), (10, 100));
    let order: Vec<usize> = m
        .labels
        .iter()
        .map(|l| Label::ALL.iter().position(|x| x == l).unwrap())
        .collect();
    assert!(order.windows(2).all(|p| p[0] <= p[1]), "sorted by class");
    assert_eq!((m.side, m.rgb.len()), (10, 300), "one pixel per cell");
    let matrix = m.clone();

    w.send(Command::EmbeddingMap).unwrap();
    let events = until(&w, |e| matches!(e, Event::Map(_)));
    let Some(Event::Map(points)) = events.last() else {
        unreachable!()
    };
    assert_eq!(points.len(), 10);

    let other = cohort.studies[1].study_id.clone();
    w.send(Command::Explain {
        query: id.clone(),
        other: other.clone(),
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::Explained(_)));
    let Some(Event::Explained(x)) = events.last() else {
        unreachable!()
    };
    assert_eq!(
        (x.query.as_str(), x.other.as_str()),
        (id.as_str(), other.as_str())
    );
    assert_eq!(x.heat.dims, [112, 112, 16]);
    let max = x.heat.data.iter().copied().fold(0f32, f32::max);
    assert!(max == 1.0 || max == 0.0, "{max}");
    assert!(x.heat.data.iter().all(|v| (0.0..=1.0).contains(v)));

    // A study folder of the open cohort dropped on the window opens it with similar cases; a
    // file dropped (here the study's report) opens the folder holding it.
    let folder = f.cohort.join("studies").join(&other);
    for path in [folder.clone(), folder.join("report.txt")] {
        w.send(Command::OpenPath {
            path,
            k: 2,
            radiological: true,
        })
        .unwrap();
        let events = until(&w, |e| matches!(e, Event::Similar { .. }));
        assert!(events.iter().any(
            |e| matches!(e, Event::StudyLoaded { slot: Slot::Primary, study } if study.study_id == other)
        ));
    }

    let dir = f.root.join("exports");
    w.send(Command::ExportPng {
        folder: dir.clone(),
        name: "view".into(),
        width: 2,
        height: 1,
        rgba: vec![255, 0, 0, 255, 0, 0, 255, 255],
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::Exported(_)));
    let Some(Event::Exported(path)) = events.last() else {
        unreachable!()
    };
    let img = image::open(path).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (2, 1));
    assert_eq!(img.get_pixel(1, 0).0, [0, 0, 255, 255]);

    w.send(Command::ExportMatrix {
        folder: dir.clone(),
        matrix: matrix.clone(),
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::Exported(_)));
    let Some(Event::Exported(path)) = events.last() else {
        unreachable!()
    };
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (10, 10));
    assert_eq!(img.as_raw(), &matrix.rgb, "the matrix as drawn");
}

#[test]
fn training_streams_progress_and_stops_on_cancel() {
    let f = fixture();
    let w = worker();
    w.send(Command::OpenCohort(f.cohort.clone())).unwrap();
    until(&w, |e| matches!(e, Event::CohortOpened(_)));
    let cancel = CancelToken::new();
    let out = f.root.join("worker-train");
    w.send(Command::Train {
        out: out.clone(),
        spec: TrainSpec {
            config_file: Some(f.config.clone()),
            epochs: Some(200),
            ..TrainSpec::default()
        },
        resume: false,
        cancel: cancel.clone(),
    })
    .unwrap();
    until(&w, |e| {
        matches!(
            e,
            Event::Training(brainclip::train::TrainEvent::Step { .. })
        )
    });
    // The worker keeps answering while the run trains on its own thread.
    w.send(Command::ReadMetrics(f.run.clone())).unwrap();
    let events = until(&w, |e| matches!(e, Event::Metrics { .. }));
    assert!(matches!(events.last(), Some(Event::Metrics { metrics, .. }) if metrics.len() == 2));
    assert!(
        !events.iter().any(|e| matches!(e, Event::TrainingEnded(_))),
        "still training"
    );
    // A second run is refused while one is in progress.
    w.send(Command::Train {
        out: f.root.join("worker-train-2"),
        spec: TrainSpec::default(),
        resume: false,
        cancel: CancelToken::new(),
    })
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::TrainingEnded(Err(_))));
    let Some(Event::TrainingEnded(Err(m))) = events.last() else {
        unreachable!()
    };
    assert!(m.contains("already in progress"), "{m}");
    cancel.cancel();
    let events = until(&w, |e| matches!(e, Event::TrainingEnded(_)));
    let Some(Event::TrainingEnded(Ok(summary))) = events.last() else {
        panic!("{:?}", events.last())
    };
    assert_eq!(summary.outcome, brainclip::train::Outcome::Cancelled);
    assert!(out.join("config.json").is_file());
}

#[test]
fn first_launch_generates_the_demo_cohort_then_opens_it_and_the_run() {
    // The fetch is the one network step; this test only runs where the encoder is present
    // (CI fetches it first), so that it never downloads.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR);
    if !is_fetched(&model) {
        eprintln!("note: skipping the first-launch test: no verified text encoder in {model:?}");
        return;
    }
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let cohort = dir.path().join("demo");
    let w = worker();
    w.send(Command::PrepareDemo(DemoSetup {
        cohort: cohort.clone(),
        n: 5,
        seed: 3,
        text_model: model,
        run: f.run.clone(),
    }))
    .unwrap();
    let events = until(&w, |e| matches!(e, Event::RunOpened(_)));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Progress { task, done: 5, total: 5 } if task.contains("generating")
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::CohortOpened(c) if c.studies.len() == 5
    )));
    assert!(cohort.join("cohort.csv").is_file());
}
