//! The one training loop. It reports through [`Observer`] and stops on a [`CancelToken`], so
//! the CLI (progress bar) and the GUI (channel to plots) share it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use super::TrainError;
use super::bank::ReportBank;
use super::cancel::CancelToken;
use super::data::{LoaderAugment, Prefetcher, Sample, epoch_batches, load_tensor, prepare};
use super::optim::AdamW;
use super::provenance::{TrainingSet, record_training_set};
use super::reports::{ReportEmbeddings, report_embeddings};
use super::run::{
    BEST_FILE, EpochMetrics, LAST_FILE, ResumeState, RunLock, read_config, read_metrics,
    read_resume, write_config, write_metrics, write_resume,
};
use super::schedule::LrSchedule;
use super::validate::{ValidationResult, validate};
use crate::config::{Split, TrainConfig};
use crate::index::metrics::class_index;
use crate::io::cache::{PreprocessCache, default_cache_dir};
use crate::io::cohort::read_cohort;
use crate::io::preprocess::PREPROCESS_VERSION;
use crate::io::synth::findings::Side;
use crate::io::synth::report::first_side;
use crate::model::checkpoint::{
    load_tensors, named_tensors, named_vars, save_tensors, save_varmap,
};
use crate::model::clip::ClipModel;
use crate::model::init::seeded_var_builder;
use crate::model::loss::{clip_loss, soft_targets};
use crate::model::standardize::{VoxelStats, is_statistic};

/// What the loop tells its observer.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// Data and model are ready; training starts at `start_epoch` (1-based).
    Started {
        /// Training studies.
        train: usize,
        /// Validation studies.
        val: usize,
        /// Optimiser steps per epoch.
        steps_per_epoch: usize,
        /// Last epoch of the run.
        epochs: usize,
        /// First epoch this call trains (> 1 after `--resume`).
        start_epoch: usize,
    },
    /// A preparation phase is under way (preprocessing, report embeddings).
    Preparing(String),
    /// One optimiser step finished.
    Step {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// Steps of the epoch.
        steps: usize,
        /// The step's loss.
        loss: f64,
        /// The step's learning rate.
        lr: f64,
    },
    /// An epoch finished and was saved.
    Epoch {
        /// Its metrics (also appended to `metrics.jsonl`).
        metrics: EpochMetrics,
        /// Whether it is the new best (saved as `best.safetensors`).
        best: bool,
    },
}

/// Receives the loop's events.
pub trait Observer {
    /// Called from the training thread; keep it quick.
    fn event(&mut self, event: &TrainEvent);
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs ran.
    Completed,
    /// The validation score stopped improving.
    EarlyStopped,
    /// The cancel token was set; the last finished epoch is saved.
    Cancelled,
}

/// The result of [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// How it ended.
    pub outcome: Outcome,
    /// Every epoch's metrics (including those of earlier calls, after `--resume`).
    pub metrics: Vec<EpochMetrics>,
    /// The best epoch (0 when none finished).
    pub best_epoch: usize,
    /// Its validation score.
    pub best_score: f64,
}

/// What to train.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The cohort folder.
    pub cohort: PathBuf,
    /// The run folder.
    pub out: PathBuf,
    /// Settings of a new run; with `resume`, the folder's `config.json` is used instead.
    pub config: TrainConfig,
    /// Continue the run in `out` from its last finished epoch.
    pub resume: bool,
    /// With `resume`: a new number of epochs (extends or shortens the run).
    pub resume_epochs: Option<usize>,
}

