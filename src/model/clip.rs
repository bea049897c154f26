//! The joint model: the image tower, a head that projects frozen report embeddings into the
//! same space, and the learnable temperature of the contrastive logits.

use candle_core::{D, Module, Result, Tensor, bail};
use candle_nn::{Init, Linear, VarBuilder};

use super::anomaly::AnomalyPool;
use super::standardize::{Standardize, VoxelNorm};
use super::tower::{ImageTower, build_tower, linear};
use crate::config::{ClipConfig, Label, TextHeadKind};

/// Projects pooled text-encoder states into the joint space.
#[derive(Debug, Clone)]
pub enum TextHead {
    /// One linear layer.
    Linear(Linear),
    /// Linear -> GELU -> Linear.
    Mlp(Linear, Linear),
    /// The paper's Linear(hidden) -> Linear(embed, no bias).
    Paper(Linear, Linear),
}

impl TextHead {
    /// Variables `fc1.*` (and `fc2.*` for two layers) under `vb`.
    pub fn new(cfg: &ClipConfig, text_dim: usize, vb: VarBuilder) -> Result<Self> {
        let e = cfg.embed_dim();
        let h = cfg.text_hidden;
        Ok(match cfg.text_head {
            TextHeadKind::Linear => TextHead::Linear(linear(text_dim, e, true, vb.pp("fc1"))?),
            TextHeadKind::Mlp => TextHead::Mlp(
                linear(text_dim, h, true, vb.pp("fc1"))?,
                linear(h, e, true, vb.pp("fc2"))?,
            ),
            TextHeadKind::Paper => TextHead::Paper(
                linear(text_dim, h, true, vb.pp("fc1"))?,
                linear(h, e, false, vb.pp("fc2"))?,
            ),
        })
    }
}

impl Module for TextHead {
    /// # Shapes
    /// `[b, text_dim]` -> `[b, embed_dim]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            TextHead::Linear(l) => l.forward(x),
            TextHead::Mlp(a, b) => b.forward(&a.forward(x)?.gelu_erf()?),
            TextHead::Paper(a, b) => b.forward(&a.forward(x)?),
        }
    }
}

/// Number of classes of the side head: none, left, right (see [`ImageTrainOutput`]).
pub const SIDE_CLASSES: usize = 3;

/// The image side's training forward.
#[derive(Debug, Clone)]
pub struct ImageTrainOutput {
    /// Unit-length embeddings, `[b, embed_dim]`.
    pub embedding: Tensor,
    /// Class-head logits over [`Label::ALL`], `[b, 5]`, when the model has the head.
    pub class_logits: Option<Tensor>,
    /// Side-head logits (none, left, right), `[b, SIDE_CLASSES]`, when the model has the head.
    pub side_logits: Option<Tensor>,
}

/// The CLIP-style model. Variables: `image.*` (the tower), `text.*` (the head),
/// `temperature` (a scalar stored as shape `[1]`), optionally `classifier.*`,
/// `side_classifier.*`, `anomaly.*` and the
/// standardisation statistics `input_norm.*`, `image_norm.*` and `text_norm.*`.
#[derive(Debug, Clone)]
pub struct ClipModel {
    input_norm: Option<VoxelNorm>,
    image: ImageTower,
    anomaly: Option<AnomalyPool>,
    text: TextHead,
    classifier: Option<Linear>,
    side_classifier: Option<Linear>,
    norms: Option<[Standardize; 2]>,
    temperature: Tensor,
    max_log_scale: f64,
    text_dim: usize,
}

