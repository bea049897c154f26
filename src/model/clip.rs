//! The joint model: the image tower, a head that projects frozen report embeddings into the
//! same space, and the learnable temperature of the contrastive logits.

use candle_core::{D, Module, Result, Tensor, bail};
use candle_nn::{Init, Linear, VarBuilder};

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

/// The CLIP-style model. Variables: `image.*` (the tower), `text.*` (the head) and
/// `temperature` (a scalar stored as shape `[1]`).
#[derive(Debug, Clone)]
pub struct ClipModel {
    image: ImageTower,
    text: TextHead,
    classifier: Option<Linear>,
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
        let image = build_tower(&cfg.image, vb.pp("image"))?;
        let text = TextHead::new(cfg, text_dim, vb.pp("text"))?;
        let temperature = vb.get_with_hints(1, "temperature", Init::Const(cfg.temperature_init))?;
        let classifier = if cfg.class_head {
            let n = Label::ALL.len();
            Some(linear(cfg.embed_dim(), n, true, vb.pp("classifier"))?)
        } else {
            None
        };
        Ok(Self {
            image,
            text,
            classifier,
            temperature,
            max_log_scale: cfg.max_logit_scale.ln(),
            text_dim,
        })
    }

    /// Width of the report embeddings the head expects.
    pub fn text_dim(&self) -> usize {
        self.text_dim
    }

    /// Unit-length image embeddings and, when the model has a class head, its logits over
    /// [`Label::ALL`] (an auxiliary training signal; retrieval never uses them).
    ///
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> (`[b, embed_dim]`, `[b, 5]`)
    pub fn encode_image_with_logits(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let e = self.image.forward(x)?; // [b, e]
        let logits = match &self.classifier {
            Some(c) => Some(c.forward(&e)?),
            None => None,
        };
        Ok((l2_normalize(&e)?, logits))
    }

    /// Unit-length image embeddings.
    ///
    /// # Shapes
    /// `[b, 3, 16, 112, 112]` -> `[b, embed_dim]`
    pub fn encode_image(&self, x: &Tensor) -> Result<Tensor> {
        l2_normalize(&self.image.forward(x)?)
    }

    /// Unit-length text embeddings from pooled encoder states.
    ///
    /// # Shapes
    /// `[b, text_dim]` -> `[b, embed_dim]`
    pub fn encode_text(&self, t: &Tensor) -> Result<Tensor> {
        let (_, d) = t.dims2()?;
        if d != self.text_dim {
            bail!(
                "text head expects {}-d report embeddings, got {d} (a different text encoder?)",
                self.text_dim
            );
        }
        l2_normalize(&self.text.forward(t)?)
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
    fn the_optional_class_head_gives_five_logits() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let cfg = ClipConfig {
            class_head: true,
            ..tiny(TextHeadKind::Linear)
        };
        let m = ClipModel::new(&cfg, 4, seeded_var_builder(&vm, 1, DType::F32, &dev)).unwrap();
        let x = seeded_uniform((2, 3, 4, 8, 8), -1.0, 1.0, 1, 0, &dev).unwrap();
        let (e, logits) = m.encode_image_with_logits(&x).unwrap();
        assert_eq!(e.dims(), [2, 6]);
        assert_eq!(logits.unwrap().dims(), [2, 5]);
        assert!(vm.data().lock().unwrap().contains_key("classifier.weight"));
        let (_, none) = ClipModel::new(&tiny(TextHeadKind::Linear), 4, {
            let vm = VarMap::new();
            seeded_var_builder(&vm, 1, DType::F32, &dev)
        })
        .unwrap()
        .encode_image_with_logits(&x)
        .unwrap();
        assert!(none.is_none());
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
