//! The worker's queries on the open run and index: similar cases, text search, zero-shot,
//! similarity matrix, embedding map and occlusion explanations.

use std::sync::Arc;

use anyhow::Context;

use super::jobs::Worker;
use super::protocol::{Event, Explanation, MapPoint, MatrixView, RankedStudy, Thumbnail};
use crate::config::{Sequence, Split};
use crate::index::matrix::{class_order, display_rgb};
use crate::index::pca::project_2d;
use crate::index::sim::cosine_matrix;
use crate::index::store::{EmbeddingIndex, Hit};
use crate::io::Volume;
use crate::io::cache::{PreprocessCache, default_cache_dir};
use crate::io::nifti_read::read_nifti;
use crate::io::preprocess::{TENSOR_SHAPE, model_grid_for, preprocess_study};
use crate::io::study::{Study, load_study};
use crate::train::CancelToken;
use crate::train::data::load_tensor;
use crate::train::embed::embed_study;
use crate::train::explain::occlusion_map;
use crate::train::session::Session;

/// Largest side of the similarity matrix image sent to the viewer: one pixel per cell up to
/// this many studies (within every GPU's texture limit), blocks of cells averaged beyond.
const MATRIX_MAX_SIDE: usize = 2048;

fn open(w: &Worker) -> anyhow::Result<(&Session, &EmbeddingIndex)> {
    let session = w.session.as_ref().context("no trained run is open")?;
    let index = w
        .index
        .as_ref()
        .context("the cohort is not indexed (open a cohort and a run)")?;
    Ok((session, index))
}

fn position(index: &EmbeddingIndex, study_id: &str) -> anyhow::Result<usize> {
    index
        .position(study_id)
        .with_context(|| format!("study {study_id} is not in the index"))
}

/// Zero-shot class probabilities of an indexed study (nothing without a run).
pub(super) fn zero_shot(w: &Worker, study_id: &str) -> anyhow::Result<()> {
    let (Ok((session, index)), Some(classes)) = (open(w), w.classes.as_ref()) else {
        return Ok(());
    };
    let i = position(index, study_id)?;
    let probs = session.zero_shot(std::slice::from_ref(&index.image[i]), classes)?;
    w.out.emit(Event::ZeroShot {
        study_id: study_id.to_string(),
        probabilities: probs.into_iter().next().unwrap_or_default(),
    });
    Ok(())
}

pub(super) fn similar(
    w: &Worker,
    study_id: &str,
    k: usize,
    slice_fraction: f32,
    radiological: bool,
) -> anyhow::Result<()> {
    let (_, index) = open(w)?;
    let i = position(index, study_id)?;
    let hits = index.query_image(&index.image[i].clone(), k, Some(i));
    let hits = ranked(w, index, &hits, Some((slice_fraction, radiological)));
    w.out.emit(Event::Similar {
        study_id: study_id.to_string(),
        hits,
    });
    Ok(())
}

pub(super) fn text_query(w: &Worker, text: &str, k: usize) -> anyhow::Result<()> {
    if text.trim().is_empty() {
        anyhow::bail!("the query text is empty");
    }
    let (session, index) = open(w)?;
    let _p = w.out.progress("embedding the query", 0);
    let q = session.embed_texts(&[text])?;
    let hits = index.query_image(&q[0], k, None);
    w.out.emit(Event::TextResults {
        text: text.to_string(),
        hits: ranked(w, index, &hits, None),
    });
    Ok(())
}

/// Ranks the open cohort against a study folder outside it (preprocessed and embedded now),
/// with zero-shot probabilities; nothing without a run.
pub(super) fn rank_external(
    w: &Worker,
    study: &Study,
    k: usize,
    radiological: bool,
) -> anyhow::Result<()> {
    let (Ok((session, index)), Some(classes)) = (open(w), w.classes.as_ref()) else {
        return Ok(());
    };
    let _p = w.out.progress("embedding the study", 0);
    let tensor = preprocess_study(study)?;
    let e = embed_study(&session.model, &tensor, &session.device)?;
    let hits = index.query_image(&e, k, None);
    w.out.emit(Event::Similar {
        study_id: study.id.clone(),
        hits: ranked(w, index, &hits, Some((0.5, radiological))),
    });
    let probs = session.zero_shot(std::slice::from_ref(&e), classes)?;
    w.out.emit(Event::ZeroShot {
        study_id: study.id.clone(),
        probabilities: probs.into_iter().next().unwrap_or_default(),
    });
    Ok(())
}

fn ranked(
    w: &Worker,
    index: &EmbeddingIndex,
    hits: &[Hit],
    thumbs: Option<(f32, bool)>,
) -> Vec<RankedStudy> {
    // Each thumbnail reads one cached study tensor (2.4 MB) from disk.
    let p = thumbs.map(|_| w.out.progress("loading similar studies", hits.len()));
    hits.iter()
        .map(|h| {
            let e = &index.entries[h.index];
            let thumbnail = thumbs.and_then(|(f, r)| thumbnail(w, &e.study_id, f, r));
            if let Some(p) = &p {
                p.tick();
            }
            RankedStudy {
                study_id: e.study_id.clone(),
                score: h.score,
                label: e.label,
                report: e.report.clone(),
                thumbnail,
            }
        })
        .collect()
}

