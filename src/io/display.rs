//! Axial display planes in world space for the viewer: a common in-plane pixel grid for the
//! three sequences of a study (each stored with its own orientation and resolution), the
//! slice positions to scroll through, and trilinear sampling of a volume on that grid.
//!
//! Pixel `(col, row)` of a slice at height `z_mm` sits at world `(x, y, z_mm)` with row 0 the
//! most anterior row. Radiological convention puts the patient's right (+x, RAS+) on the
//! image's left (column 0 = largest x); neurological the reverse.

use super::volume::{Affine, Volume};

/// Largest width or height of a display slice in pixels.
const MAX_PIXELS: usize = 512;
/// Finest display pixel in mm.
const MIN_PIXEL_MM: f64 = 0.5;

/// The in-plane grid and slice positions shared by the sequences of one study.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayFrame {
    /// World x range `(min, max)` in mm covered by the columns.
    pub x_mm: (f64, f64),
    /// World y range `(min, max)` in mm covered by the rows.
    pub y_mm: (f64, f64),
    /// Pixel edge length in mm (square pixels).
    pub pixel_mm: f64,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// World z of each slice centre of the reference sequence, inferior to superior.
    pub slices_z_mm: Vec<f64>,
}

impl DisplayFrame {
    /// A frame covering every volume in-plane, at the finest in-plane spacing among them
    /// (no finer than 0.5 mm, at most 512 pixels a side), scrolling through the slices of
    /// `volumes[reference]`. `None` when `volumes` is empty or `reference` is out of range.
    pub fn new(volumes: &[&Volume], reference: usize) -> Option<Self> {
        let refv = volumes.get(reference)?;
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        let mut pixel = f64::INFINITY;
        for v in volumes {
            let (a, b) = v.world_bounds();
            for ax in 0..2 {
                lo[ax] = lo[ax].min(a[ax]);
                hi[ax] = hi[ax].max(b[ax]);
            }
            let s = v.spacing_mm();
            let through = through_plane_axis(&v.world_from_voxel);
            for (ax, sp) in s.iter().enumerate() {
                if ax != through {
                    pixel = pixel.min(*sp);
                }
            }
        }
        let extent = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1.0);
        let pixel_mm = pixel.max(MIN_PIXEL_MM).max(extent / MAX_PIXELS as f64);
        // The bounds are voxel centres: half a pixel more on each side puts pixel centres on
        // the finest volume's voxel centres and keeps its edge voxels whole.
        for ax in 0..2 {
            lo[ax] -= pixel_mm / 2.0;
            hi[ax] += pixel_mm / 2.0;
        }
        let width = ((hi[0] - lo[0]) / pixel_mm - 1e-9).ceil().max(1.0) as usize;
        let height = ((hi[1] - lo[1]) / pixel_mm - 1e-9).ceil().max(1.0) as usize;
        Some(DisplayFrame {
            x_mm: (lo[0], lo[0] + width as f64 * pixel_mm),
            y_mm: (lo[1], lo[1] + height as f64 * pixel_mm),
            pixel_mm,
            width,
            height,
            slices_z_mm: slice_positions(refv),
        })
    }

    /// World position of the centre of pixel `(col, row)` (continuous) on the slice at `z_mm`.
    pub fn world_at(&self, col: f64, row: f64, z_mm: f64, radiological: bool) -> [f64; 3] {
        let u = (col + 0.5) * self.pixel_mm;
        let x = if radiological {
            self.x_mm.1 - u
        } else {
            self.x_mm.0 + u
        };
        [x, self.y_mm.1 - (row + 0.5) * self.pixel_mm, z_mm]
    }

    /// Continuous pixel `(col, row)` of the world point's in-plane position.
    pub fn pixel_of(&self, world: [f64; 3], radiological: bool) -> (f64, f64) {
        let u = if radiological {
            self.x_mm.1 - world[0]
        } else {
            world[0] - self.x_mm.0
        };
        (
            u / self.pixel_mm - 0.5,
            (self.y_mm.1 - world[1]) / self.pixel_mm - 0.5,
        )
    }

    /// Index of the slice closest to `z_mm` (0 when there are none).
    pub fn nearest_slice(&self, z_mm: f64) -> usize {
        self.slices_z_mm
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - z_mm).abs().total_cmp(&(b.1 - z_mm).abs()))
            .map_or(0, |(i, _)| i)
    }
}

