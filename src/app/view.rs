//! UI-only state (slice, camera, windows, filters, forms), keyboard shortcuts and the study
//! viewer tab: the open study's DWI, T2* and FLAIR side by side, scrolled together.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui;

use super::settings::{Settings, WindowPreset};
use super::slices::{Camera, SliceInput, SliceRequest, SliceTextures, slice_ui};
use super::state::AppState;
use super::training::TrainForm;
use super::{FolderKind, Intent};
use crate::config::{Label, Sequence, Split};
use crate::worker::{Command, Event, LoadedStudy, Slot};

/// Filters of the study library.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LibraryFilter {
    /// Only this label.
    pub label: Option<Label>,
    /// Only this split.
    pub split: Option<Split>,
    /// Report text must contain this (case-insensitive).
    pub search: String,
}

/// UI state that is not persisted.
#[derive(Default)]
pub struct ViewState {
    /// Slice index of the open study (T2* slices).
    pub slice: usize,
    /// Zoom, pan and crosshair, shared by all views.
    pub camera: Camera,
    /// Window overrides per view and sequence (automatic otherwise).
    pub windows: HashMap<(Slot, usize), (f32, f32)>,
    /// Hover read-out.
    pub hover: Option<String>,
    /// Library filters.
    pub library: LibraryFilter,
    /// The cohort's studies that pass `library` (indices), and the filters they were
    /// found with; found again when the filters change or a cohort opens.
    pub library_rows: Option<(LibraryFilter, Vec<usize>)>,
    /// The free-text query.
    pub query_text: String,
    /// Split of the similarity matrix (all when `None`).
    pub matrix_split: Option<Split>,
    /// Help window open.
    pub show_help: bool,
    /// Show the "why similar" overlay.
    pub overlay: bool,
    /// Index of the match shown in compare mode among the similar cases.
    pub match_index: usize,
    /// The training form.
    pub train_form: TrainForm,
    /// Slice to show when the next study opens (else the middle one).
    pub start_slice: Option<usize>,
    /// The last exported file, in words.
    pub exported: Option<String>,
    /// The similarity matrix texture and what it shows.
    pub matrix_texture: Option<(String, egui::TextureHandle)>,
    /// Thumbnail textures of ranked studies, by study id.
    pub thumbs: HashMap<String, egui::TextureHandle>,
}

impl ViewState {
    /// Adjusts UI state to an event before the app state folds it.
    pub fn on_event(&mut self, event: &Event, _settings: &Settings) {
        match event {
            Event::StudyLoaded { slot, study } => {
                self.windows.retain(|(s, _), _| s != slot);
                if *slot == Slot::Primary {
                    let n = study.frame.slices_z_mm.len();
                    self.slice = self
                        .start_slice
                        .take()
                        .map_or(n / 2, |s| s.min(n.saturating_sub(1)));
                    self.camera = Camera::default();
                }
            }
            Event::Similar { .. } => {
                self.thumbs.clear();
                self.match_index = 0;
            }
            Event::TextResults { .. } => self.thumbs.clear(),
            Event::CohortOpened(_) => {
                self.thumbs.clear();
                self.library_rows = None;
            }
            Event::Matrix(_) => self.matrix_texture = None,
            Event::Exported(path) => self.exported = Some(format!("saved {}", path.display())),
            _ => {}
        }
    }

