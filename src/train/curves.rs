//! Training curves of one or more runs as a self-contained SVG image (no font or plotting
//! crate needed; browsers and GitHub render it): losses on the left, validation retrieval on
//! the right, one colour per run.

use std::fmt::Write as _;

use super::run::EpochMetrics;

/// Width and height of one panel's plotting area, in SVG units.
const PLOT: (f64, f64) = (420.0, 260.0);
/// Margins around a plotting area: left, top, right, bottom.
const MARGIN: (f64, f64, f64, f64) = (56.0, 34.0, 16.0, 44.0);
/// Run colours (colour-blind-safe Okabe-Ito).
const COLOURS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];
/// Height of one legend row.
const LEGEND_ROW: f64 = 18.0;

/// One curve: a run's values per epoch.
struct Series<'a> {
    colour: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// One panel: title, y-axis label and curves.
struct Panel<'a> {
    title: &'a str,
    y_label: &'a str,
    series: Vec<Series<'a>>,
    /// Fixed y range (retrieval lies in [0, 1]); `None` = fit the data.
    y_range: Option<(f64, f64)>,
}

/// The SVG document for `runs` (name, metrics). Runs without epochs are listed in the
/// legend but draw nothing.
pub fn render_svg(runs: &[(String, Vec<EpochMetrics>)]) -> String {
    let mut loss = Panel {
        title: "Loss",
        y_label: "loss",
        series: Vec::new(),
        y_range: None,
    };
    let mut recall = Panel {
        title: "Validation report -> study recall",
        y_label: "recall",
        series: Vec::new(),
        y_range: Some((0.0, 1.0)),
    };
    for (k, (_, metrics)) in runs.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let curve = |f: fn(&EpochMetrics) -> f64, dashed: bool| Series {
            colour,
            dashed,
            points: metrics
                .iter()
                .map(|m| (m.epoch as f64, f(m)))
                .filter(|(_, y)| y.is_finite())
                .collect(),
        };
        loss.series.push(curve(|m| m.train_loss, false));
        loss.series.push(curve(|m| m.val_loss, true));
        recall.series.push(curve(|m| m.val_r5, false));
        recall.series.push(curve(|m| m.val_r1, true));
    }
    let panel_w = MARGIN.0 + PLOT.0 + MARGIN.2;
    let panel_h = MARGIN.1 + PLOT.1 + MARGIN.3;
    let legend_h = LEGEND_ROW * (runs.len() as f64 + 1.0) + 8.0;
    let (w, h) = (2.0 * panel_w, panel_h + legend_h);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    draw_panel(&mut svg, &loss, 0.0);
    draw_panel(&mut svg, &recall, panel_w);
    // Legend: line styles, then one row per run.
    let y0 = panel_h + 4.0;
    let _ = write!(
        svg,
        r##"<text x="{x}" y="{y}" fill="#333">solid: train loss (contrastive + class terms) / val R@5    dashed: val contrastive loss / val R@1</text>"##,
        x = MARGIN.0,
        y = y0 + 12.0
    );
    for (k, (name, metrics)) in runs.iter().enumerate() {
        let y = y0 + LEGEND_ROW * (k as f64 + 1.0) + 8.0;
        let colour = COLOURS[k % COLOURS.len()];
        let _ = write!(
            svg,
            r#"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{tx}" y="{ty}">{label}</text>"#,
            x1 = MARGIN.0,
            x2 = MARGIN.0 + 24.0,
            tx = MARGIN.0 + 32.0,
            ty = y + 4.0,
            label = escape(&format!("{name} ({} epochs)", metrics.len())),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Axes, ticks, title and curves of one panel whose left edge is at `x0`.
fn draw_panel(svg: &mut String, p: &Panel, x0: f64) {
    let all = || p.series.iter().flat_map(|s| s.points.iter());
    let x_max = all().map(|pt| pt.0).fold(1.0, f64::max);
    let (y_lo, y_hi) = p.y_range.unwrap_or_else(|| {
        let lo = all().map(|pt| pt.1).fold(f64::INFINITY, f64::min);
        let hi = all().map(|pt| pt.1).fold(f64::NEG_INFINITY, f64::max);
        // Losses are never negative: keep the axis at 0 unless the data go below it.
        let floor = |v: f64| if lo >= 0.0 { v.max(0.0) } else { v };
        if lo.is_finite() && hi > lo {
            let pad = 0.05 * (hi - lo);
            (floor(lo - pad), hi + pad)
        } else if lo.is_finite() {
            (floor(lo - 1.0), lo + 1.0)
        } else {
            (0.0, 1.0)
        }
    });
    let (left, top) = (x0 + MARGIN.0, MARGIN.1);
    let sx = |x: f64| left + (x - 1.0) / (x_max - 1.0).max(1.0) * PLOT.0;
    let sy = |y: f64| top + (1.0 - (y - y_lo) / (y_hi - y_lo)) * PLOT.1;
    let _ = write!(
        svg,
        r#"<text x="{tx}" y="20" font-size="14" font-weight="bold">{title}</text>"#,
        tx = left,
        title = escape(p.title)
    );
    for i in 0..=4 {
        let v = y_lo + (y_hi - y_lo) * f64::from(i) / 4.0;
        let y = sy(v);
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{y}" x2="{r}" y2="{y}" stroke="#e5e5e5"/><text x="{tx}" y="{ty}" text-anchor="end">{v:.2}</text>"##,
            r = left + PLOT.0,
            tx = left - 6.0,
            ty = y + 4.0,
        );
    }
    let step = nice_step(x_max);
    let mut e = 1.0;
    while e <= x_max + 1e-9 {
        let x = sx(e);
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{ty}" text-anchor="middle">{e}</text>"#,
            ty = top + PLOT.1 + 16.0,
        );
        e = if e == 1.0 && step > 1.0 {
            step
        } else {
            e + step
        };
    }
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/><text x="{cx}" y="{by}" text-anchor="middle">epoch</text><text x="{lx}" y="{cy}" text-anchor="middle" transform="rotate(-90 {lx} {cy})">{yl}</text>"##,
        pw = PLOT.0,
        ph = PLOT.1,
        cx = left + PLOT.0 / 2.0,
        by = top + PLOT.1 + 34.0,
        lx = x0 + 14.0,
        cy = top + PLOT.1 / 2.0,
        yl = escape(p.y_label),
    );
    for s in &p.series {
        if s.points.is_empty() {
            continue;
        }
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y.clamp(y_lo, y_hi))))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            pts.join(" "),
            s.colour
        );
    }
}

