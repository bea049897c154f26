//! The contrastive loss: symmetric cross-entropy over the image x text cosine matrix (the
//! paper's Listing 1, CLIP's loss), with optional soft targets for extra positives.

use candle_core::{D, Device, Result, Tensor, bail};
use candle_nn::ops::log_softmax;

use crate::config::{Label, Positives};

/// Soft targets of a batch: row `i` spreads probability 1 evenly over study `i`'s positives
/// (always itself; with [`Positives::Identical`] also studies with the same report text; with
/// [`Positives::Label`] also studies with the same label). Symmetric, so the same matrix
/// serves both directions.
///
/// With `label_weight` w > 0, each row becomes `(1 - w) * row + w * uniform(same label)`: the
/// study's own report stays the most likely target while studies of its class share a part,
/// a class-level signal that lets a tower trained from scratch find pathology early.
///
/// # Shapes
/// result: `[b, b]`, rows sum to 1.
pub fn soft_targets(
    mode: Positives,
    label_weight: f32,
    labels: &[Label],
    reports: &[&str],
    device: &Device,
) -> Result<Tensor> {
    let b = labels.len();
    if reports.len() != b {
        bail!("{b} labels but {} reports", reports.len());
    }
    let own: Vec<usize> = (0..b).collect();
    let batch = Candidates { labels, reports };
    cross_targets(mode, label_weight, &batch, &own, &batch, device)
}

/// Labels and report texts of the rows or columns of a target matrix.
#[derive(Debug, Clone, Copy)]
pub struct Candidates<'a> {
    /// One label per entry.
    pub labels: &'a [Label],
    /// One report text per entry.
    pub reports: &'a [&'a str],
}

/// Soft targets of `rows` studies against `cols` candidate reports, the rule of
/// [`soft_targets`] with `own[i]` the column of row `i`'s own report.
///
/// # Shapes
/// result: `[rows, cols]`, rows sum to 1.
pub fn cross_targets(
    mode: Positives,
    label_weight: f32,
    rows: &Candidates,
    own: &[usize],
    cols: &Candidates,
    device: &Device,
) -> Result<Tensor> {
    let (b, m) = (rows.labels.len(), cols.labels.len());
    if rows.reports.len() != b || own.len() != b || cols.reports.len() != m {
        bail!(
            "targets: {b} row labels, {} row reports, {} own columns; {m} column labels, {} column reports",
            rows.reports.len(),
            own.len(),
            cols.reports.len()
        );
    }
    if let Some(&o) = own.iter().find(|&&o| o >= m) {
        bail!("targets: own column {o} outside {m} columns");
    }
    if !(0.0..=1.0).contains(&label_weight) {
        bail!("label_weight must lie in [0, 1], got {label_weight}");
    }
    let mut t = vec![0f32; b * m];
    for i in 0..b {
        let same_text = |j: usize| rows.reports[i].trim() == cols.reports[j].trim();
        let same_label = |j: usize| rows.labels[i] == cols.labels[j];
        let pair = normalised_row(m, |j| {
            j == own[i]
                || match mode {
                    Positives::Pair => false,
                    Positives::Identical => same_text(j),
                    Positives::Label => same_label(j) || same_text(j),
                }
        });
        // The own column keeps the class share defined even when its label differs.
        let class = normalised_row(m, |j| j == own[i] || same_label(j));
        for j in 0..m {
            t[i * m + j] = (1.0 - label_weight) * pair[j] + label_weight * class[j];
        }
    }
    Tensor::from_vec(t, (b, m), device)
}

/// A row with equal weights summing to 1 on the columns where `positive` holds.
fn normalised_row(b: usize, positive: impl Fn(usize) -> bool) -> Vec<f32> {
    let mut row: Vec<f32> = (0..b).map(|j| f32::from(u8::from(positive(j)))).collect();
    let n: f32 = row.iter().sum();
    row.iter_mut().for_each(|v| *v /= n.max(1.0));
    row
}