    /// World height of the open study's current slice.
    pub fn z_mm(&self, study: &LoadedStudy) -> f64 {
        let z = &study.frame.slices_z_mm;
        z.get(self.slice.min(z.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    }

    /// The window of a view's sequence.
    pub fn window(&self, slot: Slot, seq: usize, study: &LoadedStudy) -> (f32, f32) {
        self.windows
            .get(&(slot, seq))
            .copied()
            .unwrap_or(study.auto_windows[seq])
    }

    /// The similar-cases command for a study; thumbnails at the current slice's relative
    /// height in the head when `study` is the open one, else mid-head.
    pub fn similar_command(
        &self,
        study_id: &str,
        study: Option<&LoadedStudy>,
        settings: &Settings,
    ) -> Command {
        let slice_fraction = study.filter(|s| s.study_id == study_id).map_or(0.5, |s| {
            let n = s.frame.slices_z_mm.len().max(2);
            (self.slice as f32 / (n - 1) as f32).clamp(0.0, 1.0)
        });
        Command::Similar {
            study_id: study_id.to_string(),
            k: settings.k,
            slice_fraction,
            radiological: settings.radiological,
        }
    }

    /// Applies a right-drag to a view's window (to all three sequences when locked).
    fn drag_window(
        &mut self,
        slot: Slot,
        seq: usize,
        study: &LoadedStudy,
        drag: (f32, f32),
        lock: bool,
    ) {
        let seqs: Vec<usize> = if lock { vec![0, 1, 2] } else { vec![seq] };
        for s in seqs {
            let (lo, hi) = self.window(slot, s, study);
            let width = (hi - lo).max(1e-6);
            let centre = (lo + hi) / 2.0 + drag.1 * width;
            let new_width = (width * drag.0).max(1e-6);
            self.windows.insert(
                (slot, s),
                (centre - new_width / 2.0, centre + new_width / 2.0),
            );
        }
    }

    /// Applies a preset (relative to the automatic windows) to every sequence of a view.
    fn apply_preset(&mut self, slot: Slot, study: &LoadedStudy, preset: &WindowPreset) {
        for s in 0..3 {
            let (lo, hi) = study.auto_windows[s];
            let width = hi - lo;
            let centre = (lo + hi) / 2.0 + preset.shift * width;
            let w = width * preset.width;
            self.windows
                .insert((slot, s), (centre - w / 2.0, centre + w / 2.0));
        }
    }

    /// Scrolls the open study by `delta` slices.
    pub fn scroll(&mut self, state: &AppState, delta: i32) {
        if let Some(p) = &state.primary {
            let n = p.frame.slices_z_mm.len();
            self.slice = (self.slice as i64 + i64::from(delta)).clamp(0, n.saturating_sub(1) as i64)
                as usize;
        }
    }
}

/// Keyboard shortcuts (ignored while a text field has focus).
pub fn keyboard(
    ctx: &egui::Context,
    state: &AppState,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let keys = ctx.input(|i| {
        [
            egui::Key::ArrowUp,
            egui::Key::ArrowDown,
            egui::Key::N,
            egui::Key::B,
            egui::Key::C,
            egui::Key::F1,
        ]
        .map(|k| i.key_pressed(k))
    });
    let [up, down, next, prev, compare, help] = keys;
    if up {
        view.scroll(state, 1);
    }
    if down {
        view.scroll(state, -1);
    }
    if next || prev {
        step_match(state, view, intents, next);
    }
    if compare {
        // With no match loaded yet, C loads the current one (which opens compare mode);
        // otherwise it switches between the viewer and compare mode.
        let pending = if state.compare.is_none() {
            state
                .similar
                .as_ref()
                .and_then(|(_, hits)| hits.get(view.match_index))
                .map(|h| h.study_id.clone())
        } else {
            None
        };
        match pending {
            Some(id) => intents.push(Intent::Compare(id)),
            None => intents.push(Intent::ToggleCompare),
        }
    }
    if help {
        view.show_help = !view.show_help;
    }
}

/// Shows the next (or previous) similar case beside the open study.
pub fn step_match(
    state: &AppState,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
    forward: bool,
) {
    if let Some((_, hits)) = &state.similar
        && !hits.is_empty()
    {
        let n = hits.len();
        view.match_index = if forward {
            (view.match_index + 1) % n
        } else {
            (view.match_index + n - 1) % n
        };
        intents.push(Intent::Compare(hits[view.match_index].study_id.clone()));
    }
}

/// Slice slider, convention and window controls for the open study.
pub fn controls_ui(
    ui: &mut egui::Ui,
    study: &LoadedStudy,
    settings: &mut Settings,
    view: &mut ViewState,
    slot: Slot,
) {
    let n = study.frame.slices_z_mm.len().max(1);
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut view.slice, 0..=n - 1).text("Slice"));
        ui.label(format!("z {:.1} mm", view.z_mm(study)));
        ui.checkbox(&mut settings.radiological, "Radiological");
        ui.checkbox(&mut settings.lock_windows, "Lock W/L");
        if ui.button("Auto W/L").clicked() {
            view.windows.retain(|(s, _), _| *s != slot);
        }
        for preset in settings.window_presets.clone() {
            if ui.button(&preset.name).clicked() {
                view.apply_preset(slot, study, &preset);
            }
        }
        if ui.button("Reset zoom").clicked() {
            view.camera.zoom = 1.0;
            view.camera.pan = egui::Vec2::ZERO;
        }
    });
}

/// Draws the three sequences of a study in a row at `z_mm` and applies the input.
#[allow(clippy::too_many_arguments)]
pub fn sequences_row_ui(
    ui: &mut egui::Ui,
    study: &Arc<LoadedStudy>,
    slot: Slot,
    z_mm: f64,
    settings: &Settings,
    view: &mut ViewState,
    textures: &mut SliceTextures,
    overlay: Option<(&Arc<crate::worker::Explanation>, f32)>,
    height: f32,
) -> SliceInput {
    let mut total = SliceInput::default();
    let side = ((ui.available_width() - 16.0) / 3.0).min(height).max(64.0);
    ui.horizontal(|ui| {
        for seq in Sequence::ALL {
            let c = seq.channel();
            ui.vertical(|ui| {
                ui.label(seq.display_name());
                let r = SliceRequest {
                    slot,
                    study,
                    seq: c,
                    z_mm,
                    window: view.window(slot, c, study),
                    radiological: settings.radiological,
                    overlay,
                };
                let label = match slot {
                    Slot::Primary => format!("{} slice", seq.display_name()),
                    Slot::Compare => format!("{} slice of the match", seq.display_name()),
                };
                let input = slice_ui(
                    ui,
                    textures,
                    &r,
                    &mut view.camera,
                    egui::vec2(side, side),
                    &label,
                );
                if let Some(d) = input.window_drag {
                    view.drag_window(slot, c, study, d, settings.lock_windows);
                }
                total.scroll += input.scroll;
                if input.hover.is_some() {
                    total.hover = input.hover;
                }
            });
        }
    });
    total
}

