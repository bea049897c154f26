//! Intensity statistics and per-channel normalisation: Otsu thresholds, percentiles, the head
//! foreground mask, and the clip-then-z-score applied to every channel of the model input.
//!
//! Pure functions over `f32` slices; the file names in error messages are added by the caller
//! (`preprocess`), which knows which sequence a channel came from.

/// Histogram bins used by [`otsu_threshold`].
const OTSU_BINS: usize = 256;
/// At most this many values feed the Otsu histogram; larger inputs are strided. A clinical
/// volume has millions of voxels and the threshold does not need them all.
const OTSU_MAX_SAMPLES: usize = 1 << 18;
/// Lower and upper clip percentiles inside the head foreground.
pub const CLIP_PERCENTILES: (f64, f64) = (0.5, 99.5);

/// Why a channel could not be normalised.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NormalizeError {
    /// The mask selects no voxel of this channel.
    #[error("no head foreground voxels to normalise")]
    EmptyMask,
    /// The clip range is not finite (only reachable when resampled intensities overflowed).
    #[error("the intensities inside the head are not finite (clip range {lo} to {hi})")]
    NonFinite {
        /// Lower clip value.
        lo: f32,
        /// Upper clip value.
        hi: f32,
    },
    /// The channel has (almost) no intensity variation inside the mask.
    #[error("the image is flat inside the head (intensity standard deviation {std:.3e})")]
    Flat {
        /// Standard deviation of the clipped intensities inside the mask.
        std: f64,
    },
}

/// The statistics used to normalise one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStats {
    /// Lower clip value (the 0.5th percentile inside the mask).
    pub clip_lo: f32,
    /// Upper clip value (the 99.5th percentile inside the mask).
    pub clip_hi: f32,
    /// Mean of the clipped intensities inside the mask.
    pub mean: f64,
    /// Standard deviation of the clipped intensities inside the mask.
    pub std: f64,
}

/// The `q`-th percentile (`0..=100`) of `values`, linearly interpolated between order
/// statistics (numpy's default `linear` method). `None` for an empty slice. Reorders `values`.
pub fn percentile_in_place(values: &mut [f32], q: f64) -> Option<f32> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let pos = (q.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, &mut a, upper) = values.select_nth_unstable_by(lo, f32::total_cmp);
    if frac == 0.0 || upper.is_empty() {
        return Some(a);
    }
    // The next order statistic is the minimum of the part above `lo`.
    let b = upper.iter().copied().fold(f32::INFINITY, f32::min);
    Some((a as f64 + (b as f64 - a as f64) * frac) as f32)
}

/// Several percentiles of `values` at once (each `0..=100`); `None` for an empty slice.
pub fn percentiles(values: &[f32], qs: &[f64]) -> Option<Vec<f32>> {
    let mut buf = values.to_vec();
    qs.iter()
        .map(|&q| percentile_in_place(&mut buf, q))
        .collect()
}

/// Otsu's threshold: the intensity that maximises the between-class variance of a
/// `OTSU_BINS`-bin histogram. The histogram spans the minimum to the 99.9th percentile so that
/// a few very bright voxels (vessels, spikes) do not squeeze tissue into a handful of bins.
/// Inputs larger than `OTSU_MAX_SAMPLES` are strided. `None` when the values are all equal
/// or `values` is empty.
pub fn otsu_threshold(values: &[f32]) -> Option<f32> {
    let stride = values.len().div_ceil(OTSU_MAX_SAMPLES).max(1);
    let sample: Vec<f32> = values.iter().step_by(stride).copied().collect();
    let lo = sample.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = percentiles(&sample, &[99.9])?.first().copied()?;
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return None;
    }
    let width = (hi - lo) as f64 / OTSU_BINS as f64;
    let mut hist = [0u64; OTSU_BINS];
    for &v in &sample {
        let b = (((v - lo) as f64 / width) as usize).min(OTSU_BINS - 1);
        hist[b] += 1;
    }
    let total = sample.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(b, &c)| b as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_bin) = (-1.0f64, 0usize);
    // Threshold after bin `b`: class 0 = bins 0..=b, class 1 = the rest.
    for (b, &c) in hist.iter().enumerate().take(OTSU_BINS - 1) {
        w0 += c as f64;
        sum0 += b as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_bin = b;
        }
    }
    (best >= 0.0).then(|| lo + ((best_bin + 1) as f64 * width) as f32)
}

/// Head foreground: voxels strictly above the Otsu threshold of `values`, restricted to
/// `valid` where given (e.g. the part of the grid a sequence covers). All `false` when no
/// threshold exists (flat image).
pub fn foreground_mask(values: &[f32], valid: Option<&[bool]>) -> Vec<bool> {
    let candidates: Vec<f32> = match valid {
        Some(v) => values
            .iter()
            .zip(v)
            .filter(|(_, ok)| **ok)
            .map(|(x, _)| *x)
            .collect(),
        None => values.to_vec(),
    };
    let Some(t) = otsu_threshold(&candidates) else {
        return vec![false; values.len()];
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &x)| x > t && valid.is_none_or(|v| v[i]))
        .collect()
}