/// Trains (or resumes) a run. Blocks; call it from a worker thread.
pub fn train(
    req: &TrainRequest,
    device: &Device,
    observer: &mut dyn Observer,
    cancel: &CancelToken,
) -> Result<TrainSummary, TrainError> {
    // Held until training ends: no other process writes into the folder meanwhile.
    let (mut cfg, resume, _lock) = open_run(req)?;
    if resume.is_some() && cfg.preprocess != PREPROCESS_VERSION {
        return Err(TrainError::PreprocessChanged {
            run: cfg.preprocess.clone(),
            build: PREPROCESS_VERSION,
        });
    }
    cfg.preprocess = PREPROCESS_VERSION.into();
    let cohort = read_cohort(&req.cohort)?;
    let cache = PreprocessCache::new(default_cache_dir(&cohort.root));
    observer.event(&TrainEvent::Preparing("preprocessing studies".into()));
    let train_set = Arc::new(prepare(&cohort, &[Split::Train], &cache)?);
    let val_set = Arc::new(prepare(&cohort, &[Split::Val], &cache)?);
    if train_set.len() < 2 || val_set.len() < 2 {
        return Err(TrainError::Empty(
            "training needs at least two studies in each of the train and val splits",
        ));
    }
    observer.event(&TrainEvent::Preparing("embedding reports".into()));
    let reports = report_embeddings(&cfg, &cohort.root, &train_set, &val_set, device)?;
    if resume.is_some() && cfg.text_fingerprint != reports.fingerprint {
        return Err(TrainError::TextModelChanged);
    }
    cfg.text_fingerprint.clone_from(&reports.fingerprint);
    if resume.is_none() {
        std::fs::create_dir_all(&req.out)
            .map_err(|e| crate::io::IoError::os("create directory", &req.out, e))?;
        write_config(&req.out, &cfg)?;
    }
    record_training_set(&req.out, TrainingSet::of(&train_set, &val_set))?;

    let varmap = VarMap::new();
    let vb = seeded_var_builder(&varmap, cfg.seed, DType::F32, device);
    let model = ClipModel::new(&cfg.model, reports.dim, vb)?;
    let trained = named_vars(&varmap)
        .into_iter()
        .filter(|(name, _)| !is_statistic(name))
        .collect();
    let mut opt = AdamW::new(trained, cfg.optim)?;
    let steps_per_epoch = epoch_batches(train_set.len(), cfg.batch_size, cfg.seed, 1).len();
    let mut state = match resume {
        Some(s) => {
            let mut s = restore(req, &varmap, &mut opt, s)?;
            // A run extended on resume: the schedule runs to the new last epoch.
            s.schedule.set_epochs(cfg.epochs);
            s
        }
        None => {
            if model.has_voxel_norm() {
                observer.event(&TrainEvent::Preparing("voxel statistics".into()));
                let (mean, std) = voxel_statistics(&cache, &train_set, cfg.model.voxel_std_floor)?;
                model.set_input_statistics(&mean, &std)?;
            }
            fresh_state(&cfg, steps_per_epoch)
        }
    };
    // A metrics line written after the last checkpoint (killed mid-save) is dropped.
    let mut metrics: Vec<EpochMetrics> = read_metrics(&req.out)?
        .into_iter()
        .filter(|m| m.epoch <= state.epoch)
        .collect();
    observer.event(&TrainEvent::Started {
        train: train_set.len(),
        val: val_set.len(),
        steps_per_epoch,
        epochs: cfg.epochs,
        start_epoch: state.epoch + 1,
    });

    let bank = if cfg.report_bank {
        Some(ReportBank::new(&reports, &train_set, device)?)
    } else {
        None
    };
    let ctx = Ctx {
        cfg: &cfg,
        model: &model,
        device,
        cache: &cache,
        reports: &reports,
        bank: bank.as_ref(),
        cancel,
    };
    let mut outcome = Outcome::Completed;
    let mut since_best = state.epoch - state.best_epoch.min(state.epoch);
    for epoch in state.epoch + 1..=cfg.epochs {
        let start = Instant::now();
        let Some(train_loss) = run_epoch(&ctx, &train_set, epoch, &mut opt, &mut state, observer)?
        else {
            outcome = Outcome::Cancelled;
            break;
        };
        let val: ValidationResult = match validate(&ctx.validation(), &val_set) {
            Ok(v) => v,
            Err(TrainError::Cancelled) => {
                outcome = Outcome::Cancelled;
                break;
            }
            Err(e) => return Err(e),
        };
        state.schedule.end_epoch(val.loss);
        let m = EpochMetrics {
            epoch,
            train_loss,
            val_loss: val.loss,
            lr: opt.learning_rate(),
            temperature: f64::from(model.logit_scale_value()?),
            val_r1: val.t2i_r1,
            val_r5: val.t2i_r5,
            val_score: val.score,
            seconds: start.elapsed().as_secs_f64(),
        };
        let best = val.score > state.best_score;
        if best {
            state.best_score = val.score;
            state.best_epoch = epoch;
            since_best = 0;
            save_varmap(&varmap, &req.out.join(BEST_FILE))?;
        } else {
            since_best += 1;
        }
        save_varmap(&varmap, &req.out.join(LAST_FILE))?;
        state.epoch = epoch;
        save_resume(&req.out, &varmap, &opt, &mut state)?;
        metrics.push(m.clone());
        write_metrics(&req.out, &metrics)?;
        observer.event(&TrainEvent::Epoch { metrics: m, best });
        if cfg.early_stop_patience > 0 && since_best >= cfg.early_stop_patience {
            outcome = Outcome::EarlyStopped;
            break;
        }
        if cancel.is_cancelled() {
            outcome = Outcome::Cancelled;
            break;
        }
    }
    Ok(TrainSummary {
        outcome,
        metrics,
        best_epoch: state.best_epoch,
        best_score: state.best_score,
    })
}

