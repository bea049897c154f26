//! Diagnostic: how far can a model go on a demo cohort, at the model grid and with the
//! frozen text encoder? It needs no trained model, only the cohort's ground truth; issue
//! #4's notes and the README quote its tables.
//!
//! 1. **Where the input's spread comes from**: the per-voxel spread of the training studies
//!    (what the standardisation divides by) where their mean is flat and at tissue edges,
//!    where heads that do not line up differ most.
//! 2. **Visibility** of every test study's lesion on the model input: the voxels where the
//!    lesion (with its oedema or gliosis) fills at least half of a grid voxel (the fullest
//!    voxel for smaller lesions), the largest |value| there after the model's per-voxel
//!    standardisation, clamp and intracranial mask (statistics of the training split, as in
//!    training), per sequence, against the same voxels of the normal studies outside the
//!    training split. A lesion counts as visible when, in some sequence, it exceeds the 95th
//!    percentile of those normal studies there: an observer told where to look could tell it
//!    from normal variation. An invisible one can only be found by a model from context.
//! 3. **Oracle retrieval**: expected report -> study recall on the test split (ties broken
//!    at random; `brainclip eval` counts ties against the query) when the image embedding is
//!    an *oracle* built from the ground-truth findings (class, then also the kind of the
//!    main finding, its side, region, size, then atrophy and Fazekas grade), (a) in the frozen encoder's
//!    own geometry (the mean embedding of the training reports with the same findings,
//!    cosine) and (b) through a trained linear text head (ridge regression from report
//!    embeddings to the findings' codes, ridge strength chosen on the validation split).
//!    These are two particular oracles, not bounds: they say what knowing those findings
//!    buys when read out this way.
//!
//! ```text
//! cargo run --release --example ceiling                     # data/demo, models/all-MiniLM-L6-v2
//! COHORT=DIR TEXT_MODEL=DIR cargo run --release --example ceiling
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use brainclip::config::{Label, Split};
use brainclip::index::text_cache::TextEmbeddingCache;
use brainclip::io::cache::{PreprocessCache, default_cache_dir};
use brainclip::io::cohort::read_cohort;
use brainclip::io::preprocess::TENSOR_SHAPE;
use brainclip::model::head_mask::intracranial_mask;
use brainclip::model::standardize::{VOXEL_CLIP, VOXEL_STD_FLOOR, VoxelStats};
use brainclip::model::text::{Pooling, TextEncoder};
use brainclip::train::data::{Sample, load_tensor, prepare};
use brainclip::train::localize::read_grid_truth;
use brainclip::train::reports::text_cache_dir;
use candle_core::Device;

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn main() {
    let cohort = read_cohort(Path::new(&env("COHORT", "data/demo"))).expect("cohort");
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let samples = prepare(&cohort, &[Split::Train, Split::Val, Split::Test], &cache).unwrap();
    visibility(&cohort.root, &samples, &cache);
    let attrs: Vec<[String; FIELDS]> = samples
        .iter()
        .map(|s| findings(&cohort.study_dir(&s.study_id), s.label))
        .collect();
    retrieval(&cohort.root, &samples, &attrs);
}