/// The viewer tab.
pub fn viewer_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    settings: &mut Settings,
    view: &mut ViewState,
    textures: &mut SliceTextures,
    intents: &mut Vec<Intent>,
) {
    let Some(study) = state.primary.clone() else {
        ui.label("Select a study in the library, or open a folder (File > Open, or drop it here).");
        if ui.button("Open folder...").clicked() {
            intents.push(Intent::PickFolder(FolderKind::Any));
        }
        return;
    };
    ui.heading(format!(
        "{}  {}",
        study.study_id,
        study.label.map_or("", Label::as_str)
    ));
    controls_ui(ui, &study, settings, view, Slot::Primary);
    let overlay = overlay_for(state, view, settings, &study.study_id);
    let z = view.z_mm(&study);
    let height = ui.available_height() - 60.0;
    let input = sequences_row_ui(
        ui,
        &study,
        Slot::Primary,
        z,
        settings,
        view,
        textures,
        overlay,
        height,
    );
    if input.scroll != 0 {
        view.scroll(state, input.scroll);
    }
    view.hover = input.hover.or(view.hover.take());
    ui.horizontal(|ui| {
        ui.label(view.hover.as_deref().unwrap_or(""));
        if ui.button("Export view").clicked() {
            intents.push(Intent::Screenshot(format!("view-{}", study.study_id)));
        }
        if let Some(msg) = &view.exported {
            ui.label(msg);
        }
    });
}

/// The explanation overlay for `study_id` when one exists and is switched on.
pub fn overlay_for<'a>(
    state: &'a AppState,
    view: &ViewState,
    settings: &Settings,
    study_id: &str,
) -> Option<(&'a Arc<crate::worker::Explanation>, f32)> {
    let e = state.explanation.as_ref()?;
    let pair_shown = state
        .compare
        .as_ref()
        .is_some_and(|c| c.study_id == e.other);
    (view.overlay && pair_shown && e.query == study_id).then_some((e, settings.overlay_opacity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::display::DisplayFrame;
    use crate::io::{Affine, Volume};

    fn study() -> LoadedStudy {
        let v = Volume::new([2, 2, 3], vec![1.0; 12], Affine::identity()).unwrap();
        let frame = DisplayFrame::new(&[&v], 0).unwrap();
        LoadedStudy {
            study_id: "s".into(),
            label: None,
            report: "r".into(),
            volumes: [v.clone(), v.clone(), v],
            auto_windows: [(0.0, 100.0), (10.0, 20.0), (0.0, 1.0)],
            frame,
            head_z_mm: (0.0, 2.0),
        }
    }

    #[test]
    fn right_drag_scales_the_width_and_moves_the_centre() {
        let s = study();
        let mut v = ViewState::default();
        v.drag_window(Slot::Primary, 0, &s, (0.5, 0.1), false);
        assert_eq!(v.window(Slot::Primary, 0, &s), (35.0, 85.0));
        assert_eq!(v.window(Slot::Primary, 1, &s), (10.0, 20.0), "unlocked");
        v.drag_window(Slot::Primary, 1, &s, (2.0, 0.0), true);
        assert_eq!(v.window(Slot::Primary, 1, &s), (5.0, 25.0));
        assert_eq!(v.window(Slot::Primary, 2, &s), (-0.5, 1.5), "locked");
        assert_eq!(v.window(Slot::Compare, 2, &s), (0.0, 1.0), "other view");
    }

    #[test]
    fn scrolling_stays_within_the_slices() {
        let mut state = AppState::default();
        let s = study();
        state.primary = Some(std::sync::Arc::new(s));
        let mut v = ViewState::default();
        v.scroll(&state, -5);
        assert_eq!(v.slice, 0);
        v.scroll(&state, 10);
        assert_eq!(v.slice, 2);
        assert_eq!(v.z_mm(state.primary.as_ref().unwrap()), 2.0);
    }

    #[test]
    fn a_new_cohort_drops_the_library_rows() {
        let mut v = ViewState {
            library_rows: Some((LibraryFilter::default(), vec![0, 1])),
            ..ViewState::default()
        };
        let info = crate::worker::CohortInfo {
            root: "c".into(),
            studies: Vec::new(),
        };
        v.on_event(&Event::CohortOpened(info), &Settings::default());
        assert!(v.library_rows.is_none());
    }
}
