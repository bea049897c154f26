//! The report bank of `report_bank` runs: every training report, as written and mirrored,
//! as candidates of the image -> text half of the contrastive loss (see
//! [`crate::config::TrainConfig::report_bank`]).

use candle_core::{Device, Result, Tensor};

use super::data::Sample;
use super::reports::ReportEmbeddings;
use crate::config::{Label, TrainConfig};
use crate::model::clip::ClipModel;
use crate::model::loss::{Candidates, bank_clip_loss, cross_targets, soft_targets};

/// Frozen embeddings, labels and texts of the `2n` bank entries: training study `i` as
/// written at `i`, mirrored at `n + i`.
pub struct ReportBank {
    embeddings: Tensor,
    labels: Vec<Label>,
    texts: Vec<String>,
    n: usize,
}

impl ReportBank {
    /// The bank of a run's training reports (`train_set` in the order of `reports`).
    pub fn new(reports: &ReportEmbeddings, train_set: &[Sample], device: &Device) -> Result<Self> {
        let n = train_set.len();
        if reports.train.len() != n || reports.train_mirrored.len() != n {
            candle_core::bail!(
                "report bank: {n} studies but {} reports and {} mirrored",
                reports.train.len(),
                reports.train_mirrored.len()
            );
        }
        let flat: Vec<f32> = reports
            .train
            .iter()
            .chain(&reports.train_mirrored)
            .flat_map(|e| e.iter().copied())
            .collect();
        let embeddings = Tensor::from_vec(flat, (2 * n, reports.dim), device)?;
        let labels = train_set.iter().chain(train_set).map(|s| s.label).collect();
        let texts = reports
            .train_text
            .iter()
            .chain(&reports.train_mirrored_text)
            .cloned()
            .collect();
        Ok(Self {
            embeddings,
            labels,
            texts,
            n,
        })
    }

    /// Number of entries (twice the training studies).
    pub fn len(&self) -> usize {
        2 * self.n
    }

    /// Whether the bank has no entries.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The entry of training study `index`, mirrored or not.
    pub fn entry(&self, index: usize, mirrored: bool) -> usize {
        index + usize::from(mirrored) * self.n
    }

    /// The contrastive loss of a batch: its image embeddings `image` (`[b, e]`, unit rows)
    /// against the whole bank through the model's text head, and the batch's reports against
    /// its images. `indices` and `mirrored` say which training study (and wording) each row is.
    pub fn loss(
        &self,
        cfg: &TrainConfig,
        model: &ClipModel,
        image: &Tensor,
        indices: &[usize],
        mirrored: &[bool],
    ) -> Result<Tensor> {
        let own: Vec<usize> = indices
            .iter()
            .zip(mirrored)
            .map(|(&i, &m)| self.entry(i, m))
            .collect();
        let row_labels: Vec<Label> = own.iter().map(|&j| self.labels[j]).collect();
        let row_texts: Vec<&str> = own.iter().map(|&j| self.texts[j].as_str()).collect();
        let col_texts: Vec<&str> = self.texts.iter().map(String::as_str).collect();
        let rows = Candidates {
            labels: &row_labels,
            reports: &row_texts,
        };
        let cols = Candidates {
            labels: &self.labels,
            reports: &col_texts,
        };
        let device = image.device();
        let bank_targets =
            cross_targets(cfg.positives, cfg.label_weight, &rows, &own, &cols, device)?;
        let batch_targets = soft_targets(
            cfg.positives,
            cfg.label_weight,
            &row_labels,
            &row_texts,
            device,
        )?;
        let bank = model.encode_text_train(&self.embeddings)?; // [2n, e]
        let own: Vec<u32> = own.iter().map(|&j| j as u32).collect();
        let own = Tensor::from_vec(own, indices.len(), device)?;
        bank_clip_loss(
            image,
            &bank,
            &own,
            &model.logit_scale()?,
            &bank_targets,
            &batch_targets,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Split;

    fn sample(id: &str, label: Label, report: &str) -> Sample {
        Sample {
            study_id: id.into(),
            label,
            split: Split::Train,
            report: report.into(),
            key: id.into(),
        }
    }

    #[test]
    fn entries_hold_each_report_as_written_then_mirrored() {
        let set = [
            sample("a", Label::Infarct, "left infarct"),
            sample("b", Label::Normal, "normal"),
        ];
        let reports = ReportEmbeddings {
            dim: 2,
            fingerprint: String::new(),
            train: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            train_mirrored: vec![vec![-1.0, 0.0], vec![0.0, 1.0]],
            train_mirrored_text: vec!["right infarct".into(), "normal".into()],
            train_text: vec!["left infarct".into(), "normal".into()],
            val: Vec::new(),
        };
        let bank = ReportBank::new(&reports, &set, &Device::Cpu).unwrap();
        assert_eq!(
            (bank.len(), bank.entry(1, false), bank.entry(0, true)),
            (4, 1, 2)
        );
        assert_eq!(bank.texts[bank.entry(0, true)], "right infarct");
        assert_eq!(
            bank.labels,
            [Label::Infarct, Label::Normal, Label::Infarct, Label::Normal]
        );
        let rows = bank.embeddings.to_vec2::<f32>().unwrap();
        assert_eq!(rows[2], [-1.0, 0.0]);
        assert!(ReportBank::new(&reports, &set[..1], &Device::Cpu).is_err());
    }
}
