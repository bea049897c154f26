//! Does the model look at the lesion? Each study's occlusion drops (see [`super::explain`])
//! against its own report's embedding are scored against its ground-truth lesion mask
//! (`truth/lesion.nii.gz`, written by `brainclip synth` in the T2* voxel space), resampled
//! onto the study's model grid like the T2* itself.
//!
//! Per study: whether the block whose occlusion lowers the similarity most holds lesion
//! ("pointing game"), and the share of all drops that falls on lesion blocks. Two baselines
//! say what a model blind to the lesion would get: uniform chance (the lesion blocks' share of
//! the head's blocks) and shuffled masks (the same top block scored against the lesion masks
//! of the other studies of the split; this keeps any general preference of the model for,
//! say, the centre of the brain, where lesions are common too).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::TrainError;
use super::cancel::CancelToken;
use super::data::{load_tensor, prepare};
use super::explain::{blocks, for_each_voxel, occlusion_drops};
use super::session::Session;
use crate::config::{Label, Sequence, Split};
use crate::io::IoError;
use crate::io::cache::{PreprocessCache, default_cache_dir};
use crate::io::cohort::read_cohort;
use crate::io::nifti_read::read_nifti;
use crate::io::normalize::foreground_mask;
use crate::io::preprocess::{GRID_DIMS, model_grid_for};
use crate::io::resample::resample_antialiased;
use crate::io::study::load_study;

/// The ground-truth lesion mask of a demo-cohort study, relative to its folder.
pub const TRUTH_FILE: &str = "truth/lesion.nii.gz";
/// A block is inside the head when at least this fraction of its voxels is head foreground.
const HEAD_BLOCK_FRACTION: f32 = 0.1;
/// A block holds lesion when the lesion fills at least this many of its grid voxels (partial
/// volumes summed); the block with the most lesion always does, so a lesion smaller than one
/// grid voxel still has its block.
const LESION_BLOCK_VOXELS: f32 = 1.0;

/// Which occlusion blocks (in [`blocks`] order) hold lesion and which lie inside the head.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTruth {
    /// Per block: holds lesion.
    pub lesion: Vec<bool>,
    /// Per block: inside the head (every lesion block is).
    pub head: Vec<bool>,
}

impl BlockTruth {
    /// From the lesion fraction (0..=1, partial volume) and the head mask of every voxel of
    /// the model grid. `None` when there is no lesion.
    ///
    /// # Shapes
    /// Both `[d, h, w]` = `[16, 112, 112]`, `w` fastest.
    pub fn from_grid(lesion: &[f32], head: &[bool]) -> Option<Self> {
        let [nw, nh, _] = GRID_DIMS;
        let at = |z: usize, y: usize, x: usize| (z * nh + y) * nw + x;
        let mut volume = Vec::new();
        let mut head_blocks = Vec::new();
        for b in blocks() {
            let (mut v, mut inside, mut n) = (0f32, 0usize, 0usize);
            for_each_voxel(b, |z, y, x| {
                v += lesion[at(z, y, x)];
                inside += usize::from(head[at(z, y, x)]);
                n += 1;
            });
            volume.push(v);
            head_blocks.push(inside as f32 >= HEAD_BLOCK_FRACTION * n as f32);
        }
        let most = (0..volume.len()).max_by(|&a, &b| volume[a].total_cmp(&volume[b]))?;
        if volume[most] <= 0.0 {
            return None;
        }
        let lesion: Vec<bool> = (0..volume.len())
            .map(|b| b == most || volume[b] >= LESION_BLOCK_VOXELS)
            .collect();
        let head = head_blocks
            .iter()
            .zip(&lesion)
            .map(|(h, l)| *h || *l)
            .collect();
        Some(Self { lesion, head })
    }

    /// The lesion blocks' share of the head's blocks: the chance that a block drawn at random
    /// inside the head holds lesion.
    pub fn lesion_share(&self) -> f64 {
        self.lesion_blocks() as f64 / self.head_blocks().max(1) as f64
    }

    /// How many blocks hold lesion.
    pub fn lesion_blocks(&self) -> usize {
        self.lesion.iter().filter(|x| **x).count()
    }

    /// How many blocks lie inside the head.
    pub fn head_blocks(&self) -> usize {
        self.head.iter().filter(|x| **x).count()
    }
}