/// The voxel axis most aligned with world z (the slice axis of an axial acquisition).
fn through_plane_axis(a: &Affine) -> usize {
    let l = a.linear();
    let norms = a.column_norms();
    (0..3)
        .max_by(|&p, &q| {
            let cp = (l[2][p] / norms[p].max(1e-12)).abs();
            let cq = (l[2][q] / norms[q].max(1e-12)).abs();
            cp.total_cmp(&cq)
        })
        .unwrap_or(2)
}

/// World z of each slice centre (through the volume's in-plane centre), ascending.
fn slice_positions(v: &Volume) -> Vec<f64> {
    let ax = through_plane_axis(&v.world_from_voxel);
    let centre = v.dims.map(|n| (n as f64 - 1.0) / 2.0);
    let mut z: Vec<f64> = (0..v.dims[ax])
        .map(|k| {
            let mut p = centre;
            p[ax] = k as f64;
            v.world_from_voxel.apply(p)[2]
        })
        .collect();
    z.sort_by(f64::total_cmp);
    z
}

/// Samples `volume` on the frame's pixel grid at height `z_mm` (row-major, `width` fastest);
/// pixels outside the volume are NaN. `None` when the volume's transform is singular.
pub fn sample_axial(
    volume: &Volume,
    frame: &DisplayFrame,
    z_mm: f64,
    radiological: bool,
) -> Option<Vec<f32>> {
    let voxel_from_world = volume.world_from_voxel.inverse()?;
    let origin = voxel_from_world.apply(frame.world_at(0.0, 0.0, z_mm, radiological));
    let right = voxel_from_world.apply(frame.world_at(1.0, 0.0, z_mm, radiological));
    let down = voxel_from_world.apply(frame.world_at(0.0, 1.0, z_mm, radiological));
    let dc: [f64; 3] = std::array::from_fn(|a| right[a] - origin[a]);
    let dr: [f64; 3] = std::array::from_fn(|a| down[a] - origin[a]);
    let mut out = Vec::with_capacity(frame.width * frame.height);
    for row in 0..frame.height {
        for col in 0..frame.width {
            let p: [f64; 3] =
                std::array::from_fn(|a| origin[a] + dc[a] * col as f64 + dr[a] * row as f64);
            out.push(volume.sample_trilinear(p).unwrap_or(f32::NAN));
        }
    }
    Some(out)
}

/// Value at a world point (trilinear), `None` outside the volume.
pub fn value_at(volume: &Volume, world: [f64; 3]) -> Option<f32> {
    let voxel_from_world = volume.world_from_voxel.inverse()?;
    volume.sample_trilinear(voxel_from_world.apply(world))
}

/// A display window `(low, high)` from the `lo_pct` and `hi_pct` percentiles of the volume's
/// non-zero values (all values when every one is zero); `high > low` always.
pub fn percentile_window(volume: &Volume, lo_pct: f64, hi_pct: f64) -> (f32, f32) {
    let mut v: Vec<f32> = volume
        .data
        .iter()
        .copied()
        .filter(|x| *x != 0.0 && x.is_finite())
        .collect();
    if v.is_empty() {
        v = volume.data.clone();
    }
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |p: f64| v[((p / 100.0) * (v.len() - 1) as f64).round() as usize];
    let (lo, hi) = (at(lo_pct.clamp(0.0, 100.0)), at(hi_pct.clamp(0.0, 100.0)));
    if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
}

