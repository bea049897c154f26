//! Standardisation inside the joint model: of the input volume voxel by voxel against the
//! training cohort ([`VoxelNorm`]), and of the embeddings across studies ([`Standardize`],
//! BatchNorm1d without the affine part). Neither is trained by the optimiser.
//!
//! # Why voxel by voxel
//! Preprocessing z-scores each study against itself, so a small lesion is a few hundred voxels
//! whose values also occur elsewhere in the head (the brightest DWI lesion of many studies
//! sits at the same z as the scalp). Standardising every voxel by the mean and spread of the
//! training studies at that grid position turns the input into "how unusual is this voxel
//! here": anatomy shared by all heads cancels, head-edge voxels that vary with head shape are
//! damped, and a lesion inside the brain, where studies agree, stands out. The statistics are
//! averaged with their left-right mirror so that flipped studies see the same map. Measured
//! with a five-class probe on the demo cohort (`examples/` diagnostics, see the README): val
//! accuracy 0.45 after 5 epochs with it, 0.28 without.
//!
//! # Why across studies
//! # Why the joint model needs it
//! GroupNorm normalises every study's feature maps by that study's own statistics, and global
//! pooling then averages over 200,000 voxels in which a lesion is a few hundred: the pooled
//! features of all studies share one large common component and differ from each other by a
//! few percent. Measured on the demo cohort: the logits of a freshly initialised tower vary
//! across studies with a standard deviation of 0.02-0.06 while their means differ by ~1, and a
//! five-class probe then predicts one class for every study and never leaves chance; the frozen
//! report embeddings have the same problem (mean pairwise cosine ≈ 0.97 after the head).
//! Centring and scaling each embedding dimension across studies removes the common part, so
//! cosine similarities compare what differs between studies. With it the same probe's training
//! loss falls from the first epoch.
//!
//! In training the batch's own mean and variance are used (gradients flow through them) and
//! running estimates are updated; at inference the running estimates are used, so an embedding
//! never depends on the other studies it is computed with.

use candle_core::{Result, Tensor, bail};
use candle_nn::{Init, VarBuilder};

/// Variance floor.
const EPS: f64 = 1e-5;
/// Weight of the newest batch in the running estimates.
const MOMENTUM: f64 = 0.1;

/// Per-dimension standardisation with running statistics. Variables (not trained):
/// `running_mean`, `running_var`.
#[derive(Debug, Clone)]
pub struct Standardize {
    running_mean: Tensor,
    running_var: Tensor,
}

impl Standardize {
    /// Names of the two statistics under the module's prefix.
    pub const BUFFERS: [&str; 2] = ["running_mean", "running_var"];

    /// Statistics for `dim` features under `vb` (mean 0, variance 1 when new).
    pub fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            running_mean: vb.get_with_hints(dim, "running_mean", Init::Const(0.0))?,
            running_var: vb.get_with_hints(dim, "running_var", Init::Const(1.0))?,
        })
    }

    /// Inference: standardise with the running statistics.
    ///
    /// # Shapes
    /// `[b, d]` -> `[b, d]`
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        let mean = self
            .running_mean
            .detach()
            .to_dtype(x.dtype())?
            .unsqueeze(0)?; // [1, d]
        let std = (self.running_var.detach().to_dtype(x.dtype())? + EPS)?
            .sqrt()?
            .unsqueeze(0)?; // [1, d]
        x.broadcast_sub(&mean)?.broadcast_div(&std)
    }

    /// Training: standardise with the batch's statistics (differentiable) and move the
    /// running statistics towards them. A batch of one row has no variance and is refused.
    ///
    /// # Shapes
    /// `[b, d]` -> `[b, d]`, `b >= 2`
    pub fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        let (b, _) = x.dims2()?;
        if b < 2 {
            bail!("batch standardisation needs at least two rows, got {b}");
        }
        let mean = x.mean_keepdim(0)?; // [1, d]
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(0)?; // [1, d], biased
        let y = centred.broadcast_div(&(&var + EPS)?.sqrt()?)?;
        let unbiased = (var.detach() * (b as f64 / (b as f64 - 1.0)))?;
        update(&self.running_mean, &mean.detach())?;
        update(&self.running_var, &unbiased)?;
        Ok(y)
    }
}

/// `running <- (1 - MOMENTUM) * running + MOMENTUM * batch`, written in place into the
/// running tensor's storage (shared with the `VarMap` it came from, so checkpoints see it).
fn update(running: &Tensor, batch: &Tensor) -> Result<()> {
    let batch = batch.flatten_all()?.to_dtype(running.dtype())?;
    let next = ((running * (1.0 - MOMENTUM))? + (batch * MOMENTUM)?)?.contiguous()?;
    running.slice_set(&next, 0, 0)
}

