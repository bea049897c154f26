//! The human-readable form of an [`EvalReport`]: each metric with its 95% bootstrap
//! interval and the score a model without information would get.

use std::fmt::Write;

use super::eval::{EvalReport, Interval, RetrievalIntervals, RetrievalMetrics};
use crate::config::Label;

/// Chance levels of a split with the report's class counts.
struct Chance {
    n: f64,
    /// Expected same-class precision of a random neighbour:
    /// `sum_c (n_c / n) * ((n_c - 1) / (n - 1))`.
    same_class: f64,
    /// Accuracy of always predicting the largest class.
    majority: f64,
}

impl Chance {
    fn of(report: &EvalReport) -> Self {
        let n = report.n as f64;
        let counts = report.per_class.values().map(|c| c.n as f64);
        let same_class = counts
            .clone()
            .map(|c| (c / n) * ((c - 1.0) / (n - 1.0)))
            .sum();
        let majority = counts.fold(0.0, f64::max) / n;
        Chance {
            n,
            same_class,
            majority,
        }
    }

    fn recall(&self, k: f64) -> f64 {
        (k / self.n).min(1.0)
    }
}

fn row(out: &mut String, name: &str, value: f64, ci: Interval, chance: &str) {
    let _ = writeln!(
        out,
        "  {name:<26}{value:>8.3}  [{:>7.3}, {:>7.3}]  {chance}",
        ci.lo, ci.hi
    );
}

fn retrieval_rows(
    out: &mut String,
    dir: &str,
    m: &RetrievalMetrics,
    ci: &RetrievalIntervals,
    chance: &Chance,
) {
    for (k, value, interval) in [
        (1.0, m.r1, ci.r1),
        (5.0, m.r5, ci.r5),
        (10.0, m.r10, ci.r10),
    ] {
        let name = format!("{dir} R@{k}");
        row(
            out,
            &name,
            value,
            interval,
            &format!("{:.3}", chance.recall(k)),
        );
    }
    let name = format!("{dir} median rank");
    let random = format!("{:.1}", (chance.n + 1.0) / 2.0);
    row(out, &name, m.median_rank, ci.median_rank, &random);
}

impl EvalReport {
    /// A plain-text table: each metric with its [lo, hi] 95% bootstrap interval and its
    /// chance level, then per-class metrics and the zero-shot confusion matrix.
    pub fn to_table(&self) -> String {
        let chance = Chance::of(self);
        let iv = &self.intervals;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "evaluation of {} studies (95% bootstrap intervals)",
            self.n
        );
        let _ = writeln!(
            out,
            "  {:<26}{:>8}  {:<18}  chance",
            "metric", "value", "[     lo,      hi]"
        );
        retrieval_rows(
            &mut out,
            "text->image",
            &self.text_to_image,
            &iv.text_to_image,
            &chance,
        );
        retrieval_rows(
            &mut out,
            "image->text",
            &self.image_to_text,
            &iv.image_to_text,
            &chance,
        );
        let same = format!("{:.3}", chance.same_class);
        row(
            &mut out,
            "class precision P@1",
            self.class_precision.p1,
            iv.p1,
            &same,
        );
        row(
            &mut out,
            "class precision P@5",
            self.class_precision.p5,
            iv.p5,
            &same,
        );
        row(
            &mut out,
            "mAP (same class)",
            self.map,
            iv.map,
            &format!("~{same}"),
        );
        let zs = &self.zero_shot;
        let majority = format!("0.200 (majority {:.3})", chance.majority);
        row(
            &mut out,
            "zero-shot accuracy",
            zs.accuracy,
            iv.accuracy,
            &majority,
        );
        let bal = iv.balanced_accuracy;
        row(
            &mut out,
            "zero-shot balanced acc.",
            zs.balanced_accuracy,
            bal,
            "0.200",
        );
        row(
            &mut out,
            "zero-shot macro AUC",
            zs.macro_auc,
            iv.macro_auc,
            "0.500",
        );

        let _ = writeln!(
            out,
            "\nper class        {:>5} {:>8} {:>8} {:>8} {:>8}  (P@1 chance)",
            "n", "t2i R@1", "t2i R@10", "P@1", "zs rec."
        );
        for (label, c) in &self.per_class {
            let p1_chance = (c.n as f64 - 1.0) / (chance.n - 1.0);
            let _ = writeln!(
                out,
                "  {:<14} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>8.3}  ({p1_chance:.3})",
                label.as_str(),
                c.n,
                c.t2i_r1,
                c.t2i_r10,
                c.p1,
                c.zero_shot_recall
            );
        }

        let _ = write!(
            out,
            "\nzero-shot confusion (rows true, columns predicted)\n  {:<14}",
            ""
        );
        for l in Label::ALL {
            let _ = write!(out, " {:>10}", l.as_str());
        }
        out.push('\n');
        for (t, l) in Label::ALL.into_iter().enumerate() {
            let _ = write!(out, "  {:<14}", l.as_str());
            for count in self.confusion[t] {
                let _ = write!(out, " {count:>10}");
            }
            out.push('\n');
        }
        out
    }
}