/// Symmetric cross-entropy of the scaled cosine logits against `targets`:
/// `(CE(logits, targets) + CE(logitsᵀ, targetsᵀ)) / 2`, each averaged over rows.
///
/// # Shapes
/// - `image`, `text`: `[b, e]`, unit-length rows
/// - `logit_scale`: `[1]`
/// - `targets`: `[b, b]`, rows sum to 1
/// - result: scalar
pub fn clip_loss(
    image: &Tensor,
    text: &Tensor,
    logit_scale: &Tensor,
    targets: &Tensor,
) -> Result<Tensor> {
    let (b, e) = image.dims2()?;
    if text.dims2()? != (b, e) || targets.dims2()? != (b, b) {
        bail!(
            "clip_loss: image {:?}, text {:?}, targets {:?} do not fit",
            image.dims(),
            text.dims(),
            targets.dims()
        );
    }
    let logits = image.matmul(&text.t()?)?.broadcast_mul(logit_scale)?; // [b, b]
    let image_to_text = soft_cross_entropy(&logits, targets)?;
    let text_to_image =
        soft_cross_entropy(&logits.t()?.contiguous()?, &targets.t()?.contiguous()?)?;
    (image_to_text + text_to_image)? / 2.0
}

/// The contrastive loss with the image -> text half against a bank of candidate reports:
/// `(CE(image · bankᵀ, bank_targets) + CE(text · imageᵀ, batch_targetsᵀ)) / 2`, where
/// `text` (the batch's own reports) is the bank rows `own`. With the bank equal to the
/// batch's reports (`own` = 0..b) it is [`clip_loss`].
///
/// # Shapes
/// - `image`: `[b, e]`, `bank`: `[m, e]`, unit-length rows; `own`: `[b]` (u32)
/// - `logit_scale`: `[1]`
/// - `bank_targets`: `[b, m]`, `batch_targets`: `[b, b]`, rows sum to 1
/// - result: scalar
pub fn bank_clip_loss(
    image: &Tensor,
    bank: &Tensor,
    own: &Tensor,
    logit_scale: &Tensor,
    bank_targets: &Tensor,
    batch_targets: &Tensor,
) -> Result<Tensor> {
    let (b, e) = image.dims2()?;
    let (m, be) = bank.dims2()?;
    if be != e
        || own.dims1()? != b
        || bank_targets.dims2()? != (b, m)
        || batch_targets.dims2()? != (b, b)
    {
        bail!(
            "bank_clip_loss: image {:?}, bank {:?}, own {:?}, targets {:?} do not fit",
            image.dims(),
            bank.dims(),
            own.dims(),
            bank_targets.dims()
        );
    }
    let to_bank = image.matmul(&bank.t()?)?.broadcast_mul(logit_scale)?; // [b, m]
    let image_to_text = soft_cross_entropy(&to_bank, bank_targets)?;
    let text = bank.index_select(own, 0)?; // [b, e]
    let in_batch = text.matmul(&image.t()?)?.broadcast_mul(logit_scale)?; // [b, b]
    let text_to_image = soft_cross_entropy(&in_batch, &batch_targets.t()?.contiguous()?)?;
    (image_to_text + text_to_image)? / 2.0
}

