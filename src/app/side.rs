//! The window's frame: menu bar, status bar, help, and the cases panel (report, zero-shot
//! probabilities, similar cases, text query).

use std::path::Path;

use eframe::egui::{self, Color32};

use super::library::first_line;
use super::settings::Settings;
use super::state::AppState;
use super::view::ViewState;
use super::{FolderKind, Intent};
use crate::config::{Label, Split};
use crate::train::run::SHIPPED_RUNS;
use crate::worker::{Command, RankedStudy, RunInfo, Thumbnail};

/// Colour of a class in plots and lists.
pub fn label_colour(label: Label) -> Color32 {
    match label {
        Label::Infarct => Color32::from_rgb(230, 85, 13),
        Label::Tumor => Color32::from_rgb(49, 130, 189),
        Label::Hemorrhage => Color32::from_rgb(214, 39, 40),
        Label::Normal => Color32::from_rgb(116, 196, 118),
        Label::Other => Color32::from_rgb(158, 154, 200),
    }
}

/// The menu bar.
pub fn top_bar_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    settings: &mut Settings,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    egui::Panel::top("menu").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open folder...").clicked() {
                    intents.push(Intent::PickFolder(FolderKind::Any));
                }
                ui.menu_button("Recent cohorts", |ui| {
                    for dir in &settings.recent_cohorts {
                        if ui.button(dir.display().to_string()).clicked() {
                            intents.push(Intent::Send(Command::OpenCohort(dir.clone())));
                        }
                    }
                });
                ui.menu_button("Models", |ui| {
                    models_menu_ui(ui, settings, intents);
                });
                if ui.button("Export window as PNG").clicked() {
                    intents.push(Intent::Screenshot("window".into()));
                }
            });
            if ui.button("Help").clicked() {
                view.show_help = !view.show_help;
            }
            ui.separator();
            match &state.run {
                Some(run) if run.indexed > 0 => ui
                    .label(format!(
                        "run {} - {} studies indexed - {}",
                        run.dir.display(),
                        run.indexed,
                        seen_summary(run)
                    ))
                    .on_hover_text(SEEN_HELP),
                Some(run) => ui.label(format!("run {}", run.dir.display())),
                None => ui.label("no trained run open"),
            };
        });
    });
}

/// What "trained on" and "selected on" mean, on hover.
pub const SEEN_HELP: &str = "Marked studies were in the open run's training set (\"trained \
    on\") or in the validation set that chose its kept epoch (\"selected on\"), found by their \
    images (training_set.json in the run folder): their similar cases may be memorised pairs, \
    not what the model does with a new study.";

/// The status bar's word on what the open run saw of the cohort.
fn seen_summary(run: &RunInfo) -> String {
    let Some(seen) = &run.seen else {
        return match run.record_problem {
            Some(_) => "training-set record unreadable".into(),
            None => "training set not recorded".into(),
        };
    };
    let trained = seen.values().filter(|u| **u == Split::Train).count();
    match seen.len() {
        0 => "none of them seen by the run".into(),
        n => format!(
            "{n} seen by the run ({trained} trained on, {} selected on)",
            n - trained
        ),
    }
}

/// The shipped runs, then the recently opened ones; a click opens the run.
fn models_menu_ui(ui: &mut egui::Ui, settings: &Settings, intents: &mut Vec<Intent>) {
    for (dir, what) in SHIPPED_RUNS {
        if ui.button(dir).on_hover_text(what).clicked() {
            intents.push(Intent::Send(Command::OpenRun(dir.into())));
        }
    }
    let recent: Vec<_> = settings
        .recent_runs
        .iter()
        .filter(|d| {
            !SHIPPED_RUNS
                .iter()
                .any(|(s, _)| d.as_path() == Path::new(s))
        })
        .collect();
    if !recent.is_empty() {
        ui.separator();
        for dir in recent {
            if ui.button(dir.display().to_string()).clicked() {
                intents.push(Intent::Send(Command::OpenRun(dir.clone())));
            }
        }
    }
}

