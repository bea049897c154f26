//! The `paper` preset: what the paper's code actually trains, kept for an honest comparison.
//! A 2x2x2 max pool, one double conv 3 -> 3 with GroupNorm(1), flatten
//! 3 x 8 x 56 x 56 = 75,264 -> Linear(400) -> Linear(embed_dim, no bias). Almost all of its
//! 30.2 M parameters sit in the first linear layer; its compute is small (42 M MACs).

use candle_core::{Module, Result, Tensor, bail};
use candle_nn::{Linear, VarBuilder};

use super::{Level, linear};
use crate::config::{ImageTowerConfig, MODEL_GRID};

/// Width of the hidden linear layer.
pub const HIDDEN: usize = 400;

/// Channels of the double conv (= input channels).
const CHANNELS: usize = ImageTowerConfig::IN_CHANNELS;

/// Flattened features after pooling and the double conv: 3 x 8 x 56 x 56 = 75,264.
pub const FLAT: usize = CHANNELS * (MODEL_GRID[0] / 2) * (MODEL_GRID[1] / 2) * (MODEL_GRID[2] / 2);

/// The paper's tower. Variables: `levels.0.conv{1,2}.{norm,conv}.*`, `hidden.*`, `proj.weight`.
#[derive(Debug, Clone)]
pub struct PaperTower {
    levels: Vec<Level>,
    hidden: Linear,
    proj: Linear,
}

impl PaperTower {
    /// Builds the tower; `embed_dim` is the width of the final projection.
    pub fn new(embed_dim: usize, vb: VarBuilder) -> Result<Self> {
        let level = Level::new(CHANNELS, CHANNELS, Some((2, 2, 2)), vb.pp("levels").pp(0))?;
        Ok(Self {
            levels: vec![level],
            hidden: linear(FLAT, HIDDEN, true, vb.pp("hidden"))?,
            proj: linear(HIDDEN, embed_dim, false, vb.pp("proj"))?,
        })
    }
}

impl Module for PaperTower {
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> `[b, embed_dim]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, _, d, h, w) = x.dims5()?;
        if [d, h, w] != MODEL_GRID {
            bail!(
                "paper tower: its flatten needs the {MODEL_GRID:?} grid, got input {:?}",
                x.dims()
            );
        }
        let mut x = x.clone();
        for level in &self.levels {
            x = level.forward(&x)?; // [b, 3, 8, 56, 56]
        }
        let x = x.reshape((b, FLAT))?; // [b, 75264]
        let x = self.hidden.forward(&x)?; // [b, 400]
        self.proj.forward(&x) // [b, embed_dim]
    }
}

/// Parameters of the `paper` preset.
pub(super) fn parameter_count(embed_dim: usize) -> usize {
    Level::parameter_count(CHANNELS, CHANNELS) + FLAT * HIDDEN + HIDDEN + HIDDEN * embed_dim
}

/// MACs of one study.
pub(super) fn macs_per_study(embed_dim: usize) -> u64 {
    Level::macs(CHANNELS, CHANNELS, FLAT / CHANNELS) + (FLAT * HIDDEN + HIDDEN * embed_dim) as u64
}