/// Computes the clip range and z-score statistics of `values` inside `mask`.
pub fn channel_stats(values: &[f32], mask: &[bool]) -> Result<ChannelStats, NormalizeError> {
    let inside: Vec<f32> = values
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| *v)
        .collect();
    let (p_lo, p_hi) = CLIP_PERCENTILES;
    let clip = percentiles(&inside, &[p_lo, p_hi]).ok_or(NormalizeError::EmptyMask)?;
    let (clip_lo, clip_hi) = (clip[0], clip[1]);
    // `f32::clamp` panics on a NaN bound; the reader's magnitude limit keeps this unreachable.
    if !(clip_lo.is_finite() && clip_hi.is_finite() && clip_lo <= clip_hi) {
        return Err(NormalizeError::NonFinite {
            lo: clip_lo,
            hi: clip_hi,
        });
    }
    let n = inside.len() as f64;
    let mean = inside
        .iter()
        .map(|&v| v.clamp(clip_lo, clip_hi) as f64)
        .sum::<f64>()
        / n;
    let var = inside
        .iter()
        .map(|&v| {
            let d = v.clamp(clip_lo, clip_hi) as f64 - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    // Flat relative to the intensity scale: float noise on a constant image is not signal.
    let scale = (clip_lo.abs().max(clip_hi.abs()) as f64).max(f64::MIN_POSITIVE);
    if !std.is_finite() || std <= 1e-6 * scale {
        return Err(NormalizeError::Flat { std });
    }
    Ok(ChannelStats {
        clip_lo,
        clip_hi,
        mean,
        std,
    })
}

/// Normalises `values` in place: clip every voxel to the mask's 0.5–99.5 percentile range,
/// then subtract the mask's mean and divide by its standard deviation (computed on the clipped
/// values). Voxels outside the mask are transformed the same way. Returns the statistics used.
pub fn normalize_channel(
    values: &mut [f32],
    mask: &[bool],
) -> Result<ChannelStats, NormalizeError> {
    let stats = channel_stats(values, mask)?;
    let inv_std = 1.0 / stats.std;
    for v in values.iter_mut() {
        *v = ((v.clamp(stats.clip_lo, stats.clip_hi) as f64 - stats.mean) * inv_std) as f32;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        // numpy: np.percentile([1, 2, 3, 4, 10], [0, 25, 50, 90, 100]) = [1, 2, 3, 7.6, 10]
        let v = [10.0, 3.0, 1.0, 4.0, 2.0];
        let p = percentiles(&v, &[0.0, 25.0, 50.0, 90.0, 100.0]).unwrap();
        let want = [1.0, 2.0, 3.0, 7.6, 10.0];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{p:?}");
        }
        assert_eq!(percentiles(&[], &[50.0]), None);
        assert_eq!(percentiles(&[7.0], &[0.0, 99.5]), Some(vec![7.0, 7.0]));
    }

    #[test]
    fn otsu_separates_a_bimodal_histogram() {
        // 70 % background near 10, 30 % tissue near 100, deterministic jitter.
        let mut v = Vec::new();
        for i in 0..7000 {
            v.push(10.0 + ((i * 37) % 11) as f32 - 5.0);
        }
        for i in 0..3000 {
            v.push(100.0 + ((i * 53) % 21) as f32 - 10.0);
        }
        let t = otsu_threshold(&v).unwrap();
        assert!(t > 15.0 && t < 90.0, "threshold {t}");
        let mask = foreground_mask(&v, None);
        assert_eq!(mask.iter().filter(|m| **m).count(), 3000);
    }

    #[test]
    fn otsu_of_a_constant_is_none() {
        assert_eq!(otsu_threshold(&[3.0; 100]), None);
        assert_eq!(otsu_threshold(&[]), None);
        assert!(foreground_mask(&[3.0; 10], None).iter().all(|m| !m));
    }

    #[test]
    fn foreground_respects_the_valid_mask() {
        let v = [0.0, 0.0, 100.0, 100.0, 100.0, 0.0];
        let valid = [true, true, true, true, false, true];
        assert_eq!(
            foreground_mask(&v, Some(&valid)),
            vec![false, false, true, true, false, false]
        );
    }

    #[test]
    fn normalisation_gives_zero_mean_unit_std_inside_the_mask() {
        let mut v: Vec<f32> = (0..1000).map(|i| (i % 97) as f32 * 3.0 + 50.0).collect();
        v.extend([0.0; 200]);
        v.push(1e6); // outlier, clipped
        let mask: Vec<bool> = v.iter().map(|&x| x > 1.0).collect();
        normalize_channel(&mut v, &mask).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        let inside: Vec<f64> = v
            .iter()
            .zip(&mask)
            .filter(|(_, m)| **m)
            .map(|(x, _)| *x as f64)
            .collect();
        let n = inside.len() as f64;
        let mean = inside.iter().sum::<f64>() / n;
        let std = (inside.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            mean.abs() < 1e-4 && (std - 1.0).abs() < 1e-4,
            "{mean} {std}"
        );
        // The outlier was clipped to the 99.5th percentile, so it is not far out.
        assert!(v[1200] < 3.0);
        // Outside the mask the background is clipped up to the mask's lowest values.
        let floor = inside.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            v[1000..1200]
                .iter()
                .all(|&x| (f64::from(x) - floor).abs() < 1e-5)
        );
    }

    #[test]
    fn flat_and_empty_channels_are_refused() {
        let mut flat = vec![5.0f32; 100];
        let mask = vec![true; 100];
        assert!(matches!(
            normalize_channel(&mut flat, &mask),
            Err(NormalizeError::Flat { .. })
        ));
        let mut v = vec![1.0f32, 2.0];
        assert_eq!(
            normalize_channel(&mut v, &[false, false]),
            Err(NormalizeError::EmptyMask)
        );
        // A NaN voxel sorts last in total order and makes the upper clip bound non-finite.
        let mut nan = vec![1.0f32, 2.0, 3.0, f32::NAN];
        assert!(matches!(
            normalize_channel(&mut nan, &[true; 4]),
            Err(NormalizeError::NonFinite { .. })
        ));
    }
}
