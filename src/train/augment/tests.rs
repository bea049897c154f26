//! Tests of the augmentation: geometry, intensity, background and flips.

use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A small grid: non-square so that `h` and `w` cannot be confused.
const SMALL: [usize; 4] = [3, 2, 40, 48];
/// Background (clip floor) of each channel of the synthetic head.
const FLOOR: [f32; 3] = [-1.8, -2.2, -1.5];

/// A synthetic z-scored study: a textured ellipse (the head) on a constant floor per
/// channel.
fn head(shape: [usize; 4]) -> Vec<f32> {
    let [c, d, h, w] = shape;
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let (ry, rx) = (h as f32 * 0.38, w as f32 * 0.36);
    let mut v = Vec::with_capacity(c * d * h * w);
    for ch in 0..c {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let (ny, nx) = ((y as f32 - cy) / ry, (x as f32 - cx) / rx);
                    v.push(if ny * ny + nx * nx < 1.0 {
                        (0.7 * x as f32 + 0.3 * y as f32 + z as f32 + ch as f32).sin() * 1.2
                    } else {
                        FLOOR[ch]
                    });
                }
            }
        }
    }
    v
}

/// A constant floor with one bright pixel at `(y, x)` in every channel and slice.
fn point(shape: [usize; 4], y: usize, x: usize) -> Vec<f32> {
    let [c, d, h, w] = shape;
    let mut v = vec![-2.0; c * d * h * w];
    for s in 0..c * d {
        v[s * h * w + y * w + x] = 5.0;
    }
    v
}

/// Intensity-weighted centroid `(y, x)` above the floor of slice `s`.
fn centroid(v: &[f32], shape: [usize; 4], s: usize) -> (f64, f64) {
    let [_, _, h, w] = shape;
    let slice = &v[s * h * w..(s + 1) * h * w];
    let floor = slice.iter().copied().fold(f32::INFINITY, f32::min);
    let (mut m, mut my, mut mx) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let a = f64::from(slice[y * w + x] - floor);
            m += a;
            my += a * y as f64;
            mx += a * x as f64;
        }
    }
    (my / m, mx / m)
}