/// How one study's occlusion drops sit on its lesion.
#[derive(Debug, Clone, Serialize)]
pub struct StudyLocalization {
    /// Study id.
    pub study_id: String,
    /// Class label.
    pub label: Label,
    /// Cosine similarity of the study to its own report.
    pub score: f32,
    /// Blocks holding lesion.
    pub lesion_blocks: usize,
    /// Blocks inside the head.
    pub head_blocks: usize,
    /// The block whose occlusion lowers the similarity most (`None` when none lowers it).
    pub top_block: Option<usize>,
    /// Whether that block holds lesion.
    pub hit: bool,
    /// Share of all drops on lesion blocks (0 when nothing drops).
    pub heat_share: f64,
    /// Uniform chance of a hit: [`BlockTruth::lesion_share`].
    pub lesion_share: f64,
    /// Which blocks hold lesion (for the shuffled-mask baseline).
    #[serde(skip)]
    pub lesion: Vec<bool>,
}

/// Scores occlusion drops (in [`blocks`] order) against a study's block truth: the top
/// block, whether it holds lesion, and the drops' share on lesion blocks.
pub fn score_drops(drops: &[f32], truth: &BlockTruth) -> (Option<usize>, bool, f64) {
    let top = (0..drops.len())
        .filter(|&b| drops[b] > 0.0)
        .max_by(|&a, &b| drops[a].total_cmp(&drops[b]));
    let hit = top.is_some_and(|b| truth.lesion[b]);
    let total: f64 = drops.iter().map(|d| f64::from(*d)).sum();
    let on_lesion: f64 = drops
        .iter()
        .zip(&truth.lesion)
        .filter(|(_, l)| **l)
        .map(|(d, _)| f64::from(*d))
        .sum();
    let share = if total > 0.0 { on_lesion / total } else { 0.0 };
    (top, hit, share)
}

/// The ground-truth lesion of a demo-cohort study on its model grid, derived like the model
/// input (the T2*'s grid, anti-aliased resampling).
///
/// # Shapes
/// Both fields `[d, h, w]` = `[16, 112, 112]`, `w` fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct GridTruth {
    /// Lesion fraction of every grid voxel (0..=1, partial volume; lesion and its oedema or
    /// gliosis alike).
    pub lesion: Vec<f32>,
    /// Head foreground (Otsu) of the resampled T2*.
    pub head: Vec<bool>,
}

