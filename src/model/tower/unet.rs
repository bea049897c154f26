//! The `unet` preset: the contracting path of pytorch-3dunet's 3-D U-Net, global average
//! pooling and a linear projection.
//!
//! # Why widths 16-32-64-128 (the default `f_maps`)
//! The target is training on a 2-core laptop CPU. Nearly all the compute sits in the first,
//! full-resolution level (16 x 112 x 112 = 200,704 voxels), whose cost grows with the square
//! of the widths. pytorch-3dunet's usual 32-64-128-256 costs 6.68 GMAC per study; halving every
//! width gives 1.73 GMAC (3.9x cheaper; a batch-8 training step is then ~42 GMAC, about 1 s at
//! ~85 GFLOP/s) with 0.47 M parameters, enough capacity for a cohort of a few hundred studies.
//! Four levels bring the 16-slice depth to 2 (pooling halves it three times) and the receptive
//! field to the whole 112 x 112 slice after global pooling.
//!
//! Default preset, computed by [`super::parameter_count`] and [`super::macs_per_study`]
//! (checked in the tests): **473,054 parameters, 1,734,115,328 MACs per study**
//! (level 0: 823.7 M, level 1: 520.2 M, level 2: 260.1 M, level 3: 130.1 M, projection 33 k).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::{Level, linear};
use crate::config::{GlobalPool, ImageTowerConfig};

/// The U-Net encoder tower. Variables: `levels.{i}.conv{1,2}.{norm,conv}.*`, `proj.*`.
#[derive(Debug, Clone)]
pub struct UnetTower {
    input_pool: usize,
    levels: Vec<Level>,
    pool: GlobalPool,
    proj: Linear,
}

impl UnetTower {
    /// `cfg.f_maps[i]` output channels at level `i`; 2x2x2 pooling before every level but the
    /// first; optional in-plane average pooling of the input (`cfg.input_pool`).
    pub fn new(cfg: &ImageTowerConfig, vb: VarBuilder) -> Result<Self> {
        let (f_maps, embed_dim, pool) = (&cfg.f_maps, cfg.embed_dim, cfg.pool);
        let mut levels = Vec::with_capacity(f_maps.len());
        let mut c_in = ImageTowerConfig::IN_CHANNELS;
        for (i, &c_out) in f_maps.iter().enumerate() {
            let pool = (i > 0).then_some((2, 2, 2));
            levels.push(Level::new(c_in, c_out, pool, vb.pp("levels").pp(i))?);
            c_in = c_out;
        }
        let proj = linear(c_in * pooled_width(pool), embed_dim, true, vb.pp("proj"))?;
        Ok(Self {
            input_pool: cfg.input_pool,
            levels,
            pool,
            proj,
        })
    }
}

impl Module for UnetTower {
    /// # Shapes
    /// `[b, 3, d, h, w]` -> `[b, embed_dim]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = average_inplane(x, self.input_pool)?; // [b, 3, 16, 112 / p, 112 / p]
        for level in &self.levels {
            x = level.forward(&x)?; // [b, f_maps[i], 16 / 2^i, 112 / 2^i, 112 / 2^i]
        }
        let avg = x.mean((2, 3, 4))?; // [b, c]
        let x = match self.pool {
            GlobalPool::Avg => avg,
            GlobalPool::AvgMax => {
                let max = x.flatten_from(2)?.max(2)?; // [b, c]
                Tensor::cat(&[avg, max], 1)? // [b, 2c]
            }
        };
        self.proj.forward(&x) // [b, embed_dim]
    }
}

/// Averages `p x p` in-plane blocks of a `[b, c, d, h, w]` volume (`p` = 1 returns it as is).
fn average_inplane(x: &Tensor, p: usize) -> Result<Tensor> {
    if p == 1 {
        return Ok(x.clone());
    }
    let (b, c, d, h, w) = x.dims5()?;
    x.reshape((b, c * d, h, w))?
        .avg_pool2d(p)?
        .reshape((b, c, d, h / p, w / p))
}

/// Parameters of the `unet` preset.
pub(super) fn parameter_count(cfg: &ImageTowerConfig) -> usize {
    let (f_maps, embed_dim, pool) = (&cfg.f_maps, cfg.embed_dim, cfg.pool);
    let mut c_in = ImageTowerConfig::IN_CHANNELS;
    let mut n = 0;
    for &c_out in f_maps {
        n += Level::parameter_count(c_in, c_out);
        c_in = c_out;
    }
    n + c_in * pooled_width(pool) * embed_dim + embed_dim
}

/// Features per channel after global pooling.
fn pooled_width(pool: GlobalPool) -> usize {
    match pool {
        GlobalPool::Avg => 1,
        GlobalPool::AvgMax => 2,
    }
}

/// MACs of one study on `grid` `[d, h, w]`.
pub(super) fn macs_per_study(cfg: &ImageTowerConfig, grid: [usize; 3]) -> u64 {
    let (f_maps, embed_dim, pool) = (&cfg.f_maps, cfg.embed_dim, cfg.pool);
    let grid = [grid[0], grid[1] / cfg.input_pool, grid[2] / cfg.input_pool];
    let mut c_in = ImageTowerConfig::IN_CHANNELS;
    let mut macs = 0;
    for (i, &c_out) in f_maps.iter().enumerate() {
        let voxels: usize = grid.iter().map(|n| n >> i).product();
        macs += Level::macs(c_in, c_out, voxels);
        c_in = c_out;
    }
    macs + (c_in * pooled_width(pool) * embed_dim) as u64
}
