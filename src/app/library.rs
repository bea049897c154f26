//! The study library: the cohort's studies with label, split and the report's first line,
//! filtered by label and split and searched by report text.

use eframe::egui;

use super::Intent;
use super::state::AppState;
use super::view::ViewState;
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

/// Whether a study passes the filters.
pub fn matches(row: &StudyRow, label: Option<Label>, split: Option<Split>, search: &str) -> bool {
    label.is_none_or(|l| row.label == l)
        && split.is_none_or(|s| row.split == s)
        && (search.trim().is_empty()
            || row
                .report
                .to_lowercase()
                .contains(&search.trim().to_lowercase())
            || row.study_id.contains(search.trim()))
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
    let rows: Vec<&StudyRow> = cohort
        .studies
        .iter()
        .filter(|r| matches(r, f.label, f.split, &f.search))
        .collect();
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
                .on_hover_text(&row.report);
            ui.small(format!(
                "{} - {} - {}",
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
        assert!(matches(&row, None, None, ""));
        assert!(matches(
            &row,
            Some(Label::Infarct),
            Some(Split::Val),
            "left mca"
        ));
        assert!(!matches(&row, Some(Label::Tumor), None, ""));
        assert!(!matches(&row, None, Some(Split::Test), ""));
        assert!(!matches(&row, None, None, "glioma"));
        assert!(matches(&row, None, None, "0007"));
        assert_eq!(first_line(&row.report, 12), "Acute infarc...");
        assert_eq!(first_line("", 5), "");
        assert_eq!(first_line("IMPRESSION:\nNo mass.", 20), "No mass.");
        assert_eq!(first_line("Findings:", 20), "Findings:");
    }
}