/// Table 1 (see the module docs).
fn visibility(root: &Path, samples: &[Sample], cache: &PreprocessCache) {
    let [c, d, h, w] = TENSOR_SHAPE;
    let len = c * d * h * w;
    let mut stats = VoxelStats::new(len, w);
    for s in samples.iter().filter(|s| s.split == Split::Train) {
        stats.add(&load_tensor(cache, s).unwrap().data).unwrap();
    }
    let (mean, std) = stats.finish(VOXEL_STD_FLOOR).unwrap();
    let mask = intracranial_mask(&mean, &std, TENSOR_SHAPE);
    spread_at_edges(&mean, &std, &mask);
    let clip = VOXEL_CLIP as f32;
    let model_input = |s: &Sample| -> Vec<f32> {
        let x = load_tensor(cache, s).unwrap().data;
        (0..len)
            .map(|i| ((x[i] - mean[i]) / std[i]).clamp(-clip, clip) * mask[i])
            .collect()
    };
    let normals: Vec<Vec<f32>> = samples
        .iter()
        .filter(|s| s.label == Label::Normal && s.split != Split::Train)
        .map(model_input)
        .collect();
    let channel = d * h * w;
    let peak = |z: &[f32], voxels: &[usize], ch: usize| {
        voxels
            .iter()
            .map(|&v| z[ch * channel + v].abs())
            .fold(0.0f32, f32::max)
    };
    // class -> (studies, with a lesion mask, visible)
    // The largest |value| anywhere in the head of each normal study, per sequence: what a
    // lesion must exceed to stand out without being told where it is.
    let head: Vec<usize> = (0..channel).filter(|&v| mask[v] > 0.0).collect();
    let head_q95: Vec<f32> = (0..c)
        .map(|ch| {
            let mut null: Vec<f32> = normals.iter().map(|n| peak(n, &head, ch)).collect();
            null.sort_by(f32::total_cmp);
            quantile95(&null)
        })
        .collect();
    // class -> (studies, with a lesion mask, visible where it lies, visible head-wide)
    let mut table: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.split == Split::Test) {
        let row = table.entry(s.label.as_str()).or_default();
        row[0] += 1;
        let study_dir = root.join("studies").join(&s.study_id);
        let Some(truth) = read_grid_truth(&study_dir).unwrap() else {
            continue;
        };
        let lesion = truth.lesion;
        let mut voxels: Vec<usize> = (0..channel).filter(|&v| lesion[v] >= 0.5).collect();
        if voxels.is_empty() {
            let fullest = (0..channel).max_by(|&a, &b| lesion[a].total_cmp(&lesion[b]));
            voxels.extend(fullest.filter(|&v| lesion[v] > 0.0));
        }
        if voxels.is_empty() {
            continue;
        }
        row[1] += 1;
        let z = model_input(s);
        let visible = (0..c).any(|ch| {
            let mut null: Vec<f32> = normals.iter().map(|n| peak(n, &voxels, ch)).collect();
            null.sort_by(f32::total_cmp);
            peak(&z, &voxels, ch) > quantile95(&null)
        });
        let stands_out = (0..c).any(|ch| peak(&z, &voxels, ch) > head_q95[ch]);
        row[2] += usize::from(visible);
        row[3] += usize::from(stands_out);
    }
    println!(
        "Visibility of the test split's lesions on the model input ({} normal studies as reference)",
        normals.len()
    );
    println!(
        "| class | test studies | with a lesion mask | visible where it lies | not visible | above every normal head's 95th percentile |"
    );
    println!("|---|---|---|---|---|---|");
    let mut total = [0; 4];
    for (label, row) in table.iter().map(|(l, r)| (*l, *r)).chain([("all", [0; 4])]) {
        let row = if label == "all" { total } else { row };
        (0..4).for_each(|i| total[i] += row[i]);
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            row[0],
            row[1],
            row[2],
            row[1] - row[2],
            row[3]
        );
    }
    println!();
}