/// Reads a study's [`GridTruth`]. `None` when the study has no [`TRUTH_FILE`] (normal
/// studies); an error when it cannot be read or its dimensions differ from the T2*'s.
pub fn read_grid_truth(study_dir: &Path) -> Result<Option<GridTruth>, TrainError> {
    let path = study_dir.join(TRUTH_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let study = load_study(study_dir)?;
    let t2s_path = study.sequence_path(Sequence::T2s);
    let t2s = read_nifti(t2s_path)?.volume;
    let mut truth = read_nifti(&path)?.volume;
    if truth.dims != t2s.dims {
        return Err(IoError::invalid(
            &path,
            format!(
                "lesion mask is {:?} voxels, the T2* is {:?}",
                truth.dims, t2s.dims
            ),
        )
        .into());
    }
    truth.data.iter_mut().for_each(|v| *v = f32::from(*v > 0.0));
    let grid = model_grid_for(&t2s)
        .map_err(|e| IoError::invalid(t2s_path, format!("no model grid: {e}")))?;
    let resample = |v, p: &Path| {
        resample_antialiased(v, GRID_DIMS, &grid)
            .map_err(|e| IoError::invalid(p, format!("cannot resample: {e}")))
    };
    let lesion = resample(&truth, &path)?;
    let head_img = resample(&t2s, t2s_path)?;
    let head = foreground_mask(&head_img.data, Some(&head_img.inside));
    Ok(Some(GridTruth {
        lesion: lesion.data,
        head,
    }))
}

/// [`read_grid_truth`] as occlusion blocks. `None` when the study has no lesion.
pub fn read_block_truth(study_dir: &Path) -> Result<Option<BlockTruth>, TrainError> {
    Ok(read_grid_truth(study_dir)?.and_then(|t| BlockTruth::from_grid(&t.lesion, &t.head)))
}

/// Localisation of every study of `split` that has a lesion mask (the first `limit` of them
/// when given); `progress(done, total)` follows the studies.
pub fn localize_split(
    session: &Session,
    cohort_dir: &Path,
    split: Split,
    limit: Option<usize>,
    cancel: &CancelToken,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<StudyLocalization>, TrainError> {
    let cohort = read_cohort(cohort_dir)?;
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    let samples = prepare(&cohort, &[split], &cache)?;
    let limit = limit.unwrap_or(usize::MAX);
    let mut todo = Vec::new();
    for s in &samples {
        if todo.len() == limit {
            break;
        }
        if let Some(truth) = read_block_truth(&cohort.study_dir(&s.study_id))? {
            todo.push((s, truth));
        }
    }
    if todo.is_empty() {
        return Err(TrainError::Empty(
            "no study of the split has a lesion mask (truth/lesion.nii.gz)",
        ));
    }
    let reports: Vec<&str> = todo.iter().map(|(s, _)| s.report.as_str()).collect();
    let targets = session.embed_reports(&cohort.root, &reports)?;
    let total = todo.len();
    let mut out = Vec::with_capacity(total);
    for (i, ((sample, truth), target)) in todo.into_iter().zip(&targets).enumerate() {
        progress(i, total);
        let tensor = load_tensor(&cache, sample)?;
        let (drops, score) = occlusion_drops(
            &session.model,
            &session.device,
            &tensor,
            target,
            cancel,
            &mut |_, _| {},
        )?;
        let (top_block, hit, heat_share) = score_drops(&drops, &truth);
        out.push(StudyLocalization {
            study_id: sample.study_id.clone(),
            label: sample.label,
            score,
            lesion_blocks: truth.lesion_blocks(),
            head_blocks: truth.head_blocks(),
            top_block,
            hit,
            heat_share,
            lesion_share: truth.lesion_share(),
            lesion: truth.lesion,
        });
    }
    progress(total, total);
    Ok(out)
}

/// Means over a group of studies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LocalizationSummary {
    /// Studies.
    pub n: usize,
    /// Fraction whose top block holds lesion.
    pub hit_rate: f64,
    /// Mean uniform chance of a hit.
    pub uniform_chance: f64,
    /// Mean hit rate of the top block against the other studies' masks.
    pub shuffled_masks: f64,
    /// Mean share of the drops on lesion blocks.
    pub heat_share: f64,
}

/// The summary of all studies (`"all"`) and of each class.
pub fn summarize(studies: &[StudyLocalization]) -> BTreeMap<String, LocalizationSummary> {
    let shuffled: Vec<f64> = studies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let hits = studies
                .iter()
                .enumerate()
                .filter(|(j, o)| *j != i && s.top_block.is_some_and(|b| o.lesion[b]))
                .count();
            hits as f64 / (studies.len() - 1).max(1) as f64
        })
        .collect();
    let group = |keep: &dyn Fn(&StudyLocalization) -> bool| {
        let idx: Vec<usize> = (0..studies.len()).filter(|&i| keep(&studies[i])).collect();
        let n = idx.len();
        let mean = |f: &dyn Fn(usize) -> f64| idx.iter().map(|&i| f(i)).sum::<f64>() / n as f64;
        LocalizationSummary {
            n,
            hit_rate: mean(&|i| f64::from(u8::from(studies[i].hit))),
            uniform_chance: mean(&|i| studies[i].lesion_share),
            shuffled_masks: mean(&|i| shuffled[i]),
            heat_share: mean(&|i| studies[i].heat_share),
        }
    };
    let mut out = BTreeMap::new();
    out.insert("all".to_string(), group(&|_| true));
    for label in Label::ALL {
        if studies.iter().any(|s| s.label == label) {
            out.insert(label.as_str().to_string(), group(&|s| s.label == label));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::preprocess::CHANNEL_LEN;

    /// A grid with one lesion voxel-cube at grid `(z, y, x)` and the whole grid as head.
    fn grid_with_lesion(z: usize, y: usize, x: usize, size: usize) -> Vec<f32> {
        let [nw, nh, _] = GRID_DIMS;
        let mut g = vec![0f32; CHANNEL_LEN];
        for dz in 0..size {
            for dy in 0..size {
                for dx in 0..size {
                    g[((z + dz) * nh + y + dy) * nw + x + dx] = 1.0;
                }
            }
        }
        g
    }

    #[test]
    fn lesion_blocks_follow_the_mask() {
        let head = vec![true; CHANNEL_LEN];
        assert_eq!(BlockTruth::from_grid(&vec![0.0; CHANNEL_LEN], &head), None);
        // A 2-voxel cube inside block [1, 2, 3]: grid z 4..8, y 32..48, x 48..64.
        let t = BlockTruth::from_grid(&grid_with_lesion(5, 40, 50, 2), &head).unwrap();
        let all = blocks();
        let hits: Vec<[usize; 3]> = (0..all.len())
            .filter(|&b| t.lesion[b])
            .map(|b| all[b])
            .collect();
        assert_eq!(hits, vec![[1, 2, 3]]);
        assert!((t.lesion_share() - 1.0 / 196.0).abs() < 1e-12);
        // Straddling a block boundary in w (x 63..65): two blocks.
        let t = BlockTruth::from_grid(&grid_with_lesion(5, 40, 63, 2), &head).unwrap();
        assert_eq!(t.lesion.iter().filter(|l| **l).count(), 2);
        // A partial-volume speck below one voxel still marks its block.
        let mut speck = vec![0f32; CHANNEL_LEN];
        speck[5] = 0.2; // grid (0, 0, 5): block [0, 0, 0]
        let t = BlockTruth::from_grid(&speck, &head).unwrap();
        assert!(t.lesion[0] && t.lesion.iter().filter(|l| **l).count() == 1);
    }

    #[test]
    fn head_blocks_need_head_voxels() {
        let mut head = vec![false; CHANNEL_LEN];
        // Only the first slab (z 0..4) is head.
        head[..4 * 112 * 112].iter_mut().for_each(|h| *h = true);
        let t = BlockTruth::from_grid(&grid_with_lesion(9, 40, 50, 2), &head).unwrap();
        // 49 head blocks in the first slab, plus the lesion block.
        assert_eq!(t.head.iter().filter(|h| **h).count(), 50);
        assert!((t.lesion_share() - 1.0 / 50.0).abs() < 1e-12);
    }

    #[test]
    fn drops_score_against_the_lesion() {
        let truth = BlockTruth {
            lesion: vec![false, true, true, false],
            head: vec![true; 4],
        };
        let (top, hit, share) = score_drops(&[0.1, 0.5, 0.2, 0.2], &truth);
        assert_eq!((top, hit), (Some(1), true));
        assert!((share - 0.7).abs() < 1e-6);
        let (top, hit, share) = score_drops(&[0.6, 0.1, 0.0, 0.3], &truth);
        assert_eq!((top, hit), (Some(0), false));
        assert!((share - 0.1).abs() < 1e-6);
        assert_eq!(score_drops(&[0.0; 4], &truth), (None, false, 0.0));
    }

    fn study(label: Label, top: usize, lesion: Vec<bool>) -> StudyLocalization {
        let truth = BlockTruth {
            head: vec![true; lesion.len()],
            lesion,
        };
        StudyLocalization {
            study_id: String::new(),
            label,
            score: 0.0,
            lesion_blocks: 0,
            head_blocks: 0,
            top_block: Some(top),
            hit: truth.lesion[top],
            heat_share: 0.5,
            lesion_share: truth.lesion_share(),
            lesion: truth.lesion,
        }
    }

    #[test]
    fn summary_has_both_baselines_per_class() {
        let studies = vec![
            study(Label::Infarct, 0, vec![true, false, false, false]),
            study(Label::Infarct, 1, vec![false, true, false, false]),
            study(Label::Tumor, 3, vec![false, false, false, false]),
        ];
        let s = summarize(&studies);
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            vec!["all", "infarct", "tumor"]
        );
        let inf = &s["infarct"];
        assert_eq!((inf.n, inf.hit_rate), (2, 1.0));
        assert!((inf.uniform_chance - 0.25).abs() < 1e-12);
        // Neither top block holds lesion in the other studies' masks.
        assert_eq!(inf.shuffled_masks, 0.0);
        assert!((s["all"].hit_rate - 2.0 / 3.0).abs() < 1e-12);
        let shared = summarize(&[
            study(Label::Infarct, 2, vec![false, false, true, false]),
            study(Label::Infarct, 2, vec![false, false, true, true]),
        ]);
        assert_eq!(shared["all"].shuffled_masks, 1.0);
    }
}
