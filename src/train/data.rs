//! Training data: the studies of a split (preprocessed through the cache) and a named loader
//! thread that reads, augments and assembles the next batches while the model computes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{self, AugmentConfig};
use crate::config::{Label, Split};
use crate::io::IoError;
use crate::io::cache::{PreprocessCache, cache_key};
use crate::io::cohort::{Cohort, CohortEntry};
use crate::io::preprocess::StudyTensor;
use crate::io::study::{Study, load_study};

/// One study ready for training or evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Study id (folder name).
    pub study_id: String,
    /// Class label from `cohort.csv`.
    pub label: Label,
    /// Split from `cohort.csv`.
    pub split: Split,
    /// The report text, trimmed.
    pub report: String,
    /// Preprocessing-cache key of the study's tensor.
    pub key: String,
}

/// Loads the studies of `splits` (in cohort order), preprocessing any that the cache lacks.
/// Fails on the first unreadable study, naming it.
pub fn prepare(
    cohort: &Cohort,
    splits: &[Split],
    cache: &PreprocessCache,
) -> Result<Vec<Sample>, IoError> {
    cohort
        .entries
        .par_iter()
        .filter(|e| splits.contains(&e.split))
        .map(|e| prepare_one(cohort, e, cache))
        .collect()
}

/// [`prepare`] for every study of the cohort, one outcome per study (a failure does not stop
/// the others), calling `progress` after each.
pub fn prepare_each(
    cohort: &Cohort,
    cache: &PreprocessCache,
    progress: &(dyn Fn() + Sync),
) -> Vec<(String, Result<Sample, IoError>)> {
    cohort
        .entries
        .par_iter()
        .map(|e| {
            let outcome = prepare_one(cohort, e, cache);
            progress();
            (e.study_id.clone(), outcome)
        })
        .collect()
}

fn prepare_one(
    cohort: &Cohort,
    e: &CohortEntry,
    cache: &PreprocessCache,
) -> Result<Sample, IoError> {
    let (study, sample) = describe(cohort, e)?;
    cache.get_or_compute_keyed(&sample.key, &study)?;
    Ok(sample)
}

/// A study of the cohort as a [`Sample`]: its folder read and its images hashed into their
/// cache key. Touches no cache.
pub fn describe(cohort: &Cohort, e: &CohortEntry) -> Result<(Study, Sample), IoError> {
    let study = load_study(&cohort.study_dir(&e.study_id))?;
    let sample = Sample {
        study_id: e.study_id.clone(),
        label: e.label,
        split: e.split,
        report: study.report.trim().to_string(),
        key: cache_key(&study)?,
    };
    Ok((study, sample))
}

/// Reads one study's tensor from the cache.
pub fn load_tensor(cache: &PreprocessCache, sample: &Sample) -> Result<StudyTensor, IoError> {
    cache
        .load_key(&sample.key)?
        .ok_or_else(|| IoError::Invalid {
            problem: "preprocessed tensor vanished from the cache (run brainclip preprocess)"
                .into(),
            path: cache.entry_path(&sample.key),
        })
}

/// The batches of one epoch: a seeded permutation of `0..n` cut into batches of `batch`
/// (a last batch of fewer than two studies is dropped: it has no negatives).
pub fn epoch_batches(n: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    order
        .chunks(batch.max(1))
        .filter(|c| c.len() >= 2)
        .map(<[usize]>::to_vec)
        .collect()
}

/// Batches in fixed order for inference: `0..n` in chunks of `batch`.
pub fn ordered_batches(n: usize, batch: usize) -> Vec<Vec<usize>> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(batch.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// A batch of studies.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Positions in the sample list.
    pub indices: Vec<usize>,
    /// `[b, 3, 16, 112, 112]` values, row-major.
    pub images: Vec<f32>,
    /// Whether each study was mirrored left-right (its report's sides must be swapped).
    pub flipped: Vec<bool>,
}

/// Augmentation of a loader: settings and the seed of this epoch's random stream.
#[derive(Debug, Clone, Copy)]
pub struct LoaderAugment {
    /// What to do.
    pub config: AugmentConfig,
    /// Seed of the epoch's stream (batches are augmented in order, so a run repeats).
    pub seed: u64,
}

/// A named thread producing [`Batch`]es ahead of the consumer through a bounded channel.
/// Dropping it stops the thread.
pub struct Prefetcher {
    rx: Receiver<Result<Batch, IoError>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts loading `batches` of `samples` from `cache`, keeping up to `depth` ready.
    pub fn start(
        samples: Arc<Vec<Sample>>,
        cache: PreprocessCache,
        batches: Vec<Vec<usize>>,
        augment: Option<LoaderAugment>,
        depth: usize,
    ) -> Result<Self, IoError> {
        let (tx, rx) = sync_channel(depth.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("brainclip-loader".into())
            .spawn(move || produce(&samples, &cache, batches, augment, &tx, &flag))
            .map_err(|e| IoError::os("start the loader thread for", PathBuf::from("<cache>"), e))?;
        Ok(Self {
            rx,
            stop,
            handle: Some(handle),
        })
    }
}

impl Iterator for Prefetcher {
    type Item = Result<Batch, IoError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rx.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a pending send, then wait for the thread.
        while self.rx.try_recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn produce(
    samples: &[Sample],
    cache: &PreprocessCache,
    batches: Vec<Vec<usize>>,
    augment: Option<LoaderAugment>,
    tx: &SyncSender<Result<Batch, IoError>>,
    stop: &AtomicBool,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(augment.map_or(0, |a| a.seed));
    for indices in batches {
        let batch = assemble(samples, cache, indices, augment.as_ref(), &mut rng);
        let failed = batch.is_err();
        let mut item = batch;
        // Poll so that a dropped consumer (cancel) ends the thread promptly.
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    item = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if failed {
            return;
        }
    }
}

fn assemble(
    samples: &[Sample],
    cache: &PreprocessCache,
    indices: Vec<usize>,
    augment: Option<&LoaderAugment>,
    rng: &mut ChaCha8Rng,
) -> Result<Batch, IoError> {
    let mut images = Vec::with_capacity(indices.len() * StudyTensor::LEN);
    let mut flipped = Vec::with_capacity(indices.len());
    for &i in &indices {
        let t = load_tensor(cache, &samples[i])?;
        match augment {
            Some(a) => {
                let out = augment::augment(&t.data, &a.config, rng);
                images.extend_from_slice(&out.data);
                flipped.push(out.flipped);
            }
            None => {
                images.extend_from_slice(&t.data);
                flipped.push(false);
            }
        }
    }
    Ok(Batch {
        indices,
        images,
        flipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_seeded_permutations_without_tiny_batches() {
        let a = epoch_batches(11, 4, 7, 0);
        assert_eq!(a, epoch_batches(11, 4, 7, 0));
        assert_ne!(a, epoch_batches(11, 4, 7, 1));
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 3]);
        let mut all: Vec<usize> = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert_eq!(
            epoch_batches(9, 4, 7, 0).len(),
            2,
            "a batch of one is dropped"
        );
        assert_eq!(ordered_batches(5, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