/// How much of the per-voxel spread the standardisation divides by comes from anatomy that
/// does not line up between heads: inside the intracranial mask (the 11 central slices), the
/// training studies' spread where their mean is flat (lowest quarter of its gradient) against
/// tissue edges (highest quarter), and the correlation of spread and gradient. Misalignment
/// raises the spread at edges only; contrast and noise differences raise it everywhere.
fn spread_at_edges(mean: &[f32], std: &[f32], mask: &[f32]) {
    let [c, d, h, w] = TENSOR_SHAPE;
    let at = |ch: usize, z: usize, y: usize, x: usize| ((ch * d + z) * h + y) * w + x;
    println!("Per-voxel spread of the training studies inside the intracranial mask");
    println!(
        "| sequence | spread where the mean is flat | at edges | correlation with the gradient |"
    );
    println!("|---|---|---|---|");
    for (ch, name) in ["DWI", "T2*", "FLAIR"].iter().enumerate().take(c) {
        let mut pairs: Vec<(f32, f32)> = Vec::new();
        for z in 3..d - 2 {
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let i = at(ch, z, y, x);
                    if mask[i] == 0.0 {
                        continue;
                    }
                    let diff = |a: usize, b: usize| (mean[a] - mean[b]) / 2.0;
                    let g = [
                        diff(at(ch, z + 1, y, x), at(ch, z - 1, y, x)),
                        diff(at(ch, z, y + 1, x), at(ch, z, y - 1, x)),
                        diff(at(ch, z, y, x + 1), at(ch, z, y, x - 1)),
                    ];
                    pairs.push((g.iter().map(|v| v * v).sum::<f32>().sqrt(), std[i]));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quarter = pairs.len() / 4;
        let median = |part: &[(f32, f32)]| {
            let mut s: Vec<f32> = part.iter().map(|p| p.1).collect();
            s.sort_by(f32::total_cmp);
            s[s.len() / 2]
        };
        let n = pairs.len() as f64;
        let mean_of = |f: &dyn Fn(&(f32, f32)) -> f64| pairs.iter().map(f).sum::<f64>() / n;
        let (mg, ms) = (mean_of(&|p| f64::from(p.0)), mean_of(&|p| f64::from(p.1)));
        let cov = mean_of(&|p| (f64::from(p.0) - mg) * (f64::from(p.1) - ms));
        let var_g = mean_of(&|p| (f64::from(p.0) - mg).powi(2));
        let var_s = mean_of(&|p| (f64::from(p.1) - ms).powi(2));
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            median(&pairs[..quarter]),
            median(&pairs[pairs.len() - quarter..]),
            cov / (var_g * var_s).sqrt()
        );
    }
    println!();
}

/// The 95th percentile of sorted values (nearest rank).
fn quantile95(sorted: &[f32]) -> f32 {
    sorted[(sorted.len() * 95).div_ceil(100).max(1) - 1]
}

