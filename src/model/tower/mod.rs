//! The image tower: a study `[b, 3, 16, 112, 112]` (DWI, T2*, FLAIR) in, an embedding
//! `[b, embed_dim]` out. Two presets (see [`TowerPreset`]): [`unet`] (default) and [`paper`].
//!
//! Variable names mirror the struct fields, so checkpoint keys read like the model tree:
//! `levels.0.conv1.norm.weight`, `levels.0.conv1.conv.weight`, ..., `proj.weight`.

use candle_core::{Module, Result, Tensor, bail};
use candle_nn::{Linear, VarBuilder};

use crate::config::{ImageTowerConfig, MODEL_GRID, TowerPreset};
use crate::model::conv3d::Conv3d;
use crate::model::pool::{PoolKernel, max_pool3d};
use fused::GroupNorm;

pub mod fused;
pub mod paper;
pub mod unet;

pub use paper::PaperTower;
pub use unet::UnetTower;

/// GroupNorm epsilon (PyTorch's default).
const GROUP_NORM_EPS: f64 = 1e-5;

/// The image tower of either preset.
#[derive(Debug, Clone)]
pub enum ImageTower {
    /// The U-Net encoder preset.
    Unet(UnetTower),
    /// The paper's small preset.
    Paper(PaperTower),
}

/// Builds the tower described by `cfg`, creating or loading its variables through `vb`
/// (use [`crate::model::init::seeded_var_builder`] for a reproducible fresh model).
pub fn build_tower(cfg: &ImageTowerConfig, vb: VarBuilder) -> Result<ImageTower> {
    cfg.validate().map_err(candle_core::Error::Msg)?;
    Ok(match cfg.preset {
        TowerPreset::Unet => ImageTower::Unet(UnetTower::new(cfg, vb)?),
        TowerPreset::Paper => ImageTower::Paper(PaperTower::new(cfg.embed_dim, vb)?),
    })
}

impl Module for ImageTower {
    /// # Shapes
    /// - `x`: `[b, 3, d, h, w]`; `[b, 3, 16, 112, 112]` for the `paper` preset, whose flatten
    ///   fixes the grid; the `unet` preset accepts any grid that survives its poolings
    /// - result: `[b, embed_dim]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, _, _, _) = x.dims5()?;
        if c != ImageTowerConfig::IN_CHANNELS {
            bail!(
                "image tower: expected {} input channels (DWI, T2*, FLAIR), got input {:?}",
                ImageTowerConfig::IN_CHANNELS,
                x.dims()
            );
        }
        match self {
            ImageTower::Unet(t) => t.forward(x),
            ImageTower::Paper(t) => t.forward(x),
        }
    }
}

/// Number of trainable parameters of the tower `cfg` describes (computed from the layer plan,
/// no weights needed).
pub fn parameter_count(cfg: &ImageTowerConfig) -> usize {
    match cfg.preset {
        TowerPreset::Unet => unet::parameter_count(cfg),
        TowerPreset::Paper => paper::parameter_count(cfg.embed_dim),
    }
}

/// Multiply-accumulates of one forward pass for one study on the [`MODEL_GRID`]
/// (convolutions and linear layers; normalisation, pooling and ReLU are not counted).
/// A training step costs about three times this per study (forward, input and weight grads).
pub fn macs_per_study(cfg: &ImageTowerConfig) -> u64 {
    match cfg.preset {
        TowerPreset::Unet => unet::macs_per_study(cfg, MODEL_GRID),
        TowerPreset::Paper => paper::macs_per_study(cfg.embed_dim),
    }
}

/// GroupNorm groups for `channels` input channels: 8, or 1 when there are fewer than 8
/// (pytorch-3dunet's rule).
fn norm_groups(channels: usize) -> usize {
    if channels < 8 { 1 } else { 8 }
}

