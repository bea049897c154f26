//! Validation after each epoch: the contrastive loss on the validation split and retrieval
//! over the whole split, which picks the model that is kept.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::TrainError;
use super::cancel::CancelToken;
use super::data::Sample;
use super::embed::{embed_images, project_texts};
use crate::config::TrainConfig;
use crate::index::metrics::{diagonal_ranks, recall_at};
use crate::index::sim::cosine_matrix;
use crate::io::cache::PreprocessCache;
use crate::model::clip::ClipModel;
use crate::model::loss::{clip_loss, soft_targets};

/// What validation needs, borrowed.
pub struct ValidationCtx<'a> {
    /// The run's settings (batch size, positives).
    pub cfg: &'a TrainConfig,
    /// The model being trained.
    pub model: &'a ClipModel,
    /// Where it runs.
    pub device: &'a Device,
    /// The preprocessing cache.
    pub cache: &'a PreprocessCache,
    /// Pooled report embeddings of the validation studies, in order.
    pub val_text: &'a [Vec<f32>],
    /// Stops the pass early.
    pub cancel: &'a CancelToken,
}

/// Validation numbers of one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationResult {
    /// Mean contrastive loss over batches of the training batch size, in split order.
    pub loss: f64,
    /// Report -> study recall@1 over the whole split.
    pub t2i_r1: f64,
    /// Report -> study recall@5.
    pub t2i_r5: f64,
    /// Mean of report -> study and study -> report recall@1 and @5: the model-selection score.
    pub score: f64,
}

/// Embeds the validation split and scores it.
pub fn validate(
    ctx: &ValidationCtx,
    val_set: &Arc<Vec<Sample>>,
) -> Result<ValidationResult, TrainError> {
    let image = embed_images(
        ctx.model,
        val_set,
        ctx.cache,
        ctx.device,
        ctx.cancel,
        &mut |_, _| {},
    )?;
    let text = project_texts(ctx.model, ctx.val_text, ctx.device)?;
    let scale = ctx.model.logit_scale()?;
    let mut loss_sum = 0.0;
    let mut batches = 0usize;
    let b = ctx.cfg.batch_size;
    for start in (0..val_set.len()).step_by(b) {
        let end = (start + b).min(val_set.len());
        if end - start < 2 {
            continue;
        }
        let rows = |v: &[Vec<f32>]| -> Result<Tensor, TrainError> {
            let flat: Vec<f32> = v[start..end].iter().flatten().copied().collect();
            Ok(Tensor::from_vec(
                flat,
                (end - start, v[start].len()),
                ctx.device,
            )?)
        };
        let labels: Vec<_> = val_set[start..end].iter().map(|s| s.label).collect();
        let reports: Vec<&str> = val_set[start..end]
            .iter()
            .map(|s| s.report.as_str())
            .collect();
        let targets = soft_targets(
            ctx.cfg.positives,
            ctx.cfg.label_weight,
            &labels,
            &reports,
            ctx.device,
        )?;
        let l = clip_loss(&rows(&image)?, &rows(&text)?, &scale, &targets)?;
        loss_sum += f64::from(l.to_scalar::<f32>()?);
        batches += 1;
    }
    let t2i = diagonal_ranks(&cosine_matrix(&text, &image));
    let i2t = diagonal_ranks(&cosine_matrix(&image, &text));
    let (t1, t5) = (recall_at(&t2i, 1), recall_at(&t2i, 5));
    let (i1, i5) = (recall_at(&i2t, 1), recall_at(&i2t, 5));
    Ok(ValidationResult {
        loss: loss_sum / batches.max(1) as f64,
        t2i_r1: t1,
        t2i_r5: t5,
        score: (t1 + t5 + i1 + i5) / 4.0,
    })
}