/// Maps a value to 0-255 grey through the window `(low, high)`; NaN (outside the volume) is
/// black.
pub fn window_grey(value: f32, window: (f32, f32)) -> u8 {
    if !value.is_finite() {
        return 0;
    }
    let t = (value - window.0) / (window.1 - window.0).max(f32::EPSILON);
    (t.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x5x3 volume at 2 mm in-plane, 5 mm slices, LPS-like (x flipped), value = i + 10 j
    /// + 100 k.
    fn lps_volume() -> Volume {
        let dims = [4, 5, 3];
        let mut data = Vec::new();
        for k in 0..3 {
            for j in 0..5 {
                for i in 0..4 {
                    data.push((i + 10 * j + 100 * k) as f32);
                }
            }
        }
        let a = Affine::from_parts(
            [[-2.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 5.0]],
            [10.0, 20.0, -5.0],
        );
        Volume::new(dims, data, a).unwrap()
    }

    #[test]
    fn frame_covers_the_volume_at_its_in_plane_spacing() {
        let v = lps_volume();
        let f = DisplayFrame::new(&[&v], 0).unwrap();
        assert_eq!(f.pixel_mm, 2.0);
        assert_eq!(f.slices_z_mm, vec![-5.0, 0.0, 5.0]);
        // Voxel centres span 6 x 8 mm; whole voxels 8 x 10 mm.
        assert_eq!((f.width, f.height), (4, 5));
        assert_eq!(f.x_mm, (3.0, 11.0));
        assert_eq!(f.y_mm, (11.0, 21.0));
    }

    #[test]
    fn sampling_follows_world_orientation_and_convention() {
        let v = lps_volume();
        let f = DisplayFrame::new(&[&v], 0).unwrap();
        // Neurological: column 0 at the smallest x = largest i (x = 10 - 2i); row 0 at the
        // largest y = smallest j. Pixel centres sit on voxel centres.
        let neuro = sample_axial(&v, &f, 0.0, false).unwrap();
        let radio = sample_axial(&v, &f, 0.0, true).unwrap();
        // World of pixel (0,0): x = 3 + 1 = 4 -> i = 3; y = 21 - 1 = 20 -> j = 0; k = 1.
        assert_eq!(neuro[0], 3.0 + 100.0);
        // Pixel (1, 2): x = 6 -> i = 2; y = 16 -> j = 2.
        assert_eq!(neuro[2 * f.width + 1], 2.0 + 20.0 + 100.0);
        // Radiological mirrors columns.
        for row in 0..f.height {
            for col in 0..f.width {
                let a = neuro[row * f.width + col];
                let b = radio[row * f.width + (f.width - 1 - col)];
                assert!((a - b).abs() < 1e-4);
            }
        }
        // Round trip pixel <-> world.
        let w = f.world_at(1.0, 2.0, 0.0, true);
        let (c, r) = f.pixel_of(w, true);
        assert!((c - 1.0).abs() < 1e-9 && (r - 2.0).abs() < 1e-9);
        assert_eq!(value_at(&v, [10.0, 20.0, -5.0]), Some(0.0));
        assert_eq!(value_at(&v, [100.0, 20.0, -5.0]), None);
        assert_eq!(f.nearest_slice(3.9), 2);
    }

    #[test]
    fn windows_and_grey_levels() {
        let v = lps_volume();
        let (lo, hi) = percentile_window(&v, 0.0, 100.0);
        assert_eq!((lo, hi), (1.0, 243.0));
        assert_eq!(window_grey(f32::NAN, (0.0, 1.0)), 0);
        assert_eq!(window_grey(2.0, (0.0, 1.0)), 255);
        assert_eq!(window_grey(0.5, (0.0, 1.0)), 128);
        let flat = Volume::new([1, 1, 1], vec![0.0], Affine::identity()).unwrap();
        assert_eq!(percentile_window(&flat, 1.0, 99.0), (0.0, 1.0));
    }
}
