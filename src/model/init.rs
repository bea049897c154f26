//! Seeded weight initialisation.
//!
//! candle's CPU random generator cannot be seeded (`Device::set_seed` errors on the CPU), so a
//! `VarMap` filled through `VarBuilder::from_varmap` differs on every run. [`seeded_var_builder`]
//! is a drop-in replacement: each layer still chooses its own initialisation (the `Init` hint it
//! passes to `VarBuilder::get_with_hints`, e.g. PyTorch's kaiming-uniform bound
//! `1 / sqrt(fan_in)` for convolutions and linear layers, 1 and 0 for GroupNorm), but the
//! numbers come from a ChaCha8 stream keyed by the seed *and the variable name*, so a weight's
//! initial value does not depend on the order in which layers are built.

use candle_core::{DType, Device, Result, Shape, Tensor, Var, WithDType, bail};
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use rand::distr::StandardUniform;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A `VarBuilder` that creates missing variables in `varmap`, initialised deterministically
/// from `seed`. Existing variables are returned as they are (shapes are checked).
pub fn seeded_var_builder(
    varmap: &VarMap,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> VarBuilder<'static> {
    let backend = SeededVarMap {
        varmap: varmap.clone(),
        seed,
    };
    VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
}

/// Uniform values in `[lo, hi)` from a ChaCha8 stream (`seed`, `stream`), e.g. test inputs.
pub fn seeded_uniform(
    shape: impl Into<Shape>,
    lo: f64,
    hi: f64,
    seed: u64,
    stream: u64,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = rng_for(seed, stream);
    let v: Vec<f32> = (0..shape.elem_count())
        .map(|_| rng.random_range(lo..hi) as f32)
        .collect();
    Tensor::from_vec(v, shape, device)
}

/// Standard-normal values from a ChaCha8 stream (`seed`, `stream`), e.g. random targets.
pub fn seeded_normal(
    shape: impl Into<Shape>,
    seed: u64,
    stream: u64,
    device: &Device,
) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = rng_for(seed, stream);
    let v: Vec<f32> = (0..shape.elem_count())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_vec(v, shape, device)
}

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// FNV-1a of a variable name: its random stream.
fn name_stream(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The values of one variable, sampled directly in `T` (f32 for f32 models: half the memory
/// and time of sampling in f64 and converting, which matters for the paper preset's 30 M).
fn init_values<T>(init: Init, shape: &Shape, rng: &mut ChaCha8Rng) -> Vec<T>
where
    T: WithDType,
    StandardUniform: Distribution<T>,
    StandardNormal: Distribution<T>,
{
    let n = shape.elem_count();
    let uniform = |rng: &mut ChaCha8Rng, lo: f64, up: f64| -> Vec<T> {
        let (lo, width) = (T::from_f64(lo), T::from_f64(up - lo));
        (0..n)
            .map(|_| lo + width * StandardUniform.sample(rng))
            .collect()
    };
    let normal = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<T> {
        let (mean, std) = (T::from_f64(mean), T::from_f64(std));
        (0..n)
            .map(|_| mean + std * StandardNormal.sample(rng))
            .collect()
    };
    match init {
        Init::Const(c) => vec![T::from_f64(c); n],
        Init::Uniform { lo, up } => uniform(rng, lo, up),
        Init::Randn { mean, stdev } => normal(rng, mean, stdev),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape).max(1) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(rng, -bound, bound)
                }
                NormalOrUniform::Normal => normal(rng, 0.0, std),
            }
        }
    }
}

/// A `VarMap` whose missing variables are created from a seeded generator.
struct SeededVarMap {
    varmap: VarMap,
    seed: u64,
}

