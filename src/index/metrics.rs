//! Retrieval and zero-shot metrics as pure functions over scores and labels.
//!
//! Ties are always resolved *pessimistically* (against the model): a collapsed model that
//! maps every study to the same embedding scores at chance, not perfectly. Empty inputs
//! give `NaN` (serialised as JSON `null`), never a made-up 0 or 1.

use std::cmp::Ordering;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::sim::SimMatrix;
use crate::config::Label;

/// Position of `label` in [`Label::ALL`] (the column of a probability row).
pub fn class_index(label: Label) -> usize {
    Label::ALL.iter().position(|l| *l == label).unwrap_or(0)
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// For a square `sim` whose correct column for row `i` is `i`: the 1-based rank of that
/// column in row `i`, counting ties pessimistically:
/// `1 + #{j != i : sim[i][j] >= sim[i][i]}`.
/// A non-square matrix uses its leading square block.
pub fn diagonal_ranks(sim: &SimMatrix) -> Vec<usize> {
    let n = sim.rows().min(sim.cols());
    (0..n)
        .map(|i| {
            let row = &sim.row(i)[..n];
            let truth = row[i];
            // NaN compares as neither less nor greater: counted against the model.
            let beaten_or_tied = row
                .iter()
                .enumerate()
                .filter(|&(j, &s)| j != i && s.partial_cmp(&truth) != Some(Ordering::Less))
                .count();
            1 + beaten_or_tied
        })
        .collect()
}

/// Fraction of ranks `<= k` (recall@k); `NaN` for no ranks.
pub fn recall_at(ranks: &[usize], k: usize) -> f64 {
    mean(ranks.iter().map(|&r| if r <= k { 1.0 } else { 0.0 }))
}

/// Median rank (mean of the two middle ranks for an even count); `NaN` for no ranks.
pub fn median_rank(ranks: &[usize]) -> f64 {
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2] as f64,
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    }
}

/// The other studies ordered for query `q`: by score descending, then (pessimistic ties)
/// different-label before same-label, then by index. Each entry says whether it is relevant.
fn ranked_relevance(sim: &SimMatrix, labels: &[Label], q: usize) -> Vec<bool> {
    let n = sim.cols().min(labels.len());
    let row = sim.row(q);
    let mut others: Vec<(usize, f32, bool)> = (0..n)
        .filter(|&j| j != q)
        .map(|j| {
            let s = if row[j].is_nan() {
                f32::NEG_INFINITY
            } else {
                row[j]
            };
            (j, s, labels[j] == labels[q])
        })
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
    others.into_iter().map(|(_, _, rel)| rel).collect()
}

fn query_count(sim: &SimMatrix, labels: &[Label]) -> usize {
    sim.rows().min(sim.cols()).min(labels.len())
}

/// Per query study: the fraction of its top-`k` retrieved studies (itself excluded) that
/// share its label. `sim` is study x study. With fewer than `k` other studies, all of them
/// count; with none, `NaN`.
pub fn class_precision_at(sim: &SimMatrix, labels: &[Label], k: usize) -> Vec<f64> {
    (0..query_count(sim, labels))
        .map(|q| {
            let ranked = ranked_relevance(sim, labels, q);
            let top = &ranked[..k.min(ranked.len())];
            mean(top.iter().map(|&rel| if rel { 1.0 } else { 0.0 }))
        })
        .collect()
}

/// Per query study: average precision of the ranking of all other studies, relevance =
/// same label, the query itself excluded. `NaN` for a query with no relevant study (its
/// class has one member); the mean over finite values is the mAP.
pub fn average_precision(sim: &SimMatrix, labels: &[Label]) -> Vec<f64> {
    (0..query_count(sim, labels))
        .map(|q| {
            let ranked = ranked_relevance(sim, labels, q);
            let mut hits = 0usize;
            let mut sum = 0.0;
            for (pos, &rel) in ranked.iter().enumerate() {
                if rel {
                    hits += 1;
                    sum += hits as f64 / (pos + 1) as f64;
                }
            }
            if hits == 0 {
                f64::NAN
            } else {
                sum / hits as f64
            }
        })
        .collect()
}

