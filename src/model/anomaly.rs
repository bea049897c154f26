//! Anomaly pooling: how far the brightest and darkest voxels of each sequence stand out of
//! the (standardised) input, as a few soft maxima added to the image embedding.
//!
//! After the per-voxel standardisation a lesion is a cluster of large positive (DWI, FLAIR)
//! or negative (T2* blooming) values, and a normal study has none. The convolutional tower
//! must learn that from a few hundred studies; these features state it directly. Per
//! sequence and sign, the soft maximum `tau * ln(mean(exp(z / tau)))` over the whole grid at
//! three temperatures (small `tau`: close to the single largest value; larger: how many
//! voxels are large), 3 x 2 x 3 = [`ANOMALY_FEATURES`] numbers, go through a linear layer
//! to the joint space's width and are added to the tower's output. No gradient reaches the
//! input; the features are invariant to left-right flips.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::tower::linear;

/// Temperatures of the soft maxima (in units of the standardised input).
pub const TEMPERATURES: [f64; 3] = [0.25, 0.5, 1.0];

/// Number of features per study for a 3-channel input.
pub const ANOMALY_FEATURES: usize = 3 * 2 * TEMPERATURES.len();

/// The features and their projection (variables `proj.weight`, `proj.bias` under its
/// builder).
#[derive(Debug, Clone)]
pub struct AnomalyPool {
    proj: Linear,
}

impl AnomalyPool {
    /// A projection from [`ANOMALY_FEATURES`] to `out` dimensions.
    pub fn new(out: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            proj: linear(ANOMALY_FEATURES, out, true, vb.pp("proj"))?,
        })
    }
}

/// The soft maxima of a `[b, c, ...]` input: `[b, c * 2 * TEMPERATURES.len()]`, ordered by
/// channel, then sign (+, -), then temperature.
pub fn soft_maxima(x: &Tensor) -> Result<Tensor> {
    let (b, c) = (x.dim(0)?, x.dim(1)?);
    let flat = x.flatten_from(2)?; // [b, c, n]
    let mut parts = Vec::with_capacity(2 * TEMPERATURES.len());
    for signed in [flat.clone(), flat.neg()?] {
        let top = signed.max_keepdim(D::Minus1)?; // [b, c, 1]
        let shifted = signed.broadcast_sub(&top)?;
        for tau in TEMPERATURES {
            // tau * ln(mean(exp((z - max) / tau))) + max: stable for any tau and range.
            let lse = (shifted
                .affine(1.0 / tau, 0.0)?
                .exp()?
                .mean_keepdim(D::Minus1)?
                .log()?
                * tau)?;
            parts.push((lse + &top)?);
        }
    }
    // [b, c, parts] -> [b, c * parts]
    Tensor::cat(&parts, D::Minus1)?
        .reshape((b, c * 2 * TEMPERATURES.len()))?
        .detach()
        .contiguous()
}

impl Module for AnomalyPool {
    /// # Shapes
    /// `[b, 3, d, h, w]` -> `[b, out]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.proj.forward(&soft_maxima(x)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::init::seeded_var_builder;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn input(spot: Option<(usize, f32)>) -> Tensor {
        let (c, n) = (3, 4 * 6 * 6);
        let mut v: Vec<f32> = (0..c * n)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.1)
            .collect();
        if let Some((ch, value)) = spot {
            v[ch * n + 50] = value;
        }
        Tensor::from_vec(v, (1, c, 4, 6, 6), &Device::Cpu).unwrap()
    }

    #[test]
    fn soft_maxima_lie_between_mean_and_max_and_sharpen_as_tau_falls() {
        let x = input(None);
        let f = soft_maxima(&x).unwrap().to_vec2::<f32>().unwrap()[0].clone();
        assert_eq!(f.len(), ANOMALY_FEATURES);
        let flat = x.flatten_from(2).unwrap().to_vec3::<f32>().unwrap()[0].clone();
        for (ch, values) in flat.iter().enumerate() {
            for (s, sign) in [1.0f32, -1.0].iter().enumerate() {
                let z: Vec<f32> = values.iter().map(|v| v * sign).collect();
                let max = z.iter().cloned().fold(f32::MIN, f32::max);
                let mean = z.iter().sum::<f32>() / z.len() as f32;
                let k = ch * 6 + s * 3;
                let row = &f[k..k + 3];
                assert!(
                    row.iter().all(|v| *v <= max + 1e-5 && *v >= mean - 1e-5),
                    "{row:?}"
                );
                assert!(row[0] > row[1] && row[1] > row[2], "{row:?}");
            }
        }
    }

    #[test]
    fn a_bright_spot_raises_its_own_channel_and_sign_only() {
        let base = soft_maxima(&input(None)).unwrap().to_vec2::<f32>().unwrap()[0].clone();
        let spot = soft_maxima(&input(Some((1, 6.0))))
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()[0]
            .clone();
        for (k, (a, b)) in base.iter().zip(&spot).enumerate() {
            let (ch, sign) = (k / 6, (k / 3) % 2);
            if ch == 1 && sign == 0 {
                assert!(b - a > 0.5, "feature {k}: {a} -> {b}");
            } else {
                assert!((b - a).abs() < 0.05, "feature {k}: {a} -> {b}");
            }
        }
    }

    #[test]
    fn features_ignore_left_right_flips_and_the_projection_has_the_asked_width() {
        let x = input(Some((0, 4.0)));
        let w = x.dim(4).unwrap();
        let idx =
            Tensor::from_vec((0..w as u32).rev().collect::<Vec<_>>(), w, &Device::Cpu).unwrap();
        let flipped = x.index_select(&idx, 4).unwrap();
        let (a, b) = (
            soft_maxima(&x).unwrap().to_vec2::<f32>().unwrap(),
            soft_maxima(&flipped).unwrap().to_vec2::<f32>().unwrap(),
        );
        for (u, v) in a[0].iter().zip(&b[0]) {
            assert!((u - v).abs() < 1e-5);
        }
        let vm = VarMap::new();
        let pool =
            AnomalyPool::new(7, seeded_var_builder(&vm, 3, DType::F32, &Device::Cpu)).unwrap();
        assert_eq!(pool.forward(&x).unwrap().dims(), [1, 7]);
        assert!(vm.data().lock().unwrap().contains_key("proj.weight"));
    }
}
