//! The intracranial mask of the model grid, derived from the training studies' per-voxel
//! statistics (see [`super::standardize::VoxelNorm`]).
//!
//! Why: after per-voxel standardisation the largest values of a lesion-free study sit in the
//! scalp, the skull base and the face, where head size, shape and position vary from patient to
//! patient (the per-voxel spread of FLAIR is 1-2 study-sd there against 0.2-0.4 inside the
//! brain). A tower can separate studies by that anatomy instead of by pathology; the viewer's
//! occlusion maps of the demo model pointed there. The mask keeps what lies inside the head's
//! low-variance core — the brain with its ventricles, filled slice by slice and dilated by
//! [`DILATE_VOXELS`] to keep the extra-axial spaces (subdural, meningeal) — and zeroes the rest.

use crate::config::Sequence;

/// Sequence whose statistics define the mask: FLAIR (CSF dark, scalp bright).
const SEQUENCE: Sequence = Sequence::Flair;
/// A voxel is in the head where the training studies' mean is above this (per-study z units:
/// air is at about -2.6).
const HEAD_MEAN_Z: f32 = -1.0;
/// ... and in its stable core where their spread is below this.
const CORE_STD_Z: f32 = 0.8;
/// In-plane dilation of the filled core, in voxels.
pub const DILATE_VOXELS: usize = 2;

/// The mask (1 inside, 0 outside) for statistics of shape `[c, d, h, w]`, the same for every
/// channel. `mean` and `std` are the flat per-voxel statistics.
pub fn intracranial_mask(mean: &[f32], std: &[f32], shape: [usize; 4]) -> Vec<f32> {
    let [c, d, h, w] = shape;
    let plane = h * w;
    let volume = d * plane;
    let channel = SEQUENCE.channel().min(c.saturating_sub(1));
    let mut one = vec![0f32; volume];
    for z in 0..d {
        let at = channel * volume + z * plane;
        let core: Vec<bool> = (0..plane)
            .map(|i| mean[at + i] > HEAD_MEAN_Z && std[at + i] < CORE_STD_Z)
            .collect();
        let filled = dilate(&fill_holes(&core, h, w), h, w, DILATE_VOXELS);
        for (m, inside) in one[z * plane..(z + 1) * plane].iter_mut().zip(filled) {
            *m = if inside { 1.0 } else { 0.0 };
        }
    }
    one.repeat(c)
}

/// `inside` with every region not connected to the slice's border added (4-connectivity).
fn fill_holes(inside: &[bool], h: usize, w: usize) -> Vec<bool> {
    let mut outside = vec![false; h * w];
    let mut stack: Vec<usize> = (0..w).flat_map(|x| [x, (h - 1) * w + x]).collect();
    stack.extend((0..h).flat_map(|y| [y * w, y * w + w - 1]));
    while let Some(i) = stack.pop() {
        if outside[i] || inside[i] {
            continue;
        }
        outside[i] = true;
        let (y, x) = (i / w, i % w);
        if y > 0 {
            stack.push(i - w);
        }
        if y + 1 < h {
            stack.push(i + w);
        }
        if x > 0 {
            stack.push(i - 1);
        }
        if x + 1 < w {
            stack.push(i + 1);
        }
    }
    outside.iter().map(|o| !o).collect()
}

/// `inside` grown by `r` voxels (square neighbourhood).
fn dilate(inside: &[bool], h: usize, w: usize, r: usize) -> Vec<bool> {
    let mut out = vec![false; h * w];
    for y in 0..h {
        for x in 0..w {
            if !inside[y * w + x] {
                continue;
            }
            for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                out[yy * w + x.saturating_sub(r)..yy * w + (x + r + 1).min(w)].fill(true);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic slice: air (-2.6), a noisy scalp ring (high spread), a stable brain disc
    /// with a ventricle of high spread in the middle.
    fn slice(h: usize, w: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut mean, mut std) = (vec![-2.6; h * w], vec![0.1; h * w]);
        let (cy, cx) = (h as f32 / 2.0, w as f32 / 2.0);
        for y in 0..h {
            for x in 0..w {
                let r = ((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)).sqrt();
                let i = y * w + x;
                if r < 12.0 {
                    mean[i] = 0.5;
                    std[i] = if r < 10.0 { 0.3 } else { 1.5 }; // scalp ring
                }
                if r < 3.0 {
                    std[i] = 1.2; // ventricle: variable, but inside
                }
            }
        }
        (mean, std)
    }

    #[test]
    fn keeps_the_filled_core_dilated_and_drops_scalp_and_air() {
        let (h, w) = (32, 30);
        let (m, s) = slice(h, w);
        // Three channels, two slices: only channel 2 defines the mask.
        let shape = [3, 2, h, w];
        let mean: Vec<f32> = [vec![9.0; 2 * h * w], vec![9.0; 2 * h * w], m.repeat(2)].concat();
        let std: Vec<f32> = [vec![9.0; 2 * h * w], vec![9.0; 2 * h * w], s.repeat(2)].concat();
        let mask = intracranial_mask(&mean, &std, shape);
        assert_eq!(mask.len(), 3 * 2 * h * w);
        let at = |y: usize, x: usize| mask[h * w + y * w + x]; // channel 0, slice 1
        assert_eq!(at(16, 15), 1.0, "ventricle filled");
        assert_eq!(at(16, 15 + 9), 1.0, "brain");
        assert_eq!(at(16, 15 + 11), 1.0, "dilated into the ring");
        assert_eq!(at(16, 15 + 13), 0.0, "outer ring and air");
        assert_eq!(at(0, 0), 0.0);
        // Same mask in every channel.
        let n = 2 * h * w;
        assert_eq!(mask[..n], mask[n..2 * n]);
        assert_eq!(mask[..n], mask[2 * n..]);
    }

    #[test]
    fn fill_and_dilate_on_a_tiny_grid() {
        #[rustfmt::skip]
        let ring = [
            false, false, false, false, false,
            false, true,  true,  true,  false,
            false, true,  false, true,  false,
            false, true,  true,  true,  false,
            false, false, false, false, false,
        ];
        let filled = fill_holes(&ring, 5, 5);
        assert!(filled[12] && !filled[0] && !filled[24]);
        let grown = dilate(&filled, 5, 5, 1);
        assert!(grown.iter().all(|v| *v));
        assert_eq!(dilate(&[false; 4], 2, 2, 3), vec![false; 4]);
    }
}
