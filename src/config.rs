//! Every tunable and the small closed vocabularies (sequences, labels, splits) shared by all
//! modules. Pure data: serde, defaults and validation, nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod augment;
mod train;
pub use augment::{AugmentConfig, AugmentSpace};
pub use train::{
    ClipConfig, DEFAULT_VOXEL_STD_FLOOR, MAX_EPOCHS, OptimConfig, Positives, Schedule,
    TextHeadKind, TextPooling, TrainConfig,
};

/// The widest layer a config may ask for (embedding, tower level, text head): far above any
/// useful model, low enough that a typo in a `config.json` cannot ask for terabytes.
pub const MAX_WIDTH: usize = 4096;

/// The model input grid: `[depth, height, width]` = 16 axial slices of 112 x 112.
pub const MODEL_GRID: [usize; 3] = [16, 112, 112];

/// One MR sequence of a study. The order of [`Sequence::ALL`] is the channel order of every
/// model input tensor: **DWI b1000, T2*, FLAIR**. This is the one place it is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sequence {
    /// Diffusion-weighted imaging, b = 1000 s/mm² (spin-echo EPI).
    Dwi,
    /// T2*-weighted gradient echo.
    T2s,
    /// T2-weighted fluid-attenuated inversion recovery.
    Flair,
}

impl Sequence {
    /// All sequences in channel order.
    pub const ALL: [Sequence; 3] = [Sequence::Dwi, Sequence::T2s, Sequence::Flair];

    /// File stem inside a study folder (`dwi`, `t2s`, `flair`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Sequence::Dwi => "dwi",
            Sequence::T2s => "t2s",
            Sequence::Flair => "flair",
        }
    }

    /// Human-readable name.
    pub fn display_name(self) -> &'static str {
        match self {
            Sequence::Dwi => "DWI b1000",
            Sequence::T2s => "T2*",
            Sequence::Flair => "FLAIR",
        }
    }

    /// Channel index in the model input.
    pub fn channel(self) -> usize {
        self as usize
    }
}

/// Diagnostic class of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Ischaemic infarct, acute or chronic.
    Infarct,
    /// Intra-axial, extra-axial or sellar mass.
    Tumor,
    /// Parenchymal haematoma or microbleeds.
    Hemorrhage,
    /// No relevant pathology (age-related change allowed).
    Normal,
    /// Other pathology: small-vessel disease, demyelination, hydrocephalus, cysts.
    Other,
}

impl Label {
    /// All labels, in the order used for class-sorted displays.
    pub const ALL: [Label; 5] = [
        Label::Infarct,
        Label::Tumor,
        Label::Hemorrhage,
        Label::Normal,
        Label::Other,
    ];

    /// Lower-case name as written in `cohort.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Infarct => "infarct",
            Label::Tumor => "tumor",
            Label::Hemorrhage => "hemorrhage",
            Label::Normal => "normal",
            Label::Other => "other",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::ALL
            .into_iter()
            .find(|l| l.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown label {s:?} (expected infarct, tumor, hemorrhage, normal or other)"
                )
            })
    }
}

/// Data split of a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training set.
    Train,
    /// Validation set (model selection).
    Val,
    /// Held-out test set (reported numbers).
    Test,
}

impl Split {
    /// All splits.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Lower-case name as written in `cohort.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Split::ALL
            .into_iter()
            .find(|l| l.as_str() == s.trim())
            .ok_or_else(|| format!("unknown split {s:?} (expected train, val or test)"))
    }
}

/// Settings of the demo-cohort generator (`brainclip synth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Number of studies (balanced over the five labels).
    pub n: usize,
    /// Seed: the same seed gives byte-identical output.
    pub seed: u64,
    /// Probability that a study's cohort label is replaced by a different random label,
    /// mimicking NLP-derived labels. The report and images are not changed.
    pub label_noise: f64,
    /// Scales every sequence's in-plane matrix and slice count (1.0 = clinical geometry).
    /// Tests use small values to stay fast.
    pub matrix_scale: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            n: 400,
            seed: 42,
            label_noise: 0.0,
            matrix_scale: 1.0,
        }
    }
}

impl SynthConfig {
    /// Checks ranges; returns a readable message on the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.n == 0 {
            return Err("--n must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.label_noise) {
            return Err(format!(
                "--label-noise must be in [0, 1], got {}",
                self.label_noise
            ));
        }
        if !(0.1..=2.0).contains(&self.matrix_scale) {
            return Err(format!(
                "matrix scale must be in [0.1, 2], got {}",
                self.matrix_scale
            ));
        }
        Ok(())
    }
}

