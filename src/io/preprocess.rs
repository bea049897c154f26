//! Studies in, model input out: the three sequences resampled into one world-space grid
//! defined by the T2* head, then normalised per channel.
//!
//! # The model input
//! [`TENSOR_SHAPE`] = `[c, d, h, w]` = `[3, 16, 112, 112]`, `f32`, row-major (`w` fastest).
//! This is the one place the layout is defined.
//! - `c`: channel, in the order of [`Sequence::ALL`]: DWI b1000, T2*, FLAIR.
//! - `d`: axial slice, `d = 0` is the most **inferior** slice, `d` increases toward Superior.
//! - `h`: row, increases toward **Anterior**.
//! - `w`: column, increases toward patient **Right**.
//!
//! So the grid is RAS+ and axis-aligned with world: grid voxel `(w, h, d)` sits at world
//! `world_from_grid * (w, h, d, 1)` (see [`model_grid_for`]). Displayed naively as an image
//! with row 0 at the top, a slice therefore shows the patient's right on the right and
//! anterior at the bottom; viewers flip as they like, the data stays RAS+.
//!
//! # The grid
//! Defined by the T2* sequence alone, so every sequence of a study lands in the same place:
//! the head foreground of the T2* (Otsu threshold) gives a world bounding box (the whole T2*
//! field of view if no foreground is found); the in-plane extent is made square (the larger
//! of the x and y extents plus [`INPLANE_MARGIN`]) and centred on the box; the 16 slices
//! span the box's z extent exactly.
//!
//! # Per channel
//! Anti-aliased trilinear resampling through the sequence's own `world_from_voxel`
//! ([`super::resample`]), then clip to the 0.5–99.5th percentile inside the head and z-score
//! with the head's mean and standard deviation ([`super::normalize`]). The head mask is the
//! Otsu foreground of the resampled T2*, restricted per channel to the part of the grid that
//! sequence covers.

use std::path::Path;

use super::error::{IoError, Result};
use super::normalize::{foreground_mask, normalize_channel, otsu_threshold};
use super::register::{RegisterError, Registration, register_to_template};
use super::resample::{ResampleError, Resampled, resample_antialiased};
use super::study::{Study, load_volumes};
use super::volume::{Affine, Volume};
use crate::config::{MODEL_GRID, Sequence};

/// Shape of a preprocessed study: `[c, d, h, w]` = `[3, 16, 112, 112]`, row-major. See the
/// module docs for the axis conventions.
pub const TENSOR_SHAPE: [usize; 4] = [
    Sequence::ALL.len(),
    MODEL_GRID[0],
    MODEL_GRID[1],
    MODEL_GRID[2],
];

/// Number of values in one channel (`d * h * w`).
pub const CHANNEL_LEN: usize = MODEL_GRID[0] * MODEL_GRID[1] * MODEL_GRID[2];

/// The model grid's voxel counts in [`Volume`] order `[nx, ny, nz]` = `[w, h, d]`, so that a
/// channel with [`model_grid_for`]'s affine is a valid [`Volume`].
pub const GRID_DIMS: [usize; 3] = [MODEL_GRID[2], MODEL_GRID[1], MODEL_GRID[0]];

/// Identifies the preprocessing algorithm. Change it whenever the output for the same input
/// files would change, so cached results are recomputed.
pub const PREPROCESS_VERSION: &str = "brainclip-preprocess-v1";

/// In-plane margin added around the head: the square side is `(1 + INPLANE_MARGIN)` times the
/// larger of the head's x and y extents.
pub const INPLANE_MARGIN: f64 = 0.05;

/// The registered model grid's box in template space: its lowest corner (MNI mm, voxel
/// faces)...
pub const MNI_GRID_LO: [f64; 3] = [-102.0, -119.0, -62.0];
/// ...and its size (mm): the template's brain (x -72..72, y -107..73, z -72..82) with room
/// for the scalp in-plane (square, 1.82 mm voxels), and in z 144 mm (9 mm per model slice),
/// about the span of the 23 slice centres of the demo's axial slab at 6.5 mm (143 mm) when
/// centred on the brain.
pub const MNI_GRID_SIZE: [f64; 3] = [204.0, 204.0, 144.0];

