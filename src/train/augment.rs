//! On-the-fly augmentation of a preprocessed study for contrastive training.
//!
//! One call draws an [`AugmentParams`] from an [`AugmentConfig`] and applies it:
//! 1. **Spatial**, identical for all channels: one in-plane affine per study (rotation about
//!    the slice axis `d`, isotropic in-plane scale, in-plane translation) with bilinear
//!    interpolation inside each slice, then a left-right mirror along `w`. Slices are 5+ mm
//!    thick and only 16, so nothing moves or interpolates across `d`. The grid's in-plane
//!    spacing is isotropic (see [`crate::io::preprocess::model_grid_for`]), so a rotation in
//!    voxel coordinates is a rigid rotation of the anatomy. Samples that fall outside the grid
//!    take the channel's background value (see below).
//! 2. **Intensity**, drawn per channel: gamma, multiplicative scale, additive shift, then
//!    Gaussian noise.
//!
//! # Background
//! Preprocessing clips every channel to its 0.5–99.5th percentile inside the head before the
//! z-score ([`crate::io::normalize::normalize_channel`]), so the air around the head sits at
//! the clip floor, which is also the channel's minimum: one constant, negative value per
//! channel, different for every study. The spatial fill and the intensity operations are
//! anchored on that minimum:
//! - gamma acts on `t = (x - min) / (max - min)` ∈ `[0, 1]`: `t ↦ t^γ` keeps the floor and the
//!   brightest voxel where they are and bends the tissue contrast in between. A plain `x^γ` is
//!   undefined for negative z-scores, and a sign-preserving `sign(x)·|x|^γ` pivots on the head
//!   mean and so moves the background (≈ −2) by up to ~0.3 and stretches dark and bright
//!   tissue in opposite directions;
//! - the multiplicative scale pivots on the floor too, so the background moves only by the
//!   additive shift (at most [`AugmentConfig::intensity_shift`]) and stays flat and the darkest
//!   value of the channel before the noise;
//! - noise is added everywhere, background included (zero mean: its mean does not move).
//!
//! # Cost
//! The bilinear taps are computed once per study for one `h × w` slice and reused for all
//! `c × d` slices; gamma uses a lookup table. Allocations: the output, the taps (one slice)
//! and nothing per voxel. Dominated by drawing one normal deviate per voxel when noise is on.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::io::preprocess::TENSOR_SHAPE;

/// Number of channels of a study (DWI, T2*, FLAIR).
const CHANNELS: usize = TENSOR_SHAPE[0];

/// Entries of the gamma lookup table over `t ∈ [0, 1]`, linearly interpolated. The worst error
/// is in the first interval when `γ < 1` (`t^γ` is steep at 0): about `1.5e-4` of the
/// channel's range for `γ = exp(-0.15)` (`3e-3` for `γ = 0.6`), below the noise added after it.
const GAMMA_LUT_LEN: usize = 1025;

/// Largest relative scale (spatial and intensity) actually used, whatever the config says: a
/// scale factor must stay positive (`1 - 0.9 = 0.1`).
const MAX_RELATIVE_SCALE: f32 = 0.9;

pub use crate::config::AugmentConfig;

/// An augmented study.
///
/// # Shapes
/// `data`: `[c, d, h, w]` = [`TENSOR_SHAPE`], like the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmented {
    /// The augmented `[c, d, h, w]` values, `w` fastest.
    pub data: Vec<f32>,
    /// Mirrored left-right: the caller swaps left and right in the paired report.
    pub flipped: bool,
}

/// The intensity draw of one channel, applied as `gamma`, then `scale` and `shift`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelParams {
    /// Gamma exponent on the min-max normalised channel (1 = unchanged).
    pub gamma: f32,
    /// Multiplicative factor about the channel's floor (1 = unchanged).
    pub scale: f32,
    /// Additive shift, z-score units (0 = unchanged).
    pub shift: f32,
}

impl ChannelParams {
    /// No change.
    pub const IDENTITY: ChannelParams = ChannelParams {
        gamma: 1.0,
        scale: 1.0,
        shift: 0.0,
    };
}