/// Everything an epoch needs, borrowed.
pub(super) struct Ctx<'a> {
    pub cfg: &'a TrainConfig,
    pub model: &'a ClipModel,
    pub device: &'a Device,
    pub cache: &'a PreprocessCache,
    pub reports: &'a ReportEmbeddings,
    pub bank: Option<&'a ReportBank>,
    pub cancel: &'a CancelToken,
}

impl Ctx<'_> {
    fn validation(&self) -> super::validate::ValidationCtx<'_> {
        super::validate::ValidationCtx {
            cfg: self.cfg,
            model: self.model,
            device: self.device,
            cache: self.cache,
            val_text: &self.reports.val,
            cancel: self.cancel,
        }
    }
}

/// Reads the run folder: a fresh run must not overwrite another; a resumed one takes its
/// stored configuration (the requested `epochs` may extend it).
fn open_run(req: &TrainRequest) -> Result<(TrainConfig, Option<ResumeState>, RunLock), TrainError> {
    req.config.validate().map_err(TrainError::Config)?;
    let config_file = req.out.join(super::run::CONFIG_FILE);
    if req.resume && !config_file.is_file() {
        return Err(TrainError::NothingToResume(req.out.clone()));
    }
    // The lock first, then the checks: two processes cannot both find the folder free.
    std::fs::create_dir_all(&req.out)
        .map_err(|e| crate::io::IoError::os("create directory", &req.out, e))?;
    let lock = RunLock::take(&req.out)?.ok_or_else(|| TrainError::RunBusy(req.out.clone()))?;
    let has_config = config_file.is_file();
    if !req.resume {
        if has_config {
            return Err(TrainError::RunExists(req.out.clone()));
        }
        return Ok((req.config.clone(), None, lock));
    }
    if !has_config {
        return Err(TrainError::NothingToResume(req.out.clone()));
    }
    let removed = super::run::remove_stale_temp_files(&req.out);
    if removed > 0 {
        tracing::warn!(removed, "removed temporary files of an interrupted run");
    }
    let mut cfg = read_config(&req.out)?;
    let state = read_resume(&req.out)?;
    // Epochs in metrics.jsonl (written after each epoch's resume state) without resume state:
    // a finished run whose resume files were removed, such as a shipped model. Starting over
    // would overwrite it. (Weights without metrics are a first epoch killed while saving:
    // that run starts over.)
    if state.is_none() && !read_metrics(&req.out)?.is_empty() {
        return Err(TrainError::NoResumeState(req.out.clone()));
    }
    if let Some(epochs) = req.resume_epochs.filter(|&e| e != cfg.epochs) {
        let done = state.as_ref().map_or(0, |s| s.epoch);
        if epochs < done {
            return Err(TrainError::Config(format!(
                "the run has trained {done} epochs already; ask for at least that many"
            )));
        }
        cfg.epochs = epochs;
        cfg.validate().map_err(TrainError::Config)?;
        write_config(&req.out, &cfg)?;
    }
    Ok((cfg, state, lock))
}