/// Architecture of the image tower (see `model::tower`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TowerPreset {
    /// The contracting path of a 3-D U-Net (pytorch-3dunet), global average pooling and a
    /// linear projection. Widths come from [`ImageTowerConfig::f_maps`].
    #[default]
    Unet,
    /// What the paper's code trains: 2x2x2 max pool, one double conv 3 -> 3, flatten and two
    /// linear layers. Ignores `f_maps`.
    Paper,
}

impl TowerPreset {
    /// All presets.
    pub const ALL: [TowerPreset; 2] = [TowerPreset::Unet, TowerPreset::Paper];

    /// Lower-case name as used on the command line and in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            TowerPreset::Unet => "unet",
            TowerPreset::Paper => "paper",
        }
    }
}

impl fmt::Display for TowerPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TowerPreset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TowerPreset::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| format!("unknown tower preset {s:?} (expected unet or paper)"))
    }
}

/// How the `unet` preset turns its last feature map into one vector before the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GlobalPool {
    /// Global average pooling (pytorch-3dunet's classifier head, the baseline).
    #[default]
    Avg,
    /// Average and max pooling concatenated: a small focal lesion moves the max of its
    /// feature channels even where it barely moves their mean over the whole head.
    AvgMax,
}

/// Settings of the image tower.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageTowerConfig {
    /// Architecture.
    pub preset: TowerPreset,
    /// Output channels of each U-Net encoder level (`unet` only); one 2x2x2 max pool sits
    /// before every level but the first.
    pub f_maps: Vec<usize>,
    /// Width of the image embedding.
    pub embed_dim: usize,
    /// Global pooling of the `unet` preset.
    pub pool: GlobalPool,
    /// In-plane average pooling factor applied to the input before the first level of the
    /// `unet` preset (1 = none, 2 = 56 x 56 slices: 4x less compute for 3.4 mm in-plane
    /// voxels, still finer than the 5-6.5 mm slices).
    pub input_pool: usize,
}

impl Default for ImageTowerConfig {
    fn default() -> Self {
        Self {
            preset: TowerPreset::Unet,
            f_maps: vec![16, 32, 64, 128],
            embed_dim: 256,
            pool: GlobalPool::Avg,
            input_pool: 1,
        }
    }
}

impl ImageTowerConfig {
    /// Number of input channels (DWI, T2*, FLAIR).
    pub const IN_CHANNELS: usize = 3;

    /// Checks ranges; returns a readable message on the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_WIDTH).contains(&self.embed_dim) {
            return Err(format!(
                "the embedding width must be 1 to {MAX_WIDTH}, got {}",
                self.embed_dim
            ));
        }
        if self.preset == TowerPreset::Paper {
            return Ok(());
        }
        if ![1, 2, 4].contains(&self.input_pool) {
            return Err(format!(
                "input_pool must be 1, 2 or 4 (it divides the 112-voxel slice side), got {}",
                self.input_pool
            ));
        }
        // Each level but the first halves the grid; the 16-slice depth allows 5 levels.
        let max_levels = MODEL_GRID[0].trailing_zeros() as usize + 1;
        if self.f_maps.is_empty() || self.f_maps.len() > max_levels {
            return Err(format!(
                "--f-maps needs 1 to {max_levels} levels, got {}",
                self.f_maps.len()
            ));
        }
        let mut c_in = Self::IN_CHANNELS;
        for &c_out in &self.f_maps {
            if !(1..=MAX_WIDTH).contains(&c_out) {
                return Err(format!(
                    "--f-maps widths must be 1 to {MAX_WIDTH}, got {c_out}"
                ));
            }
            // GroupNorm runs on the input channels of both convs of a level: 8 groups, or 1
            // when there are fewer than 8 channels, so 8 or more must be a multiple of 8.
            let c_mid = (c_out / 2).max(c_in);
            for c in [c_in, c_mid] {
                if c >= 8 && c % 8 != 0 {
                    return Err(format!(
                        "--f-maps {:?}: a GroupNorm over {c} channels needs a multiple of 8",
                        self.f_maps
                    ));
                }
            }
            c_in = c_out;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_text() {
        for l in Label::ALL {
            assert_eq!(l.as_str().parse::<Label>().unwrap(), l);
        }
        assert!("tumour".parse::<Label>().is_err());
    }

    #[test]
    fn channel_order_is_dwi_t2s_flair() {
        let stems: Vec<_> = Sequence::ALL.iter().map(|s| s.file_stem()).collect();
        assert_eq!(stems, ["dwi", "t2s", "flair"]);
        assert_eq!(Sequence::Flair.channel(), 2);
    }

    #[test]
    fn synth_config_validation_rejects_bad_noise() {
        let c = SynthConfig {
            label_noise: 1.5,
            ..SynthConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(SynthConfig::default().validate().is_ok());
    }
}
