//! The training tab: the run's settings, start / stop / resume, a progress bar with epoch,
//! step and ETA, and live curves; also the curves of any finished run folder.

use std::path::PathBuf;

use eframe::egui;

use super::plots::curves_ui;
use super::settings::Settings;
use super::state::AppState;
use super::view::ViewState;
use super::{FolderKind, Intent};
use crate::config::{Positives, TowerPreset};
use crate::io::cohort::folder_name_problem;
use crate::train::spec::TrainSpec;

/// Augmentation choices of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Augmentation {
    /// The configured default (left-right flips).
    #[default]
    Default,
    /// Affine, noise, gamma, intensity and flips.
    Full,
    /// None.
    Off,
}

/// The training form.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    /// Run name (folder under the runs root).
    pub name: String,
    /// Optional JSON configuration to start from.
    pub config_file: String,
    /// Tower preset.
    pub preset: TowerPreset,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// Positives.
    pub positives: Positives,
    /// Augmentation.
    pub augmentation: Augmentation,
    /// When the run started (egui's clock, set by the app as it sends the run), for the ETA.
    pub started_secs: Option<f64>,
}

impl Default for TrainForm {
    fn default() -> Self {
        let d = crate::config::TrainConfig::default();
        Self {
            name: "gui-run".into(),
            config_file: String::new(),
            preset: TowerPreset::Unet,
            epochs: d.epochs,
            batch_size: d.batch_size,
            lr: d.optim.lr,
            positives: d.positives,
            augmentation: Augmentation::Default,
            started_secs: None,
        }
    }
}

impl TrainForm {
    /// The run's settings. With a config file only the epochs and the augmentation choice
    /// of the form apply (the file's preset, batch size, learning rate and positives stay).
    pub fn spec(&self) -> TrainSpec {
        let file =
            (!self.config_file.trim().is_empty()).then(|| PathBuf::from(self.config_file.trim()));
        if file.is_some() {
            return TrainSpec {
                config_file: file,
                epochs: Some(self.epochs),
                no_augment: self.augmentation == Augmentation::Off,
                full_augment: self.augmentation == Augmentation::Full,
                ..TrainSpec::default()
            };
        }
        TrainSpec {
            config_file: None,
            preset: Some(self.preset),
            epochs: Some(self.epochs),
            batch_size: Some(self.batch_size),
            lr: Some(self.lr),
            positives: Some(self.positives),
            no_augment: self.augmentation == Augmentation::Off,
            full_augment: self.augmentation == Augmentation::Full,
            ..TrainSpec::default()
        }
    }
}

/// Seconds left, from the elapsed time and the fraction done.
pub fn eta_secs(elapsed: f64, fraction: f64) -> Option<f64> {
    (fraction > 0.01).then(|| elapsed * (1.0 - fraction) / fraction)
}

/// Why `name` cannot name a run folder under the runs folder, if it cannot: it must be one
/// plain folder name, so that a run never lands outside the runs folder or on top of it.
pub fn run_name_problem(name: &str) -> Option<String> {
    folder_name_problem(name.trim()).map(|p| format!("the run name {p}"))
}

