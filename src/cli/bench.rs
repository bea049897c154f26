//! `brainclip bench`: how fast the image tower trains and embeds on this machine.
//!
//! Random seeded weights and inputs; a training step is forward, a mean-squared error against
//! random targets, backward and one AdamW update of every variable. Times are medians after
//! one warm-up run.

use std::time::Instant;

use anyhow::Context;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use serde::Serialize;

use crate::config::{ImageTowerConfig, MODEL_GRID, TowerPreset};
use crate::model::checkpoint::named_vars;
use crate::model::device::{device_name, select_device};
use crate::model::init::{seeded_normal, seeded_uniform, seeded_var_builder};
use crate::model::tower::{ImageTower, build_tower};
use crate::train::optim::AdamW;

/// Arguments of `brainclip bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tower architecture: unet or paper.
    #[arg(long, default_value_t = TowerPreset::Unet)]
    pub preset: TowerPreset,
    /// Channels per U-Net level, comma-separated (unet only) [default: 16,32,64,128].
    #[arg(long, value_delimiter = ',')]
    pub f_maps: Option<Vec<usize>>,
    /// Studies per training step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timed repetitions (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Compute device: auto, cpu, cuda, cuda:N or metal.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The result of `brainclip bench` (also its JSON output).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Tower architecture.
    pub preset: TowerPreset,
    /// Channels per level (`unet` only).
    pub f_maps: Option<Vec<usize>>,
    /// Studies per training step.
    pub batch: usize,
    /// Device name (`cpu`, `cuda:0`, ...).
    pub device: String,
    /// Median seconds of one training step at `batch`.
    pub train_step_s: f64,
    /// Median seconds to embed one study (batch 1, forward only).
    pub embed_study_s: f64,
}

/// A tower with its optimiser and fixed random data, ready to time (also used by
/// `benches/tower.rs`).
pub struct TowerBench {
    tower: ImageTower,
    opt: AdamW,
    batch_x: Tensor,
    target: Tensor,
    study_x: Tensor,
    device: Device,
}

impl TowerBench {
    /// Builds the tower `cfg` with seeded random weights on `device`, a random batch
    /// `[batch, 3, 16, 112, 112]` with random targets, and one random study.
    pub fn new(cfg: &ImageTowerConfig, batch: usize, device: &Device) -> candle_core::Result<Self> {
        const SEED: u64 = 0x5eed;
        let varmap = VarMap::new();
        let tower = build_tower(cfg, seeded_var_builder(&varmap, SEED, DType::F32, device))?;
        // The training loop's AdamW (fused in place on the CPU), at PyTorch's defaults.
        let opt = AdamW::new(
            named_vars(&varmap),
            crate::config::OptimConfig {
                lr: 1e-3,
                weight_decay: 1e-2,
                ..crate::config::OptimConfig::default()
            },
        )?;
        let [d, h, w] = MODEL_GRID;
        let batch_x = seeded_uniform((batch, 3, d, h, w), -1.0, 1.0, SEED, 1, device)?;
        let target = seeded_normal((batch, cfg.embed_dim), SEED, 2, device)?;
        let study_x = seeded_uniform((1, 3, d, h, w), -1.0, 1.0, SEED, 3, device)?;
        Ok(Self {
            tower,
            opt,
            batch_x,
            target,
            study_x,
            device: device.clone(),
        })
    }

    /// One training step: forward, mean-squared error, backward, AdamW update. Returns the
    /// loss (reading it back also waits for an asynchronous GPU).
    pub fn train_step(&mut self) -> candle_core::Result<f32> {
        let y = self.tower.forward(&self.batch_x)?; // [b, embed_dim]
        let loss = (y - &self.target)?.sqr()?.mean_all()?;
        self.opt.step(&loss.backward()?)?;
        loss.to_scalar::<f32>()
    }

    /// Embeds the one study: `[1, embed_dim]`, waiting for the device to finish.
    pub fn embed_study(&self) -> candle_core::Result<Tensor> {
        let y = self.tower.forward(&self.study_x)?;
        self.device.synchronize()?;
        Ok(y)
    }
}

/// Median seconds of `steps` runs of `f` after one warm-up run.
fn median_secs(
    steps: usize,
    mut f: impl FnMut() -> candle_core::Result<()>,
) -> candle_core::Result<f64> {
    f()?;
    let mut secs = Vec::with_capacity(steps);
    for _ in 0..steps {
        let start = Instant::now();
        f()?;
        secs.push(start.elapsed().as_secs_f64());
    }
    Ok(median(secs))
}

/// The median (mean of the middle two for an even count; 0 when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `brainclip bench`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = ImageTowerConfig {
        preset: args.preset,
        ..ImageTowerConfig::default()
    };
    if let Some(f) = args.f_maps {
        cfg.f_maps = f;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(args.steps >= 1, "--steps must be at least 1");
    let device = select_device(&args.device)?;

    let mut bench =
        TowerBench::new(&cfg, args.batch, &device).context("building the image tower")?;
    let train_step_s = median_secs(args.steps, || bench.train_step().map(|_| ()))
        .context("timing a training step")?;
    let embed_study_s = median_secs(args.steps, || bench.embed_study().map(|_| ()))
        .context("timing the embedding of one study")?;
    let report = BenchReport {
        preset: cfg.preset,
        f_maps: (cfg.preset == TowerPreset::Unet).then(|| cfg.f_maps.clone()),
        batch: args.batch,
        device: device_name(&device),
        train_step_s,
        embed_study_s,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let arch = match &report.f_maps {
            Some(f) => format!("{} {f:?}", report.preset),
            None => report.preset.to_string(),
        };
        println!(
            "image tower {arch} on {}: training step (batch {}) {:.3} s, embedding one study {:.3} s (medians of {} runs)",
            report.device, report.batch, report.train_step_s, report.embed_study_s, args.steps
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![0.3, 0.1, 0.2]), 0.2);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        let mut calls = 0;
        median_secs(3, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 4, "one warm-up and three timed runs");
    }

    #[test]
    fn report_json_has_the_documented_keys() {
        let r = BenchReport {
            preset: TowerPreset::Paper,
            f_maps: None,
            batch: 8,
            device: "cpu".into(),
            train_step_s: 1.5,
            embed_study_s: 0.1,
        };
        let v = serde_json::to_value(&r).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let want = [
            "batch",
            "device",
            "embed_study_s",
            "f_maps",
            "preset",
            "train_step_s",
        ];
        assert_eq!(keys, want);
        assert_eq!(v["preset"], "paper");
        assert!(v["f_maps"].is_null());
    }
}
