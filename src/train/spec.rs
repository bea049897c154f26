//! The settings of a new training run as a user gives them (CLI flags or the viewer's form),
//! turned into a validated [`TrainConfig`] in one place.
//!
//! Precedence, lowest first: the preset's defaults, the config file (a `config.json` of an
//! earlier run works), then each setting given.

use std::path::PathBuf;

use super::TrainError;
use crate::config::{Positives, TowerPreset, TrainConfig};
use crate::io::IoError;

/// User-given training settings; `None` keeps the lower-precedence value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainSpec {
    /// A JSON training configuration to start from.
    pub config_file: Option<PathBuf>,
    /// Image tower preset (with a config file: replaces its preset only).
    pub preset: Option<TowerPreset>,
    /// Epochs.
    pub epochs: Option<usize>,
    /// Batch size.
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    pub lr: Option<f64>,
    /// Positives of the contrastive loss.
    pub positives: Option<Positives>,
    /// Seed.
    pub seed: Option<u64>,
    /// Early-stopping patience in epochs.
    pub early_stop: Option<usize>,
    /// Turn augmentation off.
    pub no_augment: bool,
    /// Use the full augmentation set (affine, noise, gamma, intensity, flips) instead of the
    /// configured one.
    pub full_augment: bool,
    /// Text encoder folder.
    pub text_model: Option<String>,
}

impl TrainSpec {
    /// The validated configuration.
    pub fn build(&self) -> Result<TrainConfig, TrainError> {
        let mut cfg = match &self.config_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| IoError::os("read", path, e))?;
                serde_json::from_str(&text).map_err(|e| {
                    IoError::invalid(path, format!("not a training configuration: {e}"))
                })?
            }
            None => TrainConfig::preset(self.preset.unwrap_or_default()),
        };
        if let (Some(p), Some(_)) = (self.preset, &self.config_file) {
            cfg.model.image.preset = p;
        }
        if let Some(v) = self.epochs {
            cfg.epochs = v;
        }
        if let Some(v) = self.batch_size {
            cfg.batch_size = v;
        }
        if let Some(v) = self.lr {
            cfg.optim.lr = v;
        }
        if let Some(v) = self.positives {
            cfg.positives = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(v) = self.early_stop {
            cfg.early_stop_patience = v;
        }
        if self.full_augment {
            cfg.augment = crate::config::AugmentConfig::default();
        }
        if self.no_augment {
            cfg.augment.enabled = false;
        }
        if let Some(v) = &self.text_model {
            cfg.text_model.clone_from(v);
        }
        cfg.text_fingerprint.clear();
        cfg.validate().map_err(TrainError::Config)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_the_preset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, r#"{"epochs": 3, "batch_size": 4}"#).unwrap();
        let spec = TrainSpec {
            config_file: Some(file.clone()),
            epochs: Some(5),
            no_augment: true,
            ..TrainSpec::default()
        };
        let cfg = spec.build().unwrap();
        assert_eq!((cfg.epochs, cfg.batch_size), (5, 4));
        assert!(!cfg.augment.enabled);
        let bad = TrainSpec {
            batch_size: Some(0),
            ..TrainSpec::default()
        };
        assert!(matches!(bad.build(), Err(TrainError::Config(_))));
        std::fs::write(&file, "{").unwrap();
        let err = TrainSpec {
            config_file: Some(file),
            ..TrainSpec::default()
        }
        .build()
        .unwrap_err();
        assert!(format!("{err:#}").contains("c.json"), "{err:#}");
    }
}