/// A tick spacing of 1, 2, 5, 10, 20... epochs giving at most ~10 ticks.
fn nice_step(x_max: f64) -> f64 {
    let mut step = 1.0;
    for m in [2.0, 2.5, 2.0].iter().cycle() {
        if x_max / step <= 10.0 {
            break;
        }
        step *= m;
    }
    step
}

/// XML-escapes text content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(n: usize, base: f64) -> Vec<EpochMetrics> {
        (1..=n)
            .map(|e| EpochMetrics {
                epoch: e,
                train_loss: base - 0.1 * e as f64,
                val_loss: base - 0.05 * e as f64,
                lr: 1e-3,
                temperature: 14.0,
                val_r1: 0.01 * e as f64,
                val_r5: 0.05 * e as f64,
                val_score: 0.0,
                seconds: 1.0,
            })
            .collect()
    }

    #[test]
    fn one_polyline_per_curve_and_a_legend_row_per_run() {
        let svg = render_svg(&[
            ("ours <unet>".into(), metrics(12, 3.0)),
            ("paper".into(), metrics(5, 2.5)),
            ("empty".into(), Vec::new()),
        ]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Two runs with epochs x (train, val loss, R@5, R@1).
        assert_eq!(svg.matches("<polyline").count(), 8);
        assert!(svg.contains("ours &lt;unet&gt; (12 epochs)"));
        assert!(svg.contains("empty (0 epochs)"));
        // The first run's 12 epochs are all on its train-loss polyline.
        let first = svg.split("<polyline points=\"").nth(1).unwrap();
        let pts = first.split('"').next().unwrap();
        assert_eq!(pts.split(' ').count(), 12);
    }

    #[test]
    fn negative_losses_from_a_hand_edited_file_still_draw() {
        // Every loss below 0: the axis follows the data instead of stopping at 0.
        let svg = render_svg(&[("edited".into(), metrics(3, -5.0))]);
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn tick_steps_stay_readable() {
        assert_eq!(nice_step(8.0), 1.0);
        assert_eq!(nice_step(36.0), 5.0);
        assert_eq!(nice_step(150.0), 20.0);
    }
}
