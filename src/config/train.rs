//! Settings of the joint model (CLIP head) and of a training run (the augmentation's are in
//! `augment.rs`). A run folder's `config.json` is a [`TrainConfig`]: everything needed to
//! rebuild the model and repeat the run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AugmentConfig, AugmentSpace, ImageTowerConfig, MAX_WIDTH, TowerPreset};

/// How pooled report embeddings reach the joint space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextHeadKind {
    /// Linear -> GELU -> Linear (the default: a frozen encoder needs a non-linear adapter to
    /// bring out side and site words that mean pooling dilutes).
    #[default]
    Mlp,
    /// One linear layer (CLIP's projection).
    Linear,
    /// The paper's head: Linear(hidden) -> Linear(embed, no bias), no activation between.
    Paper,
}

/// Text pooling over the encoder's token states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextPooling {
    /// Mean over the attention mask (sentence-transformers).
    #[default]
    Mean,
    /// The `[CLS]` token's state (the paper's code).
    Cls,
}

/// Which pairs in a batch count as positives of the contrastive loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positives {
    /// Only each study's own report (plain CLIP).
    Pair,
    /// Also studies whose report text is identical (duplicate reports are not negatives).
    #[default]
    Identical,
    /// Also every study with the same label (soft targets over the class).
    Label,
}

impl FromStr for Positives {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "pair" => Ok(Positives::Pair),
            "identical" => Ok(Positives::Identical),
            "label" => Ok(Positives::Label),
            _ => Err(format!(
                "unknown positives mode {s:?} (expected pair, identical or label)"
            )),
        }
    }
}

impl fmt::Display for Positives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Positives::Pair => "pair",
            Positives::Identical => "identical",
            Positives::Label => "label",
        })
    }
}

/// The joint image + text model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipConfig {
    /// The image tower (its `embed_dim` is the joint space's width).
    pub image: ImageTowerConfig,
    /// Text head architecture.
    pub text_head: TextHeadKind,
    /// Hidden width of the `mlp` and `paper` text heads.
    pub text_hidden: usize,
    /// Initial value of the learnable temperature `t`; logits are scaled by `exp(t)`.
    pub temperature_init: f64,
    /// Upper bound of the logit scale `exp(t)`.
    pub max_logit_scale: f64,
    /// A linear class head on the image embedding (variables `classifier.*`), trained with
    /// cross-entropy on the cohort labels when `TrainConfig::class_loss_weight` > 0.
    pub class_head: bool,
    /// Batch-standardise both embeddings before the L2 normalisation (running statistics at
    /// inference; see `model::standardize` for why).
    pub standardize: bool,
    /// Standardise every input voxel by the training studies' mean and spread at that grid
    /// position (statistics computed when training starts, stored with the weights; see
    /// `model::standardize`).
    pub voxel_norm: bool,
    /// Smallest per-voxel spread used by the voxel standardisation (in units of the
    /// preprocessed, per-study z-scored input): voxels that barely vary across the training
    /// studies (background, the grid's edge) are divided by at least this.
    #[serde(default = "default_voxel_std_floor")]
    pub voxel_std_floor: f64,
    /// Zero the standardised input outside the intracranial mask derived from the voxel
    /// statistics (`model::head_mask`; needs `voxel_norm`). Absent in older run folders: off.
    #[serde(default)]
    pub voxel_mask: bool,
    /// A linear head on the image embedding (variables `side_classifier.*`) predicting which
    /// side the paired report names first (none, left, right; see
    /// `io::synth::report::first_side`), trained when `TrainConfig::side_loss_weight` > 0.
    /// Absent in older run folders: off.
    #[serde(default)]
    pub side_head: bool,
    /// Add the input's anomaly features to the image embedding: per sequence and sign, soft
    /// maxima of the (standardised) input, projected to the joint space (`model::anomaly`,
    /// variables `anomaly.*`). Absent in older run folders: off.
    #[serde(default)]
    pub anomaly_pool: bool,
}

/// Default of [`ClipConfig::voxel_std_floor`].
pub const DEFAULT_VOXEL_STD_FLOOR: f64 = 0.1;