/// The state of a run before its first epoch.
fn fresh_state(cfg: &TrainConfig, steps_per_epoch: usize) -> ResumeState {
    ResumeState {
        epoch: 0,
        global_step: 0,
        // Scores lie in [0, 1]; JSON has no -infinity.
        best_score: -1.0,
        best_epoch: 0,
        schedule: LrSchedule::new(cfg.schedule, cfg.optim.lr, steps_per_epoch, cfg.epochs),
        checkpoint: String::new(),
    }
}

/// Per-voxel mean and spread of the training studies (with their mirrors) for the model's
/// input standardisation.
fn voxel_statistics(
    cache: &PreprocessCache,
    train_set: &[Sample],
    std_floor: f64,
) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
    let [c, d, h, w] = crate::io::preprocess::TENSOR_SHAPE;
    let mut stats = VoxelStats::new(c * d * h * w, w);
    for s in train_set {
        let t = load_tensor(cache, s)?;
        stats.add(&t.data).map_err(|e| {
            TrainError::Io(crate::io::IoError::invalid(cache.entry_path(&s.key), e))
        })?;
    }
    stats.finish(std_floor).ok_or(TrainError::Empty(
        "no training studies for the voxel statistics",
    ))
}

/// Loads weights and optimiser moments of the resume checkpoint.
fn restore(
    req: &TrainRequest,
    varmap: &VarMap,
    opt: &mut AdamW,
    state: ResumeState,
) -> Result<ResumeState, TrainError> {
    let path = req.out.join(&state.checkpoint);
    let tensors = load_tensors(&path)?;
    for (name, var) in named_vars(varmap) {
        let t = tensors
            .get(&name)
            .ok_or_else(|| TrainError::CorruptResume(path.clone(), format!("missing {name}")))?;
        if t.dims() != var.dims() {
            return Err(TrainError::CorruptResume(
                path,
                format!("{name} has the wrong shape"),
            ));
        }
        var.set(&t.to_device(var.device())?)?;
    }
    opt.restore(&|n| tensors.get(n).cloned(), state.global_step)
        .map_err(|e| TrainError::CorruptResume(path.clone(), e.to_string()))?;
    Ok(state)
}