/// The study's class, its main finding's kind, side, region and size (binned at 15, 30 and
/// 50 mm) and its incidental atrophy and Fazekas grade, from `study.json` ("-" where absent).
fn findings(study_dir: &Path, label: Label) -> [String; FIELDS] {
    let text = std::fs::read_to_string(study_dir.join("study.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let main = &json["findings"]["findings"][0];
    let field = |k: &str| main[k].as_str().unwrap_or("-").to_string();
    let size = main["size_mm"].as_f64().map_or("-", |mm| match mm {
        mm if mm < 15.0 => "<15",
        mm if mm < 30.0 => "15-30",
        mm if mm < 50.0 => "30-50",
        _ => ">50",
    });
    let incidental = &json["findings"]["incidental"];
    [
        label.as_str().to_string(),
        field("kind"),
        field("side"),
        field("region"),
        size.to_string(),
        format!("{}/{}", incidental["atrophy"], incidental["fazekas"]),
    ]
}

/// Number of ground-truth fields an oracle can know (see [`findings`]).
const FIELDS: usize = 6;

/// Table 2 (see the module docs).
fn retrieval(root: &Path, samples: &[Sample], attrs: &[[String; FIELDS]]) {
    let model = PathBuf::from(env("TEXT_MODEL", "models/all-MiniLM-L6-v2"));
    let encoder = TextEncoder::load(&model, Pooling::Mean, &Device::Cpu).expect("text model");
    let mut text_cache = TextEmbeddingCache::open(
        &text_cache_dir(root),
        encoder.fingerprint(),
        encoder.hidden_size(),
    )
    .unwrap();
    let reports: Vec<&str> = samples.iter().map(|s| s.report.as_str()).collect();
    let text: Vec<Vec<f64>> = text_cache
        .embed_all(&reports, |t| encoder.embed(t).map_err(anyhow::Error::from))
        .unwrap()
        .into_iter()
        .map(|e| e.into_iter().map(f64::from).collect())
        .collect();
    let idx = |split| -> Vec<usize> {
        (0..samples.len())
            .filter(|&i| samples[i].split == split)
            .collect()
    };
    let (train, val, test) = (idx(Split::Train), idx(Split::Val), idx(Split::Test));
    side_in_geometry(&text, attrs, &test);
    println!(
        "Report -> study recall on the test split ({}) with an oracle image embedding",
        test.len()
    );
    println!(
        "| the oracle knows | frozen geometry R@1 / R@5 / R@10 | trained linear head R@1 / R@5 / R@10 (ridge) |"
    );
    println!("|---|---|---|");
    let names = [
        "class",
        "+ kind",
        "+ side",
        "+ region",
        "+ size",
        "+ atrophy, Fazekas grade",
    ];
    for (level, name) in names.iter().enumerate() {
        let key = |i: usize| attrs[i][..=level].join("/");
        // (a) mean training report embedding per key (the class's where the key is unseen).
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in &train {
            groups.entry(key(i)).or_default().push(i);
            groups.entry(attrs[i][0].clone()).or_default().push(i);
        }
        let centroid = |i: usize| {
            let members = groups.get(&key(i)).or_else(|| groups.get(&attrs[i][0]));
            mean_rows(&text, members.map_or(&[][..], Vec::as_slice))
        };
        let frozen = recall(
            &test.iter().map(|&i| text[i].clone()).collect::<Vec<_>>(),
            &test.iter().map(|&i| centroid(i)).collect::<Vec<_>>(),
        );
        // (b) ridge regression from embeddings to the findings' one-hot codes.
        // Centred on the training split, so that neither side needs an intercept.
        let mut onehot = one_hot(attrs, level);
        let code_mean = mean_rows(&onehot, &train);
        for row in &mut onehot {
            row.iter_mut().zip(&code_mean).for_each(|(v, m)| *v -= m);
        }
        let (_, lambda) = [0.01, 0.1, 1.0]
            .iter()
            .map(|&lambda| {
                let w = ridge(&text, &onehot, &train, lambda);
                let r = recall(&project(&text, &w, &val), &pick(&onehot, &val));
                (r[0] + r[2], lambda)
            })
            .fold((f64::MIN, 0.0), |a, b| if b.0 > a.0 { b } else { a });
        let w = ridge(&text, &onehot, &train, lambda);
        let head = recall(&project(&text, &w, &test), &pick(&onehot, &test));
        let fmt = |r: [f64; 3]| format!("{:.2} / {:.2} / {:.2}", r[0], r[1], r[2]);
        println!("| {name} | {} | {} (λ {lambda}) |", fmt(frozen), fmt(head));
    }
}

/// Does the frozen encoder's cosine geometry carry laterality? Among the test reports of a
/// one-sided main finding, how often the most similar other one is on the same side.
fn side_in_geometry(text: &[Vec<f64>], attrs: &[[String; FIELDS]], test: &[usize]) {
    let sided: Vec<usize> = test
        .iter()
        .copied()
        .filter(|&i| matches!(attrs[i][2].as_str(), "left" | "right"))
        .collect();
    let cosine = |a: &[f64], b: &[f64]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (norm(a) * norm(b)).max(1e-12)
    };
    let same = sided
        .iter()
        .filter(|&&i| {
            let nearest =
                sided.iter().copied().filter(|&j| j != i).max_by(|&a, &b| {
                    cosine(&text[i], &text[a]).total_cmp(&cosine(&text[i], &text[b]))
                });
            nearest.is_some_and(|j| attrs[j][2] == attrs[i][2])
        })
        .count();
    println!(
        "Laterality in the frozen geometry: of {} test reports with a one-sided main finding, \
         the most similar other one names the same side for {:.2} (chance about 0.5)\n",
        sided.len(),
        same as f64 / sided.len().max(1) as f64
    );
}

fn mean_rows(rows: &[Vec<f64>], members: &[usize]) -> Vec<f64> {
    let mut m = vec![0.0; rows[0].len()];
    for &i in members {
        m.iter_mut().zip(&rows[i]).for_each(|(a, b)| *a += b);
    }
    m.iter_mut().for_each(|a| *a /= members.len().max(1) as f64);
    m
}

fn pick(rows: &[Vec<f64>], which: &[usize]) -> Vec<Vec<f64>> {
    which.iter().map(|&i| rows[i].clone()).collect()
}

/// One-hot codes of the first `level + 1` findings fields, concatenated.
fn one_hot(attrs: &[[String; FIELDS]], level: usize) -> Vec<Vec<f64>> {
    let mut vocab: Vec<Vec<String>> = vec![Vec::new(); level + 1];
    for a in attrs {
        for (f, v) in vocab.iter_mut().enumerate() {
            if !v.contains(&a[f]) {
                v.push(a[f].clone());
            }
        }
    }
    attrs
        .iter()
        .map(|a| {
            vocab
                .iter()
                .enumerate()
                .flat_map(|(f, v)| v.iter().map(move |x| f64::from(u8::from(*x == a[f]))))
                .collect()
        })
        .collect()
}

/// Expected recall@1/5/10 of query row `i` finding target row `i` by cosine similarity,
/// ties broken at random.
fn recall(queries: &[Vec<f64>], targets: &[Vec<f64>]) -> [f64; 3] {
    let unit = |v: &Vec<f64>| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.iter().map(|x| x / n).collect::<Vec<f64>>()
    };
    let (q, t): (Vec<_>, Vec<_>) = (
        queries.iter().map(unit).collect(),
        targets.iter().map(unit).collect(),
    );
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut out = [0.0; 3];
    for (i, qi) in q.iter().enumerate() {
        let own = dot(qi, &t[i]);
        let (mut above, mut tied) = (0.0f64, 0.0f64);
        for (_, tj) in t.iter().enumerate().filter(|(j, _)| *j != i) {
            let s = dot(qi, tj);
            if (s - own).abs() <= 1e-9 {
                tied += 1.0;
            } else if s > own {
                above += 1.0;
            }
        }
        for (o, k) in out.iter_mut().zip([1.0, 5.0, 10.0]) {
            *o += ((k - above) / (tied + 1.0)).clamp(0.0, 1.0);
        }
    }
    out.map(|r| r / q.len() as f64)
}

