//! Plots: the embedding map (PCA of study embeddings, coloured by class; hover names the
//! study, a click opens it) and training curves.

use eframe::egui;
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

use super::Intent;
use super::side::label_colour;
use super::state::AppState;
use crate::config::Label;
use crate::train::run::EpochMetrics;
use crate::worker::{Command, MapPoint};

/// The point nearest to `(x, y)` within `radius` (plot units), if any.
pub fn nearest_point(points: &[MapPoint], x: f64, y: f64, radius: f64) -> Option<&MapPoint> {
    points
        .iter()
        .map(|p| {
            let dx = f64::from(p.xy[0]) - x;
            let dy = f64::from(p.xy[1]) - y;
            (p, dx * dx + dy * dy)
        })
        .filter(|(_, d)| *d <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(p, _)| p)
}

/// The embedding-map tab.
pub fn map_ui(ui: &mut egui::Ui, state: &AppState, intents: &mut Vec<Intent>) {
    if ui.button("Compute embedding map").clicked() {
        intents.push(Intent::Send(Command::EmbeddingMap));
    }
    if state.map.is_empty() {
        ui.label("A 2-D PCA projection of every study embedding (needs a trained run).");
        return;
    }
    let open = state.primary.as_ref().map(|p| p.study_id.clone());
    let response = Plot::new("embedding-map")
        .legend(Legend::default())
        .data_aspect(1.0)
        .show(ui, |p| {
            for label in Label::ALL {
                let pts: Vec<[f64; 2]> = state
                    .map
                    .iter()
                    .filter(|m| m.label == label)
                    .map(|m| [f64::from(m.xy[0]), f64::from(m.xy[1])])
                    .collect();
                p.points(
                    Points::new(label.as_str(), PlotPoints::from(pts))
                        .radius(3.5)
                        .color(label_colour(label)),
                );
            }
            if let Some(m) = open
                .as_ref()
                .and_then(|id| state.map.iter().find(|m| &m.study_id == id))
            {
                p.points(
                    Points::new("open study", vec![[f64::from(m.xy[0]), f64::from(m.xy[1])]])
                        .radius(7.0)
                        .filled(false)
                        .color(egui::Color32::WHITE),
                );
            }
            let bounds = p.plot_bounds();
            let radius = 0.02 * (bounds.width().max(bounds.height()));
            p.pointer_coordinate()
                .and_then(|c| nearest_point(&state.map, c.x, c.y, radius).cloned())
        });
    if let Some(m) = &response.inner {
        response
            .response
            .clone()
            .on_hover_text(format!("{} ({})", m.study_id, m.label.as_str()));
        if response.response.clicked() {
            intents.push(Intent::OpenStudy(m.study_id.clone()));
        }
    }
}

/// Colours of the epoch series (fixed, so a series' line and its markers match).
const SERIES: [egui::Color32; 3] = [
    egui::Color32::from_rgb(90, 160, 230),
    egui::Color32::from_rgb(160, 210, 90),
    egui::Color32::from_rgb(240, 170, 60),
];

/// One epoch series as a line with a marker per epoch: after the first epoch a series has a
/// single point, which a line alone does not draw.
fn epoch_series(p: &mut egui_plot::PlotUi<'_>, name: &str, pts: Vec<[f64; 2]>, color: usize) {
    let color = SERIES[color % SERIES.len()];
    p.line(
        Line::new(name, PlotPoints::from(pts.clone()))
            .color(color)
            .width(2.0),
    );
    p.points(
        Points::new(name, PlotPoints::from(pts))
            .color(color)
            .radius(3.0),
    );
}

/// The epochs the training curves span: from 0 to the last finished epoch or the last
/// step's (fractional) epoch, at least one, so that all three plots share one x axis.
fn epoch_span(metrics: &[EpochMetrics], steps: &[[f64; 2]]) -> f64 {
    let last_epoch = metrics.last().map_or(0.0, |m| m.epoch as f64);
    let last_step = steps.last().map_or(0.0, |s| s[0]);
    last_epoch.max(last_step).max(1.0)
}

/// The id of one of the curve plots (`loss`, `recall` or `lr`) of the curves named `id`.
fn curve_plot_id(id: &str, name: &str) -> egui::Id {
    egui::Id::unique(("curves", id, name))
}