/// The status bar: device, what the worker does (with a progress bar), the last error.
pub fn status_bar_ui(ui: &mut egui::Ui, state: &AppState) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            let device = state.run.as_ref().map_or("-", |r| r.device.as_str());
            ui.label(format!("device: {device}"));
            ui.separator();
            if state.worker_gone {
                ui.colored_label(Color32::RED, "the worker has stopped; restart the viewer");
            } else if let Some(b) = &state.busy {
                if b.total > 0 {
                    let f = b.done as f32 / b.total as f32;
                    ui.add(
                        egui::ProgressBar::new(f)
                            .desired_width(220.0)
                            .text(format!("{} {}/{}", b.task, b.done, b.total)),
                    );
                } else {
                    ui.spinner();
                    ui.label(&b.task);
                }
            } else {
                ui.label("ready");
            }
            if let Some(e) = state.errors.last() {
                ui.separator();
                ui.colored_label(Color32::from_rgb(255, 120, 100), e);
            }
        });
    });
}

/// The help window with the shortcuts.
pub fn help_window(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Help").open(open).show(ctx, |ui| {
        egui::Grid::new("keys").show(ui, |ui| {
            for (k, what) in [
                (
                    "Up / Down, mouse wheel",
                    "next / previous slice (all sequences together)",
                ),
                ("Ctrl + wheel", "zoom"),
                ("left drag", "pan"),
                ("right drag", "window (horizontal) and level (vertical)"),
                ("click", "place the crosshair (linked across views)"),
                ("N / B", "next / previous similar case in compare mode"),
                ("C", "toggle compare mode"),
                ("F1", "this help"),
            ] {
                ui.label(k);
                ui.label(what);
                ui.end_row();
            }
        });
        ui.label("Drop a cohort, run or study folder on the window to open it.");
    });
}

/// A thumbnail as a texture, cached by study id.
fn thumbnail_texture(
    ui: &egui::Ui,
    view: &mut ViewState,
    id: &str,
    t: &Thumbnail,
) -> egui::TextureHandle {
    view.thumbs
        .entry(id.to_string())
        .or_insert_with(|| {
            let pixels = t
                .pixels
                .iter()
                .map(|v| {
                    let g = (v * 255.0).round() as u8;
                    Color32::from_gray(g)
                })
                .collect();
            let image = egui::ColorImage::new([t.width, t.height], pixels);
            ui.ctx()
                .load_texture(format!("thumb-{id}"), image, egui::TextureOptions::LINEAR)
        })
        .clone()
}

/// One ranked study: thumbnail, score, label, first report line; buttons to open or compare.
/// `similar_list`: the row belongs to the similar cases (whose order N/B follow).
fn ranked_row_ui(
    ui: &mut egui::Ui,
    view: &mut ViewState,
    rank: usize,
    h: &RankedStudy,
    seen: Option<&'static str>,
    similar_list: bool,
    intents: &mut Vec<Intent>,
) {
    ui.horizontal(|ui| {
        if let Some(t) = &h.thumbnail {
            let tex = thumbnail_texture(ui, view, &h.study_id, t);
            ui.image((tex.id(), egui::vec2(56.0, 56.0)));
        }
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.label(format!("{rank}. {}", h.study_id));
                ui.colored_label(label_colour(h.label), h.label.as_str());
                ui.label(format!("{:.3}", h.score));
                if let Some(how) = seen {
                    ui.small(egui::RichText::new(how).weak())
                        .on_hover_text(SEEN_HELP);
                }
            });
            ui.small(first_line(&h.report, 60));
            ui.horizontal(|ui| {
                if ui.small_button("Open").clicked() {
                    intents.push(Intent::OpenStudy(h.study_id.clone()));
                }
                if ui.small_button("Side by side").clicked() {
                    if similar_list {
                        view.match_index = rank - 1;
                    }
                    intents.push(Intent::Compare(h.study_id.clone()));
                }
            });
        });
    });
}