/// A registered grid counts only when at least this fraction of the T2* head foreground
/// lies inside it; otherwise the registration is taken to have failed.
pub const MIN_REGISTERED_HEAD_FRACTION: f64 = 0.6;

/// A sequence must cover at least this fraction of the T2* head inside the grid.
pub const MIN_HEAD_COVERAGE: f64 = 0.25;

/// A slab of the T2* along one voxel axis counts as head when it holds at least this fraction
/// of the largest slab's foreground voxels; isolated bright noise voxels then do not widen
/// the bounding box.
const SLAB_FRACTION: f64 = 0.01;

/// One preprocessed study: the model input.
///
/// # Shapes
/// `data` has `TENSOR_SHAPE` = `[c, d, h, w]` = `[3, 16, 112, 112]`, row-major, channels in
/// [`Sequence::ALL`] order. Every value is finite; inside the head each channel has mean ≈ 0
/// and standard deviation ≈ 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyTensor {
    /// `[c, d, h, w]` values, `w` fastest.
    pub data: Vec<f32>,
}

impl StudyTensor {
    /// Total number of values (`3 * 16 * 112 * 112`).
    pub const LEN: usize = TENSOR_SHAPE[0] * CHANNEL_LEN;

    /// Wraps `data`; `None` unless it has exactly [`Self::LEN`] values.
    ///
    /// # Shapes
    /// `data`: `[c, d, h, w]` = [`TENSOR_SHAPE`].
    pub fn new(data: Vec<f32>) -> Option<Self> {
        (data.len() == Self::LEN).then_some(StudyTensor { data })
    }

    /// The tensor's shape, always [`TENSOR_SHAPE`].
    pub fn shape(&self) -> [usize; 4] {
        TENSOR_SHAPE
    }

    /// One channel.
    ///
    /// # Shapes
    /// `[d, h, w]` = `[16, 112, 112]`, row-major.
    pub fn channel(&self, seq: Sequence) -> &[f32] {
        let c = seq.channel();
        &self.data[c * CHANNEL_LEN..(c + 1) * CHANNEL_LEN]
    }
}

/// Checks that a volume is usable for resampling (non-empty, consistent, finite transform).
fn check_volume(vol: &Volume) -> std::result::Result<(), String> {
    if vol.dims.contains(&0) {
        return Err(format!("volume has a zero dimension {:?}", vol.dims));
    }
    if vol.dims.iter().product::<usize>() != vol.data.len() {
        return Err("volume data length does not match its dimensions".into());
    }
    if vol.world_from_voxel.inverse().is_none() {
        return Err(ResampleError::SingularSource.to_string());
    }
    Ok(())
}

/// Inclusive voxel-index bounding box of the head in `t2s`, or `None` when no foreground
/// can be separated (flat image).
fn head_voxel_box(t2s: &Volume) -> Option<([usize; 3], [usize; 3])> {
    let t = otsu_threshold(&t2s.data)?;
    let [nx, ny, nz] = t2s.dims;
    let mut counts = [vec![0u64; nx], vec![0u64; ny], vec![0u64; nz]];
    for k in 0..nz {
        for j in 0..ny {
            let row = &t2s.data[nx * (j + ny * k)..nx * (j + ny * k + 1)];
            for (i, &v) in row.iter().enumerate() {
                if v > t {
                    counts[0][i] += 1;
                    counts[1][j] += 1;
                    counts[2][k] += 1;
                }
            }
        }
    }
    let mut lo = [0; 3];
    let mut hi = [0; 3];
    for ax in 0..3 {
        let max = counts[ax].iter().copied().max().unwrap_or(0);
        if max == 0 {
            return None;
        }
        let min_count = ((max as f64 * SLAB_FRACTION).ceil() as u64).max(1);
        lo[ax] = counts[ax].iter().position(|&c| c >= min_count)?;
        hi[ax] = counts[ax].iter().rposition(|&c| c >= min_count)?;
    }
    Some((lo, hi))
}