impl ClipModel {
    /// Builds the model for report embeddings of width `text_dim` (the text encoder's hidden
    /// size), creating or loading variables through `vb`.
    pub fn new(cfg: &ClipConfig, text_dim: usize, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        if text_dim == 0 {
            bail!("the text encoder's width must be at least 1");
        }
        let input_norm = if cfg.voxel_norm {
            let shape = crate::io::preprocess::TENSOR_SHAPE;
            Some(VoxelNorm::new(
                shape,
                cfg.voxel_mask,
                vb.pp(VoxelNorm::PREFIX),
            )?)
        } else {
            None
        };
        let image = build_tower(&cfg.image, vb.pp("image"))?;
        let anomaly = cfg
            .anomaly_pool
            .then(|| AnomalyPool::new(cfg.embed_dim(), vb.pp("anomaly")))
            .transpose()?;
        let text = TextHead::new(cfg, text_dim, vb.pp("text"))?;
        let temperature = vb.get_with_hints(1, "temperature", Init::Const(cfg.temperature_init))?;
        let head = |on: bool, n: usize, name: &str| -> Result<Option<Linear>> {
            on.then(|| linear(cfg.embed_dim(), n, true, vb.pp(name)))
                .transpose()
        };
        let classifier = head(cfg.class_head, Label::ALL.len(), "classifier")?;
        let side_classifier = head(cfg.side_head, SIDE_CLASSES, "side_classifier")?;
        let norms = if cfg.standardize {
            let e = cfg.embed_dim();
            Some([
                Standardize::new(e, vb.pp("image_norm"))?,
                Standardize::new(e, vb.pp("text_norm"))?,
            ])
        } else {
            None
        };
        Ok(Self {
            input_norm,
            image,
            anomaly,
            text,
            classifier,
            side_classifier,
            norms,
            temperature,
            max_log_scale: cfg.max_logit_scale.ln(),
            text_dim,
        })
    }

    /// Width of the report embeddings the head expects.
    pub fn text_dim(&self) -> usize {
        self.text_dim
    }

    /// Training forward of the image side: unit-length embeddings and the logits of the
    /// class and side heads the model has (auxiliary training signals; retrieval never uses
    /// them). Standardisation uses the batch's statistics and updates the running ones; call
    /// it only for optimiser steps.
    ///
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> see [`ImageTrainOutput`]
    pub fn encode_image_train(&self, x: &Tensor) -> Result<ImageTrainOutput> {
        self.encode_standardized_train(&self.standardize_input(x)?)
    }

    /// The model input as the tower sees it: per-voxel standardised and masked when the
    /// model does that, else `x` itself.
    ///
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> the same
    pub fn standardize_input(&self, x: &Tensor) -> Result<Tensor> {
        match &self.input_norm {
            Some(n) => n.forward(x),
            None => Ok(x.clone()),
        }
    }

    /// [`Self::encode_image_train`] of an input already through [`Self::standardize_input`]
    /// (and perhaps augmented there).
    pub fn encode_standardized_train(&self, z: &Tensor) -> Result<ImageTrainOutput> {
        let e = self.standardized(0, self.tower_features(z)?, true)?; // [b, e]
        let logits = |head: &Option<Linear>| head.as_ref().map(|h| h.forward(&e)).transpose();
        Ok(ImageTrainOutput {
            class_logits: logits(&self.classifier)?,
            side_logits: logits(&self.side_classifier)?,
            embedding: l2_normalize(&e)?,
        })
    }

    /// Unit-length image embeddings (inference: each row depends on its own study only).
    ///
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> `[b, embed_dim]`
    pub fn encode_image(&self, x: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.standardized(0, self.image_features(x)?, false)?)
    }

    /// Unit-length text embeddings from pooled encoder states (inference).
    ///
    /// # Shapes
    /// `[b, text_dim]` -> `[b, embed_dim]`
    pub fn encode_text(&self, t: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.standardized(1, self.text_features(t)?, false)?)
    }

    /// Training forward of the text side (batch statistics, see [`Self::encode_image_train`]).
    ///
    /// # Shapes
    /// `[b, text_dim]` -> `[b, embed_dim]`
    pub fn encode_text_train(&self, t: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.standardized(1, self.text_features(t)?, true)?)
    }

    /// Whether the model standardises input voxels (and so needs cohort statistics).
    pub fn has_voxel_norm(&self) -> bool {
        self.input_norm.is_some()
    }

    /// Sets the per-voxel input statistics (see [`VoxelNorm`]); an error when the model has no
    /// voxel standardisation or the lengths do not match the input shape.
    pub fn set_input_statistics(&self, mean: &[f32], std: &[f32]) -> Result<()> {
        match &self.input_norm {
            Some(n) => n.set(mean, std),
            None => bail!("this model does not standardise input voxels"),
        }
    }

    /// `e` through the standardisation of `side` (0 image, 1 text) when the model has one:
    /// batch statistics in `training`, running ones otherwise.
    fn standardized(&self, side: usize, e: Tensor, training: bool) -> Result<Tensor> {
        match &self.norms {
            Some(norms) if training => norms[side].forward_train(&e),
            Some(norms) => norms[side].forward_eval(&e),
            None => Ok(e),
        }
    }

    /// The tower's output (plus the anomaly features' projection) before normalisation.
    fn image_features(&self, x: &Tensor) -> Result<Tensor> {
        self.tower_features(&self.standardize_input(x)?)
    }

    /// [`Self::image_features`] of a standardised input.
    fn tower_features(&self, z: &Tensor) -> Result<Tensor> {
        let e = self.image.forward(z)?;
        match &self.anomaly {
            Some(a) => e + a.forward(z)?,
            None => Ok(e),
        }
    }

    /// The text head's output before normalisation.
    fn text_features(&self, t: &Tensor) -> Result<Tensor> {
        let (_, d) = t.dims2()?;
        if d != self.text_dim {
            bail!(
                "text head expects {}-d report embeddings, got {d} (a different text encoder?)",
                self.text_dim
            );
        }
        self.text.forward(t)
    }

    /// The logit scale `exp(min(t, ln max_logit_scale))`, a differentiable `[1]` tensor.
    pub fn logit_scale(&self) -> Result<Tensor> {
        self.temperature
            .clamp(f64::NEG_INFINITY, self.max_log_scale)?
            .exp()
    }

    /// The logit scale as a number.
    pub fn logit_scale_value(&self) -> Result<f32> {
        self.logit_scale()?.to_vec1::<f32>().map(|v| v[0])
    }
}

