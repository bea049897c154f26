//! Image tower speed: one full training step (forward, backward, AdamW) of each preset at
//! batch 8, and embedding one study (batch 1, inference). Few samples: a `unet` step takes
//! seconds on a laptop CPU. `brainclip bench` reports the same numbers on a user's machine.

use std::time::Duration;

use brainclip::cli::bench::TowerBench;
use brainclip::config::{ImageTowerConfig, TowerPreset};
use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};

fn tower(c: &mut Criterion) {
    let mut group = c.benchmark_group("tower");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for preset in TowerPreset::ALL {
        let cfg = ImageTowerConfig {
            preset,
            ..ImageTowerConfig::default()
        };
        let Ok(mut bench) = TowerBench::new(&cfg, 8, &Device::Cpu) else {
            eprintln!("skipping {preset}: the tower could not be built");
            continue;
        };
        group.bench_function(format!("{preset}/train_step_b8"), |b| {
            b.iter(|| bench.train_step().map_err(|e| eprintln!("{e}")))
        });
        group.bench_function(format!("{preset}/embed_study"), |b| {
            b.iter(|| bench.embed_study().map_err(|e| eprintln!("{e}")))
        });
    }
    group.finish();
}

criterion_group!(benches, tower);
criterion_main!(benches);