/// Whether the variable `name` is a statistic of [`Standardize`] or [`VoxelNorm`] (never given
/// to the optimiser).
pub fn is_statistic(name: &str) -> bool {
    let last = name.rsplit('.').next();
    Standardize::BUFFERS.iter().any(|b| last == Some(b))
        || (name.split('.').any(|p| p == VoxelNorm::PREFIX)
            && VoxelNorm::BUFFERS.iter().any(|b| last == Some(b)))
}

/// Standardised voxels are clipped to this many standard deviations.
pub const VOXEL_CLIP: f64 = 8.0;
/// Floor of the per-voxel standard deviation (input units are per-study z-scores): voxels that
/// are background in every study must not be divided by ~0.
pub const VOXEL_STD_FLOOR: f64 = crate::config::DEFAULT_VOXEL_STD_FLOOR;

/// Per-voxel standardisation of the `[3, 16, 112, 112]` model input. Variables (not trained):
/// `mean`, `std`, each of the input's shape, and with `masked` the intracranial `mask`
/// ([`super::head_mask`]) derived from them, which zeroes standardised voxels outside the head.
#[derive(Debug, Clone)]
pub struct VoxelNorm {
    mean: Tensor,
    std: Tensor,
    mask: Option<Tensor>,
}

impl VoxelNorm {
    /// The variable prefix the model stores the statistics under.
    pub const PREFIX: &str = "input_norm";
    /// Names of the statistics under the prefix.
    pub const BUFFERS: [&str; 3] = ["mean", "std", "mask"];

    /// Statistics of `shape` (`[c, d, h, w]`) under `vb`; mean 0, std 1 and mask 1 (the
    /// identity) when new, until [`Self::set`] fills them from a cohort.
    pub fn new(shape: [usize; 4], masked: bool, vb: VarBuilder) -> Result<Self> {
        let mask = if masked {
            Some(vb.get_with_hints(shape.as_slice(), "mask", Init::Const(1.0))?)
        } else {
            None
        };
        Ok(Self {
            mean: vb.get_with_hints(shape.as_slice(), "mean", Init::Const(0.0))?,
            std: vb.get_with_hints(shape.as_slice(), "std", Init::Const(1.0))?,
            mask,
        })
    }

    /// Writes the statistics in place (into the `VarMap` they came from).
    pub fn set(&self, mean: &[f32], std: &[f32]) -> Result<()> {
        let shape = self.mean.shape().clone();
        if mean.len() != shape.elem_count() || std.len() != shape.elem_count() {
            bail!(
                "voxel statistics of {} and {} values for an input of shape {shape:?}",
                mean.len(),
                std.len()
            );
        }
        let dev = self.mean.device();
        let write = |dst: &Tensor, src: &[f32]| -> Result<()> {
            let t = Tensor::from_slice(src, shape.clone(), dev)?.to_dtype(dst.dtype())?;
            dst.slice_set(&t, 0, 0)
        };
        write(&self.mean, mean)?;
        write(&self.std, std)?;
        if let Some(m) = &self.mask {
            let (c, d, h, w) = self.mean.dims4()?;
            write(
                m,
                &super::head_mask::intracranial_mask(mean, std, [c, d, h, w]),
            )?;
        }
        Ok(())
    }

    /// `clamp((x - mean) / std, ±8)`, times the mask when there is one.
    ///
    /// # Shapes
    /// `[b, c, d, h, w]` -> same
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // Detached: the statistics are not trained, and a graph through them would make
        // backward compute the gradient of the whole tower's input (a third of an epoch).
        let mean = self.mean.detach().to_dtype(x.dtype())?.unsqueeze(0)?;
        let std = self.std.detach().to_dtype(x.dtype())?.unsqueeze(0)?;
        let z = x
            .broadcast_sub(&mean)?
            .broadcast_div(&std)?
            .clamp(-VOXEL_CLIP, VOXEL_CLIP)?;
        match &self.mask {
            Some(m) => z.broadcast_mul(&m.detach().to_dtype(x.dtype())?.unsqueeze(0)?),
            None => Ok(z),
        }
    }
}