/// pytorch-3dunet's single conv in `gcr` order: GroupNorm on the *input* channels, Conv3d
/// 3x3x3 padding 1 without bias (the norm makes a bias redundant), ReLU. GroupNorm and ReLU
/// are the fused CPU ops of [`fused`] (same variables and results as candle-nn's).
#[derive(Debug, Clone)]
pub struct NormConvRelu {
    norm: GroupNorm,
    conv: Conv3d,
}

impl NormConvRelu {
    /// Variables `norm.{weight,bias}` and `conv.weight` under `vb`.
    pub fn new(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Self> {
        let norm = GroupNorm::new(norm_groups(c_in), c_in, GROUP_NORM_EPS, vb.pp("norm"))?;
        let conv = Conv3d::new(vb.pp("conv"), c_in, c_out, 3, 1, 1, false)?;
        Ok(Self { norm, conv })
    }

    /// Parameters: GroupNorm scale and shift, conv weight.
    fn parameter_count(c_in: usize, c_out: usize) -> usize {
        2 * c_in + c_out * c_in * 27
    }
}

impl Module for NormConvRelu {
    /// # Shapes
    /// `[b, c_in, d, h, w]` -> `[b, c_out, d, h, w]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.norm.forward(x)?; // [b, c_in, d, h, w]
        fused::relu(&self.conv.forward(&x)?) // [b, c_out, d, h, w]
    }
}

/// One encoder level: optional max pooling, then a double conv whose first conv has
/// `max(c_out / 2, c_in)` output channels (pytorch-3dunet's `DoubleConv` encoder rule).
#[derive(Debug, Clone)]
pub struct Level {
    pool: Option<PoolKernel>,
    conv1: NormConvRelu,
    conv2: NormConvRelu,
}

impl Level {
    /// Variables `conv1.*` and `conv2.*` under `vb`.
    pub fn new(
        c_in: usize,
        c_out: usize,
        pool: Option<PoolKernel>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let c_mid = Self::mid_channels(c_in, c_out);
        Ok(Self {
            pool,
            conv1: NormConvRelu::new(c_in, c_mid, vb.pp("conv1"))?,
            conv2: NormConvRelu::new(c_mid, c_out, vb.pp("conv2"))?,
        })
    }

    /// Output channels of the first conv.
    pub fn mid_channels(c_in: usize, c_out: usize) -> usize {
        (c_out / 2).max(c_in)
    }

    /// Parameters of a level `c_in -> c_out`.
    fn parameter_count(c_in: usize, c_out: usize) -> usize {
        let c_mid = Self::mid_channels(c_in, c_out);
        NormConvRelu::parameter_count(c_in, c_mid) + NormConvRelu::parameter_count(c_mid, c_out)
    }

    /// MACs of the two 3x3x3 convs of a level at `voxels` output voxels.
    fn macs(c_in: usize, c_out: usize, voxels: usize) -> u64 {
        let c_mid = Self::mid_channels(c_in, c_out);
        ((c_in * c_mid + c_mid * c_out) * 27 * voxels) as u64
    }
}

impl Module for Level {
    /// # Shapes
    /// `[b, c_in, d, h, w]` -> `[b, c_out, d', h', w']`, `n' = n / k` with pooling, else `n`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = match self.pool {
            Some(k) => max_pool3d(x, k)?, // [b, c_in, d', h', w']
            None => x.clone(),
        };
        let x = self.conv1.forward(&x)?; // [b, c_mid, d', h', w']
        self.conv2.forward(&x) // [b, c_out, d', h', w']
    }
}

/// A linear layer initialised like PyTorch's `nn.Linear`: weight and bias uniform in
/// `±1 / sqrt(c_in)`. Variables `weight` `[c_out, c_in]` and, with `bias`, `bias` `[c_out]`.
pub(crate) fn linear(c_in: usize, c_out: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (c_in as f64).sqrt();
    let init = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let w = vb.get_with_hints((c_out, c_in), "weight", init)?;
    let b = if bias {
        Some(vb.get_with_hints(c_out, "bias", init)?)
    } else {
        None
    };
    Ok(Linear::new(w, b))
}

#[cfg(test)]
mod tests;