/// Rows scaled to unit length (a zero row stays zero).
///
/// # Shapes
/// `[b, e]` -> `[b, e]`
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?; // [b, 1]
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use super::*;
    use crate::config::{ImageTowerConfig, TowerPreset};
    use crate::model::init::{seeded_uniform, seeded_var_builder};

    fn tiny(kind: TextHeadKind) -> ClipConfig {
        ClipConfig {
            image: ImageTowerConfig {
                preset: TowerPreset::Unet,
                f_maps: vec![4, 8],
                embed_dim: 6,
                ..ImageTowerConfig::default()
            },
            text_head: kind,
            text_hidden: 10,
            // The voxel statistics have the full model-input shape; these inputs are tiny.
            voxel_norm: false,
            voxel_mask: false,
            ..ClipConfig::default()
        }
    }

    #[test]
    fn embeddings_are_unit_length_and_names_mirror_fields() {
        let dev = Device::Cpu;
        for kind in [TextHeadKind::Linear, TextHeadKind::Mlp, TextHeadKind::Paper] {
            let vm = VarMap::new();
            let m = ClipModel::new(
                &tiny(kind),
                12,
                seeded_var_builder(&vm, 1, DType::F32, &dev),
            )
            .unwrap();
            let x = seeded_uniform((2, 3, 4, 8, 8), -1.0, 1.0, 1, 0, &dev).unwrap();
            let t = seeded_uniform((3, 12), -1.0, 1.0, 1, 1, &dev).unwrap();
            for e in [m.encode_image(&x).unwrap(), m.encode_text(&t).unwrap()] {
                let n = e.sqr().unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
                assert!(n.iter().all(|v| (v - 1.0).abs() < 1e-5), "{n:?}");
            }
            assert!(
                m.encode_text(&seeded_uniform((3, 5), 0.0, 1.0, 1, 1, &dev).unwrap())
                    .is_err()
            );
            let names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
            assert!(names.iter().any(|n| n == "temperature"));
            assert!(names.iter().any(|n| n == "text.fc1.weight"));
            assert!(names.iter().any(|n| n.starts_with("image.levels.0.conv1")));
            assert_eq!(
                names.iter().any(|n| n == "text.fc2.bias"),
                kind == TextHeadKind::Mlp
            );
        }
    }

    #[test]
    fn the_optional_class_and_side_heads_give_their_logits() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let cfg = ClipConfig {
            class_head: true,
            side_head: true,
            ..tiny(TextHeadKind::Linear)
        };
        let m = ClipModel::new(&cfg, 4, seeded_var_builder(&vm, 1, DType::F32, &dev)).unwrap();
        let x = seeded_uniform((2, 3, 4, 8, 8), -1.0, 1.0, 1, 0, &dev).unwrap();
        let out = m.encode_image_train(&x).unwrap();
        assert_eq!(out.embedding.dims(), [2, 6]);
        assert_eq!(out.class_logits.unwrap().dims(), [2, 5]);
        assert_eq!(out.side_logits.unwrap().dims(), [2, SIDE_CLASSES]);
        let names = vm.data().lock().unwrap();
        assert!(names.contains_key("classifier.weight"));
        assert!(names.contains_key("side_classifier.weight"));
        let without = ClipConfig {
            class_head: false,
            side_head: false,
            ..tiny(TextHeadKind::Linear)
        };
        let vm = VarMap::new();
        let out = ClipModel::new(&without, 4, seeded_var_builder(&vm, 1, DType::F32, &dev))
            .unwrap()
            .encode_image_train(&x)
            .unwrap();
        assert!(out.class_logits.is_none() && out.side_logits.is_none());
        assert!(
            vm.data()
                .lock()
                .unwrap()
                .keys()
                .all(|k| !k.contains("classifier"))
        );
    }

    #[test]
    fn the_anomaly_pool_adds_trainable_variables_that_move_the_embedding() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let cfg = ClipConfig {
            anomaly_pool: true,
            ..tiny(TextHeadKind::Linear)
        };
        let m = ClipModel::new(&cfg, 4, seeded_var_builder(&vm, 1, DType::F32, &dev)).unwrap();
        let x = seeded_uniform((3, 3, 4, 8, 8), -1.0, 1.0, 1, 0, &dev).unwrap();
        let loss = m
            .encode_image_train(&x)
            .unwrap()
            .embedding
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let w = vm.data().lock().unwrap()["anomaly.proj.weight"].clone();
        assert_eq!(w.dims(), [6, crate::model::anomaly::ANOMALY_FEATURES]);
        let g = grads.get(w.as_tensor()).unwrap();
        assert!(
            g.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
        // Without it, no such variables.
        let vm = VarMap::new();
        ClipModel::new(
            &tiny(TextHeadKind::Linear),
            4,
            seeded_var_builder(&vm, 1, DType::F32, &dev),
        )
        .unwrap();
        assert!(
            vm.data()
                .lock()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("anomaly"))
        );
    }

    #[test]
    fn standardised_embeddings_use_batch_statistics_only_in_training() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let cfg = tiny(TextHeadKind::Mlp);
        assert!(cfg.standardize);
        let m = ClipModel::new(&cfg, 12, seeded_var_builder(&vm, 1, DType::F32, &dev)).unwrap();
        let x = seeded_uniform((3, 3, 4, 8, 8), -1.0, 1.0, 1, 0, &dev).unwrap();
        let t = seeded_uniform((3, 12), -1.0, 1.0, 1, 1, &dev).unwrap();
        let stat = |name: &str| {
            vm.data().lock().unwrap()[name]
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap()
        };
        let before = stat("image_norm.running_mean");
        let img = m.encode_image_train(&x).unwrap().embedding;
        let txt = m.encode_text_train(&t).unwrap();
        assert_eq!(img.dims(), [3, 6]);
        assert_eq!(txt.dims(), [3, 6]);
        assert_ne!(stat("image_norm.running_mean"), before);
        assert_ne!(stat("text_norm.running_var"), vec![1.0; 6]);
        // Inference: a study's embedding does not depend on the others in its batch.
        let all = m.encode_image(&x).unwrap().to_vec2::<f32>().unwrap();
        let one = m
            .encode_image(&x.narrow(0, 1, 1).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (a, b) in all[1].iter().zip(&one[0]) {
            assert!((a - b).abs() < 1e-5);
        }
        // A training batch of one has no statistics.
        assert!(m.encode_text_train(&t.narrow(0, 0, 1).unwrap()).is_err());
    }

    #[test]
    fn logit_scale_starts_at_the_init_and_is_clamped() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let m = ClipModel::new(
            &tiny(TextHeadKind::Linear),
            4,
            seeded_var_builder(&vm, 1, DType::F32, &dev),
        )
        .unwrap();
        assert!((m.logit_scale_value().unwrap() - 1.0 / 0.07).abs() < 1e-3);
        let big = Tensor::new(&[10.0f32], &dev).unwrap();
        vm.data().lock().unwrap()["temperature"].set(&big).unwrap();
        assert!((m.logit_scale_value().unwrap() - 100.0).abs() < 1e-3);
    }
}
