//! Evaluation of one split: cross-modal retrieval, same-class retrieval and zero-shot
//! classification, with seeded bootstrap intervals and chance levels.
//!
//! The JSON form of [`EvalReport`] (serde_json) has exactly these keys:
//! ```text
//! { "n",
//!   "text_to_image": { "r1", "r5", "r10", "median_rank" },
//!   "image_to_text": { "r1", "r5", "r10", "median_rank" },
//!   "class_precision": { "p1", "p5" },
//!   "map",
//!   "zero_shot": { "accuracy", "balanced_accuracy", "macro_auc" },
//!   "per_class": { "<label>": { "n", "t2i_r1", "t2i_r10", "p1", "zero_shot_recall" }, ... } }
//! ```
//! `per_class` holds only the labels present, in [`Label::ALL`] order. `map` and
//! `macro_auc` are `null` when undefined (every class a singleton; a single class).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::metrics::{
    accuracy, average_precision, balanced_accuracy, bootstrap_ci, class_precision_at, class_recall,
    confusion_matrix, diagonal_ranks, finite_mean, macro_auc, median_rank, recall_at, softmax_rows,
};
use super::sim::cosine_matrix;
use crate::config::Label;

/// What [`evaluate`] needs for one split of `n` studies.
#[derive(Debug, Clone, Copy)]
pub struct EvalInputs<'a> {
    /// `n` image embeddings in the joint space (normalised or not); `image[i]` is study `i`.
    pub image: &'a [Vec<f32>],
    /// `n` report embeddings in the joint space; `text[i]` is study `i`'s report.
    pub text: &'a [Vec<f32>],
    /// `n` diagnostic labels.
    pub labels: &'a [Label],
    /// 5 class-prompt embeddings in the joint space, in [`Label::ALL`] order.
    pub class_prompts: &'a [Vec<f32>],
    /// Multiplier of the cosine logits (the model's `exp(log_scale)`, e.g. ~14-100).
    pub logit_scale: f32,
}

/// Why a split cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An input has the wrong number of entries.
    #[error("{what} has {found} entries, expected {expected}")]
    LengthMismatch {
        /// Which input ("text", "labels", "class_prompts").
        what: &'static str,
        /// Entries expected.
        expected: usize,
        /// Entries found.
        found: usize,
    },
    /// Retrieval needs at least two studies.
    #[error("need at least 2 studies to evaluate, got {n}")]
    TooFew {
        /// Studies given.
        n: usize,
    },
    /// A vector's dimension differs from the first image embedding's (or is 0).
    #[error("{what} embedding {index} has dimension {found}, expected {expected}")]
    DimMismatch {
        /// Which input ("image", "text", "class_prompts").
        what: &'static str,
        /// Position of the vector.
        index: usize,
        /// Dimension expected.
        expected: usize,
        /// Dimension found.
        found: usize,
    },
    /// A vector holds NaN or infinity.
    #[error("{what} embedding {index} holds a non-finite value")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the vector.
        index: usize,
    },
    /// The logit scale is not a positive finite number.
    #[error("logit scale {0} is not a positive finite number")]
    BadScale(f32),
}

/// Recall@k and median rank of one retrieval direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Fraction of queries whose match ranks first.
    pub r1: f64,
    /// Fraction ranking in the top 5.
    pub r5: f64,
    /// Fraction ranking in the top 10.
    pub r10: f64,
    /// Median 1-based rank of the match (ties pessimistic).
    pub median_rank: f64,
}

/// Same-class precision of study-to-study (image x image) retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassPrecision {
    /// Mean fraction of the nearest other study sharing the query's label.
    pub p1: f64,
    /// Mean fraction of the 5 nearest other studies sharing the query's label.
    pub p5: f64,
}

/// Zero-shot classification against the class prompts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotMetrics {
    /// Fraction of studies whose arg-max class is right.
    pub accuracy: f64,
    /// Mean per-class recall over the classes present.
    pub balanced_accuracy: f64,
    /// Mean one-vs-rest ROC AUC over classes with positives and negatives (`null` if none).
    #[serde(deserialize_with = "nan_if_null")]
    pub macro_auc: f64,
}

