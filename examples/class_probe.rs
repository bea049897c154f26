//! Diagnostic: can the image tower learn the five classes from the images alone?
//!
//! Trains the `unet` tower with a five-way output by cross-entropy on the train split of
//! `data/demo` (left-right flips only) and prints, per epoch, the training loss and the
//! validation loss, accuracy and confusion matrix. It isolates the image side from the
//! contrastive objective; the README ("Training") quotes its numbers.
//!
//! ```text
//! cargo run --release --example class_probe                 # the model's input handling
//! VOXEL_NORM=0 STANDARDIZE=0 cargo run --release --example class_probe   # without either
//! ```
//! Options (environment): `EPOCHS` (20), `LR` (1e-3), `BATCH` (8), `INPUT_POOL` (2),
//! `F_MAPS` (16,32,64,128), `VOXEL_NORM` (1), `STANDARDIZE` (1), `COHORT` (data/demo).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;

use brainclip::config::{AugmentConfig, GlobalPool, ImageTowerConfig, OptimConfig, Split};
use brainclip::index::metrics::class_index;
use brainclip::io::cache::{PreprocessCache, default_cache_dir};
use brainclip::io::cohort::read_cohort;
use brainclip::io::preprocess::TENSOR_SHAPE;
use brainclip::model::init::seeded_var_builder;
use brainclip::model::standardize::{Standardize, VoxelNorm, VoxelStats};
use brainclip::model::tower::build_tower;
use brainclip::train::augment::augment;
use brainclip::train::data::{load_tensor, prepare};
use brainclip::train::optim::AdamW;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dev = Device::Cpu;
    let epochs: usize = env("EPOCHS", 20);
    let batch: usize = env("BATCH", 8);
    let voxel_norm = env("VOXEL_NORM", 1) == 1;
    let standardize = env("STANDARDIZE", 1) == 1;
    let f_maps: Vec<usize> = env("F_MAPS", "16,32,64,128".to_string())
        .split(',')
        .map(|s| s.trim().parse().expect("F_MAPS: comma-separated widths"))
        .collect();
    let cohort = read_cohort(&PathBuf::from(env("COHORT", "data/demo".to_string())))
        .expect("run `brainclip demo` first");
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let load = |split| {
        let samples = prepare(&cohort, &[split], &cache).unwrap();
        let x: Vec<Vec<f32>> = samples
            .iter()
            .map(|s| load_tensor(&cache, s).unwrap().data)
            .collect();
        let y: Vec<u32> = samples
            .iter()
            .map(|s| class_index(s.label) as u32)
            .collect();
        (x, y)
    };
    let (train_x, train_y) = load(Split::Train);
    let (val_x, val_y) = load(Split::Val);

    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 7, DType::F32, &dev);
    let cfg = ImageTowerConfig {
        f_maps,
        embed_dim: 64,
        pool: GlobalPool::AvgMax,
        input_pool: env("INPUT_POOL", 2),
        ..ImageTowerConfig::default()
    };
    let tower = build_tower(&cfg, vb.pp("image")).unwrap();
    let norm = VoxelNorm::new(TENSOR_SHAPE, false, vb.pp(VoxelNorm::PREFIX)).unwrap();
    if voxel_norm {
        let mut stats = VoxelStats::new(train_x[0].len(), TENSOR_SHAPE[3]);
        for x in &train_x {
            stats.add(x).unwrap();
        }
        let (mean, std) = stats
            .finish(brainclip::model::standardize::VOXEL_STD_FLOOR)
            .unwrap();
        norm.set(&mean, &std).unwrap();
    }
    let feat_norm = Standardize::new(64, vb.pp("feat_norm")).unwrap();
    let head = candle_nn::linear(64, 5, vb.pp("head")).unwrap();
    let forward = |x: &Tensor, train: bool| {
        let f = tower.forward(&norm.forward(x).unwrap()).unwrap();
        let f = match (standardize, train) {
            (false, _) => f,
            (true, true) => feat_norm.forward_train(&f).unwrap(),
            (true, false) => feat_norm.forward_eval(&f).unwrap(),
        };
        head.forward(&f).unwrap()
    };
    let vars = vm
        .data()
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| !brainclip::model::standardize::is_statistic(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let optim = OptimConfig {
        lr: env("LR", 1e-3),
        ..OptimConfig::default()
    };
    let mut opt = AdamW::new(vars, optim).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let flips = AugmentConfig::flip_only();
    let [c, d, h, w] = TENSOR_SHAPE;
    let start = std::time::Instant::now();
    for epoch in 1..=epochs {
        let mut order: Vec<usize> = (0..train_x.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let (mut total, mut steps) = (0.0, 0);
        for chunk in order.chunks(batch).filter(|c| c.len() >= 2) {
            let mut x = Vec::with_capacity(chunk.len() * c * d * h * w);
            for &i in chunk {
                x.extend(augment(&train_x[i], &flips, &mut rng).data);
            }
            let x = Tensor::from_vec(x, (chunk.len(), c, d, h, w), &dev).unwrap();
            let y: Vec<u32> = chunk.iter().map(|&i| train_y[i]).collect();
            let y = Tensor::from_vec(y, chunk.len(), &dev).unwrap();
            let loss = candle_nn::loss::cross_entropy(&forward(&x, true), &y).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            total += loss.to_scalar::<f32>().unwrap();
            steps += 1;
        }
        let (mut correct, mut val_loss) = (0, 0.0);
        let mut confusion = [[0usize; 5]; 5];
        for (xs, ys) in val_x.chunks(batch).zip(val_y.chunks(batch)) {
            let x: Vec<f32> = xs.iter().flatten().copied().collect();
            let x = Tensor::from_vec(x, (xs.len(), c, d, h, w), &dev).unwrap();
            let logits = forward(&x, false);
            let y = Tensor::from_vec(ys.to_vec(), ys.len(), &dev).unwrap();
            let l = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
            val_loss += l.to_scalar::<f32>().unwrap() * ys.len() as f32;
            let pred = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
            for (p, t) in pred.iter().zip(ys) {
                confusion[*t as usize][*p as usize] += 1;
                correct += usize::from(p == t);
            }
        }
        println!(
            "epoch {epoch:3}  train {:.3}  val loss {:.3}  val acc {:.3}  {:4.0} s  confusion \
             (rows infarct, tumor, hemorrhage, normal, other) {confusion:?}",
            total / steps.max(1) as f32,
            val_loss / val_y.len() as f32,
            correct as f32 / val_y.len() as f32,
            start.elapsed().as_secs_f32(),
        );
    }
}
