//! Template anatomy: the MNI ICBM152 2009a symmetric templates (1 mm T1, GM and WM
//! probability maps, committed under `assets/anatomy/`), and maps derived from them once per
//! run: CSF fraction, distance outside / depth inside the brain, proximity to the lateral
//! ventricles and to sulcal CSF.
//!
//! All coordinates here are MNI millimetres (RAS+).

use crate::io::error::{IoError, Result};
use crate::io::template;
use crate::io::volume::{Affine, Volume};

use super::grid::Grid;

/// Spacing of the derived coarse maps.
const COARSE_MM: f64 = 2.0;

/// Tissue fractions at a template point.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Fractions {
    /// Grey matter.
    pub gm: f32,
    /// White matter.
    pub wm: f32,
    /// Cerebrospinal fluid (inside the brain mask).
    pub csf: f32,
}

/// Coarse, smooth descriptors of a template point.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Context {
    /// Distance outside the brain mask in mm (0 inside).
    pub dist_out_mm: f32,
    /// Depth inside the brain mask in mm (0 outside).
    pub depth_mm: f32,
    /// Proximity to the lateral ventricles, 0..1 (1 at the ventricle wall).
    pub vent_prox: f32,
    /// Proximity to sulcal / cortical-surface CSF, 0..1.
    pub sulc_prox: f32,
}

/// The template anatomy with its derived maps.
pub struct Anatomy {
    /// GM, WM, CSF fractions at 1 mm.
    tissue: Grid<3>,
    /// Distance outside, depth inside, ventricle proximity, sulcal proximity at 2 mm.
    coarse: Grid<4>,
}