/// The cases panel.
pub fn cases_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    settings: &mut Settings,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        if let Some(p) = &state.primary {
            egui::CollapsingHeader::new("Report")
                .default_open(true)
                .show(ui, |ui| {
                    ui.label(&p.report);
                    if ui.small_button("Copy report").clicked() {
                        ui.ctx().copy_text(p.report.clone());
                    }
                });
        }
        if let Some((id, probs)) = &state.zero_shot {
            ui.label(format!("Zero-shot class probabilities ({id})"));
            zero_shot_ui(ui, probs);
        }
        ui.separator();
        ui.heading("Text query");
        let r = ui.add(
            egui::TextEdit::singleline(&mut view.query_text)
                .hint_text("e.g. acute infarct in the left MCA territory"),
        );
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Search").clicked() || enter) && !view.query_text.trim().is_empty() {
            intents.push(Intent::Send(Command::TextQuery {
                text: view.query_text.clone(),
                k: settings.k,
            }));
        }
        if let Some((text, hits)) = &state.text_results {
            ui.small(format!("studies ranked for \"{}\"", first_line(text, 40)));
            for (i, h) in hits.iter().enumerate() {
                ranked_row_ui(
                    ui,
                    view,
                    i + 1,
                    h,
                    state.seen_by_run(&h.study_id),
                    false,
                    intents,
                );
            }
        }
        ui.separator();
        ui.heading("Similar cases");
        ui.add(egui::Slider::new(&mut settings.k, 1..=50).text("k"));
        if let Some(p) = &state.primary
            && ui.button("Find similar").clicked()
        {
            intents.push(Intent::Send(view.similar_command(
                &p.study_id,
                Some(p),
                settings,
            )));
        }
        match &state.similar {
            Some((id, hits)) => {
                ui.small(format!("most similar to {id}"));
                for (i, h) in hits.iter().enumerate() {
                    ranked_row_ui(
                        ui,
                        view,
                        i + 1,
                        h,
                        state.seen_by_run(&h.study_id),
                        true,
                        intents,
                    );
                }
            }
            None if state.run.is_none() => {
                ui.label("Open a trained run to rank similar cases.");
            }
            None => {}
        }
    });
}

/// Zero-shot probabilities as a bar chart: one bar per class, the likeliest in bold.
fn zero_shot_ui(ui: &mut egui::Ui, probs: &[f32]) {
    let best = probs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    egui::Grid::new("zero-shot").num_columns(3).show(ui, |ui| {
        for (i, (label, p)) in Label::ALL.iter().zip(probs).enumerate() {
            let name = egui::RichText::new(label.as_str());
            ui.label(if best == Some(i) { name.strong() } else { name });
            let (rect, _) = ui.allocate_exact_size(egui::vec2(150.0, 12.0), egui::Sense::hover());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            let mut bar = rect;
            bar.set_width(rect.width() * p.clamp(0.0, 1.0));
            painter.rect_filled(bar, 2.0, label_colour(*label));
            ui.label(format!("{:.0}%", p * 100.0));
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    use super::*;

    #[test]
    fn the_models_menu_opens_shipped_and_recent_runs_once_each() {
        let mut settings = Settings::default();
        settings.remember_run(PathBuf::from("models/runs/mine"));
        settings.remember_run(PathBuf::from("models/demo"));
        let mut h = Harness::builder().build_ui_state(
            |ui, intents: &mut Vec<Intent>| models_menu_ui(ui, &settings, intents),
            Vec::new(),
        );
        h.run();
        assert_eq!(h.get_all_by_label("models/demo").count(), 1);
        h.get_by_label("models/large").click();
        h.run();
        h.get_by_label("models/runs/mine").click();
        h.run();
        let opened: Vec<PathBuf> = h
            .state()
            .iter()
            .map(|i| match i {
                Intent::Send(Command::OpenRun(dir)) => dir.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            opened,
            [
                PathBuf::from("models/large"),
                PathBuf::from("models/runs/mine")
            ]
        );
    }
}
