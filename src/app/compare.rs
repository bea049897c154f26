//! Compare mode: the open study and a match one above the other, scrolled together in world
//! space (the match shows its slice nearest to the open study's height), both reports
//! beside them, and the "why similar" occlusion overlay.

use eframe::egui;

use super::Intent;
use super::settings::Settings;
use super::slices::SliceTextures;
use super::state::AppState;
use super::view::{ViewState, controls_ui, overlay_for, sequences_row_ui, step_match};
use crate::config::Label;
use crate::worker::{Command, LoadedStudy, Slot};

fn title(s: &LoadedStudy) -> String {
    format!("{}  {}", s.study_id, s.label.map_or("", Label::as_str))
}

/// The compare tab.
pub fn compare_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    settings: &mut Settings,
    view: &mut ViewState,
    textures: &mut SliceTextures,
    intents: &mut Vec<Intent>,
) {
    let (Some(query), Some(other)) = (state.primary.clone(), state.compare.clone()) else {
        ui.label("Open a study, then press Compare on one of its similar cases (or C).");
        return;
    };
    controls_ui(ui, &query, settings, view, Slot::Primary);
    ui.horizontal(|ui| {
        if ui.button("Previous match").clicked() {
            step_match(state, view, intents, false);
        }
        if ui.button("Next match").clicked() {
            step_match(state, view, intents, true);
        }
        let score = state.similar.as_ref().and_then(|(_, hits)| {
            hits.iter()
                .find(|h| h.study_id == other.study_id)
                .map(|h| h.score)
        });
        if let Some(s) = score {
            ui.label(format!("similarity {s:.3}"));
        }
        if ui.button("Why similar?").clicked() {
            intents.push(Intent::Send(Command::Explain {
                query: query.study_id.clone(),
                other: other.study_id.clone(),
            }));
            view.overlay = true;
        }
        ui.checkbox(&mut view.overlay, "Overlay");
        ui.add(egui::Slider::new(&mut settings.overlay_opacity, 0.0..=1.0).text("Opacity"));
    });
    let z = view.z_mm(&query);
    // Two patients' scanner coordinates do not correspond: the match shows its slice at the
    // same relative height in its own head.
    let z_other = {
        let f = &other.frame;
        let target = other.head_z(query.head_fraction(z));
        f.slices_z_mm
            .get(f.nearest_slice(target))
            .copied()
            .unwrap_or(target)
    };
    let row_height = (ui.available_height() - 90.0) / 2.0;
    let avail = ui.available_width();
    let report_width = (avail * 0.25).clamp(160.0, 360.0);
    let mut scroll = 0;
    for (slot, study, zz) in [(Slot::Primary, &query, z), (Slot::Compare, &other, z_other)] {
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(avail - report_width - 12.0);
                ui.strong(title(study));
                let overlay = overlay_for(state, view, settings, &study.study_id);
                let input = sequences_row_ui(
                    ui,
                    study,
                    slot,
                    zz,
                    settings,
                    view,
                    textures,
                    overlay,
                    row_height - 24.0,
                );
                scroll += input.scroll;
                if input.hover.is_some() {
                    view.hover = input.hover;
                }
            });
            ui.vertical(|ui| {
                ui.set_width(report_width);
                egui::ScrollArea::vertical()
                    .id_salt(format!("report-{slot:?}"))
                    .max_height(row_height)
                    .show(ui, |ui| ui.label(&study.report));
            });
        });
    }
    if scroll != 0 {
        view.scroll(state, scroll);
    }
    ui.label(view.hover.as_deref().unwrap_or(""));
    if let Some(e) = &state.explanation
        && e.query == query.study_id
    {
        ui.small(format!(
            "Overlay: similarity drop when each 4x16x16 block of {} is hidden, vs {} (similarity {:.3}); red = the regions the match depends on.",
            e.query, e.other, e.score
        ));
    }
}