/// Metrics of the studies of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Studies of the class.
    pub n: usize,
    /// Text-to-image R@1 of the class's reports (over the whole split's images).
    pub t2i_r1: f64,
    /// Text-to-image R@10 of the class's reports.
    pub t2i_r10: f64,
    /// Same-class precision@1 of the class's studies as queries.
    pub p1: f64,
    /// Fraction of the class's studies that zero-shot predicts as the class.
    pub zero_shot_recall: f64,
}

/// A 95% bootstrap interval; `NaN` bounds when not computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// 2.5th percentile.
    pub lo: f64,
    /// 97.5th percentile.
    pub hi: f64,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            lo: f64::NAN,
            hi: f64::NAN,
        }
    }
}

impl From<(f64, f64)> for Interval {
    fn from((lo, hi): (f64, f64)) -> Self {
        Interval { lo, hi }
    }
}

/// Bootstrap intervals of the retrieval metrics of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalIntervals {
    /// Of [`RetrievalMetrics::r1`].
    pub r1: Interval,
    /// Of [`RetrievalMetrics::r5`].
    pub r5: Interval,
    /// Of [`RetrievalMetrics::r10`].
    pub r10: Interval,
    /// Of [`RetrievalMetrics::median_rank`].
    pub median_rank: Interval,
}

/// Bootstrap intervals of the headline metrics (queries resampled, gallery fixed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    /// Of [`EvalReport::text_to_image`].
    pub text_to_image: RetrievalIntervals,
    /// Of [`EvalReport::image_to_text`].
    pub image_to_text: RetrievalIntervals,
    /// Of [`ClassPrecision::p1`].
    pub p1: Interval,
    /// Of [`ClassPrecision::p5`].
    pub p5: Interval,
    /// Of [`EvalReport::map`].
    pub map: Interval,
    /// Of [`ZeroShotMetrics::accuracy`].
    pub accuracy: Interval,
    /// Of [`ZeroShotMetrics::balanced_accuracy`].
    pub balanced_accuracy: Interval,
    /// Of [`ZeroShotMetrics::macro_auc`].
    pub macro_auc: Interval,
}

/// All metrics of one split; see the module docs for the JSON layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Studies evaluated.
    pub n: usize,
    /// Each report ranks all the split's images.
    pub text_to_image: RetrievalMetrics,
    /// Each image ranks all the split's reports.
    pub image_to_text: RetrievalMetrics,
    /// Study-to-study same-class precision (image embeddings, query excluded).
    pub class_precision: ClassPrecision,
    /// Mean average precision of study-to-study retrieval, relevance = same label.
    #[serde(deserialize_with = "nan_if_null")]
    pub map: f64,
    /// Zero-shot classification against the class prompts.
    pub zero_shot: ZeroShotMetrics,
    /// Per label present, in [`Label::ALL`] order.
    pub per_class: BTreeMap<Label, ClassMetrics>,
    /// 95% bootstrap intervals (not serialised).
    #[serde(skip)]
    pub intervals: Intervals,
    /// Zero-shot confusion counts `[true][predicted]`, [`Label::ALL`] order (not serialised).
    #[serde(skip)]
    pub confusion: [[usize; 5]; 5],
}

/// serde_json writes NaN as `null`; read it back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn check_vectors(
    what: &'static str,
    vs: &[Vec<f32>],
    expected_len: usize,
    dim: usize,
) -> Result<(), EvalError> {
    if vs.len() != expected_len {
        return Err(EvalError::LengthMismatch {
            what,
            expected: expected_len,
            found: vs.len(),
        });
    }
    for (index, v) in vs.iter().enumerate() {
        if v.len() != dim || dim == 0 {
            return Err(EvalError::DimMismatch {
                what,
                index,
                expected: dim,
                found: v.len(),
            });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EvalError::NonFinite { what, index });
        }
    }
    Ok(())
}