/// The model grid for a study, from its T2* volume: `world_from_grid` maps grid voxel
/// `(w, h, d)` (continuous, voxel centres at integers) to world millimetres, RAS+. The linear
/// part is diagonal and positive: `w` → +x (Right), `h` → +y (Anterior), `d` → +z (Superior),
/// so `d = 0` is the most inferior slice. See the module docs for how the extent is chosen.
///
/// Errors when the T2* volume is empty or its transform is singular.
pub fn model_grid_for(t2s: &Volume) -> std::result::Result<Affine, ResampleError> {
    if check_volume(t2s).is_err() {
        return Err(ResampleError::SingularSource);
    }
    let (lo_vox, hi_vox) = head_voxel_box(t2s).unwrap_or(([0; 3], t2s.dims.map(|n| n - 1)));
    // World bounding box of the box's outer voxel faces (not centres), so that a one-voxel
    // thick box still has an extent.
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let pick = |ax: usize| {
            if corner >> ax & 1 == 0 {
                lo_vox[ax] as f64 - 0.5
            } else {
                hi_vox[ax] as f64 + 0.5
            }
        };
        let p = t2s.world_from_voxel.apply([pick(0), pick(1), pick(2)]);
        for ax in 0..3 {
            lo[ax] = lo[ax].min(p[ax]);
            hi[ax] = hi[ax].max(p[ax]);
        }
    }
    let side = (hi[0] - lo[0]).max(hi[1] - lo[1]) * (1.0 + INPLANE_MARGIN);
    let depth = hi[2] - lo[2];
    if !(side > 0.0 && depth > 0.0 && side.is_finite() && depth.is_finite()) {
        return Err(ResampleError::SingularSource);
    }
    let [nw, nh, nd] = GRID_DIMS.map(|n| n as f64);
    let spacing = [side / nw, side / nh, depth / nd];
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    // First voxel centre half a voxel inside the box edge.
    let origin = [
        centre[0] - side / 2.0 + spacing[0] / 2.0,
        centre[1] - side / 2.0 + spacing[1] / 2.0,
        lo[2] + spacing[2] / 2.0,
    ];
    Ok(Affine::from_parts(
        [
            [spacing[0], 0.0, 0.0],
            [0.0, spacing[1], 0.0],
            [0.0, 0.0, spacing[2]],
        ],
        origin,
    ))
}

/// A study's grid registered to the template, and how it was found (see
/// [`registered_model_grid`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGrid {
    /// Maps grid voxel `(w, h, d)` to world millimetres.
    pub world_from_grid: Affine,
    /// The T2*'s registration to the template, or why it failed.
    pub registration: std::result::Result<Registration, RegisterError>,
    /// Fraction of the T2* head foreground inside the registered grid (0 without one).
    pub head_inside: f64,
    /// Whether the grid is the registered one (else the head box).
    pub registered: bool,
}

/// The study's grid registered to the template: `world_from_mni * mni_from_grid()` from the
/// T2*'s registration ([`super::register`]) when it succeeds and holds at least
/// [`MIN_REGISTERED_HEAD_FRACTION`] of the head, else the head box of [`model_grid_for`].
///
/// Not yet the model grid: preprocessing (`brainclip-preprocess-v1`) uses the head box. The
/// registered grid is reported by `brainclip inspect` and measured by
/// `examples/registration.rs`; making it the model input needs a retrained demo model
/// (issue #4's notes have the measurements).
///
/// Errors when the T2* volume is empty or its transform is singular.
pub fn registered_model_grid(t2s: &Volume) -> std::result::Result<ModelGrid, ResampleError> {
    if check_volume(t2s).is_err() {
        return Err(ResampleError::SingularSource);
    }
    let registration = register_to_template(t2s);
    let registered_grid = registration
        .as_ref()
        .ok()
        .map(|reg| reg.world_from_mni.compose(&mni_from_grid()));
    let head_inside = registered_grid.map_or(0.0, |g| head_fraction_inside(t2s, &g));
    if let Ok(reg) = &registration {
        tracing::debug!(
            "registered to the template: NMI {:.3}, {} evaluations, parameters {:?}, \
             {:.0}% of the head inside the grid",
            reg.nmi,
            reg.evaluations,
            reg.params,
            head_inside * 100.0
        );
    }
    let (world_from_grid, registered) = match registered_grid {
        Some(g) if head_inside >= MIN_REGISTERED_HEAD_FRACTION => (g, true),
        _ => (model_grid_for(t2s)?, false),
    };
    Ok(ModelGrid {
        world_from_grid,
        registration,
        head_inside,
        registered,
    })
}

