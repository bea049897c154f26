//! Diagnostic: how much of the five classes can a *supervised* linear classifier read from
//! simple summary features of the model input, and from a trained model's image embedding?
//!
//! Features per study, on the model input (per-voxel standardisation with the training
//! split's statistics, clamp, intracranial mask): per sequence, the mean of the 8, 64 and 512
//! largest values of `z`, of `-z` and of the left-right asymmetry `|z - mirror(z)|`.
//! Softmax regression (L2 strength chosen on validation) is trained on the training split and
//! scored by balanced accuracy on validation and test. With `RUN=DIR` the run's image
//! embeddings are probed too, alone and with the `z` features. These are supervised probes:
//! they use the labels, which zero-shot classification does not.
//!
//! ```text
//! cargo run --release --example feature_probe                     # data/demo
//! RUN=models/demo cargo run --release --example feature_probe     # + the demo's embeddings
//! VERSION=brainclip-preprocess-v2 cargo run --release --example feature_probe
//! ```
//! `VERSION` reads cache entries another build wrote with that preprocessing version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use brainclip::config::{Label, Split};
use brainclip::io::cache::{PreprocessCache, cache_key_for, default_cache_dir};
use brainclip::io::cohort::read_cohort;
use brainclip::io::preprocess::TENSOR_SHAPE;
use brainclip::io::study::load_study;
use brainclip::model::head_mask::intracranial_mask;
use brainclip::model::standardize::{VOXEL_CLIP, VOXEL_STD_FLOOR, VoxelStats};
use brainclip::train::cancel::CancelToken;
use brainclip::train::data::{Sample, load_tensor, prepare};
use brainclip::train::session::Session;

/// How many of the largest values each feature averages.
const KS: [usize; 3] = [8, 64, 512];
/// Features per sequence: (z, -z, asymmetry) x KS.
const PER_CHANNEL: usize = 3 * KS.len();

type Rows = Vec<(Vec<f64>, usize)>;
/// A named choice of feature columns.
type FeatureSet = (&'static str, Box<dyn Fn(usize) -> bool>);

/// The means of the `KS` largest values of `v`.
fn top_means(mut v: Vec<f32>) -> [f32; KS.len()] {
    v.sort_unstable_by(|a, b| b.total_cmp(a));
    KS.map(|k| {
        let k = k.min(v.len()).max(1);
        v[..k].iter().sum::<f32>() / k as f32
    })
}

fn main() {
    let cohort = read_cohort(Path::new(
        &std::env::var("COHORT").unwrap_or_else(|_| "data/demo".into()),
    ))
    .unwrap();
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let mut samples = prepare(&cohort, &Split::ALL, &cache).unwrap();
    let version = std::env::var("VERSION").ok();
    if let Some(v) = &version {
        for s in &mut samples {
            s.key = cache_key_for(&load_study(&cohort.study_dir(&s.study_id)).unwrap(), v).unwrap();
        }
    }
    let [c, d, h, w] = TENSOR_SHAPE;
    let (len, channel) = (c * d * h * w, d * h * w);
    let mut stats = VoxelStats::new(len, w);
    for s in samples.iter().filter(|s| s.split == Split::Train) {
        stats.add(&load_tensor(&cache, s).unwrap().data).unwrap();
    }
    let (mean, std) = stats.finish(VOXEL_STD_FLOOR).unwrap();
    let mask = intracranial_mask(&mean, &std, TENSOR_SHAPE);
    let clip = VOXEL_CLIP as f32;
    // The mask is the same for every channel.
    let inside: Vec<usize> = (0..channel).filter(|&v| mask[v] > 0.0).collect();
    let features = |s: &Sample| -> Vec<f64> {
        let x = load_tensor(&cache, s).unwrap().data;
        let z: Vec<f32> = (0..len)
            .map(|i| ((x[i] - mean[i]) / std[i]).clamp(-clip, clip) * mask[i])
            .collect();
        let mut f = Vec::with_capacity(c * PER_CHANNEL);
        for zc in z.chunks(channel) {
            let pos: Vec<f32> = inside.iter().map(|&v| zc[v]).collect();
            let neg: Vec<f32> = pos.iter().map(|v| -v).collect();
            let asym: Vec<f32> = inside
                .iter()
                .map(|&v| (zc[v] - zc[v - v % w + (w - 1 - v % w)]).abs())
                .collect();
            let tops = [pos, neg, asym].map(top_means);
            for k in 0..KS.len() {
                f.extend(tops.iter().map(|t| f64::from(t[k])));
            }
        }
        f
    };
    let mut rows: Vec<(Vec<f64>, usize, Split)> = samples
        .iter()
        .map(|s| (features(s), label_index(s.label), s.split))
        .collect();
    let hand = c * PER_CHANNEL;
    let mut sets: Vec<FeatureSet> = vec![
        ("z, -z", Box::new(move |j| j < hand && j % 3 != 2)),
        ("asymmetry", Box::new(move |j| j < hand && j % 3 == 2)),
        ("z, -z, asymmetry", Box::new(move |j| j < hand)),
    ];
    if let Ok(run) = std::env::var("RUN") {
        let session = Session::open(Path::new(&run), None, &candle_core::Device::Cpu).unwrap();
        let emb = session
            .embed_samples(
                &Arc::new(samples.clone()),
                &cache,
                &CancelToken::new(),
                &mut |_, _| {},
            )
            .unwrap();
        for (r, e) in rows.iter_mut().zip(emb) {
            r.0.extend(e.iter().map(|v| f64::from(*v)));
        }
        sets.push(("embedding", Box::new(move |j| j >= hand)));
        sets.push((
            "embedding + z, -z",
            Box::new(move |j| j >= hand || j % 3 != 2),
        ));
    }
    println!(
        "input {}; train {}, val {}, test {}",
        version.as_deref().unwrap_or("of this build"),
        rows.iter().filter(|r| r.2 == Split::Train).count(),
        rows.iter().filter(|r| r.2 == Split::Val).count(),
        rows.iter().filter(|r| r.2 == Split::Test).count()
    );
    println!("| features | count | val balanced accuracy | test balanced accuracy | L2 |");
    println!("|---|---|---|---|---|");
    for (name, keep) in sets {
        let cols: Vec<usize> = (0..rows[0].0.len()).filter(|&j| keep(j)).collect();
        let pick = |sp: Split| -> Rows {
            rows.iter()
                .filter(|r| r.2 == sp)
                .map(|r| (cols.iter().map(|&j| r.0[j]).collect(), r.1))
                .collect()
        };
        let train = pick(Split::Train);
        let (mu, sd) = moments(&train);
        let scale = |rows: Rows| -> Rows {
            rows.into_iter()
                .map(|(x, y)| {
                    let x = x
                        .iter()
                        .enumerate()
                        .map(|(j, v)| (v - mu[j]) / sd[j])
                        .collect();
                    (x, y)
                })
                .collect()
        };
        let (train, val, test) = (
            scale(train),
            scale(pick(Split::Val)),
            scale(pick(Split::Test)),
        );
        let mut best = (f64::MIN, 0.0, 0.0);
        for l2 in [0.001, 0.01, 0.1, 1.0] {
            let weights = fit(&train, l2);
            let v = balanced_accuracy(&weights, &val);
            if v > best.0 {
                best = (v, balanced_accuracy(&weights, &test), l2);
            }
        }
        println!(
            "| {name} | {} | {:.3} | {:.3} | {} |",
            cols.len(),
            best.0,
            best.1,
            best.2
        );
    }
}

fn label_index(l: Label) -> usize {
    Label::ALL.iter().position(|x| *x == l).unwrap()
}

fn moments(rows: &Rows) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let nf = rows[0].0.len();
    let mu: Vec<f64> = (0..nf)
        .map(|j| rows.iter().map(|r| r.0[j]).sum::<f64>() / n)
        .collect();
    let sd: Vec<f64> = (0..nf)
        .map(|j| {
            let var = rows.iter().map(|r| (r.0[j] - mu[j]).powi(2)).sum::<f64>() / n;
            var.sqrt().max(1e-6)
        })
        .collect();
    (mu, sd)
}