fn zero_config() -> AugmentConfig {
    AugmentConfig {
        flip_prob: 0.0,
        ..AugmentConfig::flip_only()
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn identity_configs_return_the_input_bit_for_bit() {
    let study = head(TENSOR_SHAPE);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let off = AugmentConfig {
        enabled: false,
        ..AugmentConfig::default()
    };
    for cfg in [off, zero_config()] {
        let a = augment(&study, &cfg, &mut rng);
        assert!(!a.flipped);
        assert_eq!(bits(&a.data), bits(&study));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let out = AugmentParams::IDENTITY.apply(&study, &mut rng);
    assert_eq!(bits(&out), bits(&study));
}

#[test]
fn flip_mirrors_w_exactly_and_twice_restores() {
    let study = head(TENSOR_SHAPE);
    let [c, d, h, w] = TENSOR_SHAPE;
    let cfg = AugmentConfig {
        flip_prob: 1.0,
        ..zero_config()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let once = augment(&study, &cfg, &mut rng);
    assert!(once.flipped);
    for row in 0..c * d * h {
        for x in 0..w {
            assert_eq!(
                once.data[row * w + x].to_bits(),
                study[row * w + w - 1 - x].to_bits()
            );
        }
    }
    let twice = augment(&once.data, &cfg, &mut rng);
    assert!(twice.flipped);
    assert_eq!(bits(&twice.data), bits(&study));
}

#[test]
fn a_blob_left_of_the_midline_moves_right_after_the_flip() {
    let shape = TENSOR_SHAPE;
    let [_, _, h, w] = shape;
    // Column 20 of 112 is on the patient's left (w increases toward Right).
    let study = point(shape, h / 2, 20);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let cfg = AugmentConfig {
        flip_prob: 1.0,
        ..zero_config()
    };
    let a = augment(&study, &cfg, &mut rng);
    for s in [0, 17, 47] {
        let (_, x) = centroid(&a.data, shape, s);
        assert_eq!(x, (w - 1 - 20) as f64);
        assert!(x > (w as f64 - 1.0) / 2.0);
    }
}

#[test]
fn an_integer_translation_shifts_a_point_exactly() {
    let shape = SMALL;
    let [_, _, h, w] = shape;
    let study = point(shape, 10, 30);
    let params = AugmentParams {
        shift_vox: [3.0, -4.0],
        ..AugmentParams::IDENTITY
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let out = params.apply_shaped(&study, shape, &mut rng);
    for s in 0..6 {
        let slice = &out[s * h * w..(s + 1) * h * w];
        for (i, &v) in slice.iter().enumerate() {
            let want = if i == 13 * w + 26 { 5.0 } else { -2.0 };
            assert_eq!(v, want, "slice {s} pixel {i}");
        }
    }
}

#[test]
fn warp_slices_shifts_every_slice_and_fills_from_outside() {
    let (h, w) = (6, 5);
    let mut data = vec![1.0f32; 2 * h * w];
    data[2 * w + 3] = 9.0;
    data[h * w + 2 * w + 3] = 9.0;
    let params = AugmentParams {
        shift_vox: [2.0, 0.0],
        ..AugmentParams::IDENTITY
    };
    params.warp_slices(&mut data, h, w, 0.0);
    for slice in data.chunks_exact(h * w) {
        assert_eq!(slice[4 * w + 3], 9.0, "the point moved two rows down");
        assert!(
            slice[..2 * w].iter().all(|&v| v == 0.0),
            "rows from outside are the fill"
        );
        assert_eq!(slice[2 * w + 3], 1.0);
    }
    let before = data.clone();
    AugmentParams::IDENTITY.warp_slices(&mut data, h, w, 0.0);
    assert_eq!(bits(&data), bits(&before));
}

#[test]
fn a_random_translation_moves_the_centroid_by_the_drawn_shift() {
    let shape = TENSOR_SHAPE;
    let study = point(shape, 50, 60);
    let cfg = AugmentConfig {
        translate_vox: 4.0,
        ..zero_config()
    };
    for seed in 0..4 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = AugmentParams::sample(&cfg, &mut rng.clone());
        let a = augment(&study, &cfg, &mut rng);
        let (y, x) = centroid(&a.data, shape, 7);
        let [ty, tx] = params.shift_vox.map(f64::from);
        assert!(ty.abs() <= 4.0 && tx.abs() <= 4.0);
        assert!((y - (50.0 + ty)).abs() < 1e-3, "{y} {ty}");
        assert!((x - (60.0 + tx)).abs() < 1e-3, "{x} {tx}");
    }
}

#[test]
fn rotation_turns_right_toward_anterior_and_scale_stretches_from_the_centre() {
    let shape = SMALL;
    let [_, _, h, w] = shape;
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    // 10 voxels toward +w (Right) of the centre; half-integer centres, so a 2x2 blob.
    let mut study = vec![-2.0f32; shape.iter().product()];
    for s in 0..6 {
        for (y, x) in [(19, 33), (19, 34), (20, 33), (20, 34)] {
            study[s * h * w + y * w + x] = 5.0;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let rotated = AugmentParams {
        angle_rad: std::f32::consts::FRAC_PI_2,
        ..AugmentParams::IDENTITY
    }
    .apply_shaped(&study, shape, &mut rng);
    let (y, x) = centroid(&rotated, shape, 0);
    assert!(
        (y - (cy + 10.0)).abs() < 0.05 && (x - cx).abs() < 0.05,
        "{y} {x}"
    );
    let scaled = AugmentParams {
        scale: 1.2,
        ..AugmentParams::IDENTITY
    }
    .apply_shaped(&study, shape, &mut rng);
    let (y, x) = centroid(&scaled, shape, 3);
    assert!(
        (y - cy).abs() < 0.05 && (x - (cx + 12.0)).abs() < 0.05,
        "{y} {x}"
    );
}

#[test]
fn out_of_grid_samples_take_the_channel_floor() {
    let shape = SMALL;
    let [c, d, h, w] = shape;
    let study = head(shape);
    let params = AugmentParams {
        shift_vox: [0.0, 30.5],
        ..AugmentParams::IDENTITY
    };
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let out = params.apply_shaped(&study, shape, &mut rng);
    for ch in 0..c {
        for s in 0..d {
            let row = &out[((ch * d + s) * h + 5) * w..][..w];
            // Columns 0..30 sample left of the grid.
            assert!(row[..30].iter().all(|&v| v == FLOOR[ch]), "{row:?}");
        }
    }
}

#[test]
fn outputs_are_finite_even_for_extreme_configs() {
    let study = head(TENSOR_SHAPE);
    let extreme = AugmentConfig {
        enabled: true,
        flip_prob: f32::NAN,
        rotate_deg: 720.0,
        scale: 5.0,
        translate_vox: 500.0,
        noise_std: -1.0,
        gamma: 3.0,
        intensity_shift: f32::INFINITY,
        space: crate::config::AugmentSpace::Input,
    };
    for (seed, cfg) in [(7, AugmentConfig::default()), (8, extreme)] {
        for k in 0..3 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed * 10 + k);
            let a = augment(&study, &cfg, &mut rng);
            assert_eq!(a.data.len(), study.len());
            assert!(a.data.iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn intensity_changes_keep_the_background() {
    let shape = TENSOR_SHAPE;
    let [_, d, h, w] = shape;
    let study = head(shape);
    let intensity_only = AugmentConfig {
        flip_prob: 0.0,
        rotate_deg: 0.0,
        scale: 0.0,
        translate_vox: 0.0,
        ..AugmentConfig::default()
    };
    for seed in 0..4 {
        // Intensity only: every background voxel is known. Then the default config: the
        // corners stay background under the small affine.
        for full in [false, true] {
            let cfg = if full {
                AugmentConfig::default()
            } else {
                intensity_only
            };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = augment(&study, &cfg, &mut rng);
            for ch in 0..3 {
                let n = d * h * w;
                let (mut sum, mut count) = (0.0f64, 0usize);
                for i in 0..n {
                    let (y, x) = ((i / w) % h, i % w);
                    let corner = y.min(h - 1 - y) < 6 && x.min(w - 1 - x) < 6;
                    if study[ch * n + i] == FLOOR[ch] && (!full || corner) {
                        sum += f64::from(a.data[ch * n + i]);
                        count += 1;
                    }
                }
                let mean = sum / count as f64;
                assert!(count > 1000);
                // Only the shift (at most `intensity_shift` 0.1) moves the floor.
                assert!((mean - f64::from(FLOOR[ch])).abs() < 0.11, "{mean} {full}");
            }
        }
    }
}

#[test]
fn gamma_keeps_floor_and_maximum_and_order() {
    let shape = SMALL;
    let study = head(shape);
    let n = shape[1] * shape[2] * shape[3];
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for gamma in [0.86f32, 1.4] {
        let params = AugmentParams {
            channels: [ChannelParams {
                gamma,
                ..ChannelParams::IDENTITY
            }; CHANNELS],
            ..AugmentParams::IDENTITY
        };
        let out = params.apply_shaped(&study, shape, &mut rng);
        let (lo, hi) = channel_range(&study, 0, n);
        let mut pairs: Vec<(f32, f32)> = study[..n].iter().copied().zip(out).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(pairs[0], (lo, lo));
        assert!((pairs[n - 1].1 - hi).abs() < 1e-5);
        assert!(pairs.windows(2).all(|p| p[0].1 <= p[1].1 + 1e-6));
        // Against the exact power, relative to the range.
        for (x, y) in pairs {
            let t = (f64::from(x - lo) / f64::from(hi - lo)).powf(f64::from(gamma));
            let want = f64::from(lo) + f64::from(hi - lo) * t;
            assert!((f64::from(y) - want).abs() < 1e-3 * f64::from(hi - lo));
        }
    }
}

#[test]
fn scale_and_shift_act_about_the_floor() {
    let shape = SMALL;
    let study = head(shape);
    let n = shape[1] * shape[2] * shape[3];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut params = AugmentParams::IDENTITY;
    params.channels[1] = ChannelParams {
        scale: 1.5,
        shift: 0.3,
        ..ChannelParams::IDENTITY
    };
    let out = params.apply_shaped(&study, shape, &mut rng);
    let (floor, _) = channel_range(&study, n, n);
    assert_eq!(floor, FLOOR[1]);
    for i in 0..n {
        let want = floor + (study[n + i] - floor) * 1.5 + 0.3;
        assert!((out[n + i] - want).abs() < 1e-5, "{} vs {want}", out[n + i]);
    }
    // The other channels are untouched.
    assert_eq!(bits(&out[..n]), bits(&study[..n]));
    assert_eq!(bits(&out[2 * n..]), bits(&study[2 * n..]));
}

#[test]
fn noise_has_the_requested_std() {
    let study = head(TENSOR_SHAPE);
    let cfg = AugmentConfig {
        noise_std: 0.05,
        ..zero_config()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let a = augment(&study, &cfg, &mut rng);
    let n = study.len() as f64;
    let diff = a.data.iter().zip(&study).map(|(a, b)| f64::from(a - b));
    let mean = diff.clone().sum::<f64>() / n;
    let std = (diff.map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 1e-3, "{mean}");
    assert!((std - 0.05).abs() < 0.005, "{std}");
}

#[test]
fn the_same_seed_gives_the_same_augmentation() {
    let study = head(TENSOR_SHAPE);
    let cfg = AugmentConfig::default();
    let run = |seed| augment(&study, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a.flipped, b.flipped);
    assert_eq!(bits(&a.data), bits(&b.data));
    assert_ne!(bits(&a.data), bits(&c.data));
}

#[test]
fn the_config_round_trips_and_fills_missing_fields() {
    let cfg: AugmentConfig = serde_json::from_str(r#"{"noise_std": 0.0}"#).unwrap();
    assert_eq!(
        cfg,
        AugmentConfig {
            noise_std: 0.0,
            ..AugmentConfig::default()
        }
    );
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<AugmentConfig>(&json).unwrap(), cfg);
}

#[test]
#[should_panic(expected = "augment")]
fn a_wrongly_sized_study_is_refused() {
    augment(
        &[0.0; 10],
        &AugmentConfig::default(),
        &mut ChaCha8Rng::seed_from_u64(0),
    );
}
