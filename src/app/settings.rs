//! UI settings that persist across launches (eframe storage). Every field has a default so
//! that state written by an older version never breaks start-up.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Recent cohorts remembered at most.
const MAX_RECENT: usize = 8;

/// The central panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tab {
    /// The open study's three sequences.
    #[default]
    Viewer,
    /// Query and match side by side.
    Compare,
    /// Similarity matrix.
    Matrix,
    /// Embedding map.
    Map,
    /// Training form, progress and curves.
    Training,
}

impl Tab {
    /// All tabs in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Viewer,
        Tab::Compare,
        Tab::Matrix,
        Tab::Map,
        Tab::Training,
    ];

    /// Name on the tab bar.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Viewer => "Viewer",
            Tab::Compare => "Compare",
            Tab::Matrix => "Matrix",
            Tab::Map => "Map",
            Tab::Training => "Training",
        }
    }
}

/// A named display window as fractions of the automatic window's width around its centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPreset {
    /// Name in the menu.
    pub name: String,
    /// Window width relative to the automatic window.
    pub width: f32,
    /// Centre shift relative to the automatic window's width.
    pub shift: f32,
}

/// Persisted settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The cohort opened last.
    pub last_cohort: Option<PathBuf>,
    /// The run opened last.
    pub last_run: Option<PathBuf>,
    /// Recently opened cohorts, newest first.
    pub recent_cohorts: Vec<PathBuf>,
    /// Recently opened runs, newest first.
    pub recent_runs: Vec<PathBuf>,
    /// Radiological convention (patient's right on the image's left).
    pub radiological: bool,
    /// Window/level changes apply to all three sequences.
    pub lock_windows: bool,
    /// Similar cases shown.
    pub k: usize,
    /// The selected tab.
    pub tab: Tab,
    /// Opacity of the "why similar" overlay, 0-1.
    pub overlay_opacity: f32,
    /// Window presets.
    pub window_presets: Vec<WindowPreset>,
    /// Folder new training runs go to.
    pub runs_root: PathBuf,
    /// Folder exported PNG images go to.
    pub export_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            last_cohort: None,
            last_run: None,
            recent_cohorts: Vec::new(),
            recent_runs: Vec::new(),
            radiological: true,
            lock_windows: false,
            k: 10,
            tab: Tab::Viewer,
            overlay_opacity: 0.5,
            window_presets: vec![
                WindowPreset {
                    name: "Narrow (lesion contrast)".into(),
                    width: 0.5,
                    shift: 0.1,
                },
                WindowPreset {
                    name: "Wide".into(),
                    width: 1.6,
                    shift: 0.0,
                },
            ],
            runs_root: PathBuf::from("models/runs"),
            export_dir: PathBuf::from("exports"),
        }
    }
}

impl Settings {
    /// Remembers a cohort as the last and most recent one.
    pub fn remember_cohort(&mut self, dir: PathBuf) {
        remember(&mut self.recent_cohorts, &dir);
        self.last_cohort = Some(dir);
    }

    /// Remembers a run as the last and most recent one.
    pub fn remember_run(&mut self, dir: PathBuf) {
        remember(&mut self.recent_runs, &dir);
        self.last_run = Some(dir);
    }
}

/// Puts `dir` first in `recent`, once, keeping at most [`MAX_RECENT`].
fn remember(recent: &mut Vec<PathBuf>, dir: &Path) {
    recent.retain(|d| d != dir);
    recent.insert(0, dir.to_path_buf());
    recent.truncate(MAX_RECENT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_or_partial_state_loads_with_defaults() {
        let s: Settings = serde_json::from_str(r#"{"k": 5, "unknown_field": 1}"#).unwrap();
        assert_eq!(s.k, 5);
        assert!(s.radiological);
        assert_eq!(s.tab, Tab::Viewer);
    }

    #[test]
    fn recent_cohorts_and_runs_are_unique_newest_first_and_bounded() {
        let mut s = Settings::default();
        for i in 0..10 {
            s.remember_cohort(PathBuf::from(format!("c{i}")));
        }
        s.remember_cohort(PathBuf::from("c5"));
        assert_eq!(s.recent_cohorts.len(), MAX_RECENT);
        assert_eq!(s.recent_cohorts[0], PathBuf::from("c5"));
        assert_eq!(
            s.recent_cohorts
                .iter()
                .filter(|p| p.as_path() == Path::new("c5"))
                .count(),
            1
        );
        s.remember_run(PathBuf::from("models/demo"));
        s.remember_run(PathBuf::from("models/large"));
        s.remember_run(PathBuf::from("models/demo"));
        assert_eq!(
            s.recent_runs,
            [PathBuf::from("models/demo"), PathBuf::from("models/large")]
        );
        assert_eq!(s.last_run.as_deref(), Some(Path::new("models/demo")));
        assert_eq!(s.recent_cohorts[0], PathBuf::from("c5"), "runs apart");
    }
}
