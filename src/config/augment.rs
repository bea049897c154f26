//! Settings of the training-time augmentation (flips, in-plane affine, intensity, noise).

use serde::{Deserialize, Serialize};

/// Where the in-plane affine (rotation, scale, shift) of [`AugmentConfig`] acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AugmentSpace {
    /// On the preprocessed study, before the model's per-voxel standardisation: it moves
    /// each head against the voxel statistics.
    #[default]
    Input,
    /// On the standardised, masked model input (needs `model.voxel_norm`): lesions move,
    /// the statistics stay aligned with the anatomy, and outside samples are 0 (the mean).
    /// Flips and intensity changes still act on the input.
    Standardized,
}

/// Augmentation settings for training; each magnitude is the half-width of a uniform draw
/// (except [`Self::flip_prob`] and [`Self::noise_std`]). All magnitudes 0 (or
/// `enabled == false`) leaves the study unchanged.
///
/// Non-finite magnitudes count as 0, negative ones by their absolute value, and the relative
/// scales are capped at 0.9 so that no scale factor reaches 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Off: `train::augment::augment` returns the study unchanged and draws nothing from the rng.
    pub enabled: bool,
    /// Probability of mirroring left-right (along `w`).
    pub flip_prob: f32,
    /// Largest in-plane rotation about the slice axis, degrees (either direction).
    pub rotate_deg: f32,
    /// Largest relative isotropic in-plane scale: the factor is drawn in `1 ± scale`.
    pub scale: f32,
    /// Largest in-plane shift along each of `h` and `w`, voxels.
    pub translate_vox: f32,
    /// Standard deviation of the additive Gaussian noise, in z-score units (tissue std ≈ 1).
    pub noise_std: f32,
    /// Largest `|ln γ|` of the per-channel gamma.
    pub gamma: f32,
    /// Per channel: additive shift drawn in `±intensity_shift` (z-score units) and
    /// multiplicative factor drawn in `1 ± intensity_shift`.
    pub intensity_shift: f32,
    /// Where the in-plane affine acts (absent in older configs: `input`).
    pub space: AugmentSpace,
}

impl AugmentConfig {
    /// Whether the in-plane affine is drawn at all (some magnitude is non-zero).
    pub fn has_affine(&self) -> bool {
        [self.rotate_deg, self.scale, self.translate_vox]
            .iter()
            .any(|m| m.is_finite() && *m != 0.0)
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            enabled: true,
            flip_prob: 0.5,
            rotate_deg: 8.0,
            scale: 0.08,
            translate_vox: 4.0,
            noise_std: 0.05,
            gamma: 0.15,
            intensity_shift: 0.1,
            space: AugmentSpace::Input,
        }
    }
}

impl AugmentConfig {
    /// Left-right flips only: the training default. The flip keeps the per-voxel input
    /// statistics valid (they are mirror-symmetric) and swaps sides in the report; rotations,
    /// scaling, shifts and intensity changes move every head against those statistics and
    /// drowned the lesions (measured on the demo cohort, README "Training": validation
    /// report -> study R@5 0.10-0.25 with them, 0.35-0.45 with flips only).
    pub fn flip_only() -> Self {
        AugmentConfig {
            enabled: true,
            flip_prob: 0.5,
            rotate_deg: 0.0,
            scale: 0.0,
            translate_vox: 0.0,
            noise_std: 0.0,
            gamma: 0.0,
            intensity_shift: 0.0,
            space: AugmentSpace::Input,
        }
    }
}
