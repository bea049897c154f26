//! The viewer driven headless with egui_kittest, by accessible labels: open a cohort and a
//! run, select a study, scroll, rank similar cases, compare, query by text, compute the
//! matrix and the map, start and stop a tiny training run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brainclip::app::{BrainclipApp, Settings, Startup, Tab};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::viewer_fixture::{fixture, worker};

/// A folder dropped on the window.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("a folder".into())
    }
}

fn harness(startup: Startup, settings: Settings) -> Harness<'static, BrainclipApp> {
    let app = BrainclipApp::new(settings, worker(), startup);
    Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_ui_state(
            |ui, app: &mut BrainclipApp| {
                app.drain_events(ui.ctx());
                app.frame_ui(ui);
            },
            app,
        )
}

/// Steps frames until `done` holds; panics on a worker error or after 5 minutes.
fn run_until(h: &mut Harness<'_, BrainclipApp>, what: &str, done: impl Fn(&BrainclipApp) -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(300) {
        h.step();
        let app = h.state();
        if let Some(e) = app.state.errors.first() {
            panic!("while waiting for {what}: {e}");
        }
        if done(app) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn browse_compare_query_and_train_headless() {
    let f = fixture();
    let settings = Settings {
        runs_root: f.root.join("gui-runs"),
        ..Settings::default()
    };
    let startup = Startup {
        demo: None,
        cohort: Some(f.cohort.clone()),
        run: Some(f.run.clone()),
        ..Startup::default()
    };
    let mut h = harness(startup, settings);
    run_until(&mut h, "the cohort and the run", |a| {
        a.state.run.is_some() && a.state.busy.is_none()
    });
    let first = h.state().state.cohort.as_ref().unwrap().studies[0]
        .study_id
        .clone();
    assert_eq!(
        h.state().settings.last_cohort.as_deref(),
        Some(f.cohort.as_path())
    );

    // Select a study in the library.
    h.get_by_label(&first).click();
    run_until(&mut h, "the study and its similar cases", |a| {
        a.state.primary.is_some() && a.state.similar.is_some() && a.state.zero_shot.is_some()
    });
    // The three slices come from the sampler thread a frame or two later.
    run_until(&mut h, "the three slices", |a| a.slices_ready() == 3);
    // Crosshair, read-out, window presets, convention.
    h.get_by_label("FLAIR slice").click();
    h.step();
    assert!(
        h.state().view.camera.crosshair.is_some(),
        "a click places the crosshair"
    );
    h.get_by_label("T2* slice").hover();
    h.step();
    let hover = h.state().view.hover.clone().unwrap_or_default();
    assert!(hover.contains(" mm"), "{hover}");
    h.get_by_label("Wide").click();
    h.step();
    assert_eq!(h.state().view.windows.len(), 3);
    h.get_by_label("Auto W/L").click();
    h.step();
    assert!(h.state().view.windows.is_empty());
    h.get_by_label("Radiological").click();
    h.step();
    assert!(!h.state().settings.radiological);

    let slice = h.state().view.slice;
    h.key_press(egui::Key::ArrowUp);
    h.step();
    assert_eq!(h.state().view.slice, slice + 1, "arrow up scrolls a slice");
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(h.state().view.slice, slice);

    // Similar cases again, with a smaller k, then compare with the first match.
    h.state_mut().settings.k = 3;
    h.get_by_label("Find similar").click();
    run_until(&mut h, "three similar cases", |a| {
        a.state
            .similar
            .as_ref()
            .is_some_and(|(_, hits)| hits.len() == 3)
    });
    let best = h.state().state.similar.as_ref().unwrap().1[0]
        .study_id
        .clone();
    // Matches the run was trained or selected on say so (the fixture's run saw 8 of 10).
    let app = h.state();
    let hits = &app.state.similar.as_ref().unwrap().1;
    let marked = hits
        .iter()
        .filter(|hit| app.state.seen_by_run(&hit.study_id).is_some())
        .count();
    assert!(
        marked > 0,
        "no match of the run's training set among {hits:?}"
    );
    let shown =
        h.get_all_by_label("trained on").count() + h.get_all_by_label("selected on").count();
    assert_eq!(shown, marked);
    h.get_all_by_label("Side by side").next().unwrap().click();
    run_until(&mut h, "compare mode", |a| {
        a.state.compare.as_ref().is_some_and(|c| c.study_id == best)
            && a.settings.tab == Tab::Compare
    });
    h.get_by_label("Next match").click();
    run_until(&mut h, "the next match", |a| {
        a.state.compare.as_ref().is_some_and(|c| c.study_id != best)
    });
    h.key_press(egui::Key::C);
    h.step();
    assert_eq!(
        h.state().settings.tab,
        Tab::Viewer,
        "C toggles compare mode"
    );

    // A study folder dropped on the window opens it.
    let second = h.state().state.cohort.as_ref().unwrap().studies[1]
        .study_id
        .clone();
    h.input_mut()
        .dropped_files
        .push(Arc::new(Dropped(f.cohort.join("studies").join(&second))));
    run_until(&mut h, "the dropped study", |a| {
        a.state
            .primary
            .as_ref()
            .is_some_and(|p| p.study_id == second)
    });

    // Free-text query.
    h.state_mut().view.query_text = "haematoma in the right basal ganglia".into();
    h.get_by_label("Search").click();
    run_until(&mut h, "text results", |a| a.state.text_results.is_some());

    // Similarity matrix and embedding map.
    h.get_by_label("Matrix").click();
    h.step();
    h.get_by_label("Compute matrix").click();
    run_until(&mut h, "the matrix", |a| a.state.matrix.is_some());
    // A click on the centre of the matrix opens a diagonal cell next to the middle (the
    // report and the study of one case) side by side.
    let middle: Vec<String> = {
        let m = h.state().state.matrix.as_ref().unwrap();
        let n = m.ids.len();
        vec![m.ids[n / 2 - 1].clone(), m.ids[n / 2].clone()]
    };
    h.get_by_label("similarity matrix").click();
    run_until(&mut h, "the clicked pair", |a| {
        let id = |s: &Option<Arc<brainclip::worker::LoadedStudy>>| {
            s.as_ref().map(|s| s.study_id.clone())
        };
        let (p, c) = (id(&a.state.primary), id(&a.state.compare));
        a.settings.tab == Tab::Compare && p.is_some() && p == c && middle.contains(&p.unwrap())
    });
    h.get_by_label("Map").click();
    h.step();
    h.get_by_label("Compute embedding map").click();
    run_until(&mut h, "the map", |a| a.state.map.len() == 10);

    // Training: start a long tiny run, see it progress, stop it.
    h.get_by_label("Training").click();
    h.step();
    {
        let form = &mut h.state_mut().view.train_form;
        form.config_file = f.config.display().to_string();
        form.epochs = 200;
        form.name = "kittest".into();
    }
    h.step();
    h.get_by_label("Start training").click();
    run_until(&mut h, "training steps", |a| {
        !a.state.training.step_losses.is_empty()
    });
    assert!(h.state().state.training.running);
    h.get_by_label("Stop training").click();
    run_until(&mut h, "training to stop", |a| !a.state.training.running);
    let ended = h.state().state.training.ended.clone().unwrap();
    assert!(ended.starts_with("stopped"), "{ended}");
    assert!(f.root.join("gui-runs/kittest/config.json").is_file());
}