/// The model grid's voxels in template space: `mni_from_grid` maps grid voxel `(w, h, d)` to
/// MNI millimetres, diagonal and positive (`w` → Right, `h` → Anterior, `d` → Superior).
pub fn mni_from_grid() -> Affine {
    let [nw, nh, nd] = GRID_DIMS.map(|n| n as f64);
    let spacing = [
        MNI_GRID_SIZE[0] / nw,
        MNI_GRID_SIZE[1] / nh,
        MNI_GRID_SIZE[2] / nd,
    ];
    Affine::from_parts(
        [
            [spacing[0], 0.0, 0.0],
            [0.0, spacing[1], 0.0],
            [0.0, 0.0, spacing[2]],
        ],
        std::array::from_fn(|ax| MNI_GRID_LO[ax] + spacing[ax] / 2.0),
    )
}

/// Fraction of the T2* head foreground (Otsu) whose voxels fall inside the grid
/// `world_from_grid`; 0 when there is no foreground or the grid is singular.
fn head_fraction_inside(t2s: &Volume, world_from_grid: &Affine) -> f64 {
    let (Some(t), Some(grid_from_world)) = (otsu_threshold(&t2s.data), world_from_grid.inverse())
    else {
        return 0.0;
    };
    let m = grid_from_world.compose(&t2s.world_from_voxel);
    let [nx, ny, nz] = t2s.dims;
    let (mut head, mut inside) = (0usize, 0usize);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if t2s.at(i, j, k) > t {
                    head += 1;
                    let g = m.apply([i as f64, j as f64, k as f64]);
                    let within =
                        (0..3).all(|ax| (-0.5..GRID_DIMS[ax] as f64 - 0.5).contains(&g[ax]));
                    inside += usize::from(within);
                }
            }
        }
    }
    if head == 0 {
        0.0
    } else {
        inside as f64 / head as f64
    }
}

/// Preprocesses three volumes (in [`Sequence::ALL`] order) into the model input. `names` are
/// the volumes' files, used only in error messages.
///
/// Errors (each naming the file concerned): an unusable volume or transform, no head found in
/// the T2*, a sequence covering less than [`MIN_HEAD_COVERAGE`] of the head (its world extent
/// does not overlap the T2*'s), a channel that is flat inside the head.
///
/// # Shapes
/// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
pub fn preprocess_volumes(vols: &[Volume; 3], names: &[&Path; 3]) -> Result<StudyTensor> {
    for (c, seq) in Sequence::ALL.iter().enumerate() {
        check_volume(&vols[c]).map_err(|problem| {
            IoError::invalid(
                names[c],
                format!("unusable {}: {problem}", seq.display_name()),
            )
        })?;
    }
    let t2s_c = Sequence::T2s.channel();
    let world_from_grid = model_grid_for(&vols[t2s_c]).map_err(|e| {
        IoError::invalid(
            names[t2s_c],
            format!("cannot define the model grid from T2*: {e}"),
        )
    })?;
    let resampled: Vec<Resampled> = Sequence::ALL
        .iter()
        .enumerate()
        .map(|(c, seq)| {
            resample_antialiased(&vols[c], GRID_DIMS, &world_from_grid).map_err(|e| {
                IoError::invalid(
                    names[c],
                    format!("cannot resample {}: {e}", seq.display_name()),
                )
            })
        })
        .collect::<Result<_>>()?;

    let t2s = &resampled[t2s_c];
    let head = foreground_mask(&t2s.data, Some(&t2s.inside));
    let head_count = head.iter().filter(|m| **m).count();
    if head_count == 0 {
        return Err(IoError::invalid(
            names[t2s_c],
            "no head foreground found in T2* (the image is empty or flat)",
        ));
    }

    let mut data = Vec::with_capacity(StudyTensor::LEN);
    for ((c, seq), mut r) in Sequence::ALL.iter().enumerate().zip(resampled) {
        let mask: Vec<bool> = head.iter().zip(&r.inside).map(|(h, i)| *h && *i).collect();
        let covered = mask.iter().filter(|m| **m).count();
        let coverage = covered as f64 / head_count as f64;
        if coverage < MIN_HEAD_COVERAGE {
            return Err(IoError::invalid(
                names[c],
                format!(
                    "{} covers only {:.0}% of the head in the T2* field of view \
                     (its world extent does not overlap the T2*'s)",
                    seq.display_name(),
                    coverage * 100.0
                ),
            ));
        }
        normalize_channel(&mut r.data, &mask).map_err(|e| {
            IoError::invalid(
                names[c],
                format!("cannot normalise {}: {e}", seq.display_name()),
            )
        })?;
        // Unreachable with finite inputs and a checked std, but the model must never see NaN.
        if r.data.iter().any(|v| !v.is_finite()) {
            return Err(IoError::invalid(
                names[c],
                format!(
                    "normalised {} contains non-finite values",
                    seq.display_name()
                ),
            ));
        }
        data.extend_from_slice(&r.data);
    }
    StudyTensor::new(data).ok_or_else(|| {
        IoError::invalid(
            names[t2s_c],
            "internal error: preprocessed tensor has the wrong size",
        )
    })
}