/// Mean of the finite values; `NaN` when there is none.
pub fn finite_mean(values: &[f64]) -> f64 {
    mean(values.iter().copied().filter(|v| v.is_finite()))
}

/// Row-wise softmax of `scale * scores`, computed stably in f64 (max subtracted). Rows
/// whose largest logit is `+inf` split the mass evenly over those entries.
pub fn softmax_rows(scores: &[Vec<f32>], scale: f32) -> Vec<Vec<f32>> {
    scores
        .iter()
        .map(|row| {
            let logits: Vec<f64> = row
                .iter()
                .map(|s| f64::from(scale) * f64::from(*s))
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = if max == f64::INFINITY {
                logits
                    .iter()
                    .map(|&l| f64::from(u8::from(l == max)))
                    .collect()
            } else {
                logits.iter().map(|l| (l - max).exp()).collect()
            };
            let sum: f64 = exps.iter().sum();
            exps.iter().map(|e| (e / sum) as f32).collect()
        })
        .collect()
}

/// Predicted class per row: the arg-max column, ties to the earlier class of [`Label::ALL`].
pub fn predictions(probs: &[Vec<f32>]) -> Vec<Label> {
    probs
        .iter()
        .map(|row| {
            let mut best = 0;
            for (c, p) in row.iter().enumerate().take(Label::ALL.len()) {
                if *p > row[best] {
                    best = c;
                }
            }
            Label::ALL[best]
        })
        .collect()
}

/// Fraction of rows whose arg-max class equals the label. `probs` is `n x 5` in
/// [`Label::ALL`] order.
pub fn accuracy(probs: &[Vec<f32>], labels: &[Label]) -> f64 {
    let pred = predictions(probs);
    mean(
        pred.iter()
            .zip(labels)
            .map(|(p, l)| f64::from(u8::from(p == l))),
    )
}

/// Fraction of the studies of `class` predicted as `class` (per-class recall); `NaN` when
/// the class is absent.
pub fn class_recall(probs: &[Vec<f32>], labels: &[Label], class: Label) -> f64 {
    let pred = predictions(probs);
    mean(
        pred.iter()
            .zip(labels)
            .filter(|(_, l)| **l == class)
            .map(|(p, l)| f64::from(u8::from(p == l))),
    )
}

/// Mean per-class recall over the classes present in `labels`.
pub fn balanced_accuracy(probs: &[Vec<f32>], labels: &[Label]) -> f64 {
    mean(
        Label::ALL
            .into_iter()
            .filter(|c| labels.contains(c))
            .map(|c| class_recall(probs, labels, c)),
    )
}

/// ROC AUC of `scores` for `positive` vs the rest (Mann-Whitney with mid-ranks, so ties
/// count 0.5); `None` unless both groups are non-empty.
fn binary_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut pos_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mid_rank = (start + end + 1) as f64 / 2.0; // 1-based mean of start+1..=end
        pos_rank_sum +=
            mid_rank * order[start..end].iter().filter(|&&i| positive[i]).count() as f64;
        start = end;
    }
    let u = pos_rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// One-vs-rest ROC AUC per class that has both positives and negatives, averaged; ties
/// count 0.5. `NaN` when no class qualifies.
pub fn macro_auc(probs: &[Vec<f32>], labels: &[Label]) -> f64 {
    let n = probs.len().min(labels.len());
    mean(Label::ALL.into_iter().enumerate().filter_map(|(c, class)| {
        let scores: Vec<f32> = probs[..n]
            .iter()
            .map(|row| row.get(c).copied().unwrap_or(f32::NAN))
            .collect();
        let positive: Vec<bool> = labels[..n].iter().map(|l| *l == class).collect();
        binary_auc(&scores, &positive)
    }))
}

/// Confusion counts `[true class][predicted class]` in [`Label::ALL`] order.
pub fn confusion_matrix(probs: &[Vec<f32>], labels: &[Label]) -> [[usize; 5]; 5] {
    let mut m = [[0usize; 5]; 5];
    for (p, l) in predictions(probs).into_iter().zip(labels) {
        m[class_index(*l)][class_index(p)] += 1;
    }
    m
}