/// One concrete augmentation: what [`augment`] draws from the config and then applies.
/// Public so that a preview or a test can apply a chosen transform.
///
/// The in-plane map takes an input point `p` (`[h, w]`, voxels) to
/// `centre + scale · R(angle) · (p - centre) + shift_vox`, `centre` being the middle of the
/// slice; then, when `flipped`, column `w` goes to `w_len - 1 - w`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// In-plane rotation, radians; positive turns `+w` (Right) toward `+h` (Anterior).
    pub angle_rad: f32,
    /// Isotropic in-plane scale factor (1 = unchanged).
    pub scale: f32,
    /// In-plane translation `[h, w]`, voxels.
    pub shift_vox: [f32; 2],
    /// Mirror along `w` after the affine.
    pub flipped: bool,
    /// Per-channel intensity changes, in channel order.
    pub channels: [ChannelParams; CHANNELS],
    /// Standard deviation of the additive noise (0 = none).
    pub noise_std: f32,
}

impl AugmentParams {
    /// No change at all.
    pub const IDENTITY: AugmentParams = AugmentParams {
        angle_rad: 0.0,
        scale: 1.0,
        shift_vox: [0.0, 0.0],
        flipped: false,
        channels: [ChannelParams::IDENTITY; CHANNELS],
        noise_std: 0.0,
    };

    /// Draws one augmentation. Always takes the same number of values from `rng` (11), so
    /// the stream that follows does not depend on the magnitudes.
    pub fn sample(cfg: &AugmentConfig, rng: &mut impl Rng) -> AugmentParams {
        let flip_draw: f32 = rng.random();
        // Uniform in [-1, 1).
        let mut sym = || rng.random::<f32>() * 2.0 - 1.0;
        let angle_rad = sym() * magnitude(cfg.rotate_deg).to_radians();
        let scale = 1.0 + sym() * magnitude(cfg.scale).min(MAX_RELATIVE_SCALE);
        let translate = magnitude(cfg.translate_vox);
        let shift_vox = [sym() * translate, sym() * translate];
        let gamma = magnitude(cfg.gamma);
        let intensity = magnitude(cfg.intensity_shift);
        let channels = std::array::from_fn(|_| ChannelParams {
            gamma: (sym() * gamma).exp(),
            scale: 1.0 + sym() * intensity.min(MAX_RELATIVE_SCALE),
            shift: sym() * intensity,
        });
        AugmentParams {
            angle_rad,
            scale,
            shift_vox,
            // `<` so that probability 1 always flips and 0 (or NaN) never does.
            flipped: flip_draw < cfg.flip_prob,
            channels,
            noise_std: magnitude(cfg.noise_std),
        }
    }

    /// Moves every `h × w` slice of `data` (any number of them) by this draw's in-plane
    /// affine and flip, bilinear; samples outside the slice take `fill`. Intensity and noise
    /// are not applied. Used on the standardised model input (see
    /// [`crate::config::AugmentSpace::Standardized`]), where `fill` is 0.
    ///
    /// # Panics
    /// When `data.len()` is not a multiple of `h * w`.
    pub fn warp_slices(&self, data: &mut [f32], h: usize, w: usize, fill: f32) {
        let slice_len = h * w;
        assert!(
            slice_len > 0 && data.len().is_multiple_of(slice_len),
            "warp_slices: {} values are not whole {h} x {w} slices",
            data.len()
        );
        if self.affine_is_identity() && !self.flipped {
            return;
        }
        let taps = self.taps(h, w);
        let mut src = vec![0.0; slice_len];
        for slice in data.chunks_exact_mut(slice_len) {
            src.copy_from_slice(slice);
            for (o, tap) in slice.iter_mut().zip(&taps) {
                *o = tap.eval(&src, fill);
            }
        }
    }

    /// Whether the in-plane affine (not the flip) changes nothing.
    fn affine_is_identity(&self) -> bool {
        self.angle_rad == 0.0 && self.scale == 1.0 && self.shift_vox == [0.0, 0.0]
    }

    /// Applies this augmentation to a study; `rng` supplies the noise (untouched when
    /// `noise_std` is 0). Parts that are the identity are skipped, so [`Self::IDENTITY`]
    /// returns the input bit for bit.
    ///
    /// # Shapes
    /// `study`: `[c, d, h, w]` = [`TENSOR_SHAPE`]; returns the same shape.
    ///
    /// # Panics
    /// When `study` does not hold exactly `TENSOR_SHAPE` values (a programming error: the
    /// loader only produces [`crate::io::preprocess::StudyTensor`]s).
    pub fn apply(&self, study: &[f32], rng: &mut impl Rng) -> Vec<f32> {
        self.apply_shaped(study, TENSOR_SHAPE, rng)
    }