/// A FLAIR slice of the model input (112 x 112), windowed to its 1st-99th percentile.
fn thumbnail(w: &Worker, study_id: &str, fraction: f32, radiological: bool) -> Option<Thumbnail> {
    let cohort = w.cohort.as_ref()?;
    let sample = w.samples.get(study_id)?;
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let tensor = load_tensor(&cache, sample).ok()?;
    let [_, d, h, wd] = TENSOR_SHAPE;
    let z = ((fraction.clamp(0.0, 1.0) * (d - 1) as f32).round() as usize).min(d - 1);
    let plane = &tensor.channel(Sequence::Flair)[z * h * wd..(z + 1) * h * wd]; // [h, w]
    let mut sorted: Vec<f32> = plane.to_vec();
    sorted.sort_by(f32::total_cmp);
    let lo = sorted[sorted.len() / 100];
    let hi = sorted[sorted.len() * 99 / 100].max(lo + 1e-3);
    let mut pixels = Vec::with_capacity(h * wd);
    // Grid h runs posterior -> anterior and w right-ward (+x): row 0 is anterior.
    for row in 0..h {
        for col in 0..wd {
            let x = if radiological { wd - 1 - col } else { col };
            let v = plane[(h - 1 - row) * wd + x];
            pixels.push(((v - lo) / (hi - lo)).clamp(0.0, 1.0));
        }
    }
    Some(Thumbnail {
        width: wd,
        height: h,
        pixels,
    })
}

pub(super) fn matrix(w: &Worker, split: Option<Split>) -> anyhow::Result<()> {
    let _busy = w.out.progress("computing the similarity matrix", 0);
    let (_, index) = open(w)?;
    let picked: Vec<usize> = (0..index.len())
        .filter(|&i| split.is_none_or(|s| index.entries[i].split == s))
        .collect();
    if picked.is_empty() {
        anyhow::bail!("no studies in that split");
    }
    let labels: Vec<_> = picked.iter().map(|&i| index.entries[i].label).collect();
    let ids: Vec<String> = picked
        .iter()
        .map(|&i| index.entries[i].study_id.clone())
        .collect();
    let order: Vec<usize> = class_order(&labels, &ids)
        .into_iter()
        .map(|o| picked[o])
        .collect();
    let text: Vec<Vec<f32>> = order.iter().map(|&i| index.text[i].clone()).collect();
    let image: Vec<Vec<f32>> = order.iter().map(|&i| index.image[i].clone()).collect();
    let sim = cosine_matrix(&text, &image);
    let (side, rgb) = display_rgb(sim.data(), order.len(), MATRIX_MAX_SIDE);
    w.out.emit(Event::Matrix(Arc::new(MatrixView {
        split,
        ids: order
            .iter()
            .map(|&i| index.entries[i].study_id.clone())
            .collect(),
        labels: order.iter().map(|&i| index.entries[i].label).collect(),
        values: sim.data().to_vec(),
        side,
        rgb,
    })));
    Ok(())
}

pub(super) fn embedding_map(w: &Worker) -> anyhow::Result<()> {
    let _busy = w.out.progress("projecting the embeddings", 0);
    let (_, index) = open(w)?;
    let xy = project_2d(&index.image);
    let points = index
        .entries
        .iter()
        .zip(xy)
        .map(|(e, xy)| MapPoint {
            study_id: e.study_id.clone(),
            label: e.label,
            xy,
        })
        .collect();
    w.out.emit(Event::Map(points));
    Ok(())
}

pub(super) fn explain(w: &Worker, query: &str, other: &str) -> anyhow::Result<()> {
    let (session, index) = open(w)?;
    let cohort = w.cohort.as_ref().context("no cohort is open")?;
    let target = index.image[position(index, other)?].clone();
    let sample = w
        .samples
        .get(query)
        .with_context(|| format!("study {query} is not in the cohort"))?;
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let tensor = load_tensor(&cache, sample)?;
    let p = w.out.progress("explaining the similarity (occlusion)", 0);
    let (heat, score) = occlusion_map(
        &session.model,
        &session.device,
        &tensor,
        &target,
        &CancelToken::new(),
        &mut |d, t| p.set(d, t),
    )?;
    // The model grid of the query, from its T2* volume as in preprocessing.
    let study = load_study(&cohort.study_dir(query))?;
    let t2s = read_nifti(study.sequence_path(Sequence::T2s))?.volume;
    let world_from_grid = model_grid_for(&t2s)?;
    let [_, d, h, wd] = TENSOR_SHAPE;
    let heat = Volume::new([wd, h, d], heat, world_from_grid)
        .context("occlusion map has the wrong size")?;
    w.out.emit(Event::Explained(Arc::new(Explanation {
        query: query.to_string(),
        other: other.to_string(),
        heat,
        score,
    })));
    Ok(())
}