impl SimpleBackend for SeededVarMap {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let Ok(mut vars) = self.varmap.data().lock() else {
            bail!("the variable map is poisoned by an earlier panic");
        };
        if let Some(var) = vars.get(name) {
            if var.shape() != &s {
                bail!("shape mismatch on {name}: {s:?} <> {:?}", var.shape())
            }
            return Ok(var.as_tensor().clone());
        }
        let mut rng = rng_for(self.seed, name_stream(name));
        let t = match dtype {
            DType::F64 => Tensor::from_vec(init_values::<f64>(h, &s, &mut rng), s, dev)?,
            _ => Tensor::from_vec(init_values::<f32>(h, &s, &mut rng), s, dev)?.to_dtype(dtype)?,
        };
        let var = Var::from_tensor(&t)?;
        let t = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(t)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        bail!("{name}: a seeded VarMap creates variables only with a shape and an init hint")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .is_ok_and(|vars| vars.contains_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(seed: u64, names: &[&str]) -> VarMap {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
        for n in names {
            vb.get_with_hints((4, 3, 3), n, Init::Uniform { lo: -0.5, up: 0.5 })
                .unwrap();
        }
        vm
    }

    fn values(vm: &VarMap, name: &str) -> Vec<f32> {
        let vars = vm.data().lock().unwrap();
        vars[name].flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn same_seed_same_weights_in_any_build_order() {
        let a = build(5, &["x.weight", "y.weight"]);
        let b = build(5, &["y.weight", "x.weight"]);
        assert_eq!(values(&a, "x.weight"), values(&b, "x.weight"));
        assert_eq!(values(&a, "y.weight"), values(&b, "y.weight"));
        assert_ne!(values(&a, "x.weight"), values(&a, "y.weight"));
        let c = build(6, &["x.weight"]);
        assert_ne!(values(&a, "x.weight"), values(&c, "x.weight"));
    }

    #[test]
    fn hints_are_honoured() {
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, 1, DType::F32, &Device::Cpu);
        let one = vb.get_with_hints(5, "n.weight", Init::Const(1.0)).unwrap();
        assert_eq!(one.to_vec1::<f32>().unwrap(), [1.0; 5]);
        let u = vb
            .get_with_hints(1000, "u", Init::Uniform { lo: -0.1, up: 0.1 })
            .unwrap();
        let u = u.to_vec1::<f32>().unwrap();
        assert!(u.iter().all(|v| (-0.1..0.1).contains(v)));
        assert!(u.iter().any(|v| *v > 0.05) && u.iter().any(|v| *v < -0.05));
        // Kaiming normal, fan-in 400, ReLU gain sqrt(2): std ~ 0.0707.
        let k = vb
            .get_with_hints((25, 400), "k", candle_nn::init::DEFAULT_KAIMING_NORMAL)
            .unwrap();
        let std = k.sqr().unwrap().mean_all().unwrap().sqrt().unwrap();
        let std = std.to_scalar::<f32>().unwrap();
        assert!((std - 0.0707).abs() < 0.003, "{std}");
        // A second request returns the same variable; a different shape is an error.
        let again = vb.get_with_hints(5, "n.weight", Init::Const(7.0)).unwrap();
        assert_eq!(again.to_vec1::<f32>().unwrap(), [1.0; 5]);
        assert!(vb.get_with_hints(6, "n.weight", Init::Const(1.0)).is_err());
        assert_eq!(vm.all_vars().len(), 3);
    }

    #[test]
    fn seeded_inputs_are_deterministic() {
        let a = seeded_uniform((2, 3), -1.0, 1.0, 9, 1, &Device::Cpu).unwrap();
        let b = seeded_uniform((2, 3), -1.0, 1.0, 9, 1, &Device::Cpu).unwrap();
        let c = seeded_uniform((2, 3), -1.0, 1.0, 9, 2, &Device::Cpu).unwrap();
        let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(v(&a), v(&b));
        assert_ne!(v(&a), v(&c));
        let n = seeded_normal(4, 9, 1, &Device::Cpu).unwrap();
        assert_eq!(v(&n), v(&seeded_normal(4, 9, 1, &Device::Cpu).unwrap()));
    }
}