    /// [`Self::apply`] for any `[CHANNELS, d, h, w]` shape (the tests use small grids).
    fn apply_shaped(&self, study: &[f32], shape: [usize; 4], rng: &mut impl Rng) -> Vec<f32> {
        let [c, d, h, w] = shape;
        assert!(
            c == CHANNELS && study.len() == c * d * h * w,
            "augment: expected a [{CHANNELS}, d, h, w] = {shape:?} study, got {} values",
            study.len()
        );
        let mut out = study.to_vec();
        let slice_len = h * w;
        if slice_len == 0 {
            return out;
        }
        let taps = (!self.affine_is_identity() || self.flipped).then(|| self.taps(h, w));
        let noise = (self.noise_std > 0.0).then_some(self.noise_std);
        for (ch, params) in self.channels.iter().enumerate() {
            let range = channel_range(study, ch * d * slice_len, d * slice_len);
            let intensity = Intensity::new(params, range);
            let src = &study[ch * d * slice_len..(ch + 1) * d * slice_len];
            let dst = &mut out[ch * d * slice_len..(ch + 1) * d * slice_len];
            // Slice by slice, so that the intensity and noise passes find the slice in cache.
            for (src, dst) in src
                .chunks_exact(slice_len)
                .zip(dst.chunks_exact_mut(slice_len))
            {
                if let Some(taps) = &taps {
                    for (o, tap) in dst.iter_mut().zip(taps) {
                        *o = tap.eval(src, range.0);
                    }
                }
                intensity.apply(dst);
                if let Some(std) = noise {
                    for o in dst.iter_mut() {
                        let z: f32 = StandardNormal.sample(rng);
                        *o += std * z;
                    }
                }
            }
        }
        out
    }

    /// The bilinear taps of every output pixel of one `h × w` slice, flip included.
    fn taps(&self, h: usize, w: usize) -> Vec<Tap> {
        let (sin, cos) = f64::from(self.angle_rad).sin_cos();
        let inv_scale = 1.0 / f64::from(self.scale);
        let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        let [ty, tx] = self.shift_vox.map(f64::from);
        let mut taps = Vec::with_capacity(h * w);
        for oy in 0..h {
            let dy = oy as f64 - cy - ty;
            for ox in 0..w {
                // The flip comes after the affine: output column `ox` shows affine column `xa`.
                let xa = if self.flipped { w - 1 - ox } else { ox };
                let dx = xa as f64 - cx - tx;
                // Inverse map: rotate by -angle, divide by the scale.
                let x_in = cx + (cos * dx + sin * dy) * inv_scale;
                let y_in = cy + (cos * dy - sin * dx) * inv_scale;
                taps.push(Tap::bilinear(y_in, x_in, h, w));
            }
        }
        taps
    }
}

/// A config magnitude as used: absolute value, non-finite counts as 0.
fn magnitude(x: f32) -> f32 {
    if x.is_finite() { x.abs() } else { 0.0 }
}

