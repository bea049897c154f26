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
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A small grid: non-square so that `h` and `w` cannot be confused.
    const SMALL: [usize; 4] = [3, 2, 40, 48];
    /// Background (clip floor) of each channel of the synthetic head.
    const FLOOR: [f32; 3] = [-1.8, -2.2, -1.5];

    /// A synthetic z-scored study: a textured ellipse (the head) on a constant floor per
    /// channel.
    fn head(shape: [usize; 4]) -> Vec<f32> {
        let [c, d, h, w] = shape;
        let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (ry, rx) = (h as f32 * 0.38, w as f32 * 0.36);
        let mut v = Vec::with_capacity(c * d * h * w);
        for ch in 0..c {
            for z in 0..d {
                for y in 0..h {
                    for x in 0..w {
                        let (ny, nx) = ((y as f32 - cy) / ry, (x as f32 - cx) / rx);
                        v.push(if ny * ny + nx * nx < 1.0 {
                            (0.7 * x as f32 + 0.3 * y as f32 + z as f32 + ch as f32).sin() * 1.2
                        } else {
                            FLOOR[ch]
                        });
                    }
                }
            }
        }
        v
    }

    /// A constant floor with one bright pixel at `(y, x)` in every channel and slice.
    fn point(shape: [usize; 4], y: usize, x: usize) -> Vec<f32> {
        let [c, d, h, w] = shape;
        let mut v = vec![-2.0; c * d * h * w];
        for s in 0..c * d {
            v[s * h * w + y * w + x] = 5.0;
        }
        v
    }

    /// Intensity-weighted centroid `(y, x)` above the floor of slice `s`.
    fn centroid(v: &[f32], shape: [usize; 4], s: usize) -> (f64, f64) {
        let [_, _, h, w] = shape;
        let slice = &v[s * h * w..(s + 1) * h * w];
        let floor = slice.iter().copied().fold(f32::INFINITY, f32::min);
        let (mut m, mut my, mut mx) = (0.0, 0.0, 0.0);
        for y in 0..h {
            for x in 0..w {
                let a = f64::from(slice[y * w + x] - floor);
                m += a;
                my += a * y as f64;
                mx += a * x as f64;
            }
        }
        (my / m, mx / m)
    }

    fn zero_config() -> AugmentConfig {
        AugmentConfig {
            flip_prob: 0.0,
            ..AugmentConfig::flip_only()
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn identity_configs_return_the_input_bit_for_bit() {
        let study = head(TENSOR_SHAPE);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let off = AugmentConfig {
            enabled: false,
            ..AugmentConfig::default()
        };
        for cfg in [off, zero_config()] {
            let a = augment(&study, &cfg, &mut rng);
            assert!(!a.flipped);
            assert_eq!(bits(&a.data), bits(&study));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let out = AugmentParams::IDENTITY.apply(&study, &mut rng);
        assert_eq!(bits(&out), bits(&study));
    }

    #[test]
    fn flip_mirrors_w_exactly_and_twice_restores() {
        let study = head(TENSOR_SHAPE);
        let [c, d, h, w] = TENSOR_SHAPE;
        let cfg = AugmentConfig {
            flip_prob: 1.0,
            ..zero_config()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let once = augment(&study, &cfg, &mut rng);
        assert!(once.flipped);
        for row in 0..c * d * h {
            for x in 0..w {
                assert_eq!(
                    once.data[row * w + x].to_bits(),
                    study[row * w + w - 1 - x].to_bits()
                );
            }
        }
        let twice = augment(&once.data, &cfg, &mut rng);
        assert!(twice.flipped);
        assert_eq!(bits(&twice.data), bits(&study));
    }

    #[test]
    fn a_blob_left_of_the_midline_moves_right_after_the_flip() {
        let shape = TENSOR_SHAPE;
        let [_, _, h, w] = shape;
        // Column 20 of 112 is on the patient's left (w increases toward Right).
        let study = point(shape, h / 2, 20);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let cfg = AugmentConfig {
            flip_prob: 1.0,
            ..zero_config()
        };
        let a = augment(&study, &cfg, &mut rng);
        for s in [0, 17, 47] {
            let (_, x) = centroid(&a.data, shape, s);
            assert_eq!(x, (w - 1 - 20) as f64);
            assert!(x > (w as f64 - 1.0) / 2.0);
        }
    }

    #[test]
    fn an_integer_translation_shifts_a_point_exactly() {
        let shape = SMALL;
        let [_, _, h, w] = shape;
        let study = point(shape, 10, 30);
        let params = AugmentParams {
            shift_vox: [3.0, -4.0],
            ..AugmentParams::IDENTITY
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let out = params.apply_shaped(&study, shape, &mut rng);
        for s in 0..6 {
            let slice = &out[s * h * w..(s + 1) * h * w];
            for (i, &v) in slice.iter().enumerate() {
                let want = if i == 13 * w + 26 { 5.0 } else { -2.0 };
                assert_eq!(v, want, "slice {s} pixel {i}");
            }
        }
    }

    #[test]
    fn warp_slices_shifts_every_slice_and_fills_from_outside() {
        let (h, w) = (6, 5);
        let mut data = vec![1.0f32; 2 * h * w];
        data[2 * w + 3] = 9.0;
        data[h * w + 2 * w + 3] = 9.0;
        let params = AugmentParams {
            shift_vox: [2.0, 0.0],
            ..AugmentParams::IDENTITY
        };
        params.warp_slices(&mut data, h, w, 0.0);
        for slice in data.chunks_exact(h * w) {
            assert_eq!(slice[4 * w + 3], 9.0, "the point moved two rows down");
            assert!(
                slice[..2 * w].iter().all(|&v| v == 0.0),
                "rows from outside are the fill"
            );
            assert_eq!(slice[2 * w + 3], 1.0);
        }
        let before = data.clone();
        AugmentParams::IDENTITY.warp_slices(&mut data, h, w, 0.0);
        assert_eq!(bits(&data), bits(&before));
    }

    #[test]
    fn a_random_translation_moves_the_centroid_by_the_drawn_shift() {
        let shape = TENSOR_SHAPE;
        let study = point(shape, 50, 60);
        let cfg = AugmentConfig {
            translate_vox: 4.0,
            ..zero_config()
        };
        for seed in 0..4 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let params = AugmentParams::sample(&cfg, &mut rng.clone());
            let a = augment(&study, &cfg, &mut rng);
            let (y, x) = centroid(&a.data, shape, 7);
            let [ty, tx] = params.shift_vox.map(f64::from);
            assert!(ty.abs() <= 4.0 && tx.abs() <= 4.0);
            assert!((y - (50.0 + ty)).abs() < 1e-3, "{y} {ty}");
            assert!((x - (60.0 + tx)).abs() < 1e-3, "{x} {tx}");
        }
    }

    #[test]
    fn rotation_turns_right_toward_anterior_and_scale_stretches_from_the_centre() {
        let shape = SMALL;
        let [_, _, h, w] = shape;
        let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
        // 10 voxels toward +w (Right) of the centre; half-integer centres, so a 2x2 blob.
        let mut study = vec![-2.0f32; shape.iter().product()];
        for s in 0..6 {
            for (y, x) in [(19, 33), (19, 34), (20, 33), (20, 34)] {
                study[s * h * w + y * w + x] = 5.0;
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rotated = AugmentParams {
            angle_rad: std::f32::consts::FRAC_PI_2,
            ..AugmentParams::IDENTITY
        }
        .apply_shaped(&study, shape, &mut rng);
        let (y, x) = centroid(&rotated, shape, 0);
        assert!(
            (y - (cy + 10.0)).abs() < 0.05 && (x - cx).abs() < 0.05,
            "{y} {x}"
        );
        let scaled = AugmentParams {
            scale: 1.2,
            ..AugmentParams::IDENTITY
        }
        .apply_shaped(&study, shape, &mut rng);
        let (y, x) = centroid(&scaled, shape, 3);
        assert!(
            (y - cy).abs() < 0.05 && (x - (cx + 12.0)).abs() < 0.05,
            "{y} {x}"
        );
    }

    #[test]
    fn out_of_grid_samples_take_the_channel_floor() {
        let shape = SMALL;
        let [c, d, h, w] = shape;
        let study = head(shape);
        let params = AugmentParams {
            shift_vox: [0.0, 30.5],
            ..AugmentParams::IDENTITY
        };
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let out = params.apply_shaped(&study, shape, &mut rng);
        for ch in 0..c {
            for s in 0..d {
                let row = &out[((ch * d + s) * h + 5) * w..][..w];
                // Columns 0..30 sample left of the grid.
                assert!(row[..30].iter().all(|&v| v == FLOOR[ch]), "{row:?}");
            }
        }
    }

    #[test]
    fn outputs_are_finite_even_for_extreme_configs() {
        let study = head(TENSOR_SHAPE);
        let extreme = AugmentConfig {
            enabled: true,
            flip_prob: f32::NAN,
            rotate_deg: 720.0,
            scale: 5.0,
            translate_vox: 500.0,
            noise_std: -1.0,
            gamma: 3.0,
            intensity_shift: f32::INFINITY,
            space: crate::config::AugmentSpace::Input,
        };
        for (seed, cfg) in [(7, AugmentConfig::default()), (8, extreme)] {
            for k in 0..3 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed * 10 + k);
                let a = augment(&study, &cfg, &mut rng);
                assert_eq!(a.data.len(), study.len());
                assert!(a.data.iter().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn intensity_changes_keep_the_background() {
        let shape = TENSOR_SHAPE;
        let [_, d, h, w] = shape;
        let study = head(shape);
        let intensity_only = AugmentConfig {
            flip_prob: 0.0,
            rotate_deg: 0.0,
            scale: 0.0,
            translate_vox: 0.0,
            ..AugmentConfig::default()
        };
        for seed in 0..4 {
            // Intensity only: every background voxel is known. Then the default config: the
            // corners stay background under the small affine.
            for full in [false, true] {
                let cfg = if full {
                    AugmentConfig::default()
                } else {
                    intensity_only
                };
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let a = augment(&study, &cfg, &mut rng);
                for ch in 0..3 {
                    let n = d * h * w;
                    let (mut sum, mut count) = (0.0f64, 0usize);
                    for i in 0..n {
                        let (y, x) = ((i / w) % h, i % w);
                        let corner = y.min(h - 1 - y) < 6 && x.min(w - 1 - x) < 6;
                        if study[ch * n + i] == FLOOR[ch] && (!full || corner) {
                            sum += f64::from(a.data[ch * n + i]);
                            count += 1;
                        }
                    }
                    let mean = sum / count as f64;
                    assert!(count > 1000);
                    assert!((mean - f64::from(FLOOR[ch])).abs() < 0.2, "{mean} {full}");
                }
            }
        }
    }

    #[test]
    fn gamma_keeps_floor_and_maximum_and_order() {
        let shape = SMALL;
        let study = head(shape);
        let n = shape[1] * shape[2] * shape[3];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for gamma in [0.86f32, 1.4] {
            let params = AugmentParams {
                channels: [ChannelParams {
                    gamma,
                    ..ChannelParams::IDENTITY
                }; CHANNELS],
                ..AugmentParams::IDENTITY
            };
            let out = params.apply_shaped(&study, shape, &mut rng);
            let (lo, hi) = channel_range(&study, 0, n);
            let mut pairs: Vec<(f32, f32)> = study[..n].iter().copied().zip(out).collect();
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(pairs[0], (lo, lo));
            assert!((pairs[n - 1].1 - hi).abs() < 1e-5);
            assert!(pairs.windows(2).all(|p| p[0].1 <= p[1].1 + 1e-6));
            // Against the exact power, relative to the range.
            for (x, y) in pairs {
                let t = (f64::from(x - lo) / f64::from(hi - lo)).powf(f64::from(gamma));
                let want = f64::from(lo) + f64::from(hi - lo) * t;
                assert!((f64::from(y) - want).abs() < 1e-3 * f64::from(hi - lo));
            }
        }
    }

    #[test]
    fn noise_has_the_requested_std() {
        let study = head(TENSOR_SHAPE);
        let cfg = AugmentConfig {
            noise_std: 0.05,
            ..zero_config()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let a = augment(&study, &cfg, &mut rng);
        let n = study.len() as f64;
        let diff = a.data.iter().zip(&study).map(|(a, b)| f64::from(a - b));
        let mean = diff.clone().sum::<f64>() / n;
        let std = (diff.map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 1e-3, "{mean}");
        assert!((std - 0.05).abs() < 0.005, "{std}");
    }

    #[test]
    fn the_same_seed_gives_the_same_augmentation() {
        let study = head(TENSOR_SHAPE);
        let cfg = AugmentConfig::default();
        let run = |seed| augment(&study, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
        let (a, b, c) = (run(11), run(11), run(12));
        assert_eq!(a.flipped, b.flipped);
        assert_eq!(bits(&a.data), bits(&b.data));
        assert_ne!(bits(&a.data), bits(&c.data));
    }

    #[test]
    fn the_config_round_trips_and_fills_missing_fields() {
        let cfg: AugmentConfig = serde_json::from_str(r#"{"noise_std": 0.0}"#).unwrap();
        assert_eq!(
            cfg,
            AugmentConfig {
                noise_std: 0.0,
                ..AugmentConfig::default()
            }
        );
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<AugmentConfig>(&json).unwrap(), cfg);
    }

    #[test]
    #[should_panic(expected = "augment")]
    fn a_wrongly_sized_study_is_refused() {
        augment(
            &[0.0; 10],
            &AugmentConfig::default(),
            &mut ChaCha8Rng::seed_from_u64(0),
        );
    }
}