/// Writes `resume-<epoch>.safetensors`, then `resume.json` naming it, then removes older
/// resume checkpoints.
fn save_resume(
    dir: &std::path::Path,
    varmap: &VarMap,
    opt: &AdamW,
    state: &mut ResumeState,
) -> Result<(), TrainError> {
    let name = format!("resume-{:04}.safetensors", state.epoch);
    let mut tensors = named_tensors(varmap);
    tensors.extend(opt.state_tensors()?);
    save_tensors(&tensors, &dir.join(&name))?;
    let old = std::mem::replace(&mut state.checkpoint, name);
    state.global_step = opt.steps();
    write_resume(dir, state)?;
    if !old.is_empty() && old != state.checkpoint {
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(())
}

/// The side head's class for a report: 0 names no side, 1 left, 2 right (see
/// [`first_side`] and [`crate::model::clip::SIDE_CLASSES`]).
fn side_index(side: Option<Side>) -> u32 {
    match side {
        Some(Side::Left) => 1,
        Some(Side::Right) => 2,
        _ => 0,
    }
}

/// Spreads optimiser step numbers over the seeds of the standardised-space augmentation.
const Z_SEED_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// One epoch of optimiser steps; `None` when cancelled.
fn run_epoch(
    ctx: &Ctx,
    train_set: &Arc<Vec<Sample>>,
    epoch: usize,
    opt: &mut AdamW,
    state: &mut ResumeState,
    observer: &mut dyn Observer,
) -> Result<Option<f64>, TrainError> {
    let cfg = ctx.cfg;
    let batches = epoch_batches(train_set.len(), cfg.batch_size, cfg.seed, epoch);
    let steps = batches.len();
    let augment = cfg.augment.enabled.then(|| LoaderAugment {
        config: super::zspace::loader_config(&cfg.augment),
        seed: cfg.seed.wrapping_add(1_000_003 * epoch as u64),
    });
    let loader = Prefetcher::start(
        Arc::clone(train_set),
        ctx.cache.clone(),
        batches,
        augment,
        2,
    )?;
    let z_augment = super::zspace::standardized_config(&cfg.augment);
    let mut total = 0.0;
    for (i, batch) in loader.enumerate() {
        if ctx.cancel.is_cancelled() {
            return Ok(None);
        }
        let batch = batch?;
        let b = batch.indices.len();
        let lr = state.schedule.lr_at(state.global_step as usize);
        opt.set_learning_rate(lr);
        let text_scale = if epoch <= cfg.text_freeze_epochs {
            0.0
        } else {
            cfg.text_lr_scale
        };
        opt.set_lr_scale("text.", text_scale);
        let mut labels = Vec::with_capacity(b);
        let mut texts = Vec::with_capacity(b);
        for (&idx, &flipped) in batch.indices.iter().zip(&batch.flipped) {
            let (_, report) = ctx.reports.train_pair(idx, flipped);
            labels.push(train_set[idx].label);
            texts.push(report);
        }
        let [c, d, h, w] = crate::io::preprocess::TENSOR_SHAPE;
        let x = Tensor::from_vec(batch.images, (b, c, d, h, w), ctx.device)?;
        let z = ctx.model.standardize_input(&x)?;
        let z = match &z_augment {
            // One stream per optimiser step, so a resumed run draws what it would have.
            Some(a) => super::zspace::warp_batch(
                &z,
                a,
                cfg.seed ^ state.global_step.wrapping_mul(Z_SEED_MIX),
            )?,
            None => z,
        };
        let out = ctx.model.encode_standardized_train(&z)?;
        let mut loss = match ctx.bank {
            Some(bank) => bank.loss(
                cfg,
                ctx.model,
                &out.embedding,
                &batch.indices,
                &batch.flipped,
            )?,
            None => {
                let text: Vec<f32> = (batch.indices.iter().zip(&batch.flipped))
                    .flat_map(|(&i, &m)| ctx.reports.train_pair(i, m).0.iter().copied())
                    .collect();
                let t = Tensor::from_vec(text, (b, ctx.reports.dim), ctx.device)?;
                let txt = ctx.model.encode_text_train(&t)?; // [b, e]
                let targets =
                    soft_targets(cfg.positives, cfg.label_weight, &labels, &texts, ctx.device)?;
                clip_loss(&out.embedding, &txt, &ctx.model.logit_scale()?, &targets)?
            }
        };
        let class_ids = labels.iter().map(|l| class_index(*l) as u32).collect();
        let side_ids = texts.iter().map(|t| side_index(first_side(t))).collect();
        for (logits, weight, ids) in [
            (out.class_logits, cfg.class_loss_weight, class_ids),
            (out.side_logits, cfg.side_loss_weight, side_ids),
        ] {
            if let (Some(logits), true) = (logits, weight > 0.0) {
                let ids = Tensor::from_vec(ids, b, ctx.device)?;
                let ce = candle_nn::loss::cross_entropy(&logits, &ids)?;
                loss = (loss + (ce * weight)?)?;
            }
        }
        let grads = loss.backward()?;
        opt.step(&grads)?;
        state.global_step += 1;
        let loss = f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        if !loss.is_finite() {
            return Err(TrainError::Diverged { epoch, step: i + 1 });
        }
        total += loss;
        observer.event(&TrainEvent::Step {
            epoch,
            step: i + 1,
            steps,
            loss,
            lr,
        });
    }
    Ok(Some(total / steps.max(1) as f64))
}