fn default_voxel_std_floor() -> f64 {
    DEFAULT_VOXEL_STD_FLOOR
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            // Average + max pooling: the demo's lacunes and microbleeds are a few voxels of a
            // 200,704-voxel head; under average pooling alone they barely move the embedding.
            image: ImageTowerConfig {
                pool: super::GlobalPool::AvgMax,
                ..ImageTowerConfig::default()
            },
            text_head: TextHeadKind::Mlp,
            text_hidden: 512,
            // CLIP: ln(1 / 0.07).
            temperature_init: (1.0f64 / 0.07).ln(),
            max_logit_scale: 100.0,
            class_head: true,
            standardize: true,
            voxel_norm: true,
            voxel_std_floor: default_voxel_std_floor(),
            voxel_mask: true,
            side_head: false,
            anomaly_pool: false,
        }
    }
}

impl ClipConfig {
    /// The settings of a preset: ours (`unet`) or the paper's (`paper`: CLS text head
    /// Linear(400) -> Linear(256, no bias), temperature initialised at 1.0).
    pub fn preset(preset: TowerPreset) -> Self {
        match preset {
            TowerPreset::Unet => Self::default(),
            TowerPreset::Paper => Self {
                image: ImageTowerConfig {
                    preset: TowerPreset::Paper,
                    ..ImageTowerConfig::default()
                },
                text_head: TextHeadKind::Paper,
                text_hidden: 400,
                temperature_init: 1.0,
                max_logit_scale: 100.0,
                class_head: false,
                standardize: false,
                voxel_norm: false,
                voxel_std_floor: default_voxel_std_floor(),
                voxel_mask: false,
                side_head: false,
                anomaly_pool: false,
            },
        }
    }

    /// Width of the joint embedding space.
    pub fn embed_dim(&self) -> usize {
        self.image.embed_dim
    }

    /// Checks ranges; returns a readable message on the first problem.
    pub fn validate(&self) -> Result<(), String> {
        self.image.validate()?;
        if self.text_head != TextHeadKind::Linear && !(1..=MAX_WIDTH).contains(&self.text_hidden) {
            return Err(format!(
                "text_hidden must be 1 to {MAX_WIDTH}, got {}",
                self.text_hidden
            ));
        }
        if !(self.max_logit_scale.is_finite() && self.max_logit_scale >= 1.0) {
            return Err("max_logit_scale must be a finite number >= 1".into());
        }
        if self.voxel_mask && !self.voxel_norm {
            return Err("voxel_mask needs voxel_norm (the mask comes from its statistics)".into());
        }
        if !(self.voxel_std_floor.is_finite() && self.voxel_std_floor > 0.0) {
            return Err("voxel_std_floor must be a finite number > 0".into());
        }
        if !self.temperature_init.is_finite() {
            return Err("temperature_init must be finite".into());
        }
        Ok(())
    }
}

/// The most epochs a run may ask for (a bound that keeps step counts far from overflow).
pub const MAX_EPOCHS: usize = 100_000;

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", deny_unknown_fields)]
pub enum Schedule {
    /// Linear warm-up over `warmup_epochs`, then cosine decay to `min_lr_ratio * lr`.
    Cosine {
        /// Epochs of linear warm-up (fractional allowed).
        warmup_epochs: f64,
        /// Final learning rate as a fraction of the peak.
        min_lr_ratio: f64,
    },
    /// Multiply the rate by `factor` after `patience` epochs without a lower validation loss
    /// (PyTorch's ReduceLROnPlateau, mode min, threshold 1e-4 relative).
    Plateau {
        /// Epochs without improvement before the rate drops.
        patience: usize,
        /// Multiplier applied at each drop.
        factor: f64,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Cosine {
            warmup_epochs: 1.0,
            min_lr_ratio: 0.02,
        }
    }
}

/// Optimiser settings (AdamW; `weight_decay` 0 is Adam).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Adam epsilon.
    pub eps: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            // With the embeddings standardised (`ClipConfig::standardize`) 1e-3 trains smoothly;
            // without, 2e-3 made the loss spike and stall at chance.
            lr: 1e-3,
            weight_decay: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The preprocessing version of run folders that do not record one.
fn legacy_preprocess() -> String {
    "brainclip-preprocess-v1".into()
}