/// Running per-voxel sums for [`VoxelNorm`]'s statistics, each study added together with its
/// left-right mirror (the last axis reversed).
#[derive(Debug, Clone)]
pub struct VoxelStats {
    width: usize,
    n: usize,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl VoxelStats {
    /// Empty sums for volumes of `len` values whose last axis has `width` entries.
    pub fn new(len: usize, width: usize) -> Self {
        Self {
            width: width.max(1),
            n: 0,
            sum: vec![0.0; len],
            sum_sq: vec![0.0; len],
        }
    }

    /// Adds one volume (and its mirror). Panics never: a volume of the wrong length is refused.
    pub fn add(&mut self, volume: &[f32]) -> std::result::Result<(), String> {
        if volume.len() != self.sum.len() {
            return Err(format!(
                "volume of {} values, expected {}",
                volume.len(),
                self.sum.len()
            ));
        }
        let w = self.width;
        for (row_in, (row_sum, row_sq)) in volume
            .chunks(w)
            .zip(self.sum.chunks_mut(w).zip(self.sum_sq.chunks_mut(w)))
        {
            for k in 0..row_in.len() {
                let (a, b) = (f64::from(row_in[k]), f64::from(row_in[w - 1 - k]));
                row_sum[k] += a + b;
                row_sq[k] += a * a + b * b;
            }
        }
        self.n += 2;
        Ok(())
    }

    /// Per-voxel mean and standard deviation (floored at `std_floor`, see
    /// [`VOXEL_STD_FLOOR`]); `None` before any volume was added.
    pub fn finish(&self, std_floor: f64) -> Option<(Vec<f32>, Vec<f32>)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        Some(
            self.sum
                .iter()
                .zip(&self.sum_sq)
                .map(|(s, q)| {
                    let mean = s / n;
                    let var = (q / n - mean * mean).max(0.0);
                    (mean as f32, var.sqrt().max(std_floor) as f32)
                })
                .unzip(),
        )
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use super::*;
    use crate::model::init::seeded_uniform;

    fn column_stats(x: &Tensor) -> (Vec<f32>, Vec<f32>) {
        let mean = x.mean(0).unwrap();
        let var = x
            .broadcast_sub(&mean.unsqueeze(0).unwrap())
            .unwrap()
            .sqr()
            .unwrap()
            .mean(0)
            .unwrap();
        (mean.to_vec1().unwrap(), var.to_vec1().unwrap())
    }

    #[test]
    fn training_standardises_the_batch_and_moves_the_running_statistics() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let s = Standardize::new(3, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        // Columns with means ~5 and spreads 1, 2, 4: the common offset the module removes.
        let x = (seeded_uniform((6, 3), -1.0, 1.0, 4, 0, &dev)
            .unwrap()
            .broadcast_mul(&Tensor::new(&[1.0f32, 2.0, 4.0], &dev).unwrap())
            .unwrap()
            + 5.0)
            .unwrap();
        let y = s.forward_train(&x).unwrap();
        let (m, v) = column_stats(&y);
        assert!(m.iter().all(|m| m.abs() < 1e-5), "{m:?}");
        assert!(v.iter().all(|v| (v - 1.0).abs() < 1e-3), "{v:?}");
        // running = 0.9 * init + 0.1 * batch, visible through the VarMap (checkpoints).
        let (bm, bv) = column_stats(&x);
        let data = vm.data().lock().unwrap();
        let rm = data["running_mean"].as_tensor().to_vec1::<f32>().unwrap();
        let rv = data["running_var"].as_tensor().to_vec1::<f32>().unwrap();
        for k in 0..3 {
            assert!((rm[k] - 0.1 * bm[k]).abs() < 1e-5, "{rm:?} {bm:?}");
            let unbiased = bv[k] * 6.0 / 5.0;
            assert!((rv[k] - (0.9 + 0.1 * unbiased)).abs() < 1e-4, "{rv:?}");
        }
    }

    #[test]
    fn inference_uses_the_running_statistics_row_by_row() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let s = Standardize::new(2, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        {
            let data = vm.data().lock().unwrap();
            data["running_mean"]
                .set(&Tensor::new(&[1.0f32, -2.0], &dev).unwrap())
                .unwrap();
            data["running_var"]
                .set(&Tensor::new(&[4.0f32, 0.25], &dev).unwrap())
                .unwrap();
        }
        let x = Tensor::new(&[[3.0f32, -1.0], [1.0, -2.0]], &dev).unwrap();
        let y = s.forward_eval(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!(
            (y[0][0] - 1.0).abs() < 1e-4 && (y[0][1] - 2.0).abs() < 1e-3,
            "{y:?}"
        );
        assert!(y[1].iter().all(|v| v.abs() < 1e-6), "{y:?}");
        // One row alone gives the same answer as inside a batch.
        let one = s.forward_eval(&x.narrow(0, 0, 1).unwrap()).unwrap();
        assert_eq!(one.to_vec2::<f32>().unwrap()[0], y[0]);
    }

    #[test]
    fn a_single_row_cannot_be_standardised_in_training() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let s = Standardize::new(2, VarBuilder::from_varmap(&vm, DType::F32, &dev)).unwrap();
        let err = s.forward_train(&Tensor::zeros((1, 2), DType::F32, &dev).unwrap());
        assert!(err.unwrap_err().to_string().contains("at least two rows"));
    }

    #[test]
    fn voxel_statistics_are_mirror_symmetric_and_floored() {
        // Two "volumes" of 2 rows x 3 columns.
        let a = [1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0];
        let b = [3.0f32, 2.0, 1.0, 0.0, 0.0, 6.0];
        let mut st = VoxelStats::new(6, 3);
        assert!(st.finish(VOXEL_STD_FLOOR).is_none());
        st.add(&a).unwrap();
        st.add(&b).unwrap();
        assert!(st.add(&[0.0; 5]).unwrap_err().contains("5 values"));
        let (mean, std) = st.finish(VOXEL_STD_FLOOR).unwrap();
        // Row 0 holds 1, 2, 3 and mirrors in both studies: every column mean 2.
        assert_eq!(&mean[..3], &[2.0, 2.0, 2.0]);
        assert!((std[0] - 1.0).abs() < 1e-6 && std[1] == VOXEL_STD_FLOOR as f32);
        // Row 1: column 0 sees 0, 0, 0, 6 (b's mirror), column 2 the same.
        assert_eq!((mean[3], mean[4], mean[5]), (1.5, 0.0, 1.5));
        assert!((std[3] - 6.75f32.sqrt()).abs() < 1e-5);
        assert_eq!(std[4], VOXEL_STD_FLOOR as f32);
    }

    #[test]
    fn voxel_norm_standardises_clips_and_is_set_in_place() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let n = VoxelNorm::new([1, 1, 1, 3], false, vb.pp(VoxelNorm::PREFIX)).unwrap();
        let x = Tensor::new(&[1.0f32, 2.0, 100.0], &dev)
            .unwrap()
            .reshape((1, 1, 1, 1, 3))
            .unwrap();
        let values = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        // New statistics are the identity (but for the clip).
        assert_eq!(values(n.forward(&x).unwrap()), [1.0, 2.0, 8.0]);
        n.set(&[1.0, 0.0, 0.0], &[1.0, 0.5, 10.0]).unwrap();
        assert_eq!(values(n.forward(&x).unwrap()), [0.0, 4.0, 8.0]);
        assert!(n.set(&[0.0; 2], &[1.0; 3]).is_err());
        // The VarMap (what checkpoints save) holds the new values.
        let saved = values(
            vm.data().lock().unwrap()["input_norm.std"]
                .as_tensor()
                .clone(),
        );
        assert_eq!(saved, [1.0, 0.5, 10.0]);
    }

