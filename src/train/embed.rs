//! Inference with a trained model: study and report embeddings in the joint space, as plain
//! vectors for the index, evaluation and validation.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::TrainError;
use super::cancel::CancelToken;
use super::data::{Prefetcher, Sample, ordered_batches};
use crate::io::cache::PreprocessCache;
use crate::io::preprocess::{StudyTensor, TENSOR_SHAPE};
use crate::model::clip::ClipModel;

/// Studies per inference batch (memory stays small; the tower is the cost).
pub const EMBED_BATCH: usize = 8;

/// Unit-length joint-space embeddings of `samples`' images, in order. `progress(done, total)`
/// is called after each batch; a cancelled token stops early with [`TrainError::Cancelled`].
pub fn embed_images(
    model: &ClipModel,
    samples: &Arc<Vec<Sample>>,
    cache: &PreprocessCache,
    device: &Device,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>, TrainError> {
    let n = samples.len();
    let batches = ordered_batches(n, EMBED_BATCH);
    let loader = Prefetcher::start(Arc::clone(samples), cache.clone(), batches, None, 2)?;
    let mut out = Vec::with_capacity(n);
    for batch in loader {
        if cancel.is_cancelled() {
            return Err(TrainError::Cancelled);
        }
        let batch = batch?;
        out.extend(embed_tensor_batch(
            model,
            batch.images,
            batch.indices.len(),
            device,
        )?);
        progress(out.len(), n);
    }
    Ok(out)
}

/// Embeddings of `b` studies given as `[b, 3, 16, 112, 112]` values.
pub fn embed_tensor_batch(
    model: &ClipModel,
    images: Vec<f32>,
    b: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let [c, d, h, w] = TENSOR_SHAPE;
    let x = Tensor::from_vec(images, (b, c, d, h, w), device)?; // [b, 3, 16, 112, 112]
    let e = model.encode_image(&x)?.detach(); // [b, e]
    Ok(e.to_device(&Device::Cpu)?.to_vec2::<f32>()?)
}

/// The embedding of one preprocessed study.
pub fn embed_study(
    model: &ClipModel,
    study: &StudyTensor,
    device: &Device,
) -> Result<Vec<f32>, TrainError> {
    let mut v = embed_tensor_batch(model, study.data.clone(), 1, device)?;
    v.pop().ok_or(TrainError::Empty("no embedding returned"))
}

/// Unit-length joint-space embeddings of pooled report embeddings, in order.
pub fn project_texts(
    model: &ClipModel,
    pooled: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut out = Vec::with_capacity(pooled.len());
    if pooled.iter().any(|v| v.len() != model.text_dim()) {
        return Err(TrainError::Empty(
            "report embeddings do not match the text head (a different text encoder?)",
        ));
    }
    for chunk in pooled.chunks(256) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, (chunk.len(), model.text_dim()), device)?; // [n, text_dim]
        let e = model.encode_text(&t)?.detach(); // [n, e]
        out.extend(e.to_device(&Device::Cpu)?.to_vec2::<f32>()?);
    }
    Ok(out)
}
