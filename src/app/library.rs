//! The study library: the cohort's studies with label, split and the report's first line,
//! filtered by label and split and searched by report text.

use eframe::egui;

use super::Intent;
use super::state::AppState;
use super::view::{LibraryFilter, ViewState};
use crate::config::{Label, Split};
use crate::worker::StudyRow;

/// The first line of a report that says something (section headings such as
/// "IMPRESSION:" are skipped), at most `chars` characters.
pub fn first_line(report: &str, chars: usize) -> String {
    let line = report
        .lines()
        .find(|l| {
            let t = l.trim();
            let heading = t.ends_with(':') && t.split_whitespace().count() <= 3;
            !t.is_empty() && !heading
        })
        .or_else(|| report.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("");
    let mut out: String = line.trim().chars().take(chars).collect();
    if line.trim().chars().count() > chars {
        out.push_str("...");
    }
    out
}

/// Whether a study passes the filters (`search` is the search text, trimmed and in lower
/// case).
fn matches(row: &StudyRow, f: &LibraryFilter, search: &str) -> bool {
    f.label.is_none_or(|l| row.label == l)
        && f.split.is_none_or(|s| row.split == s)
        && (search.is_empty()
            || row.report.to_lowercase().contains(search)
            || row.study_id.to_lowercase().contains(search))
}

/// Indices of the studies that pass the filters.
pub fn filter_rows(studies: &[StudyRow], f: &LibraryFilter) -> Vec<usize> {
    let search = f.search.trim().to_lowercase();
    (0..studies.len())
        .filter(|&i| matches(&studies[i], f, &search))
        .collect()
}

/// Draws the library panel.
pub fn library_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    ui.heading("Studies");
    let Some(cohort) = &state.cohort else {
        ui.label("No cohort open.");
        return;
    };
    ui.label(cohort.root.display().to_string());
    let f = &mut view.library;
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Label")
            .width(90.0)
            .selected_text(f.label.map_or("all", Label::as_str))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.label, None, "all");
                for l in Label::ALL {
                    ui.selectable_value(&mut f.label, Some(l), l.as_str());
                }
            });
    });
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Split")
            .width(90.0)
            .selected_text(f.split.map_or("all", Split::as_str))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.split, None, "all");
                for s in Split::ALL {
                    ui.selectable_value(&mut f.split, Some(s), s.as_str());
                }
            });
    });
    ui.add(egui::TextEdit::singleline(&mut f.search).hint_text("search reports"));
    // Lower-casing thousands of reports is kept for when the filters change.
    if view.library_rows.as_ref().is_none_or(|(at, _)| at != f) {
        view.library_rows = Some((f.clone(), filter_rows(&cohort.studies, f)));
    }
    let rows: Vec<&StudyRow> = view
        .library_rows
        .as_ref()
        .map(|(_, rows)| rows.iter().filter_map(|&i| cohort.studies.get(i)).collect())
        .unwrap_or_default();
    ui.label(format!(
        "{} of {} studies",
        rows.len(),
        cohort.studies.len()
    ));
    let open = state.primary.as_ref().map(|p| p.study_id.as_str());
    egui::ScrollArea::vertical().show_rows(ui, 36.0, rows.len(), |ui, range| {
        for row in &rows[range] {
            let selected = open == Some(row.study_id.as_str());
            let r = ui
                .selectable_label(selected, &row.study_id)
                .on_hover_ui(|ui| {
                    ui.label(&row.report);
                });
            let seen = state
                .seen_by_run(&row.study_id)
                .map_or(String::new(), |how| format!(" ({how})"));
            ui.small(format!(
                "{} - {}{seen} - {}",
                row.label.as_str(),
                row.split.as_str(),
                first_line(&row.report, 48)
            ));
            if r.clicked() {
                intents.push(Intent::OpenStudy(row.study_id.clone()));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_first_lines() {
        let row = StudyRow {
            study_id: "s0007".into(),
            label: Label::Infarct,
            split: Split::Val,
            report: "\nAcute infarct in the left MCA territory.\nNo haemorrhage.".into(),
        };
        let pass = |label, split, search: &str| {
            let f = LibraryFilter {
                label,
                split,
                search: search.into(),
            };
            filter_rows(std::slice::from_ref(&row), &f) == [0]
        };
        assert!(pass(None, None, ""));
        assert!(pass(Some(Label::Infarct), Some(Split::Val), " Left MCA "));
        assert!(!pass(Some(Label::Tumor), None, ""));
        assert!(!pass(None, Some(Split::Test), ""));
        assert!(!pass(None, None, "glioma"));
        assert!(pass(None, None, "0007"));
        assert!(pass(None, None, "S0007"));
        assert_eq!(first_line(&row.report, 12), "Acute infarc...");
        assert_eq!(first_line("", 5), "");
        assert_eq!(first_line("IMPRESSION:\nNo mass.", 20), "No mass.");
        assert_eq!(first_line("Findings:", 20), "Findings:");
    }
}