/// Linear-interpolated percentile (`q` in 0..=1) of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// 95% percentile bootstrap interval of `stat`: `n_boot` times, draw `n` query indices from
/// `0..n` with replacement (seeded, so reproducible) and evaluate `stat` on them; returns
/// the 2.5th and 97.5th percentiles of the finite results, or `(NaN, NaN)` when none.
pub fn bootstrap_ci(
    n: usize,
    stat: impl Fn(&[usize]) -> f64,
    n_boot: usize,
    seed: u64,
) -> (f64, f64) {
    bootstrap_cis(n, 1, |idx| vec![stat(idx)], n_boot, seed)[0]
}

/// [`bootstrap_ci`] of `m` statistics computed together on each resample (the same
/// resamples as [`bootstrap_ci`] with the same seed).
pub fn bootstrap_cis(
    n: usize,
    m: usize,
    stats: impl Fn(&[usize]) -> Vec<f64>,
    n_boot: usize,
    seed: u64,
) -> Vec<(f64, f64)> {
    if n == 0 {
        return vec![(f64::NAN, f64::NAN); m];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample = vec![0usize; n];
    let mut per_stat: Vec<Vec<f64>> = vec![Vec::with_capacity(n_boot); m];
    for _ in 0..n_boot {
        sample.iter_mut().for_each(|s| *s = rng.random_range(0..n));
        let values = stats(&sample);
        debug_assert_eq!(values.len(), m, "one value per statistic");
        for (all, v) in per_stat.iter_mut().zip(values) {
            if v.is_finite() {
                all.push(v);
            }
        }
    }
    per_stat
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            (percentile(&v, 0.025), percentile(&v, 0.975))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::{Hemorrhage as H, Infarct as I, Tumor as T};

    fn m(rows: &[&[f32]]) -> SimMatrix {
        SimMatrix::from_fn(rows.len(), rows[0].len(), |r, c| rows[r][c])
    }

    #[test]
    fn joint_bootstrap_intervals_match_one_at_a_time() {
        let x: Vec<f64> = (0..30).map(|i| f64::from(i % 7)).collect();
        let mean = |idx: &[usize]| idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64;
        let max = |idx: &[usize]| idx.iter().map(|&i| x[i]).fold(0.0, f64::max);
        let joint = bootstrap_cis(30, 2, |idx| vec![mean(idx), max(idx)], 200, 3);
        assert_eq!(
            joint,
            vec![
                bootstrap_ci(30, mean, 200, 3),
                bootstrap_ci(30, max, 200, 3)
            ]
        );
        assert!(joint[0].0 < joint[0].1);
        assert!(bootstrap_cis(0, 2, |_| vec![0.0, 0.0], 10, 1)[1].0.is_nan());
    }

    #[test]
    fn ranks_are_pessimistic_on_ties() {
        let sim = m(&[&[0.9, 0.1, 0.2], &[0.5, 0.5, 0.1], &[0.7, 0.8, 0.3]]);
        assert_eq!(diagonal_ranks(&sim), vec![1, 2, 3]);
        let collapsed = m(&[&[1.0; 4], &[1.0; 4], &[1.0; 4], &[1.0; 4]]);
        assert_eq!(diagonal_ranks(&collapsed), vec![4; 4]);
    }

    #[test]
    fn recall_and_median() {
        let ranks = [1, 2, 3, 10];
        assert_eq!(recall_at(&ranks, 1), 0.25);
        assert_eq!(recall_at(&ranks, 5), 0.75);
        assert_eq!(median_rank(&ranks), 2.5);
        assert_eq!(median_rank(&[4, 1, 9]), 4.0);
        assert!(recall_at(&[], 1).is_nan() && median_rank(&[]).is_nan());
    }

    #[test]
    fn class_precision_and_ap() {
        // Study 0 and 1 are infarcts, 2 a tumour. Row 0 prefers 2 over 1.
        let sim = m(&[&[1.0, 0.2, 0.5], &[0.2, 1.0, 0.1], &[0.5, 0.1, 1.0]]);
        let labels = [I, I, T];
        assert_eq!(class_precision_at(&sim, &labels, 1), vec![0.0, 1.0, 0.0]);
        assert_eq!(class_precision_at(&sim, &labels, 5), vec![0.5, 0.5, 0.0]);
        let ap = average_precision(&sim, &labels);
        assert_eq!(ap[0], 0.5);
        assert_eq!(ap[1], 1.0);
        assert!(ap[2].is_nan());
        assert_eq!(finite_mean(&ap), 0.75);
    }

    #[test]
    fn collapsed_model_is_not_rewarded() {
        let sim = SimMatrix::from_fn(4, 4, |_, _| 1.0);
        let labels = [I, I, T, T];
        // Ties put the other class first: P@1 = 0 and AP = 1/3 for every query.
        assert_eq!(class_precision_at(&sim, &labels, 1), vec![0.0; 4]);
        for ap in average_precision(&sim, &labels) {
            assert!((ap - 1.0 / 3.0).abs() < 1e-12);
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_scale_sharpens() {
        let p = softmax_rows(&[vec![0.1, 0.2, 0.3]], 1.0);
        assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let sharp = softmax_rows(&[vec![0.1, 0.2, 0.3]], 100.0);
        assert!(sharp[0][2] > 0.99 && sharp[0][2] > p[0][2]);
        let huge = softmax_rows(&[vec![1e30, 0.0]], 1e10);
        assert_eq!(huge[0], vec![1.0, 0.0]);
        let inf = softmax_rows(&[vec![f32::INFINITY, 0.0, f32::INFINITY]], 1.0);
        assert_eq!(inf[0], vec![0.5, 0.0, 0.5]);
    }

    fn one_hot(c: usize) -> Vec<f32> {
        let mut v = vec![0.0; 5];
        v[c] = 1.0;
        v
    }

    #[test]
    fn accuracy_balanced_and_confusion() {
        // 3 infarcts (2 right), 1 tumour (right).
        let probs = vec![one_hot(0), one_hot(0), one_hot(2), one_hot(1)];
        let labels = [I, I, I, T];
        assert_eq!(accuracy(&probs, &labels), 0.75);
        assert!((balanced_accuracy(&probs, &labels) - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let cm = confusion_matrix(&probs, &labels);
        assert_eq!(cm[0], [2, 0, 1, 0, 0]);
        assert_eq!(cm[1], [0, 1, 0, 0, 0]);
        assert!(class_recall(&probs, &labels, H).is_nan());
    }

    #[test]
    fn auc_perfect_random_and_ties() {
        let labels = [I, I, T, T];
        let perfect = vec![one_hot(0), one_hot(0), one_hot(1), one_hot(1)];
        assert_eq!(macro_auc(&perfect, &labels), 1.0);
        let flat = vec![vec![0.2; 5]; 4];
        assert_eq!(macro_auc(&flat, &labels), 0.5);
        // Hand-worked: infarct scores pos {0.9, 0.4}, neg {0.4, 0.1}: pairs 1+1+0.5+1 = 3.5/4.
        let probs = vec![
            vec![0.9, 0.1, 0.0, 0.0, 0.0],
            vec![0.4, 0.6, 0.0, 0.0, 0.0],
            vec![0.4, 0.6, 0.0, 0.0, 0.0],
            vec![0.1, 0.9, 0.0, 0.0, 0.0],
        ];
        let auc_infarct = 3.5 / 4.0;
        let auc_tumor = 3.5 / 4.0; // symmetric
        assert!((macro_auc(&probs, &labels) - (auc_infarct + auc_tumor) / 2.0).abs() < 1e-12);
        assert!(macro_auc(&perfect, &[I, I, I, I]).is_nan());
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let values: Vec<f64> = (0..200).map(|i| f64::from(i % 2)).collect();
        let stat = |idx: &[usize]| mean(idx.iter().map(|&i| values[i]));
        let (lo, hi) = bootstrap_ci(values.len(), stat, 500, 7);
        assert!(lo < 0.5 && 0.5 < hi && hi - lo < 0.3, "{lo} {hi}");
        assert_eq!(bootstrap_ci(values.len(), stat, 500, 7), (lo, hi));
        assert!(bootstrap_ci(0, stat, 10, 7).0.is_nan());
    }
}