    #[test]
    fn masked_voxel_norm_zeroes_voxels_outside_the_head_and_saves_the_mask() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let (h, w) = (9, 9);
        let n = VoxelNorm::new([3, 1, h, w], true, vb.pp(VoxelNorm::PREFIX)).unwrap();
        // Air everywhere (mean -2.6) but a stable 3x3 block in the middle.
        let mut mean = vec![-2.6f32; 3 * h * w];
        let std = vec![0.2f32; 3 * h * w];
        for c in 0..3 {
            for y in 3..6 {
                for x in 3..6 {
                    mean[c * h * w + y * w + x] = 0.0;
                }
            }
        }
        n.set(&mean, &std).unwrap();
        let x = Tensor::ones((1, 3, 1, h, w), DType::F32, &dev).unwrap();
        let y = n.forward(&x).unwrap().flatten_all().unwrap();
        let y = y.to_vec1::<f32>().unwrap();
        assert_eq!(y[4 * w + 4], 5.0, "centre: (1 - 0) / 0.2");
        assert_eq!(y[4 * w + 1], 8.0, "dilated by two voxels: kept (clipped z)");
        assert_eq!(y[0], 0.0, "corner: outside the mask");
        let saved = vm.data().lock().unwrap()["input_norm.mask"]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(saved[0], 0.0);
        assert_eq!(saved[4 * w + 4], 1.0);
        assert!(is_statistic("input_norm.mask"));
    }

    #[test]
    fn statistics_are_recognised_by_name() {
        assert!(is_statistic("input_norm.mean"));
        assert!(is_statistic("input_norm.std"));
        assert!(!is_statistic("image.levels.0.conv1.norm.mean"));
        assert!(is_statistic("image_norm.running_mean"));
        assert!(is_statistic("text_norm.running_var"));
        assert!(!is_statistic("image.proj.weight"));
        assert!(!is_statistic("running_mean_scale"));
    }
}
