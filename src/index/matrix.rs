//! A similarity matrix sorted by class, as CSV for analysis and as a PNG heat map.
//!
//! Both take an `order`: the studies to show, as indices into `ids`/`labels`/the matrix,
//! usually [`class_order`] (all studies, grouped by class). A subset is allowed.

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use super::sim::SimMatrix;
use crate::config::Label;
use crate::io::IoError;
use crate::io::atomic::write_atomic;

/// Colour of the lines between classes (viridis never reaches white).
pub const BOUNDARY_RGB: [u8; 3] = [255, 255, 255];

/// Viridis anchors at 0, 0.25, 0.5, 0.75 and 1 (matplotlib's `viridis`).
const VIRIDIS: [[f32; 3]; 5] = [
    [68.0, 1.0, 84.0],
    [59.0, 82.0, 139.0],
    [33.0, 145.0, 140.0],
    [94.0, 201.0, 98.0],
    [253.0, 231.0, 37.0],
];

/// Indices of the studies sorted by label ([`Label::ALL`] order), then by id, then by
/// position (for duplicate ids).
pub fn class_order(labels: &[Label], ids: &[String]) -> Vec<usize> {
    let rank = |l: Label| Label::ALL.iter().position(|x| *x == l);
    let mut order: Vec<usize> = (0..labels.len().min(ids.len())).collect();
    order.sort_by(|&a, &b| (rank(labels[a]), &ids[a], a).cmp(&(rank(labels[b]), &ids[b], b)));
    order
}

/// Checks that `sim` is `n x n` for `n` ids and labels and that `order` indexes them.
fn check(
    path: &Path,
    ids: Option<&[String]>,
    labels: &[Label],
    sim: &SimMatrix,
    order: &[usize],
) -> Result<(), IoError> {
    let n = labels.len();
    if !sim.is_square() || sim.rows() != n || ids.is_some_and(|ids| ids.len() != n) {
        let problem = format!(
            "similarity matrix is {}x{} for {} labels and {} ids",
            sim.rows(),
            sim.cols(),
            n,
            ids.map_or(n, <[String]>::len)
        );
        return Err(IoError::invalid(path, problem));
    }
    if let Some(bad) = order.iter().find(|&&i| i >= n) {
        return Err(IoError::invalid(
            path,
            format!("order index {bad} out of range ({n} studies)"),
        ));
    }
    Ok(())
}

/// Writes the matrix rows and columns in `order` as CSV, atomically. Header
/// `,id1 (label1),id2 (label2),...`; each row starts with its `id (label)`.
pub fn write_matrix_csv(
    path: &Path,
    ids: &[String],
    labels: &[Label],
    sim: &SimMatrix,
    order: &[usize],
) -> Result<(), IoError> {
    check(path, Some(ids), labels, sim, order)?;
    let name = |i: usize| format!("{} ({})", ids[i], labels[i]);
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = std::iter::once(String::new()).chain(order.iter().map(|&i| name(i)));
    let bad = |e: csv::Error| IoError::invalid(path, format!("cannot write CSV: {e}"));
    w.write_record(header).map_err(bad)?;
    for &r in order {
        let cells = order.iter().map(|&c| sim.get(r, c).to_string());
        w.write_record(std::iter::once(name(r)).chain(cells))
            .map_err(bad)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| IoError::invalid(path, format!("cannot write CSV: {e}")))?;
    write_atomic(path, &bytes)
}

/// Viridis-like colour of `t` in `0..=1` (clamped; NaN is the low end).
pub fn colormap(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f32;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

/// An `n x n` row-major matrix as a square RGB heat map of at most `max_side` pixels a side,
/// for display: one pixel per cell, or per block of `ceil(n / max_side)` cells (their mean)
/// when `n` is larger. Colours span the shown values' own min..max; non-finite values are
/// left out of the means (a block of only those is the low end). Returns the side and the
/// `side * side * 3` bytes.
pub fn display_rgb(values: &[f32], n: usize, max_side: usize) -> (usize, Vec<u8>) {
    let n = n.min(values.len().isqrt());
    let step = n.div_ceil(max_side.max(1)).max(1);
    let side = n.div_ceil(step);
    let mut shown = vec![f32::NAN; side * side];
    for (by, row) in shown.chunks_mut(side.max(1)).enumerate() {
        for (bx, out) in row.iter_mut().enumerate() {
            let (mut sum, mut count) = (0.0f64, 0u32);
            for r in by * step..((by + 1) * step).min(n) {
                for v in &values[r * n + bx * step..r * n + ((bx + 1) * step).min(n)] {
                    if v.is_finite() {
                        sum += f64::from(*v);
                        count += 1;
                    }
                }
            }
            if count > 0 {
                *out = (sum / f64::from(count)) as f32;
            }
        }
    }
    let (lo, hi) = shown
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let rgb = shown
        .iter()
        .flat_map(|v| colormap((v - lo) / span))
        .collect();
    (side, rgb)
}

/// Pixel offset of each shown cell along one axis: `cell_px` per cell, plus one line pixel
/// before each cell whose label differs from the previous one's.
fn offsets(labels: &[Label], order: &[usize], cell_px: u32) -> (Vec<u32>, u32) {
    let mut at = 0;
    let mut out = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && labels[order[k - 1]] != labels[i] {
            at += 1;
        }
        out.push(at);
        at += cell_px;
    }
    (out, at)
}