/// Ridge regression `y ≈ (x - mean) w` on the rows `rows`, features centred on their mean.
/// Returns the mean (last row) after the `d x k` weights.
fn ridge(x: &[Vec<f64>], y: &[Vec<f64>], rows: &[usize], lambda: f64) -> Vec<Vec<f64>> {
    let (d, k) = (x[0].len(), y[0].len());
    let mean = mean_rows(x, rows);
    let mut a = vec![vec![0.0; d]; d];
    let mut b = vec![vec![0.0; k]; d];
    for &r in rows {
        let xc: Vec<f64> = x[r].iter().zip(&mean).map(|(v, m)| v - m).collect();
        for i in 0..d {
            for j in 0..d {
                a[i][j] += xc[i] * xc[j];
            }
            for j in 0..k {
                b[i][j] += xc[i] * y[r][j];
            }
        }
    }
    (0..d).for_each(|i| a[i][i] += lambda);
    let mut w = cholesky_solve(a, b);
    w.push(mean);
    w
}

/// Solves `a w = b` for a symmetric positive definite `a` (Cholesky).
fn cholesky_solve(mut a: Vec<Vec<f64>>, mut b: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    for j in 0..n {
        let s: f64 = (0..j).map(|k| a[j][k] * a[j][k]).sum();
        a[j][j] = (a[j][j] - s).sqrt();
        for i in j + 1..n {
            let s: f64 = (0..j).map(|k| a[i][k] * a[j][k]).sum();
            a[i][j] = (a[i][j] - s) / a[j][j];
        }
    }
    for col in 0..b[0].len() {
        for i in 0..n {
            let s: f64 = (0..i).map(|k| a[i][k] * b[k][col]).sum();
            b[i][col] = (b[i][col] - s) / a[i][i];
        }
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| a[k][i] * b[k][col]).sum();
            b[i][col] = (b[i][col] - s) / a[i][i];
        }
    }
    b
}

/// Rows `which` of `x` through [`ridge`]'s weights.
fn project(x: &[Vec<f64>], w: &[Vec<f64>], which: &[usize]) -> Vec<Vec<f64>> {
    let (mean, w) = w.split_last().unwrap();
    which
        .iter()
        .map(|&r| {
            let xc: Vec<f64> = x[r].iter().zip(mean).map(|(v, m)| v - m).collect();
            (0..w[0].len())
                .map(|j| xc.iter().zip(w).map(|(v, row)| v * row[j]).sum())
                .collect()
        })
        .collect()
}