/// Reads a study's three sequences and preprocesses them (see [`preprocess_volumes`]).
///
/// # Shapes
/// Returns `[c, d, h, w]` = [`TENSOR_SHAPE`].
pub fn preprocess_study(study: &Study) -> Result<StudyTensor> {
    let loaded = load_volumes(study)?;
    // Reader warnings (4-D input reduced to its first volume, NaN voxels replaced) change what
    // the model sees: never drop them silently.
    for (l, path) in loaded.iter().zip(&study.sequence_paths) {
        for w in &l.info.warnings {
            tracing::warn!("{w}: {}", path.display());
        }
    }
    let [a, b, c] = loaded.map(|l| l.volume);
    let names = [
        study.sequence_paths[0].as_path(),
        study.sequence_paths[1].as_path(),
        study.sequence_paths[2].as_path(),
    ];
    preprocess_volumes(&[a, b, c], &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(sx: f64, sy: f64, sz: f64, t: [f64; 3]) -> Affine {
        Affine::from_parts([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, sz]], t)
    }

    /// A box of value 100 in voxel range `lo..=hi`, 0 elsewhere.
    fn box_volume(dims: [usize; 3], lo: [usize; 3], hi: [usize; 3], a: Affine) -> Volume {
        let mut data = vec![0.0f32; dims.iter().product()];
        for k in lo[2]..=hi[2] {
            for j in lo[1]..=hi[1] {
                for i in lo[0]..=hi[0] {
                    data[i + dims[0] * (j + dims[1] * k)] = 100.0;
                }
            }
        }
        Volume::new(dims, data, a).unwrap()
    }

    #[test]
    fn tensor_shape_is_channels_then_model_grid() {
        assert_eq!(TENSOR_SHAPE, [3, 16, 112, 112]);
        assert_eq!(StudyTensor::LEN, 3 * 16 * 112 * 112);
        assert_eq!(GRID_DIMS, [112, 112, 16]);
        assert!(StudyTensor::new(vec![0.0; 5]).is_none());
    }

    #[test]
    fn grid_is_ras_and_covers_the_head_box() {
        // LPS T2*, 1 x 1 x 4 mm; head voxels i 10..=49, j 5..=64, k 2..=11.
        let a = diag(-1.0, -1.0, 4.0, [30.0, 40.0, -20.0]);
        let vol = box_volume([60, 70, 14], [10, 5, 2], [49, 64, 11], a);
        let g = model_grid_for(&vol).unwrap();
        let l = g.linear();
        assert!(
            l[0][0] > 0.0 && l[1][1] > 0.0 && l[2][2] > 0.0,
            "RAS+ diagonal"
        );
        assert_eq!(g.orientation_code(), "RAS");
        // World box: x from 30-49.5 to 30-9.5 = [-19.5, 20.5]; y [-24.5, 35.5];
        // z from -20 + 4*1.5 = -14 to -20 + 4*11.5 = 26.
        let side = 60.0 * 1.05;
        assert!((l[0][0] - side / 112.0).abs() < 1e-9);
        assert!((l[1][1] - side / 112.0).abs() < 1e-9);
        assert!((l[2][2] - 40.0 / 16.0).abs() < 1e-9);
        // Grid centre = head box centre (x 0.5, y 5.5); first slice centre half a slice in.
        let c = g.apply([55.5, 55.5, 7.5]);
        assert!(
            (c[0] - 0.5).abs() < 1e-9 && (c[1] - 5.5).abs() < 1e-9 && (c[2] - 6.0).abs() < 1e-9
        );
        let s0 = g.apply([0.0, 0.0, 0.0]);
        assert!((s0[2] - (-14.0 + 1.25)).abs() < 1e-9, "slice 0 is inferior");
    }

    #[test]
    fn empty_t2s_falls_back_to_the_field_of_view() {
        let vol = Volume::new([10, 20, 5], vec![0.0; 1000], diag(2.0, 1.0, 3.0, [0.0; 3])).unwrap();
        let g = model_grid_for(&vol).unwrap();
        // FOV faces: x [-1, 19], y [-0.5, 19.5], z [-1.5, 13.5].
        assert!((g.linear()[0][0] - 21.0 / 112.0).abs() < 1e-9);
        assert!((g.linear()[2][2] - 15.0 / 16.0).abs() < 1e-9);
    }

    #[test]
    fn preprocessing_refuses_a_sequence_outside_the_head() {
        let a = diag(2.0, 2.0, 4.0, [-60.0, -60.0, -30.0]);
        let mut head = box_volume([60, 60, 16], [10, 10, 2], [49, 49, 13], a);
        // Some texture so no channel is flat.
        for (n, v) in head.data.iter_mut().enumerate() {
            if *v > 0.0 {
                *v += (n % 7) as f32;
            }
        }
        let far = Volume {
            world_from_voxel: diag(2.0, 2.0, 4.0, [400.0, 0.0, 0.0]),
            ..head.clone()
        };
        let names = [
            Path::new("dwi.nii"),
            Path::new("t2s.nii"),
            Path::new("flair.nii"),
        ];
        let ok = preprocess_volumes(&[head.clone(), head.clone(), head.clone()], &names).unwrap();
        assert!(ok.data.iter().all(|v| v.is_finite()));
        let err = preprocess_volumes(&[head.clone(), head.clone(), far], &names).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.ends_with("flair.nii") && msg.contains("covers only 0%"),
            "{msg}"
        );
    }

    /// Pearson correlation of two equally long slices.
    fn correlation(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let mean = |x: &[f32]| x.iter().map(|v| *v as f64).sum::<f64>() / n;
        let (ma, mb) = (mean(a), mean(b));
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (*x as f64 - ma, *y as f64 - mb);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        ab / (aa * bb).sqrt()
    }

    #[test]
    fn the_registered_grid_holds_the_same_anatomy_whatever_the_pose() {
        use crate::io::register::tests::posed_template;
        use crate::io::register::world_from_mni;
        let poses = [
            [0.0, 18.0, -10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [5.0, 10.0, -2.0, 8.0, -3.0, 4.0, 0.06, 0.03, -0.04],
        ];
        let heads = poses.map(|p| posed_template(&world_from_mni(&p)));
        let sample =
            |v: &Volume, grid: &Affine| resample_antialiased(v, GRID_DIMS, grid).unwrap().data;
        let registered = heads.clone().map(|v| {
            let g = registered_model_grid(&v).unwrap();
            assert!(g.registered && g.head_inside > 0.9, "{g:?}");
            sample(&v, &g.world_from_grid)
        });
        let boxed = heads.map(|v| sample(&v, &model_grid_for(&v).unwrap()));
        let (r, b) = (
            correlation(&registered[0], &registered[1]),
            correlation(&boxed[0], &boxed[1]),
        );
        // The head and background dominate both correlations; what registration
        // buys is the mismatch that remains (1 - r), at most ~half the head box's.
        assert!(
            r > 0.93 && (1.0 - r) < 0.6 * (1.0 - b),
            "registered {r:.3}, head boxes {b:.3}"
        );
    }
}
