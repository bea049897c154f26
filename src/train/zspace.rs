//! Augmentation in the standardised space ([`AugmentSpace::Standardized`]).
//!
//! Why: the model divides every voxel by the training studies' spread at that grid position
//! (`model.voxel_norm`), so an affine applied to the preprocessed study moves the head against
//! those statistics and lights up its edges; the demo cohort then lost its lesions under the
//! noise (README "Training"). Applied after the standardisation and the intracranial mask,
//! the same affine moves the lesions and the (near-zero) anatomy together and the
//! statistics stay where they belong. Samples from outside the grid are 0, the value of a
//! voxel at the training mean. The flip and the intensity changes stay in the loader (the
//! statistics are mirror-symmetric, and the flip must reach the report).

use candle_core::{Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::AugmentParams;
use crate::config::{AugmentConfig, AugmentSpace};

/// The loader's share of `cfg`: everything but the in-plane affine when that acts on the
/// standardised input, else all of it.
pub fn loader_config(cfg: &AugmentConfig) -> AugmentConfig {
    match cfg.space {
        AugmentSpace::Input => *cfg,
        AugmentSpace::Standardized => AugmentConfig {
            rotate_deg: 0.0,
            scale: 0.0,
            translate_vox: 0.0,
            ..*cfg
        },
    }
}

/// The share of `cfg` applied to the standardised input (its in-plane affine only); `None`
/// when there is none.
pub fn standardized_config(cfg: &AugmentConfig) -> Option<AugmentConfig> {
    if !(cfg.enabled && cfg.space == AugmentSpace::Standardized && cfg.has_affine()) {
        return None;
    }
    Some(AugmentConfig {
        flip_prob: 0.0,
        noise_std: 0.0,
        gamma: 0.0,
        intensity_shift: 0.0,
        ..*cfg
    })
}

/// Each study of a standardised batch moved by its own draw of `cfg`'s in-plane affine
/// (deterministic for a given `seed`; 0 fills what comes from outside the grid).
///
/// # Shapes
/// `z`: `[b, c, d, h, w]` -> the same.
pub fn warp_batch(z: &Tensor, cfg: &AugmentConfig, seed: u64) -> Result<Tensor> {
    let (b, c, d, h, w) = z.dims5()?;
    let mut data = z.flatten_all()?.to_vec1::<f32>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per_study = c * d * h * w;
    if per_study > 0 {
        for study in data.chunks_exact_mut(per_study) {
            AugmentParams::sample(cfg, &mut rng).warp_slices(study, h, w, 0.0);
        }
    }
    Tensor::from_vec(data, (b, c, d, h, w), z.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn affine(space: AugmentSpace) -> AugmentConfig {
        AugmentConfig {
            rotate_deg: 10.0,
            translate_vox: 3.0,
            scale: 0.05,
            space,
            ..AugmentConfig::default()
        }
    }

    #[test]
    fn the_loader_keeps_the_affine_only_in_input_space() {
        let input = affine(AugmentSpace::Input);
        assert_eq!(loader_config(&input), input);
        assert_eq!(standardized_config(&input), None);
        let z = affine(AugmentSpace::Standardized);
        let l = loader_config(&z);
        assert!(!l.has_affine());
        assert_eq!(
            (l.flip_prob, l.gamma, l.noise_std),
            (z.flip_prob, z.gamma, z.noise_std)
        );
        let s = standardized_config(&z).unwrap();
        assert!(s.has_affine());
        assert_eq!(
            (s.flip_prob, s.gamma, s.noise_std, s.intensity_shift),
            (0.0, 0.0, 0.0, 0.0)
        );
        let flips = AugmentConfig {
            space: AugmentSpace::Standardized,
            ..AugmentConfig::flip_only()
        };
        assert_eq!(standardized_config(&flips), None);
    }

    /// A batch of two identical studies, each a bright 3 x 3 block off-centre on zeros.
    fn blocks() -> (Tensor, [usize; 5]) {
        let shape = [2, 2, 3, 24, 20];
        let [b, c, d, h, w] = shape;
        let mut v = vec![0f32; b * c * d * h * w];
        for study in v.chunks_exact_mut(c * d * h * w) {
            for slice in study.chunks_exact_mut(h * w) {
                for y in 5..8 {
                    for x in 12..15 {
                        slice[y * w + x] = 4.0;
                    }
                }
            }
        }
        (
            Tensor::from_vec(v, (b, c, d, h, w), &Device::Cpu).unwrap(),
            shape,
        )
    }

    #[test]
    fn each_study_moves_by_its_own_draw_with_zero_fill_and_a_seed_repeats() {
        let (z, [_, c, d, h, w]) = blocks();
        let cfg = standardized_config(&affine(AugmentSpace::Standardized)).unwrap();
        let out = warp_batch(&z, &cfg, 7).unwrap();
        assert_eq!(out.dims(), z.dims());
        let v = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let again = warp_batch(&z, &cfg, 7).unwrap();
        assert_eq!(again.flatten_all().unwrap().to_vec1::<f32>().unwrap(), v);
        let n = c * d * h * w;
        let (first, second) = v.split_at(n);
        assert_ne!(first, second, "the two studies drew different affines");
        for study in [first, second] {
            // Every slice of a study moves alike; the block keeps its mass up to the scale
            // and the interpolation, and nothing leaks below 0 (the fill).
            let slices: Vec<&[f32]> = study.chunks_exact(h * w).collect();
            assert!(slices.iter().all(|s| *s == slices[0]));
            let mass: f32 = slices[0].iter().sum();
            assert!((mass / 36.0 - 1.0).abs() < 0.15, "mass {mass}");
            assert!(slices[0].iter().all(|&x| (0.0..=4.0 + 1e-5).contains(&x)));
            assert_ne!(
                slices[0],
                &z.flatten_all().unwrap().to_vec1::<f32>().unwrap()[..h * w]
            );
        }
    }
}
