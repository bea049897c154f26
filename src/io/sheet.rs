//! Contact sheet: one study per class, the three sequences side by side at two axial levels,
//! rendered in world space (so sequences of different geometry line up) as a PNG.
//!
//! Layout: one row per class in `Label::ALL` order (infarct, tumor, hemorrhage, normal,
//! other), marked by a coloured strip on the left; columns DWI, T2*, FLAIR at the level of the
//! largest lesion area, then the same three 18 mm higher. Radiological convention: the
//! patient's right is on the image's left, anterior at the top.

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::config::{Label, Sequence};
use crate::io::atomic::write_atomic;
use crate::io::cohort::read_cohort;
use crate::io::error::{IoError, Result};
use crate::io::nifti_read::read_nifti;
use crate::io::normalize::percentiles;
use crate::io::study::{load_study, load_volumes};
use crate::io::volume::Volume;

/// Tile edge in pixels.
const TILE: u32 = 176;
/// Width of the class strip.
const STRIP: u32 = 10;
/// Row colours per class (infarct, tumor, hemorrhage, normal, other).
const COLOURS: [[u8; 3]; 5] = [
    [230, 159, 0],
    [86, 180, 233],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
];

/// Renders the contact sheet of a cohort to `out` (PNG). Picks, per class, the first study
/// of the cohort whose `study.json` `true_label` (or cohort label) is that class.
pub fn contact_sheet(cohort_dir: &Path, out: &Path) -> Result<()> {
    let cohort = read_cohort(cohort_dir)?;
    let width = STRIP + 6 * TILE + 5;
    let height = 5 * TILE + 4;
    let mut img = RgbImage::from_pixel(width, height, Rgb([0, 0, 0]));
    for (row, label) in Label::ALL.into_iter().enumerate() {
        let entry = cohort
            .entries
            .iter()
            .find(|e| true_label(&cohort.study_dir(&e.study_id)).unwrap_or(e.label) == label)
            .ok_or_else(|| IoError::invalid(cohort_dir, format!("no study with label {label}")))?;
        let study = load_study(&cohort.study_dir(&entry.study_id))?;
        let vols = load_volumes(&study)?;
        let t2s = &vols[Sequence::T2s.channel()].volume;
        let z = lesion_level(&study.dir).unwrap_or_else(|| {
            let (lo, hi) = t2s.world_bounds();
            0.5 * (lo[2] + hi[2])
        });
        let (lo, hi) = t2s.world_bounds();
        let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]);
        let c = [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])];
        let y0 = row as u32 * (TILE + 1);
        for yy in 0..TILE {
            for xx in 0..STRIP {
                img.put_pixel(xx, y0 + yy, Rgb(COLOURS[row]));
            }
        }
        for (level, dz) in [0.0, 18.0].into_iter().enumerate() {
            for (s, lv) in vols.iter().enumerate() {
                let tile = render_tile(&lv.volume, c, half, z + dz);
                let x0 = STRIP + (level * 3 + s) as u32 * (TILE + 1);
                for (k, v) in tile.iter().enumerate() {
                    let (u, w) = (k as u32 % TILE, k as u32 / TILE);
                    img.put_pixel(x0 + u, y0 + w, Rgb([*v; 3]));
                }
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| IoError::invalid(out, format!("PNG encoding failed: {e}")))?;
    write_atomic(out, &bytes)
}

fn true_label(study_dir: &Path) -> Option<Label> {
    let text = std::fs::read_to_string(study_dir.join("study.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("true_label")?.as_str()?.parse().ok()
}

/// World z of the axial slice with the largest lesion area in `truth/lesion.nii.gz`.
fn lesion_level(study_dir: &Path) -> Option<f64> {
    let truth = read_nifti(&study_dir.join("truth").join("lesion.nii.gz"))
        .ok()?
        .volume;
    let [nx, ny, nz] = truth.dims;
    let (best_k, count) = (0..nz)
        .map(|k| {
            (
                k,
                truth.data[k * nx * ny..(k + 1) * nx * ny]
                    .iter()
                    .filter(|&&v| v == 1.0)
                    .count(),
            )
        })
        .max_by_key(|&(_, c)| c)?;
    (count > 0).then(|| {
        truth
            .world_from_voxel
            .apply([nx as f64 / 2.0, ny as f64 / 2.0, best_k as f64])[2]
    })
}

/// Samples an axial world-space square (centre `c`, half-width `half` mm) at height `z`,
/// windowed to the 1st-99.5th percentile of the tile.
fn render_tile(vol: &Volume, c: [f64; 2], half: f64, z: f64) -> Vec<u8> {
    let Some(voxel_from_world) = vol.world_from_voxel.inverse() else {
        return vec![0; (TILE * TILE) as usize];
    };
    let n = TILE as usize;
    let mut vals = Vec::with_capacity(n * n);
    for w in 0..n {
        for u in 0..n {
            // Radiological: image left = patient right (+x); top = anterior (+y).
            let x = c[0] + half - 2.0 * half * (u as f64 + 0.5) / n as f64;
            let y = c[1] + half - 2.0 * half * (w as f64 + 0.5) / n as f64;
            let p = voxel_from_world.apply([x, y, z]);
            vals.push(vol.sample_trilinear(p).unwrap_or(0.0));
        }
    }
    let (lo, hi) = match percentiles(&vals, &[1.0, 99.5]).as_deref() {
        Some([lo, hi]) if hi > lo => (*lo, *hi),
        _ => (0.0, 1.0),
    };
    vals.iter()
        .map(|v| ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8)
        .collect()
}
