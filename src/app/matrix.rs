//! The similarity-matrix tab: reports (rows) x studies (columns) of a split, sorted by class
//! with the class boundaries drawn; hovering names the pair, a click opens it side by side.

use std::sync::Arc;

use eframe::egui::{self, Color32, ColorImage, Pos2, Rect, Sense, Stroke};

use super::Intent;
use super::state::AppState;
use super::view::ViewState;
use crate::config::Split;
use crate::worker::{Command, MatrixView};

/// The matrix as the worker drew it (one pixel per cell, or per block for a large split).
pub fn matrix_image(m: &MatrixView) -> ColorImage {
    ColorImage::from_rgb([m.side, m.side], &m.rgb)
}

/// Indices where the class changes (boundaries drawn before them).
pub fn class_boundaries(m: &MatrixView) -> Vec<usize> {
    (1..m.labels.len())
        .filter(|&i| m.labels[i] != m.labels[i - 1])
        .collect()
}

/// Draws the matrix tab.
pub fn matrix_ui(
    ui: &mut egui::Ui,
    state: &AppState,
    view: &mut ViewState,
    intents: &mut Vec<Intent>,
) {
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Matrix split")
            .selected_text(view.matrix_split.map_or("all", Split::as_str))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut view.matrix_split, None, "all");
                for s in Split::ALL {
                    ui.selectable_value(&mut view.matrix_split, Some(s), s.as_str());
                }
            });
        if ui.button("Compute matrix").clicked() {
            intents.push(Intent::Send(Command::Matrix(view.matrix_split)));
        }
        if let Some(m) = &state.matrix
            && ui.button("Export matrix PNG").clicked()
        {
            intents.push(Intent::ExportMatrix(Arc::clone(m)));
        }
    });
    let Some(m) = &state.matrix else {
        ui.label("Compute the report x study similarity matrix of a split (needs a trained run).");
        return;
    };
    let n = m.ids.len();
    if n == 0 {
        return;
    }
    let key = format!("matrix-{}-{:?}", n, m.split);
    let tex = match &view.matrix_texture {
        Some((k, t)) if *k == key => t.clone(),
        _ => {
            let t = ui
                .ctx()
                .load_texture(&key, matrix_image(m), egui::TextureOptions::NEAREST);
            view.matrix_texture = Some((key, t.clone()));
            t
        }
    };
    let side = ui
        .available_width()
        .min(ui.available_height() - 30.0)
        .max(100.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), Sense::click());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, "similarity matrix")
    });
    let painter = ui.painter_at(rect);
    painter.image(
        tex.id(),
        rect,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );
    let cell = side / n as f32;
    let stroke = Stroke::new(1.5, Color32::WHITE);
    for b in class_boundaries(m) {
        let at = b as f32 * cell;
        painter.hline(rect.x_range(), rect.top() + at, stroke);
        painter.vline(rect.left() + at, rect.y_range(), stroke);
    }
    let cell_at = |p: Pos2| {
        let d = (p - rect.min) / cell;
        let (c, r) = (d.x.floor() as usize, d.y.floor() as usize);
        (r < n && c < n).then_some((r, c))
    };
    if let Some((r, c)) = response.hover_pos().and_then(cell_at) {
        let text = format!(
            "report of {} ({}) x study {} ({}): {:.3}",
            m.ids[r],
            m.labels[r].as_str(),
            m.ids[c],
            m.labels[c].as_str(),
            m.values[r * n + c]
        );
        response.clone().on_hover_text(text.clone());
        view.hover = Some(text);
    }
    if response.clicked()
        && let Some((r, c)) = response.interact_pointer_pos().and_then(cell_at)
    {
        intents.push(Intent::OpenPair(m.ids[r].clone(), m.ids[c].clone()));
    }
    ui.label(
        view.hover
            .as_deref()
            .unwrap_or("rows: reports, columns: studies; click a cell to compare the pair"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Label;

    #[test]
    fn image_and_boundaries_follow_the_classes() {
        let values = vec![1.0, 0.5, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 1.0];
        let (side, rgb) = crate::index::matrix::display_rgb(&values, 3, 2048);
        let m = MatrixView {
            split: None,
            ids: vec!["a".into(), "b".into(), "c".into()],
            labels: vec![Label::Infarct, Label::Infarct, Label::Tumor],
            values,
            side,
            rgb,
        };
        assert_eq!(class_boundaries(&m), vec![2]);
        let img = matrix_image(&m);
        assert_eq!(img.size, [3, 3]);
        let [r, g, b] = crate::index::matrix::colormap(1.0);
        assert_eq!(img.pixels[0], Color32::from_rgb(r, g, b));
        let [r, g, b] = crate::index::matrix::colormap(0.0);
        assert_eq!(img.pixels[2], Color32::from_rgb(r, g, b));
    }
}