/// Renders the `order x order` block of `sim` as a heat map: each cell `cell_px` square
/// (at least 1), colours over the block's own min..max, and 1-px white lines *between*
/// classes (inserted, so no cell is hidden). Indices of `order` outside the matrix or
/// `labels` are skipped.
pub fn render_matrix_png(
    sim: &SimMatrix,
    labels: &[Label],
    order: &[usize],
    cell_px: u32,
) -> RgbImage {
    let cell_px = cell_px.max(1);
    let n = sim.rows().min(sim.cols()).min(labels.len());
    let order: Vec<usize> = order.iter().copied().filter(|&i| i < n).collect();
    let (at, side) = offsets(labels, &order, cell_px);
    let (lo, hi) = order
        .iter()
        .flat_map(|&r| order.iter().map(move |&c| sim.get(r, c)))
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut img = RgbImage::from_pixel(side, side, Rgb(BOUNDARY_RGB));
    for (ri, &r) in order.iter().enumerate() {
        for (ci, &c) in order.iter().enumerate() {
            let colour = Rgb(colormap((sim.get(r, c) - lo) / span));
            for y in at[ri]..at[ri] + cell_px {
                for x in at[ci]..at[ci] + cell_px {
                    img.put_pixel(x, y, colour);
                }
            }
        }
    }
    img
}

/// Renders (see [`render_matrix_png`]) and writes a PNG atomically.
pub fn write_matrix_png(
    path: &Path,
    sim: &SimMatrix,
    labels: &[Label],
    order: &[usize],
    cell_px: u32,
) -> Result<(), IoError> {
    check(path, None, labels, sim, order)?;
    let img = render_matrix_png(sim, labels, order, cell_px);
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, ImageFormat::Png)
        .map_err(|e| IoError::invalid(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, bytes.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::{Infarct as I, Normal as N, Tumor as T};

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn display_rgb_is_one_pixel_per_cell_or_block_means() {
        let values = [1.0, 0.5, f32::NAN, 0.0];
        let (side, rgb) = display_rgb(&values, 2, 8);
        assert_eq!(side, 2);
        let px = |i: usize| [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
        assert_eq!(px(0), colormap(1.0));
        assert_eq!(px(1), colormap(0.5));
        assert_eq!(px(2), colormap(0.0), "NaN is the low end");
        assert_eq!(px(3), colormap(0.0));
        // 5 x 5 at most 2 pixels a side: blocks of 3 x 3 cells (the last ones cut short).
        let values: Vec<f32> = (0..25).map(|i| ((i / 5) * 10 + i % 5) as f32).collect();
        let (side, rgb) = display_rgb(&values, 5, 2);
        assert_eq!((side, rgb.len()), (2, 12));
        let px = |i: usize| [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
        // Block means: rows 0-2 x cols 0-2 = 11, cols 3-4 = 13.5, rows 3-4 = 36 and 38.5.
        let t = |v: f32| colormap((v - 11.0) / 27.5);
        assert_eq!(px(0), t(11.0));
        assert_eq!(px(1), t(13.5));
        assert_eq!(px(2), t(36.0));
        assert_eq!(px(3), t(38.5));
        assert_eq!(display_rgb(&[], 0, 4), (0, vec![]));
    }

    #[test]
    fn class_order_sorts_by_label_then_id() {
        let labels = [N, I, T, I, N];
        let ids = ids(&["a", "z", "m", "b", "0"]);
        assert_eq!(class_order(&labels, &ids), vec![3, 1, 2, 4, 0]);
    }

    #[test]
    fn csv_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m/sim.csv");
        let labels = [T, I];
        let ids = ids(&["s,1", "s2"]);
        let sim = SimMatrix::new(2, 2, vec![1.0, 0.25, 0.25, 0.5]).unwrap();
        let order = class_order(&labels, &ids);
        write_matrix_csv(&path, &ids, &labels, &sim, &order).unwrap();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .unwrap();
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|rec| rec.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(rows[0], ["", "s2 (infarct)", "s,1 (tumor)"]);
        assert_eq!(rows[1], ["s2 (infarct)", "0.5", "0.25"]);
        assert_eq!(rows[2][0], "s,1 (tumor)");
        assert_eq!(rows[2][2].parse::<f32>().unwrap(), 1.0);
        let err = write_matrix_csv(&path, &ids, &labels, &sim, &[0, 2]).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn png_has_cells_and_white_class_lines() {
        let labels = [I, I, T];
        let sim = SimMatrix::from_fn(3, 3, |r, c| if r == c { 1.0 } else { 0.0 });
        let img = render_matrix_png(&sim, &labels, &[0, 1, 2], 4);
        // 3 cells of 4 px plus one boundary line between infarct and tumour.
        assert_eq!(img.dimensions(), (13, 13));
        assert_eq!(img.get_pixel(8, 0).0, BOUNDARY_RGB);
        assert_eq!(img.get_pixel(0, 8).0, BOUNDARY_RGB);
        assert_eq!(img.get_pixel(0, 0).0, colormap(1.0));
        assert_eq!(img.get_pixel(5, 0).0, colormap(0.0));
        assert_eq!(img.get_pixel(12, 12).0, colormap(1.0));
        assert_eq!(
            render_matrix_png(&sim, &labels, &[0, 1], 0).dimensions(),
            (2, 2)
        );
    }

    #[test]
    fn png_file_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.png");
        let labels = [I, T];
        let sim = SimMatrix::new(2, 2, vec![1.0, 0.1, 0.1, 1.0]).unwrap();
        write_matrix_png(&path, &sim, &labels, &[0, 1], 3).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (7, 7));
        assert_eq!(colormap(0.0), [68, 1, 84]);
        assert_eq!(colormap(1.0), [253, 231, 37]);
    }
}
