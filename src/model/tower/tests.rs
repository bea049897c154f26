use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarMap;

use super::*;
use crate::model::init::{seeded_uniform, seeded_var_builder};

fn small_cfg() -> ImageTowerConfig {
    ImageTowerConfig {
        f_maps: vec![4, 8],
        ..ImageTowerConfig::default()
    }
}

fn build(cfg: &ImageTowerConfig, seed: u64) -> (ImageTower, VarMap) {
    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
    (build_tower(cfg, vb).unwrap(), vm)
}

fn param_total(vm: &VarMap) -> usize {
    vm.all_vars().iter().map(|v| v.elem_count()).sum()
}

fn small_input(b: usize) -> Tensor {
    seeded_uniform((b, 3, 8, 16, 16), -1.0, 1.0, 11, 0, &Device::Cpu).unwrap()
}

/// Checks that a backward pass of `sum(y^2)` gives every variable a non-zero gradient.
fn assert_all_grads_nonzero(y: &Tensor, vm: &VarMap) {
    let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let vars = vm.data().lock().unwrap();
    for (name, var) in vars.iter() {
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let g = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(g > 0.0, "zero gradient for {name}");
    }
}

#[test]
fn group_norm_on_5d_input_matches_a_hand_computation() {
    // Two groups of two channels, each channel [1, 1, 2] voxels.
    // Group 0 holds [1, 2, 3, 4]: mean 2.5, variance 1.25. Group 1 holds [0, 0, 2, 6]:
    // mean 2, variance (4 + 4 + 0 + 16) / 4 = 6. Then scale per channel and shift.
    let x = Tensor::from_vec(
        vec![1f64, 2., 3., 4., 0., 0., 2., 6.],
        (1, 4, 1, 1, 2),
        &Device::Cpu,
    )
    .unwrap();
    let w = Tensor::new(&[2f64, 1., 1., 0.5], &Device::Cpu).unwrap();
    let b = Tensor::new(&[0f64, 1., 0., -1.], &Device::Cpu).unwrap();
    let eps = 1e-5;
    let gn = candle_nn::GroupNorm::new(w, b, 4, 2, eps).unwrap();
    let y = gn.forward(&x).unwrap();
    assert_eq!(y.dims(), [1, 4, 1, 1, 2]);
    let y = y.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let (s0, s1) = ((1.25f64 + eps).sqrt(), (6f64 + eps).sqrt());
    let want = [
        2. * (1. - 2.5) / s0,
        2. * (2. - 2.5) / s0,
        (3. - 2.5) / s0 + 1.,
        (4. - 2.5) / s0 + 1.,
        (0. - 2.) / s1,
        (0. - 2.) / s1,
        0.5 * (2. - 2.) / s1 - 1.,
        0.5 * (6. - 2.) / s1 - 1.,
    ];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{y:?} vs {want:?}");
    }
}

#[test]
fn unet_gives_one_embedding_per_study_and_gradients_reach_every_variable() {
    let (tower, vm) = build(&small_cfg(), 1);
    let y = tower.forward(&small_input(2)).unwrap();
    assert_eq!(y.dims(), [2, 256]);
    assert_all_grads_nonzero(&y, &vm);
}

#[test]
fn paper_preset_runs_on_the_model_grid() {
    let start = Instant::now();
    let cfg = ImageTowerConfig {
        preset: TowerPreset::Paper,
        ..ImageTowerConfig::default()
    };
    let (tower, vm) = build(&cfg, 2);
    let x = seeded_uniform((1, 3, 16, 112, 112), -1.0, 1.0, 3, 0, &Device::Cpu).unwrap();
    let y = tower.forward(&x).unwrap();
    assert_eq!(y.dims(), [1, 256]);
    assert_all_grads_nonzero(&y, &vm);
    assert_eq!(param_total(&vm), parameter_count(&cfg));
    // Its flatten fixes the grid.
    assert!(tower.forward(&small_input(1)).is_err());
    eprintln!("paper preset test: {:.2} s", start.elapsed().as_secs_f64());
}