fn validate(inp: &EvalInputs) -> Result<(), EvalError> {
    let n = inp.image.len();
    if n < 2 {
        return Err(EvalError::TooFew { n });
    }
    if inp.labels.len() != n {
        return Err(EvalError::LengthMismatch {
            what: "labels",
            expected: n,
            found: inp.labels.len(),
        });
    }
    let dim = inp.image[0].len();
    check_vectors("image", inp.image, n, dim)?;
    check_vectors("text", inp.text, n, dim)?;
    check_vectors("class_prompts", inp.class_prompts, Label::ALL.len(), dim)?;
    if !(inp.logit_scale.is_finite() && inp.logit_scale > 0.0) {
        return Err(EvalError::BadScale(inp.logit_scale));
    }
    Ok(())
}

fn mean_at(values: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64
}

fn finite_mean_at(values: &[f64], idx: &[usize]) -> f64 {
    finite_mean(&idx.iter().map(|&i| values[i]).collect::<Vec<_>>())
}

fn indicator(ranks: &[usize], k: usize) -> Vec<f64> {
    ranks.iter().map(|&r| f64::from(u8::from(r <= k))).collect()
}

fn retrieval(ranks: &[usize]) -> RetrievalMetrics {
    RetrievalMetrics {
        r1: recall_at(ranks, 1),
        r5: recall_at(ranks, 5),
        r10: recall_at(ranks, 10),
        median_rank: median_rank(ranks),
    }
}

fn retrieval_intervals(ranks: &[usize], n_boot: usize, seed: u64) -> RetrievalIntervals {
    let ci = |k| {
        let hit = indicator(ranks, k);
        Interval::from(bootstrap_ci(
            ranks.len(),
            |idx| mean_at(&hit, idx),
            n_boot,
            seed,
        ))
    };
    let median = |idx: &[usize]| median_rank(&idx.iter().map(|&i| ranks[i]).collect::<Vec<_>>());
    RetrievalIntervals {
        r1: ci(1),
        r5: ci(5),
        r10: ci(10),
        median_rank: bootstrap_ci(ranks.len(), median, n_boot, seed).into(),
    }
}

/// Per-query results of one split, from which every metric of a subset of queries follows
/// (shared by [`evaluate`] and the paired comparison of two runs).
pub(crate) struct QueryStats {
    pub(crate) labels: Vec<Label>,
    pub(crate) t2i_ranks: Vec<usize>,
    pub(crate) i2t_ranks: Vec<usize>,
    p1: Vec<f64>,
    p5: Vec<f64>,
    ap: Vec<f64>,
    probs: Vec<Vec<f32>>,
}

/// The metrics of a paired comparison (and of `QueryStats::headline`), in order, as named in
/// the JSON report.
pub const HEADLINE: [&str; 14] = [
    "text_to_image.r1",
    "text_to_image.r5",
    "text_to_image.r10",
    "text_to_image.median_rank",
    "image_to_text.r1",
    "image_to_text.r5",
    "image_to_text.r10",
    "image_to_text.median_rank",
    "class_precision.p1",
    "class_precision.p5",
    "map",
    "zero_shot.accuracy",
    "zero_shot.balanced_accuracy",
    "zero_shot.macro_auc",
];

impl QueryStats {
    /// Validates the inputs and ranks every query.
    pub(crate) fn new(inp: &EvalInputs) -> Result<Self, EvalError> {
        validate(inp)?;
        let n = inp.image.len();
        let t2i = cosine_matrix(inp.text, inp.image);
        let study_sim = cosine_matrix(inp.image, inp.image);
        let prompt_sim = cosine_matrix(inp.image, inp.class_prompts);
        let cosines: Vec<Vec<f32>> = (0..n).map(|i| prompt_sim.row(i).to_vec()).collect();
        Ok(Self {
            labels: inp.labels.to_vec(),
            t2i_ranks: diagonal_ranks(&t2i),
            i2t_ranks: diagonal_ranks(&t2i.transpose()),
            p1: class_precision_at(&study_sim, inp.labels, 1),
            p5: class_precision_at(&study_sim, inp.labels, 5),
            ap: average_precision(&study_sim, inp.labels),
            probs: softmax_rows(&cosines, inp.logit_scale),
        })
    }