/// Mean over rows of the cross-entropy of `logits` against soft `targets` (same shape).
fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    (log_softmax(logits, D::Minus1)? * targets)?
        .sum(D::Minus1)?
        .mean_all()?
        .neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clip::l2_normalize;
    use crate::model::init::seeded_uniform;

    /// Direct evaluation of the loss in f64 from the definition.
    fn reference(img: &[Vec<f64>], txt: &[Vec<f64>], scale: f64, t: &[Vec<f64>]) -> f64 {
        let b = img.len();
        let dot = |a: &[f64], c: &[f64]| a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>();
        let logits: Vec<Vec<f64>> = (0..b)
            .map(|i| (0..b).map(|j| scale * dot(&img[i], &txt[j])).collect())
            .collect();
        let ce = |row: &dyn Fn(usize, usize) -> f64, tgt: &dyn Fn(usize, usize) -> f64| {
            (0..b)
                .map(|i| {
                    let m = (0..b).map(|j| row(i, j)).fold(f64::MIN, f64::max);
                    let lse = m + (0..b).map(|j| (row(i, j) - m).exp()).sum::<f64>().ln();
                    -(0..b).map(|j| tgt(i, j) * (row(i, j) - lse)).sum::<f64>()
                })
                .sum::<f64>()
                / b as f64
        };
        let a = ce(&|i, j| logits[i][j], &|i, j| t[i][j]);
        let c = ce(&|i, j| logits[j][i], &|i, j| t[j][i]);
        (a + c) / 2.0
    }

    fn rows_of(t: &Tensor) -> Vec<Vec<f64>> {
        t.to_vec2::<f32>()
            .unwrap()
            .into_iter()
            .map(|r| r.into_iter().map(f64::from).collect())
            .collect()
    }

    #[test]
    fn loss_matches_the_definition_for_each_positives_mode() {
        let dev = Device::Cpu;
        let img = l2_normalize(&seeded_uniform((4, 5), -1.0, 1.0, 3, 0, &dev).unwrap()).unwrap();
        let txt = l2_normalize(&seeded_uniform((4, 5), -1.0, 1.0, 3, 1, &dev).unwrap()).unwrap();
        let scale = Tensor::new(&[7.5f32], &dev).unwrap();
        let labels = [Label::Tumor, Label::Normal, Label::Tumor, Label::Normal];
        let reports = ["mass", "normal", "mass 2", "normal"];
        for mode in [Positives::Pair, Positives::Identical, Positives::Label] {
            let t = soft_targets(mode, 0.0, &labels, &reports, &dev).unwrap();
            let got = clip_loss(&img, &txt, &scale, &t)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let want = reference(&rows_of(&img), &rows_of(&txt), 7.5, &rows_of(&t));
            assert!(
                (f64::from(got) - want).abs() < 1e-4,
                "{mode}: {got} vs {want}"
            );
        }
        // An asymmetric target (row i: 0.7 on i, 0.3 on i + 1): the text -> image half must
        // read it transposed.
        let cyclic: Vec<f32> = (0..16)
            .map(|k| match (k % 4 + 4 - k / 4) % 4 {
                0 => 0.7,
                1 => 0.3,
                _ => 0.0,
            })
            .collect();
        let t = Tensor::from_vec(cyclic, (4, 4), &dev).unwrap();
        let got = clip_loss(&img, &txt, &scale, &t).unwrap();
        let want = reference(&rows_of(&img), &rows_of(&txt), 7.5, &rows_of(&t));
        let got = f64::from(got.to_scalar::<f32>().unwrap());
        assert!((got - want).abs() < 1e-4, "asymmetric: {got} vs {want}");
        let transposed = reference(
            &rows_of(&img),
            &rows_of(&txt),
            7.5,
            &rows_of(&t.t().unwrap()),
        );
        assert!(
            (want - transposed).abs() > 1e-3,
            "the check cannot tell the halves apart"
        );
    }

    #[test]
    fn targets_mark_the_right_positives() {
        let dev = Device::Cpu;
        let labels = [Label::Tumor, Label::Normal, Label::Tumor, Label::Normal];
        let reports = ["mass", "normal", "mass 2", "normal"];
        let pair = rows_of(&soft_targets(Positives::Pair, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(pair[1], vec![0.0, 1.0, 0.0, 0.0]);
        let ident =
            rows_of(&soft_targets(Positives::Identical, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(ident[1], vec![0.0, 0.5, 0.0, 0.5]);
        assert_eq!(ident[0], vec![1.0, 0.0, 0.0, 0.0]);
        let label = rows_of(&soft_targets(Positives::Label, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(label[0], vec![0.5, 0.0, 0.5, 0.0]);
        let mixed = rows_of(&soft_targets(Positives::Pair, 0.5, &labels, &reports, &dev).unwrap());
        assert_eq!(mixed[0], vec![0.75, 0.0, 0.25, 0.0]);
        assert!(soft_targets(Positives::Pair, 1.5, &labels, &reports, &dev).is_err());
    }

    #[test]
    fn perfect_alignment_scores_lower_than_shuffled() {
        let dev = Device::Cpu;
        let e = l2_normalize(&seeded_uniform((6, 8), -1.0, 1.0, 5, 0, &dev).unwrap()).unwrap();
        let shuffled =
            Tensor::cat(&[e.narrow(0, 1, 5).unwrap(), e.narrow(0, 0, 1).unwrap()], 0).unwrap();
        let scale = Tensor::new(&[20f32], &dev).unwrap();
        let labels = [Label::Other; 6];
        let reports = ["a", "b", "c", "d", "e", "f"];
        let t = soft_targets(Positives::Pair, 0.0, &labels, &reports, &dev).unwrap();
        let good = clip_loss(&e, &e, &scale, &t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let bad = clip_loss(&e, &shuffled, &scale, &t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(good < bad, "{good} vs {bad}");
    }

    #[test]
    fn bank_loss_is_the_clip_loss_when_the_bank_is_the_batch() {
        let dev = Device::Cpu;
        let img = l2_normalize(&seeded_uniform((4, 5), -1.0, 1.0, 8, 0, &dev).unwrap()).unwrap();
        let txt = l2_normalize(&seeded_uniform((4, 5), -1.0, 1.0, 8, 1, &dev).unwrap()).unwrap();
        let scale = Tensor::new(&[9f32], &dev).unwrap();
        let labels = [Label::Tumor, Label::Normal, Label::Tumor, Label::Normal];
        let reports = ["mass", "normal", "mass 2", "normal"];
        let t = soft_targets(Positives::Identical, 0.5, &labels, &reports, &dev).unwrap();
        let own = Tensor::new(&[0u32, 1, 2, 3], &dev).unwrap();
        let bank = bank_clip_loss(&img, &txt, &own, &scale, &t, &t).unwrap();
        let plain = clip_loss(&img, &txt, &scale, &t).unwrap();
        let (a, b) = (
            bank.to_scalar::<f32>().unwrap(),
            plain.to_scalar::<f32>().unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn bank_loss_matches_the_definition() {
        let dev = Device::Cpu;
        // Two studies in the batch, their reports at bank rows 3 and 0 of five.
        let img = l2_normalize(&seeded_uniform((2, 6), -1.0, 1.0, 9, 0, &dev).unwrap()).unwrap();
        let bank = l2_normalize(&seeded_uniform((5, 6), -1.0, 1.0, 9, 1, &dev).unwrap()).unwrap();
        let own_idx = [3usize, 0];
        let labels = [
            Label::Infarct,
            Label::Normal,
            Label::Infarct,
            Label::Infarct,
            Label::Other,
        ];
        let reports = ["normal", "x", "left infarct", "right infarct", "y"];
        let cols = Candidates {
            labels: &labels,
            reports: &reports,
        };
        let rows = Candidates {
            labels: &[Label::Infarct, Label::Infarct],
            reports: &["right infarct", "normal"],
        };
        let bt = cross_targets(Positives::Identical, 0.0, &rows, &own_idx, &cols, &dev).unwrap();
        let st = soft_targets(Positives::Identical, 0.0, rows.labels, rows.reports, &dev).unwrap();
        let own = Tensor::new(&[3u32, 0], &dev).unwrap();
        let scale = Tensor::new(&[6f32], &dev).unwrap();
        let got = bank_clip_loss(&img, &bank, &own, &scale, &bt, &st)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let (im, bk) = (rows_of(&img), rows_of(&bank));
        let dot = |a: &[f64], c: &[f64]| 6.0 * a.iter().zip(c).map(|(x, y)| x * y).sum::<f64>();
        let ce = |logits: Vec<f64>, target: usize| {
            let m = logits.iter().copied().fold(f64::MIN, f64::max);
            let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
            lse - logits[target]
        };
        // Image -> bank: each row's only positive is its own entry (texts differ).
        let i2t = (0..2)
            .map(|i| ce((0..5).map(|j| dot(&im[i], &bk[j])).collect(), own_idx[i]))
            .sum::<f64>()
            / 2.0;
        // Batch report -> batch images.
        let t2i = (0..2)
            .map(|i| ce((0..2).map(|j| dot(&bk[own_idx[i]], &im[j])).collect(), i))
            .sum::<f64>()
            / 2.0;
        let want = (i2t + t2i) / 2.0;
        assert!((f64::from(got) - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn cross_targets_mark_own_identical_and_class_columns() {
        let dev = Device::Cpu;
        let cols = Candidates {
            labels: &[Label::Infarct, Label::Infarct, Label::Normal, Label::Normal],
            reports: &["left infarct", "right infarct", "normal", "normal"],
        };
        // A mirrored left infarct (its own column 1) and a normal study (column 2).
        let rows = Candidates {
            labels: &[Label::Infarct, Label::Normal],
            reports: &["right infarct", "normal"],
        };
        let t = cross_targets(Positives::Identical, 0.0, &rows, &[1, 2], &cols, &dev).unwrap();
        assert_eq!(rows_of(&t)[0], vec![0.0, 1.0, 0.0, 0.0]);
        assert_eq!(rows_of(&t)[1], vec![0.0, 0.0, 0.5, 0.5]);
        let mixed = cross_targets(Positives::Pair, 0.5, &rows, &[1, 2], &cols, &dev).unwrap();
        assert_eq!(rows_of(&mixed)[0], vec![0.25, 0.75, 0.0, 0.0]);
        assert!(cross_targets(Positives::Pair, 0.0, &rows, &[1, 4], &cols, &dev).is_err());
        assert!(cross_targets(Positives::Pair, 0.0, &rows, &[1], &cols, &dev).is_err());
    }
}
