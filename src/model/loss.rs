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
    if !(0.0..=1.0).contains(&label_weight) {
        bail!("label_weight must lie in [0, 1], got {label_weight}");
    }
    let mut t = vec![0f32; b * b];
    for i in 0..b {
        let same_text = |j: usize| reports[i].trim() == reports[j].trim();
        let pair = normalised_row(b, |j| {
            i == j
                || match mode {
                    Positives::Pair => false,
                    Positives::Identical => same_text(j),
                    Positives::Label => labels[i] == labels[j] || same_text(j),
                }
        });
        let class = normalised_row(b, |j| labels[i] == labels[j]);
        for j in 0..b {
            t[i * b + j] = (1.0 - label_weight) * pair[j] + label_weight * class[j];
        }
    }
    Tensor::from_vec(t, (b, b), device)
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
    let ce = |l: &Tensor, t: &Tensor| -> Result<Tensor> {
        (log_softmax(l, D::Minus1)? * t)?
            .sum(D::Minus1)?
            .mean_all()?
            .neg()
    };
    let image_to_text = ce(&logits, targets)?;
    let text_to_image = ce(&logits.t()?.contiguous()?, &targets.t()?.contiguous()?)?;
    (image_to_text + text_to_image)? / 2.0
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

    fn rows(t: &Tensor) -> Vec<Vec<f64>> {
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
            let want = reference(&rows(&img), &rows(&txt), 7.5, &rows(&t));
            assert!(
                (f64::from(got) - want).abs() < 1e-4,
                "{mode}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn targets_mark_the_right_positives() {
        let dev = Device::Cpu;
        let labels = [Label::Tumor, Label::Normal, Label::Tumor, Label::Normal];
        let reports = ["mass", "normal", "mass 2", "normal"];
        let pair = rows(&soft_targets(Positives::Pair, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(pair[1], vec![0.0, 1.0, 0.0, 0.0]);
        let ident =
            rows(&soft_targets(Positives::Identical, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(ident[1], vec![0.0, 0.5, 0.0, 0.5]);
        assert_eq!(ident[0], vec![1.0, 0.0, 0.0, 0.0]);
        let label = rows(&soft_targets(Positives::Label, 0.0, &labels, &reports, &dev).unwrap());
        assert_eq!(label[0], vec![0.5, 0.0, 0.5, 0.0]);
        let mixed = rows(&soft_targets(Positives::Pair, 0.5, &labels, &reports, &dev).unwrap());
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
}