/// Everything about a training run; stored as the run folder's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The model.
    pub model: ClipConfig,
    /// Folder of the frozen text encoder (HuggingFace-style BERT or DistilBERT).
    pub text_model: String,
    /// Fingerprint of the text encoder the run was trained with (filled in by the trainer;
    /// inference refuses a different encoder).
    pub text_fingerprint: String,
    /// The preprocessing the run's inputs came from (`io::preprocess::PREPROCESS_VERSION`,
    /// filled in by the trainer); inference refuses a run trained on another one. Absent in
    /// run folders written before it was recorded, which all used the first version.
    #[serde(default = "legacy_preprocess")]
    pub preprocess: String,
    /// Text pooling.
    pub text_pooling: TextPooling,
    /// Contrastive positives.
    pub positives: Positives,
    /// Share of each target row spread over the study's class (0 = plain CLIP targets; see
    /// `model::loss::soft_targets`).
    pub label_weight: f32,
    /// Weight of the auxiliary cross-entropy of the image class head (needs
    /// `model.class_head`; 0 = contrastive loss only).
    pub class_loss_weight: f64,
    /// Weight of the auxiliary cross-entropy of the image side head (needs
    /// `model.side_head`): the side the report names first, mirrored with flipped studies.
    /// Absent in older run folders: 0.
    #[serde(default)]
    pub side_loss_weight: f64,
    /// Image -> text half of the contrastive loss against every training report (each as
    /// written and mirrored) instead of the batch's reports: with the text encoder frozen
    /// they cost one pass of the text head, and every step then meets the hard negatives a
    /// batch of 8 rarely holds (same class, other side or region; the study's own mirrored
    /// report). The text -> image half stays in the batch. Absent in older run folders: off.
    #[serde(default)]
    pub report_bank: bool,
    /// Epochs during which the text head stays at its (seeded random) initialisation, so the
    /// image tower learns to match fixed, diverse report embeddings first. Without it the
    /// head, which learns much faster than a tower trained from scratch, collapses every
    /// report onto one direction within an epoch (measured: mean pairwise cosine 0.97), the
    /// image tower then receives no gradient and the loss stays at chance.
    pub text_freeze_epochs: usize,
    /// Learning-rate multiplier of the text head after the freeze (0 = the head stays locked).
    pub text_lr_scale: f64,
    /// Optimiser.
    pub optim: OptimConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Studies per step.
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better validation retrieval score (0 = never).
    pub early_stop_patience: usize,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Augmentation of training studies.
    pub augment: AugmentConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: ClipConfig::default(),
            text_model: "models/all-MiniLM-L6-v2".into(),
            text_fingerprint: String::new(),
            preprocess: String::new(),
            text_pooling: TextPooling::Mean,
            positives: Positives::Identical,
            // The demo recipe (README, "Training"): class-level soft targets and the auxiliary
            // class head give a tower trained from scratch a signal it can find in a few
            // hundred steps; the text head stays at its seeded projection of the pretrained
            // report embeddings (locked, as in LiT with the roles swapped), a fixed target
            // that cannot collapse or chase the tower.
            label_weight: 0.5,
            class_loss_weight: 0.5,
            side_loss_weight: 0.0,
            report_bank: false,
            text_freeze_epochs: 0,
            text_lr_scale: 0.0,
            optim: OptimConfig::default(),
            schedule: Schedule::default(),
            batch_size: 8,
            // The demo model's 16 epochs take ~19 minutes on the 2-core CPU.
            epochs: 16,
            early_stop_patience: 0,
            seed: 42,
            augment: AugmentConfig::flip_only(),
        }
    }
}

impl TrainConfig {
    /// The defaults of a preset. `paper` uses the paper's hyper-parameters: Adam lr 0.01,
    /// ReduceLROnPlateau patience 10 factor 0.5, batch 8, CLS pooling, no augmentation.
    pub fn preset(preset: TowerPreset) -> Self {
        match preset {
            TowerPreset::Unet => Self::default(),
            TowerPreset::Paper => Self {
                model: ClipConfig::preset(TowerPreset::Paper),
                text_pooling: TextPooling::Cls,
                positives: Positives::Pair,
                label_weight: 0.0,
                class_loss_weight: 0.0,
                text_freeze_epochs: 0,
                text_lr_scale: 1.0,
                optim: OptimConfig {
                    lr: 0.01,
                    weight_decay: 0.0,
                    ..OptimConfig::default()
                },
                schedule: Schedule::Plateau {
                    patience: 10,
                    factor: 0.5,
                },
                batch_size: 8,
                augment: AugmentConfig {
                    enabled: false,
                    ..Default::default()
                },
                ..Self::default()
            },
        }
    }