/// `(min, max)` of `study[start..start + len]`; `(0, 0)` for an empty range.
fn channel_range(study: &[f32], start: usize, len: usize) -> (f32, f32) {
    let values = &study[start..start + len];
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// One output pixel's bilinear interpolation: four source indices and weights, plus the total
/// weight of neighbours outside the slice, which take the fill value.
#[derive(Debug, Clone, Copy)]
struct Tap {
    /// Indices into an `h × w` slice; 0 (with weight 0) for neighbours outside it.
    idx: [u32; 4],
    /// Weights of `idx`, in the order `(y0, x0)`, `(y0, x0+1)`, `(y0+1, x0)`, `(y0+1, x0+1)`.
    weight: [f32; 4],
    /// Weight of the fill value.
    fill_weight: f32,
}

impl Tap {
    /// The taps of source point `(y, x)` (voxels, centres at integers) in an `h × w` slice.
    fn bilinear(y: f64, x: f64, h: usize, w: usize) -> Tap {
        let mut tap = Tap {
            idx: [0; 4],
            weight: [0.0; 4],
            fill_weight: 1.0,
        };
        // Entirely outside (or not a number): fill. Also keeps the integer casts in range.
        if !(y > -1.0 && y < h as f64 && x > -1.0 && x < w as f64) {
            return tap;
        }
        let (y0, x0) = (y.floor(), x.floor());
        let (fy, fx) = (y - y0, x - x0);
        let (y0, x0) = (y0 as i64, x0 as i64);
        let corners = [
            (0, 0, (1.0 - fy) * (1.0 - fx)),
            (0, 1, (1.0 - fy) * fx),
            (1, 0, fy * (1.0 - fx)),
            (1, 1, fy * fx),
        ];
        let mut fill = 0.0;
        for (k, (oy, ox, wt)) in corners.into_iter().enumerate() {
            let (yy, xx) = (y0 + oy, x0 + ox);
            if (0..h as i64).contains(&yy) && (0..w as i64).contains(&xx) {
                tap.idx[k] = (yy as usize * w + xx as usize) as u32;
                tap.weight[k] = wt as f32;
            } else {
                fill += wt;
            }
        }
        tap.fill_weight = fill as f32;
        tap
    }

    /// The interpolated value in `slice`, neighbours outside it taking `fill`. Exact (bit
    /// for bit) at integer source positions, because the other weights are then 0.
    #[inline]
    fn eval(&self, slice: &[f32], fill: f32) -> f32 {
        let [a, b, c, d] = self.idx.map(|i| slice[i as usize]);
        let [wa, wb, wc, wd] = self.weight;
        (a * wa + b * wb) + (c * wc + d * wd) + fill * self.fill_weight
    }
}

/// The intensity change of one channel, ready to apply: gamma through a lookup table, then
/// scale about the floor and shift.
struct Intensity {
    /// The channel's floor (background) and range `max - min`.
    floor: f32,
    range: f32,
    /// `(t^γ, slope to the next entry)` at `t = i / (GAMMA_LUT_LEN - 1)`, so that a lookup
    /// is one load; `None` when γ = 1 or the channel is flat.
    gamma_lut: Option<Box<[(f32, f32); GAMMA_LUT_LEN]>>,
    /// `None` when scale = 1 and shift = 0.
    affine: Option<(f32, f32)>,
}

impl Intensity {
    /// Prepares `params` for a channel whose values span `(min, max)`.
    fn new(params: &ChannelParams, (min, max): (f32, f32)) -> Intensity {
        let range = max - min;
        let gamma_lut = (params.gamma != 1.0 && range > 0.0 && range.is_finite()).then(|| {
            let g = f64::from(params.gamma);
            let last = (GAMMA_LUT_LEN - 1) as f64;
            let at = |i: usize| (i as f64 / last).powf(g);
            // The last entry's slope is never used (lookups stop at the one before it).
            Box::new(std::array::from_fn(|i| {
                (
                    at(i) as f32,
                    (at((i + 1).min(GAMMA_LUT_LEN - 1)) - at(i)) as f32,
                )
            }))
        });
        let affine =
            (params.scale != 1.0 || params.shift != 0.0).then_some((params.scale, params.shift));
        Intensity {
            floor: min,
            range,
            gamma_lut,
            affine,
        }
    }

    /// Applies gamma, scale and shift to `values` in place.
    fn apply(&self, values: &mut [f32]) {
        let floor = self.floor;
        if let Some(lut) = &self.gamma_lut {
            let to_t = (GAMMA_LUT_LEN - 1) as f32 / self.range;
            for v in values.iter_mut() {
                let pos = ((*v - floor) * to_t).clamp(0.0, (GAMMA_LUT_LEN - 1) as f32);
                let i = (pos as usize).min(GAMMA_LUT_LEN - 2);
                let (t0, slope) = lut[i];
                let t = t0 + slope * (pos - i as f32);
                *v = floor + self.range * t;
            }
        }
        if let Some((scale, shift)) = self.affine {
            for v in values.iter_mut() {
                *v = floor + (*v - floor) * scale + shift;
            }
        }
    }
}

/// Augments one study with a fresh draw from `cfg` (see the module docs). Deterministic for a
/// given `rng` state. With `cfg.enabled == false` or all magnitudes 0 (and `flip_prob` 0) the
/// output equals the input bit for bit and `flipped` is false.
///
/// # Shapes
/// `study`: `[c, d, h, w]` = [`TENSOR_SHAPE`]; `Augmented::data` has the same shape.
///
/// # Panics
/// When `study` does not hold exactly `TENSOR_SHAPE` values.
pub fn augment(study: &[f32], cfg: &AugmentConfig, rng: &mut impl Rng) -> Augmented {
    if !cfg.enabled {
        assert_eq!(
            study.len(),
            TENSOR_SHAPE.iter().product::<usize>(),
            "augment: a study has {TENSOR_SHAPE:?} values"
        );
        return Augmented {
            data: study.to_vec(),
            flipped: false,
        };
    }
    let params = AugmentParams::sample(cfg, rng);
    Augmented {
        data: params.apply(study, rng),
        flipped: params.flipped,
    }
}

#[cfg(test)]
mod tests;