#[test]
fn variable_names_mirror_the_model_tree() {
    let (_, vm) = build(&small_cfg(), 1);
    let mut names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    let mut want = vec!["proj.bias".to_string(), "proj.weight".to_string()];
    for l in 0..2 {
        for c in 1..=2 {
            for v in ["conv.weight", "norm.bias", "norm.weight"] {
                want.push(format!("levels.{l}.conv{c}.{v}"));
            }
        }
    }
    want.sort();
    assert_eq!(names, want);

    let cfg = ImageTowerConfig {
        preset: TowerPreset::Paper,
        ..ImageTowerConfig::default()
    };
    let (_, vm) = build(&cfg, 1);
    let vars = vm.data().lock().unwrap();
    for k in [
        "levels.0.conv2.norm.weight",
        "hidden.weight",
        "hidden.bias",
        "proj.weight",
    ] {
        assert!(vars.contains_key(k), "{k}");
    }
    assert!(!vars.contains_key("proj.bias"));
}

#[test]
fn parameter_counts_match_a_hand_count_and_the_built_model() {
    // f_maps [4, 8]: level 0 is 3 -> max(2, 3) = 3 -> 4, level 1 is 4 -> max(4, 4) = 4 -> 8.
    // Each conv: GroupNorm 2 c_in + weight c_out c_in 27.
    let hand = (2 * 3 + 3 * 3 * 27) // level 0 conv1
        + (2 * 3 + 4 * 3 * 27) // level 0 conv2
        + (2 * 4 + 4 * 4 * 27) // level 1 conv1
        + (2 * 4 + 8 * 4 * 27) // level 1 conv2
        + (8 * 256 + 256); // projection
    assert_eq!(hand, 4195);
    let cfg = small_cfg();
    assert_eq!(parameter_count(&cfg), hand);
    assert_eq!(param_total(&build(&cfg, 0).1), hand);

    // The default preset (numbers quoted in the `unet` module docs).
    let cfg = ImageTowerConfig::default();
    assert_eq!(parameter_count(&cfg), 473_054);
    assert_eq!(param_total(&build(&cfg, 0).1), 473_054);
    // Level 0 at 16 x 112 x 112: (3 * 8 + 8 * 16) * 27 * 200,704 MACs, and so on down.
    let level = |c_in: u64, c_mid: u64, c_out: u64, voxels: u64| {
        (c_in * c_mid + c_mid * c_out) * 27 * voxels
    };
    let hand = level(3, 8, 16, 16 * 112 * 112)
        + level(16, 16, 32, 8 * 56 * 56)
        + level(32, 32, 64, 4 * 28 * 28)
        + level(64, 64, 128, 2 * 14 * 14)
        + 128 * 256;
    assert_eq!(macs_per_study(&cfg), hand);
    assert_eq!(hand, 1_734_115_328);
    // pytorch-3dunet's usual widths cost ~3.9x more.
    let wide = ImageTowerConfig {
        f_maps: vec![32, 64, 128, 256],
        ..ImageTowerConfig::default()
    };
    assert_eq!(macs_per_study(&wide), 6_676_283_392);

    let paper = ImageTowerConfig {
        preset: TowerPreset::Paper,
        ..ImageTowerConfig::default()
    };
    assert_eq!(
        parameter_count(&paper),
        2 * (6 + 243) + 75_264 * 400 + 400 + 400 * 256
    );
    assert_eq!(
        macs_per_study(&paper),
        2 * 243 * 25_088 + 75_264 * 400 + 400 * 256
    );
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let x = small_input(1);
    let run = |seed| {
        let (t, _) = build(&small_cfg(), seed);
        t.forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
}

#[test]
fn bad_inputs_and_configs_are_rejected() {
    let (tower, _) = build(&small_cfg(), 1);
    let x = Tensor::zeros((1, 2, 8, 16, 16), DType::F32, &Device::Cpu).unwrap();
    assert!(tower.forward(&x).is_err());
    let x = Tensor::zeros((3, 8, 16, 16), DType::F32, &Device::Cpu).unwrap();
    assert!(tower.forward(&x).is_err());

    let bad = |f_maps: Vec<usize>| {
        let cfg = ImageTowerConfig {
            f_maps,
            ..ImageTowerConfig::default()
        };
        cfg.validate().is_err()
    };
    assert!(bad(vec![]));
    assert!(bad(vec![16, 32, 64, 128, 256, 512])); // 5 poolings of 16 slices
    assert!(bad(vec![12, 24])); // GroupNorm(8) over 12 channels
    assert!(bad(vec![16, 0]));
    assert!(!bad(vec![4, 8, 16, 32, 64]));
    let vb = seeded_var_builder(&VarMap::new(), 0, DType::F32, &Device::Cpu);
    let cfg = ImageTowerConfig {
        f_maps: vec![12, 24],
        ..ImageTowerConfig::default()
    };
    assert!(build_tower(&cfg, vb).is_err());
}

#[test]
fn presets_parse_and_serialise_in_lower_case() {
    assert_eq!("paper".parse::<TowerPreset>().unwrap(), TowerPreset::Paper);
    assert!("resnet".parse::<TowerPreset>().is_err());
    let cfg = ImageTowerConfig::default();
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(
        json,
        r#"{"preset":"unet","f_maps":[16,32,64,128],"embed_dim":256,"pool":"avg","input_pool":1}"#
    );
    let back: ImageTowerConfig = serde_json::from_str(r#"{"preset":"paper"}"#).unwrap();
    assert_eq!(back.preset, TowerPreset::Paper);
    assert_eq!(back.embed_dim, 256);
    assert_eq!(
        back.pool,
        crate::config::GlobalPool::Avg,
        "configs without a pool read as avg"
    );
    let both: ImageTowerConfig = serde_json::from_str(r#"{"pool":"avgmax"}"#).unwrap();
    assert_eq!(both.pool, crate::config::GlobalPool::AvgMax);
    assert_eq!(
        both.input_pool, 1,
        "configs without input_pool read as no pooling"
    );
}

#[test]
fn input_pooling_averages_in_plane_and_quarters_the_compute() {
    let dev = Device::Cpu;
    let pooled = ImageTowerConfig {
        input_pool: 2,
        ..small_cfg()
    };
    let plain = small_cfg();
    assert_eq!(parameter_count(&pooled), parameter_count(&plain));
    assert_eq!(
        4 * macs_per_study(&pooled),
        macs_per_study(&plain) + 3 * head_macs(&plain)
    );
    // A pooled tower on x equals a plain tower (same weights) on x averaged 2x2 in-plane.
    let vm = VarMap::new();
    let a = build_tower(&pooled, seeded_var_builder(&vm, 3, DType::F32, &dev)).unwrap();
    let b = build_tower(&plain, seeded_var_builder(&vm, 3, DType::F32, &dev)).unwrap();
    let x = seeded_uniform((2, 3, 4, 8, 8), -1.0, 1.0, 5, 0, &dev).unwrap();
    let avg = x
        .reshape((2, 12, 8, 8))
        .unwrap()
        .avg_pool2d(2)
        .unwrap()
        .reshape((2, 3, 4, 4, 4))
        .unwrap();
    let ya = a.forward(&x).unwrap().to_vec2::<f32>().unwrap();
    let yb = b.forward(&avg).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(ya, yb);
    for bad in [0, 3, 8] {
        let cfg = ImageTowerConfig {
            input_pool: bad,
            ..small_cfg()
        };
        assert!(cfg.validate().unwrap_err().contains("input_pool"));
    }
}

/// MACs of the projection (not affected by the input grid).
fn head_macs(cfg: &ImageTowerConfig) -> u64 {
    let widths = if cfg.pool == crate::config::GlobalPool::AvgMax {
        2
    } else {
        1
    };
    (cfg.f_maps.last().unwrap() * widths * cfg.embed_dim) as u64
}