/// Draws the training tab.
pub fn training_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    settings: &mut Settings,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    let t = &state.training;
    let f = &mut view.train_form;
    ui.add_enabled_ui(!t.running, |ui| {
        egui::Grid::new("train-form").num_columns(2).show(ui, |ui| {
            ui.label("Run name");
            ui.text_edit_singleline(&mut f.name);
            ui.end_row();
            ui.label("Config file (optional; then only epochs and augmentation apply)");
            ui.text_edit_singleline(&mut f.config_file);
            ui.end_row();
            ui.label("Preset");
            egui::ComboBox::from_id_salt("preset")
                .selected_text(f.preset.as_str())
                .show_ui(ui, |ui| {
                    for p in TowerPreset::ALL {
                        ui.selectable_value(&mut f.preset, p, p.as_str());
                    }
                });
            ui.end_row();
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut f.epochs).range(1..=1000));
            ui.end_row();
            ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut f.batch_size).range(2..=256));
            ui.end_row();
            ui.label("Learning rate");
            ui.add(
                egui::DragValue::new(&mut f.lr)
                    .range(1e-6..=1.0)
                    .speed(1e-4),
            );
            ui.end_row();
            ui.label("Positives");
            egui::ComboBox::from_id_salt("positives")
                .selected_text(format!("{:?}", f.positives).to_lowercase())
                .show_ui(ui, |ui| {
                    for p in [Positives::Pair, Positives::Identical, Positives::Label] {
                        ui.selectable_value(&mut f.positives, p, format!("{p:?}").to_lowercase());
                    }
                });
            ui.end_row();
            ui.label("Augmentation");
            ui.horizontal(|ui| {
                ui.selectable_value(&mut f.augmentation, Augmentation::Default, "flips");
                ui.selectable_value(&mut f.augmentation, Augmentation::Full, "full");
                ui.selectable_value(&mut f.augmentation, Augmentation::Off, "off");
            });
            ui.end_row();
        });
    });
    let out = settings.runs_root.join(f.name.trim());
    let name_problem = run_name_problem(&f.name);
    let now = ui.input(|i| i.time);
    ui.horizontal(|ui| {
        let can_start = !t.running && state.cohort.is_some() && name_problem.is_none();
        if ui
            .add_enabled(can_start, egui::Button::new("Start training"))
            .clicked()
        {
            f.started_secs = Some(now);
            intents.push(Intent::StartTraining {
                out: out.clone(),
                resume: false,
            });
        }
        if ui
            .add_enabled(can_start, egui::Button::new("Resume"))
            .clicked()
        {
            f.started_secs = Some(now);
            intents.push(Intent::StartTraining {
                out: out.clone(),
                resume: true,
            });
        }
        if ui
            .add_enabled(t.running, egui::Button::new("Stop training"))
            .clicked()
        {
            intents.push(Intent::StopTraining);
        }
        if ui.button("Show curves of a run folder...").clicked() {
            intents.push(Intent::PickFolder(FolderKind::Curves));
        }
        match &name_problem {
            Some(problem) => ui.label(problem),
            None => ui.label(format!("-> {}", out.display())),
        };
    });
    if t.running {
        let frac = t.fraction();
        let eta = f
            .started_secs
            .and_then(|s| eta_secs(now - s, frac))
            .map_or(String::new(), |e| format!(", ETA {:.0} s", e));
        let text = match &t.preparing {
            Some(p) => format!("{p}..."),
            None => format!(
                "epoch {}/{}, step {}/{}{eta}",
                t.epoch, t.epochs, t.step, t.steps
            ),
        };
        ui.add(egui::ProgressBar::new(frac as f32).text(text));
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
    } else if let Some(ended) = &t.ended {
        ui.label(format!("last run: {ended}"));
    }
    if t.running || !t.metrics.is_empty() || !t.step_losses.is_empty() {
        curves_ui(ui, "live", &t.metrics, &t.step_losses);
    } else if let Some((run, metrics)) = &state.curves {
        ui.label(format!("curves of {}", run.display()));
        curves_ui(ui, "run", metrics, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_name_is_one_plain_folder_name() {
        for ok in ["demo-2", " run a ", "r.1"] {
            assert_eq!(run_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "  ", ".", "..", "../demo", "a/b", "/abs", "a\\b"] {
            assert!(run_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn form_to_spec_and_eta() {
        let mut f = TrainForm {
            augmentation: Augmentation::Off,
            epochs: 3,
            ..TrainForm::default()
        };
        let s = f.spec();
        assert!(s.no_augment && !s.full_augment);
        assert_eq!(s.epochs, Some(3));
        assert!(s.config_file.is_none());
        f.config_file = " a.json ".into();
        let s = f.spec();
        assert_eq!(s.config_file, Some(PathBuf::from("a.json")));
        assert_eq!(
            (s.preset, s.lr, s.batch_size),
            (None, None, None),
            "the file's own"
        );
        assert_eq!(s.epochs, Some(3));
        assert_eq!(eta_secs(10.0, 0.25), Some(30.0));
        assert_eq!(eta_secs(10.0, 0.0), None);
    }
}