/// Loss, validation-recall and learning-rate curves of finished epochs, plus step losses,
/// on one epoch axis (aligned: one y-axis width; linked: zoom and pan move all three); each
/// legend sits in a corner its curve leaves free (the last epoch's points lie on the right
/// edge).
pub fn curves_ui(ui: &mut egui::Ui, id: &str, metrics: &[EpochMetrics], steps: &[[f64; 2]]) {
    let epoch = |f: fn(&EpochMetrics) -> f64| -> Vec<[f64; 2]> {
        metrics.iter().map(|m| [m.epoch as f64, f(m)]).collect()
    };
    let span = epoch_span(metrics, steps);
    let h = ((ui.available_height() - 40.0) / 3.0).max(90.0);
    // Zooming or panning one plot moves the others' epoch axis with it; so does the cursor.
    let group = egui::Id::unique((id, "epoch-axis"));
    let plot = |name: &str, corner: Corner| {
        Plot::new(name)
            .id(curve_plot_id(id, name))
            .link_axis(group, [true, false])
            .link_cursor(group, [true, false])
            .height(h)
            .legend(Legend::default().position(corner))
            .x_axis_label("epoch")
            .include_x(0.0)
            .include_x(span)
            .y_axis_min_width(44.0)
    };
    plot("loss", Corner::RightTop).show(ui, |p| {
        if !steps.is_empty() {
            let step_color = egui::Color32::from_rgb(200, 90, 90);
            let line = Line::new("train (steps)", PlotPoints::from(steps.to_vec()));
            p.line(line.color(step_color).width(1.0));
        }
        epoch_series(p, "train loss", epoch(|m| m.train_loss), 0);
        epoch_series(p, "val loss", epoch(|m| m.val_loss), 1);
    });
    plot("recall", Corner::LeftTop)
        .include_y(0.0)
        .show(ui, |p| {
            epoch_series(p, "val R@1", epoch(|m| m.val_r1), 0);
            epoch_series(p, "val R@5", epoch(|m| m.val_r5), 1);
        });
    plot("lr", Corner::LeftBottom)
        .include_y(0.0)
        .show(ui, |p| epoch_series(p, "learning rate", epoch(|m| m.lr), 2));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(n: usize) -> EpochMetrics {
        EpochMetrics {
            epoch: n,
            train_loss: 1.0,
            val_loss: 1.0,
            lr: 1e-3,
            temperature: 14.0,
            val_r1: 0.1,
            val_r5: 0.3,
            val_score: 0.2,
            seconds: 1.0,
        }
    }

    #[test]
    fn the_curves_span_the_last_epoch_or_step() {
        assert_eq!(epoch_span(&[], &[]), 1.0);
        assert_eq!(epoch_span(&[], &[[0.5, 3.0]]), 1.0);
        assert_eq!(epoch_span(&[epoch(1)], &[[1.4, 3.0]]), 1.4);
        assert_eq!(epoch_span(&[epoch(1), epoch(2)], &[[1.9, 3.0]]), 2.0);
    }

    #[test]
    fn nearest_point_respects_the_radius() {
        let pts = vec![
            MapPoint {
                study_id: "a".into(),
                label: Label::Tumor,
                xy: [0.0, 0.0],
            },
            MapPoint {
                study_id: "b".into(),
                label: Label::Normal,
                xy: [1.0, 1.0],
            },
        ];
        assert_eq!(
            nearest_point(&pts, 0.9, 0.8, 0.5).map(|p| p.study_id.as_str()),
            Some("b")
        );
        assert!(nearest_point(&pts, 5.0, 5.0, 0.5).is_none());
    }

    #[test]
    fn dragging_one_curve_plot_pans_the_epoch_axis_of_all_three() {
        use egui_kittest::Harness;
        use egui_plot::PlotMemory;
        let metrics: Vec<EpochMetrics> = (1..=6).map(epoch).collect();
        let mut harness = Harness::builder()
            .with_size(egui::vec2(500.0, 600.0))
            .build_ui(|ui| curves_ui(ui, "t", &metrics, &[]));
        harness.run();
        let x_range = |h: &Harness, name: &str| {
            let m = PlotMemory::load(&h.ctx, curve_plot_id("t", name)).expect(name);
            (m.bounds().min()[0], m.bounds().max()[0])
        };
        let before = x_range(&harness, "loss");
        assert_eq!(before, x_range(&harness, "lr"));
        // Drag the loss plot (the top one) to the left: later epochs come into view.
        harness.hover_at(egui::pos2(300.0, 80.0));
        harness.drag_at(egui::pos2(300.0, 80.0));
        harness.run();
        harness.hover_at(egui::pos2(150.0, 80.0));
        harness.run();
        harness.drop_at(egui::pos2(150.0, 80.0));
        harness.run();
        let after = x_range(&harness, "loss");
        assert!(after.0 > before.0 + 0.5, "{before:?} -> {after:?}");
        for name in ["recall", "lr"] {
            let other = x_range(&harness, name);
            assert!(
                (other.0 - after.0).abs() < 1e-9 && (other.1 - after.1).abs() < 1e-9,
                "{name}: {other:?} vs loss {after:?}"
            );
        }
    }
}