fn logits(w: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    w.iter()
        .map(|wk| wk[0] + wk[1..].iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
        .collect()
}

/// Softmax regression by full-batch gradient descent (bias unpenalised).
fn fit(rows: &Rows, l2: f64) -> Vec<Vec<f64>> {
    let k = Label::ALL.len();
    let nf = rows[0].0.len();
    let n = rows.len() as f64;
    let mut w = vec![vec![0.0; nf + 1]; k];
    for _ in 0..3000 {
        let mut g = vec![vec![0.0; nf + 1]; k];
        for (x, y) in rows {
            let z = logits(&w, x);
            let m = z.iter().copied().fold(f64::MIN, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            for (c, gc) in g.iter_mut().enumerate() {
                let p = e[c] / s - f64::from(u8::from(c == *y));
                gc[0] += p / n;
                for (gj, xj) in gc[1..].iter_mut().zip(x) {
                    *gj += p * xj / n;
                }
            }
        }
        for (wc, gc) in w.iter_mut().zip(&g) {
            for (j, (wj, gj)) in wc.iter_mut().zip(gc).enumerate() {
                let reg = if j == 0 { 0.0 } else { l2 * *wj };
                *wj -= 0.5 * (gj + reg);
            }
        }
    }
    w
}

fn balanced_accuracy(w: &[Vec<f64>], rows: &Rows) -> f64 {
    let k = Label::ALL.len();
    let (mut hit, mut total) = (vec![0usize; k], vec![0usize; k]);
    for (x, y) in rows {
        let z = logits(w, x);
        let p = (0..k).max_by(|&a, &b| z[a].total_cmp(&z[b])).unwrap();
        total[*y] += 1;
        hit[*y] += usize::from(p == *y);
    }
    let present: Vec<usize> = (0..k).filter(|&c| total[c] > 0).collect();
    present
        .iter()
        .map(|&c| hit[c] as f64 / total[c] as f64)
        .sum::<f64>()
        / present.len() as f64
}