impl Anatomy {
    /// Loads the templates embedded in the binary and derives the coarse maps (about a second
    /// in release builds).
    pub fn load() -> Result<Anatomy> {
        let t1 = template::T1.read()?;
        let mut gm = template::GM.read()?;
        let mut wm = template::WM.read()?;
        if gm.dims != t1.dims || wm.dims != t1.dims {
            return Err(IoError::invalid(
                "assets/anatomy",
                "template maps differ in size",
            ));
        }
        let scale = |v: &mut Volume| v.data.iter_mut().for_each(|x| *x /= 255.0);
        scale(&mut gm);
        scale(&mut wm);
        let mask: Vec<bool> = t1.data.iter().map(|&v| v > 0.0).collect();
        let csf_data: Vec<f32> = mask
            .iter()
            .zip(gm.data.iter().zip(&wm.data))
            .map(|(&m, (&g, &w))| {
                if m {
                    (1.0 - g - w).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let origin = t1.world_from_voxel.translation();
        let csf = Volume::new(t1.dims, csf_data, t1.world_from_voxel)
            .ok_or_else(|| IoError::invalid("assets/anatomy", "bad CSF map size"))?;
        let coarse_affine_origin = [origin[0] + 0.5, origin[1] + 0.5, origin[2] + 0.5];

        let (coarse_dims, coarse_mask, coarse_csf) = downsample_2mm(&mask, &csf.data, t1.dims);
        let coarse_origin = coarse_affine_origin;
        let coarse_affine = Affine::from_parts(
            [
                [COARSE_MM, 0.0, 0.0],
                [0.0, COARSE_MM, 0.0],
                [0.0, 0.0, COARSE_MM],
            ],
            coarse_origin,
        );
        let outside: Vec<bool> = coarse_mask.iter().map(|&m| !m).collect();
        let dist_out = chamfer_distance(&coarse_mask, coarse_dims, COARSE_MM);
        let depth = chamfer_distance(&outside, coarse_dims, COARSE_MM);
        // Lateral ventricles: deep CSF within a box around them (MNI, from the template).
        let mut vent_seed = vec![0.0f32; coarse_mask.len()];
        let mut sulc_seed = vec![0.0f32; coarse_mask.len()];
        for k in 0..coarse_dims[2] {
            for j in 0..coarse_dims[1] {
                for i in 0..coarse_dims[0] {
                    let idx = i + coarse_dims[0] * (j + coarse_dims[1] * k);
                    let p = coarse_affine.apply([i as f64, j as f64, k as f64]);
                    let in_box = p[0].abs() < 35.0
                        && (-60.0..30.0).contains(&p[1])
                        && (-5.0..30.0).contains(&p[2]);
                    if in_box && coarse_csf[idx] > 0.6 && depth[idx] > 8.0 {
                        vent_seed[idx] = 1.0;
                    }
                    if coarse_csf[idx] > 0.4 && depth[idx] <= 8.0 && coarse_mask[idx] {
                        sulc_seed[idx] = 1.0;
                    }
                }
            }
        }
        let vent_mask: Vec<bool> = vent_seed.iter().map(|&v| v > 0.5).collect();
        let vent_dist = chamfer_distance(&vent_mask, coarse_dims, COARSE_MM);
        let vent_prox: Vec<f32> = vent_dist.iter().map(|&d| (-d / 6.0).exp()).collect();
        let sulc = blur3(&sulc_seed, coarse_dims, 1.0);
        let bad = || IoError::invalid("assets/anatomy", "template maps have an unexpected size");
        let tissue: Vec<[f32; 3]> = (0..csf.data.len())
            .map(|i| [gm.data[i], wm.data[i], csf.data[i]])
            .collect();
        let coarse: Vec<[f32; 4]> = (0..dist_out.len())
            .map(|i| {
                [
                    dist_out[i],
                    depth[i],
                    vent_prox[i],
                    (sulc[i] * 2.0).min(1.0),
                ]
            })
            .collect();
        Ok(Anatomy {
            tissue: Grid::new(t1.dims, origin, 1.0, tissue).ok_or_else(bad)?,
            coarse: Grid::new(coarse_dims, coarse_origin, COARSE_MM, coarse).ok_or_else(bad)?,
        })
    }

    /// Tissue fractions at an MNI point (zero outside the template).
    #[inline]
    pub fn fractions(&self, p: [f64; 3]) -> Fractions {
        let [gm, wm, csf] = self.tissue.sample(p).unwrap_or([0.0; 3]);
        Fractions { gm, wm, csf }
    }

    /// Coarse context at an MNI point; outside the template counts as far outside the brain.
    #[inline]
    pub fn context(&self, p: [f64; 3]) -> Context {
        match self.coarse.sample(p) {
            None => Context {
                dist_out_mm: 100.0,
                ..Context::default()
            },
            Some([dist_out_mm, depth_mm, vent_prox, sulc_prox]) => Context {
                dist_out_mm,
                depth_mm,
                vent_prox,
                sulc_prox,
            },
        }
    }

    /// Walks from `from` along `dir` (unit vector) and returns the first point where the
    /// brain surface is crossed (distance outside > 0), or `None` within 150 mm.
    pub fn surface_along(&self, from: [f64; 3], dir: [f64; 3]) -> Option<[f64; 3]> {
        let mut t = 0.0;
        while t < 150.0 {
            let p = [
                from[0] + dir[0] * t,
                from[1] + dir[1] * t,
                from[2] + dir[2] * t,
            ];
            if self.context(p).dist_out_mm > 0.5 {
                return Some(p);
            }
            t += 1.0;
        }
        None
    }
}

/// 2x2x2 block average of a mask (as fraction > 0.5) and a map.
fn downsample_2mm(
    mask: &[bool],
    map: &[f32],
    dims: [usize; 3],
) -> ([usize; 3], Vec<bool>, Vec<f32>) {
    let cd = [dims[0] / 2, dims[1] / 2, dims[2] / 2];
    let mut m = vec![false; cd[0] * cd[1] * cd[2]];
    let mut c = vec![0.0f32; m.len()];
    for k in 0..cd[2] {
        for j in 0..cd[1] {
            for i in 0..cd[0] {
                let (mut count, mut sum) = (0u32, 0.0f32);
                for dk in 0..2 {
                    for dj in 0..2 {
                        for di in 0..2 {
                            let idx =
                                (2 * i + di) + dims[0] * ((2 * j + dj) + dims[1] * (2 * k + dk));
                            count += u32::from(mask[idx]);
                            sum += map[idx];
                        }
                    }
                }
                let o = i + cd[0] * (j + cd[1] * k);
                m[o] = count >= 4;
                c[o] = sum / 8.0;
            }
        }
    }
    (cd, m, c)
}

/// Approximate Euclidean distance (mm) from every voxel to the nearest `true` voxel, by a
/// two-pass 26-neighbour chamfer transform. `true` voxels get 0.
pub fn chamfer_distance(target: &[bool], dims: [usize; 3], spacing_mm: f64) -> Vec<f32> {
    let [nx, ny, nz] = dims;
    let big = 1e6f32;
    let mut d: Vec<f32> = target.iter().map(|&t| if t { 0.0 } else { big }).collect();
    let s = spacing_mm as f32;
    let w = |di: i64, dj: i64, dk: i64| s * ((di * di + dj * dj + dk * dk) as f32).sqrt();
    // Forward neighbours: those visited before (k, j, i) in raster order.
    let mut fwd = Vec::new();
    for dk in -1i64..=1 {
        for dj in -1i64..=1 {
            for di in -1i64..=1 {
                let before = dk < 0 || (dk == 0 && (dj < 0 || (dj == 0 && di < 0)));
                if before {
                    fwd.push((di, dj, dk, w(di, dj, dk)));
                }
            }
        }
    }
    let idx = |i: i64, j: i64, k: i64| (i as usize) + nx * ((j as usize) + ny * (k as usize));
    let inside = |i: i64, j: i64, k: i64| {
        i >= 0 && j >= 0 && k >= 0 && (i as usize) < nx && (j as usize) < ny && (k as usize) < nz
    };
    for k in 0..nz as i64 {
        for j in 0..ny as i64 {
            for i in 0..nx as i64 {
                let mut best = d[idx(i, j, k)];
                for &(di, dj, dk, c) in &fwd {
                    let (a, b, e) = (i + di, j + dj, k + dk);
                    if inside(a, b, e) {
                        best = best.min(d[idx(a, b, e)] + c);
                    }
                }
                d[idx(i, j, k)] = best;
            }
        }
    }
    for k in (0..nz as i64).rev() {
        for j in (0..ny as i64).rev() {
            for i in (0..nx as i64).rev() {
                let mut best = d[idx(i, j, k)];
                for &(di, dj, dk, c) in &fwd {
                    let (a, b, e) = (i - di, j - dj, k - dk);
                    if inside(a, b, e) {
                        best = best.min(d[idx(a, b, e)] + c);
                    }
                }
                d[idx(i, j, k)] = best;
            }
        }
    }
    d
}

/// Separable Gaussian blur of a 3-D map (sigma in voxels, truncated at 3 sigma, edges clamped).
pub fn blur3(data: &[f32], dims: [usize; 3], sigma_vox: f64) -> Vec<f32> {
    let radius = (3.0 * sigma_vox).ceil() as i64;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|x| (-(x * x) as f64 / (2.0 * sigma_vox * sigma_vox)).exp() as f32)
        .collect();
    let norm: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / norm).collect();
    let strides = [1usize, dims[0], dims[0] * dims[1]];
    let mut cur = data.to_vec();
    for axis in 0..3 {
        let n = dims[axis] as i64;
        let stride = strides[axis];
        let mut out = vec![0.0f32; cur.len()];
        for (o, v) in out.iter_mut().enumerate() {
            let pos = ((o / stride) % dims[axis]) as i64;
            let base = o - (pos as usize) * stride;
            let mut acc = 0.0;
            for (t, &kv) in kernel.iter().enumerate() {
                let q = (pos + t as i64 - radius).clamp(0, n - 1) as usize;
                acc += kv * cur[base + q * stride];
            }
            *v = acc;
        }
        cur = out;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chamfer_distance_is_close_to_euclidean() {
        let dims = [21, 21, 21];
        let mut t = vec![false; 21 * 21 * 21];
        t[10 + 21 * (10 + 21 * 10)] = true;
        let d = chamfer_distance(&t, dims, 2.0);
        let at = |i: usize, j: usize, k: usize| d[i + 21 * (j + 21 * k)];
        assert_eq!(at(10, 10, 10), 0.0);
        assert!((at(15, 10, 10) - 10.0).abs() < 1e-4);
        // Diagonal (3, 4, 0) voxels = 5 voxels = 10 mm; chamfer within 10%.
        assert!((at(13, 14, 10) - 10.0).abs() < 1.0);
    }

    #[test]
    fn blur_preserves_mass_and_spreads() {
        let dims = [9, 9, 9];
        let mut d = vec![0.0; 729];
        d[4 + 9 * (4 + 9 * 4)] = 1.0;
        let b = blur3(&d, dims, 1.0);
        let sum: f32 = b.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert!(b[4 + 9 * (4 + 9 * 4)] < 0.2);
    }

    #[test]
    fn template_anatomy_is_plausible() {
        let a = Anatomy::load().unwrap();
        // Deep white matter of the left centrum semiovale.
        let f = a.fractions([-26.0, -15.0, 35.0]);
        assert!(f.wm > 0.7, "{f:?}");
        // Lateral ventricle body: somewhere near its centroid the proximity peaks.
        let mut best = 0.0f32;
        for dx in -5..=5 {
            for dy in -5..=5 {
                for dz in -5..=5 {
                    let p = [-14.0 + dx as f64, -12.0 + dy as f64, 16.0 + dz as f64];
                    best = best.max(a.context(p).vent_prox);
                }
            }
        }
        assert!(best > 0.9, "{best}");
        // Outside the head.
        assert!(a.context([0.0, 0.0, 130.0]).dist_out_mm > 20.0);
        let top = a
            .surface_along([0.0, -18.0, 15.0], [0.0, 0.0, 1.0])
            .unwrap();
        assert!((60.0..90.0).contains(&top[2]), "{top:?}");
    }
}