    /// Checks ranges; returns a readable message on the first problem.
    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if self.batch_size < 2 {
            return Err(
                "batch_size must be at least 2 (a contrastive batch needs negatives)".into(),
            );
        }
        if !(self.class_loss_weight.is_finite() && self.class_loss_weight >= 0.0) {
            return Err("class_loss_weight must be >= 0".into());
        }
        if self.class_loss_weight > 0.0 && !self.model.class_head {
            return Err("class_loss_weight > 0 needs model.class_head = true".into());
        }
        if !(self.side_loss_weight.is_finite() && self.side_loss_weight >= 0.0) {
            return Err("side_loss_weight must be >= 0".into());
        }
        if self.side_loss_weight > 0.0 && !self.model.side_head {
            return Err("side_loss_weight > 0 needs model.side_head = true".into());
        }
        if !(self.text_lr_scale.is_finite() && self.text_lr_scale >= 0.0) {
            return Err("text_lr_scale must be >= 0".into());
        }
        if !(0.0..=1.0).contains(&self.label_weight) {
            return Err("label_weight must lie in [0, 1]".into());
        }
        if self.augment.space == AugmentSpace::Standardized && !self.model.voxel_norm {
            return Err("augment.space = standardized needs model.voxel_norm = true".into());
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            return Err(format!(
                "epochs must be 1 to {MAX_EPOCHS}, got {}",
                self.epochs
            ));
        }
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return Err("lr must be a positive number".into());
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return Err("weight_decay must be >= 0".into());
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) || o.eps <= 0.0 {
            return Err("betas must lie in [0, 1) and eps must be positive".into());
        }
        match self.schedule {
            Schedule::Cosine {
                warmup_epochs,
                min_lr_ratio,
            } => {
                if !(warmup_epochs >= 0.0 && (0.0..=1.0).contains(&min_lr_ratio)) {
                    return Err(
                        "cosine schedule: warmup_epochs >= 0, min_lr_ratio in [0, 1]".into(),
                    );
                }
                if warmup_epochs > self.epochs as f64 {
                    return Err(format!(
                        "cosine schedule: a warm-up of {warmup_epochs} epochs is longer than \
                         the run ({} epochs)",
                        self.epochs
                    ));
                }
            }
            Schedule::Plateau { patience, factor } => {
                if patience == 0 || !(factor > 0.0 && factor < 1.0) {
                    return Err("plateau schedule: patience >= 1, factor in (0, 1)".into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_round_trip_through_json() {
        for p in TowerPreset::ALL {
            let c = TrainConfig::preset(p);
            c.validate().unwrap();
            let back: TrainConfig =
                serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
        // Old or partial files still load: every field has a default.
        let c: TrainConfig = serde_json::from_str(r#"{"epochs": 3}"#).unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.batch_size, TrainConfig::default().batch_size);
    }

    #[test]
    fn misspelt_keys_are_refused_and_every_shipped_config_loads() {
        for (text, key) in [
            (r#"{"epoch": 3}"#, "epoch"),
            (r#"{"optim": {"learning_rate": 0.1}}"#, "learning_rate"),
            (r#"{"model": {"image": {"fmaps": [8]}}}"#, "fmaps"),
            (r#"{"augment": {"flip": 0.5}}"#, "flip"),
            (r#"{"schedule": {"kind": "cosine", "warmup": 2}}"#, "warmup"),
        ] {
            let err = serde_json::from_str::<TrainConfig>(text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
        }
        let mut files = vec![std::path::PathBuf::from("models/demo/config.json")];
        for e in std::fs::read_dir("assets/ablation").unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.starts_with("prompts") {
                files.push(p);
            }
        }
        assert!(files.len() > 10);
        for f in files {
            let c: TrainConfig = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            c.validate().unwrap();
        }
    }

    #[test]
    fn a_warm_up_longer_than_the_run_is_refused() {
        let mut c = TrainConfig {
            epochs: 2,
            ..TrainConfig::default()
        };
        c.schedule = Schedule::Cosine {
            warmup_epochs: 2.0,
            min_lr_ratio: 0.0,
        };
        c.validate().unwrap();
        c.schedule = Schedule::Cosine {
            warmup_epochs: 2.5,
            min_lr_ratio: 0.0,
        };
        assert!(
            c.validate()
                .unwrap_err()
                .contains("longer than the run (2 epochs)")
        );
    }

    #[test]
    fn the_standardisations_are_on_unless_a_file_turns_them_off() {
        // Like every field, absent means the default (on); run folders written before they
        // existed then fail to load with a "missing input_norm.mean" checkpoint error.
        let new = ClipConfig::default();
        assert!(new.standardize && new.voxel_norm && new.class_head);
        let partial: ClipConfig = serde_json::from_str(r#"{"text_head": "mlp"}"#).unwrap();
        assert!(partial.standardize && partial.voxel_norm);
        assert_eq!(partial.voxel_std_floor, DEFAULT_VOXEL_STD_FLOOR);
        // The voxel mask is the exception: new runs have it, older run folders (no field, no
        // `input_norm.mask` in their weights) load without it.
        assert!(new.voxel_mask && !partial.voxel_mask);
        let orphan: ClipConfig =
            serde_json::from_str(r#"{"voxel_norm": false, "voxel_mask": true}"#).unwrap();
        assert!(orphan.validate().is_err());
        let floor: ClipConfig = serde_json::from_str(r#"{"voxel_std_floor": 1.0}"#).unwrap();
        assert_eq!(floor.voxel_std_floor, 1.0);
        let zero: ClipConfig = serde_json::from_str(r#"{"voxel_std_floor": 0.0}"#).unwrap();
        assert!(zero.validate().is_err());
        let off: ClipConfig =
            serde_json::from_str(r#"{"standardize": false, "voxel_norm": false}"#).unwrap();
        assert!(!off.standardize && !off.voxel_norm);
        let paper = TrainConfig::preset(TowerPreset::Paper);
        assert!(!paper.model.standardize && !paper.model.voxel_norm && !paper.model.voxel_mask);
        assert_eq!((paper.label_weight, paper.class_loss_weight), (0.0, 0.0));
        // The default augmentation is flips only; the full set stays available.
        let aug = TrainConfig::default().augment;
        assert!(aug.enabled && aug.flip_prob == 0.5 && aug.rotate_deg == 0.0);
        assert!(AugmentConfig::default().rotate_deg > 0.0);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let c = TrainConfig {
            batch_size: 1,
            ..TrainConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("batch_size"));
        let mut side = TrainConfig {
            side_loss_weight: 0.5,
            ..TrainConfig::default()
        };
        side.model.side_head = false;
        assert!(side.validate().unwrap_err().contains("side_head"));
        side.model.side_head = true;
        assert!(side.validate().is_ok());
        side.side_loss_weight = f64::NAN;
        assert!(side.validate().unwrap_err().contains("side_loss_weight"));
        // Run folders written before the side head load without it.
        let old: TrainConfig = serde_json::from_str(r#"{"model": {}}"#).unwrap();
        assert!(!old.model.side_head && old.side_loss_weight == 0.0);
        assert!("labels".parse::<Positives>().is_err());
        assert_eq!("label".parse::<Positives>().unwrap(), Positives::Label);
        let long = TrainConfig {
            epochs: usize::MAX,
            ..TrainConfig::default()
        };
        assert!(long.validate().unwrap_err().contains("epochs must be 1 to"));
        // A typo in a run's config.json cannot ask for terabytes.
        for json in [
            r#"{"model": {"image": {"embed_dim": 1099511627776}}}"#,
            r#"{"model": {"image": {"f_maps": [16, 1048576]}}}"#,
            r#"{"model": {"text_hidden": 1099511627776}}"#,
        ] {
            let c: TrainConfig = serde_json::from_str(json).unwrap();
            assert!(c.validate().unwrap_err().contains("4096"), "{json}");
        }
    }
}