    /// Queries in the split.
    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    fn zero_shot_at(&self, idx: &[usize], f: fn(&[Vec<f32>], &[Label]) -> f64) -> f64 {
        let p: Vec<Vec<f32>> = idx.iter().map(|&i| self.probs[i].clone()).collect();
        let l: Vec<Label> = idx.iter().map(|&i| self.labels[i]).collect();
        f(&p, &l)
    }

    /// The [`HEADLINE`] metrics over the queries `idx` (repeats allowed, as in a bootstrap
    /// resample; the gallery stays the whole split).
    pub(crate) fn headline(&self, idx: &[usize]) -> [f64; HEADLINE.len()] {
        let ranks = |all: &[usize]| idx.iter().map(|&i| all[i]).collect::<Vec<_>>();
        let (t2i, i2t) = (ranks(&self.t2i_ranks), ranks(&self.i2t_ranks));
        [
            recall_at(&t2i, 1),
            recall_at(&t2i, 5),
            recall_at(&t2i, 10),
            median_rank(&t2i),
            recall_at(&i2t, 1),
            recall_at(&i2t, 5),
            recall_at(&i2t, 10),
            median_rank(&i2t),
            mean_at(&self.p1, idx),
            mean_at(&self.p5, idx),
            finite_mean_at(&self.ap, idx),
            self.zero_shot_at(idx, accuracy),
            self.zero_shot_at(idx, balanced_accuracy),
            self.zero_shot_at(idx, macro_auc),
        ]
    }
}

/// Evaluates one split (see the module docs for what each metric means). Bootstrap
/// intervals use `n_boot` resamples of the queries (0 skips them) from `seed`; every
/// metric sees the same resamples.
pub fn evaluate(inp: &EvalInputs, n_boot: usize, seed: u64) -> Result<EvalReport, EvalError> {
    let q = QueryStats::new(inp)?;
    let (n, labels, probs) = (q.len(), inp.labels, &q.probs);

    let per_class = Label::ALL
        .into_iter()
        .filter_map(|class| {
            let idx: Vec<usize> = (0..n).filter(|&i| labels[i] == class).collect();
            let ranks: Vec<usize> = idx.iter().map(|&i| q.t2i_ranks[i]).collect();
            let metrics = ClassMetrics {
                n: idx.len(),
                t2i_r1: recall_at(&ranks, 1),
                t2i_r10: recall_at(&ranks, 10),
                p1: mean_at(&q.p1, &idx),
                zero_shot_recall: class_recall(probs, labels, class),
            };
            (!idx.is_empty()).then_some((class, metrics))
        })
        .collect();

    let ci = |stat: &dyn Fn(&[usize]) -> f64| Interval::from(bootstrap_ci(n, stat, n_boot, seed));
    let intervals = Intervals {
        text_to_image: retrieval_intervals(&q.t2i_ranks, n_boot, seed),
        image_to_text: retrieval_intervals(&q.i2t_ranks, n_boot, seed),
        p1: ci(&|idx| mean_at(&q.p1, idx)),
        p5: ci(&|idx| mean_at(&q.p5, idx)),
        map: ci(&|idx| finite_mean_at(&q.ap, idx)),
        accuracy: ci(&|idx| q.zero_shot_at(idx, accuracy)),
        balanced_accuracy: ci(&|idx| q.zero_shot_at(idx, balanced_accuracy)),
        macro_auc: ci(&|idx| q.zero_shot_at(idx, macro_auc)),
    };

    Ok(EvalReport {
        n,
        text_to_image: retrieval(&q.t2i_ranks),
        image_to_text: retrieval(&q.i2t_ranks),
        class_precision: ClassPrecision {
            p1: finite_mean(&q.p1),
            p5: finite_mean(&q.p5),
        },
        map: finite_mean(&q.ap),
        zero_shot: ZeroShotMetrics {
            accuracy: accuracy(probs, labels),
            balanced_accuracy: balanced_accuracy(probs, labels),
            macro_auc: macro_auc(probs, labels),
        },
        per_class,
        intervals,
        confusion: confusion_matrix(probs, labels),
    })
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
