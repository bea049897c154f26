//! A paired comparison of two runs on the same split: each headline metric of both, and a
//! 95% bootstrap interval of their difference from resampling the same queries for both
//! (much tighter than comparing two runs' separate intervals, since a hard study is hard
//! for both).

use std::fmt::Write;

use serde::Serialize;

use super::eval::{EvalError, EvalInputs, HEADLINE, Interval, QueryStats};
use super::metrics::bootstrap_cis;

/// One metric of both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedMetric {
    /// Name, as in the JSON report (`"text_to_image.r1"`, `"map"`, ...).
    pub metric: &'static str,
    /// The run's value on the whole split.
    pub run: f64,
    /// The baseline's value.
    pub baseline: f64,
    /// `run - baseline`.
    pub difference: f64,
    /// 95% paired bootstrap interval of the difference.
    pub interval: Interval,
}

/// Every headline metric of a run and a baseline on one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedReport {
    /// Studies in the split.
    pub n: usize,
    /// In [`HEADLINE`] order.
    pub metrics: Vec<PairedMetric>,
}

/// Why two runs cannot be compared on a split.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PairedError {
    /// One side's inputs are unusable.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The two sides are not the same studies in the same order.
    #[error("the two runs were not evaluated on the same studies ({0})")]
    NotPaired(String),
}

/// Compares `run` with `baseline`, both embeddings of the same studies in the same order
/// (only the count and the labels can be checked here: the caller matches the study ids).
/// `n_boot` resamples (0 skips the intervals) from `seed`, the same for every metric.
pub fn compare(
    run: &EvalInputs,
    baseline: &EvalInputs,
    n_boot: usize,
    seed: u64,
) -> Result<PairedReport, PairedError> {
    let (a, b) = (QueryStats::new(run)?, QueryStats::new(baseline)?);
    if a.len() != b.len() {
        return Err(PairedError::NotPaired(format!(
            "{} vs {} studies",
            a.len(),
            b.len()
        )));
    }
    if a.labels != b.labels {
        return Err(PairedError::NotPaired("their labels differ".into()));
    }
    let n = a.len();
    let all: Vec<usize> = (0..n).collect();
    let (va, vb) = (a.headline(&all), b.headline(&all));
    let diff = |idx: &[usize]| {
        let (x, y) = (a.headline(idx), b.headline(idx));
        x.iter().zip(&y).map(|(x, y)| x - y).collect::<Vec<_>>()
    };
    let cis = bootstrap_cis(n, HEADLINE.len(), diff, n_boot, seed);
    let metrics = HEADLINE
        .iter()
        .enumerate()
        .map(|(m, &metric)| PairedMetric {
            metric,
            run: va[m],
            baseline: vb[m],
            difference: va[m] - vb[m],
            interval: cis[m].into(),
        })
        .collect();
    Ok(PairedReport { n, metrics })
}

impl PairedReport {
    /// A plain-text table: both values, the difference and its interval, and which run is
    /// better where the interval leaves out zero. Each interval is a 95 % one on its own:
    /// among 14 related metrics one may leave out zero by chance, so read a lone mark as a
    /// hint.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "  {:<28}{:>9}{:>10}{:>12}  {}\n",
            "metric", "run", "baseline", "difference", "95% paired interval"
        );
        for m in &self.metrics {
            // A rank is better lower, every other metric higher.
            let sign = if m.metric.ends_with("median_rank") {
                -1.0
            } else {
                1.0
            };
            let clear = if m.interval.lo * sign > 0.0 && m.interval.hi * sign > 0.0 {
                "run better"
            } else if m.interval.lo * sign < 0.0 && m.interval.hi * sign < 0.0 {
                "baseline better"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {:<28}{:>9.3}{:>10.3}{:>+12.3}  [{:>+7.3}, {:>+7.3}]  {clear}",
                m.metric, m.run, m.baseline, m.difference, m.interval.lo, m.interval.hi
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Label;

    /// Two classes of `n / 2` studies; study `i`'s image and report point at angle
    /// `i * step` (plus `jitter` on the image) in a 2-d plane, classes in opposite halves.
    fn split(n: usize, jitter: f32) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Label>) {
        let angle = |i: usize| i as f32 * std::f32::consts::PI / n as f32;
        let text = (0..n)
            .map(|i| vec![angle(i).cos(), angle(i).sin()])
            .collect();
        let image = (0..n)
            .map(|i| {
                let a = angle(i) + jitter * if i % 2 == 0 { 1.0 } else { -1.0 };
                vec![a.cos(), a.sin()]
            })
            .collect();
        let labels = (0..n)
            .map(|i| {
                if i < n / 2 {
                    Label::Infarct
                } else {
                    Label::Tumor
                }
            })
            .collect();
        (image, text, labels)
    }

    fn inputs<'a>(
        s: &'a (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<Label>),
        prompts: &'a [Vec<f32>],
    ) -> EvalInputs<'a> {
        EvalInputs {
            image: &s.0,
            text: &s.1,
            labels: &s.2,
            class_prompts: prompts,
            logit_scale: 10.0,
        }
    }

    #[test]
    fn a_sharper_run_is_clearly_better_and_a_run_equals_itself() {
        let prompts: Vec<Vec<f32>> = (0..5)
            .map(|c| vec![(c as f32).cos(), (c as f32).sin()])
            .collect();
        let (sharp, blurred) = (split(40, 0.0), split(40, 0.2));
        let r = compare(
            &inputs(&sharp, &prompts),
            &inputs(&blurred, &prompts),
            200,
            1,
        )
        .unwrap();
        assert_eq!(r.n, 40);
        let r1 = &r.metrics[0];
        assert_eq!(r1.metric, "text_to_image.r1");
        assert_eq!(r1.run, 1.0);
        assert!(r1.baseline < 0.5, "{r1:?}");
        assert!(
            r1.interval.lo > 0.0 && r1.interval.lo <= r1.difference,
            "{r1:?}"
        );
        let table = r.to_table();
        assert!(
            table.contains("run better") && !table.contains("baseline better"),
            "{table}"
        );
        let reverse = compare(
            &inputs(&blurred, &prompts),
            &inputs(&sharp, &prompts),
            200,
            1,
        )
        .unwrap()
        .to_table();
        assert!(reverse.contains("baseline better") && !reverse.contains("run better"));

        let same = compare(
            &inputs(&blurred, &prompts),
            &inputs(&blurred, &prompts),
            200,
            1,
        )
        .unwrap();
        for m in &same.metrics {
            assert_eq!(m.difference, 0.0, "{m:?}");
            assert!(m.interval.lo == 0.0 && m.interval.hi == 0.0, "{m:?}");
        }
        assert!(!same.to_table().contains("better"));
    }

    #[test]
    fn runs_on_different_studies_are_refused() {
        let prompts: Vec<Vec<f32>> = (0..5)
            .map(|c| vec![(c as f32).cos(), (c as f32).sin()])
            .collect();
        let (a, b) = (split(40, 0.0), split(20, 0.0));
        let err = compare(&inputs(&a, &prompts), &inputs(&b, &prompts), 10, 1).unwrap_err();
        assert!(err.to_string().contains("40 vs 20 studies"), "{err}");
        let mut c = split(40, 0.0);
        c.2.swap(0, 39);
        let err = compare(&inputs(&a, &prompts), &inputs(&c, &prompts), 10, 1).unwrap_err();
        assert!(err.to_string().contains("labels differ"), "{err}");
    }
}
