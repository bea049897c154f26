//! Why two studies are similar: occlusion sensitivity. Each block of the model-input grid is
//! set to the cohort mean (0 after per-study standardisation) in turn, and the drop of the
//! cosine similarity to the other study's embedding is recorded for the block's voxels.

use candle_core::Device;

use super::TrainError;
use super::cancel::CancelToken;
use super::embed::{EMBED_BATCH, embed_tensor_batch};
use crate::io::preprocess::{StudyTensor, TENSOR_SHAPE};
use crate::model::clip::ClipModel;

/// Occluded block size `[d, h, w]` on the 16 x 112 x 112 grid: 196 blocks of 4 x 16 x 16
/// voxels (about 40 x 30 x 30 mm), a few seconds on a CPU.
pub const BLOCK: [usize; 3] = [4, 16, 16];

/// Every occluded block of the model grid, as block indices `[d, h, w]`, `w` fastest.
pub fn blocks() -> Vec<[usize; 3]> {
    let [_, d, h, w] = TENSOR_SHAPE;
    (0..d.div_ceil(BLOCK[0]))
        .flat_map(|bd| {
            (0..h.div_ceil(BLOCK[1]))
                .flat_map(move |bh| (0..w.div_ceil(BLOCK[2])).map(move |bw| [bd, bh, bw]))
        })
        .collect()
}

/// The occlusion drops of `study` against the unit-length joint-space embedding `target`: for
/// each block of [`blocks`] (same order), how much occluding it lowers the cosine similarity
/// (0 when it raises it), and the unoccluded cosine similarity.
pub fn occlusion_drops(
    model: &ClipModel,
    device: &Device,
    study: &StudyTensor,
    target: &[f32],
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<f32>, f32), TrainError> {
    let [c, d, h, w] = TENSOR_SHAPE;
    let blocks = blocks();
    let cosine = |e: &[f32]| e.iter().zip(target).map(|(a, b)| a * b).sum::<f32>();
    let base = embed_tensor_batch(model, study.data.clone(), 1, device)?;
    let base = cosine(
        base.first()
            .ok_or(TrainError::Empty("no embedding returned"))?,
    );
    let mut drops = Vec::with_capacity(blocks.len());
    for chunk in blocks.chunks(EMBED_BATCH) {
        if cancel.is_cancelled() {
            return Err(TrainError::Cancelled);
        }
        let mut batch = Vec::with_capacity(chunk.len() * StudyTensor::LEN);
        for b in chunk {
            let mut x = study.data.clone(); // [c, d, h, w]
            for_each_voxel(*b, |z, y, xw| {
                for ch in 0..c {
                    x[((ch * d + z) * h + y) * w + xw] = 0.0;
                }
            });
            batch.extend_from_slice(&x);
        }
        for e in embed_tensor_batch(model, batch, chunk.len(), device)? {
            drops.push((base - cosine(&e)).max(0.0));
        }
        progress(drops.len(), blocks.len());
    }
    Ok((drops, base))
}

/// The occlusion map of `study` against the unit-length joint-space embedding `target`.
///
/// # Shapes
/// Returns `[d, h, w]` = `[16, 112, 112]` values (`w` fastest) in 0..=1, 1 where occlusion
/// lowers the similarity most (all zero when no block lowers it), and the unoccluded cosine
/// similarity.
pub fn occlusion_map(
    model: &ClipModel,
    device: &Device,
    study: &StudyTensor,
    target: &[f32],
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<f32>, f32), TrainError> {
    let [_, d, h, w] = TENSOR_SHAPE;
    let (drops, base) = occlusion_drops(model, device, study, target, cancel, progress)?;
    let max = drops.iter().copied().fold(0f32, f32::max);
    let mut heat = vec![0f32; d * h * w]; // [d, h, w]
    if max > 0.0 {
        for (b, drop) in blocks().iter().zip(&drops) {
            for_each_voxel(*b, |z, y, x| heat[(z * h + y) * w + x] = drop / max);
        }
    }
    Ok((heat, base))
}

/// Calls `f(d, h, w)` for every grid voxel of block `b` (block indices `[d, h, w]`).
pub fn for_each_voxel(b: [usize; 3], mut f: impl FnMut(usize, usize, usize)) {
    let [_, d, h, w] = TENSOR_SHAPE;
    for z in b[0] * BLOCK[0]..((b[0] + 1) * BLOCK[0]).min(d) {
        for y in b[1] * BLOCK[1]..((b[1] + 1) * BLOCK[1]).min(h) {
            for x in b[2] * BLOCK[2]..((b[2] + 1) * BLOCK[2]).min(w) {
                f(z, y, x);
            }
        }
    }
}
