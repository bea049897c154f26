//! Model weights on disk: a `VarMap` as one safetensors file, written atomically (temporary
//! sibling, fsync, rename) so a crash never leaves a half-written checkpoint. The only place in
//! `model` that touches files.
//!
//! Writing: candle can only serialise safetensors straight to a path, so the (simple) format is
//! written here into the temporary file of [`write_atomic_with`]: an 8-byte little-endian header
//! length, a JSON header `{name: {dtype, shape, data_offsets}}` padded with spaces to a
//! multiple of 8, then the raw little-endian tensor data. Reading uses candle's parser, so the
//! tests check the writer against it.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor, Var};
use candle_nn::VarMap;

use super::pack::{pack, unpack};
use crate::io::IoError;
use crate::io::atomic::write_atomic_with;

/// A checkpoint could not be written or does not fit the model.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Writing or reading the file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A tensor operation failed while gathering or restoring the weights.
    #[error("{source}: {}", path.display())]
    Tensor {
        /// The candle error.
        source: candle_core::Error,
        /// The checkpoint file.
        path: PathBuf,
    },
    /// The file does not match the model's variables.
    #[error("checkpoint does not fit the model ({problem}): {}", path.display())]
    Mismatch {
        /// Which variable is missing, unexpected or of the wrong shape.
        problem: String,
        /// The checkpoint file.
        path: PathBuf,
    },
}

impl CheckpointError {
    fn tensor(path: &Path) -> impl FnOnce(candle_core::Error) -> Self + '_ {
        move |source| CheckpointError::Tensor {
            source,
            path: path.to_path_buf(),
        }
    }

    fn mismatch(path: &Path, problem: String) -> Self {
        CheckpointError::Mismatch {
            problem,
            path: path.to_path_buf(),
        }
    }
}

/// The variables of `varmap` as `(name, variable)` pairs sorted by name (the order of
/// checkpoints and of the optimiser's state).
pub fn named_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let vars = match varmap.data().lock() {
        Ok(v) => v,
        Err(poisoned) => poisoned.into_inner(), // plain data: still consistent
    };
    let mut out: Vec<_> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The variables of `varmap` as `(name, tensor)` pairs sorted by name.
pub fn named_tensors(varmap: &VarMap) -> Vec<(String, Tensor)> {
    named_vars(varmap)
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect()
}

/// Saves every variable of `varmap` to the safetensors file `path`, atomically, with the
/// voxel statistics packed losslessly (see [`super::pack`]).
pub fn save_varmap(varmap: &VarMap, path: &Path) -> Result<(), CheckpointError> {
    let packed = pack(named_tensors(varmap)).map_err(CheckpointError::tensor(path))?;
    save_tensors(&packed, path)
}

/// Reads a weights file written by [`save_varmap`] (or before packing existed) with every
/// tensor as the model has it.
pub fn load_weights(path: &Path) -> Result<HashMap<String, Tensor>, CheckpointError> {
    unpack(load_tensors(path)?).map_err(CheckpointError::tensor(path))
}

/// Reads every tensor of the safetensors file `path` onto the CPU.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os("read", path, e))?;
    candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
        .map_err(CheckpointError::tensor(path))
}

/// Saves named f32/f64/u8 tensors to the safetensors file `path`, atomically.
pub fn save_tensors(tensors: &[(String, Tensor)], path: &Path) -> Result<(), CheckpointError> {
    let mut header = serde_json::Map::new();
    let mut blobs = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for (name, t) in tensors {
        let bytes = le_bytes(t).map_err(CheckpointError::tensor(path))?;
        let entry = serde_json::json!({
            "dtype": safetensors_dtype(t.dtype()).map_err(CheckpointError::tensor(path))?,
            "shape": t.dims(),
            "data_offsets": [offset, offset + bytes.len()],
        });
        offset += bytes.len();
        header.insert(name.clone(), entry);
        blobs.push(bytes);
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    header.resize(header.len().div_ceil(8) * 8, b' ');
    write_atomic_with(path, |f| {
        let mut w = BufWriter::new(f);
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for b in &blobs {
            w.write_all(b)?;
        }
        w.flush()
    })?;
    Ok(())
}

/// Loads the safetensors file `path` into the existing variables of `varmap` (built by the same
/// model code). Every variable must be present with its shape, and the file must hold nothing
/// else; values are converted to each variable's dtype and device.
pub fn load_varmap(varmap: &VarMap, path: &Path) -> Result<(), CheckpointError> {
    let mut file = load_weights(path)?;
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| CheckpointError::mismatch(path, "variable map poisoned".into()))?;
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    // Check everything before changing anything, so a bad file leaves the model untouched.
    for name in &names {
        let Some(t) = file.get(*name) else {
            return Err(CheckpointError::mismatch(path, format!("missing {name}")));
        };
        if t.dims() != vars[*name].dims() {
            let problem = format!(
                "{name} has shape {:?}, the model {:?}",
                t.dims(),
                vars[*name].dims()
            );
            return Err(CheckpointError::mismatch(path, problem));
        }
    }
    if let Some(extra) = file.keys().find(|k| !vars.contains_key(*k)) {
        return Err(CheckpointError::mismatch(
            path,
            format!("unexpected {extra}"),
        ));
    }
    for name in names {
        let var = &vars[name];
        let t = file
            .remove(name)
            .ok_or_else(|| CheckpointError::mismatch(path, format!("missing {name}")))?;
        t.to_dtype(var.dtype())
            .and_then(|t| t.to_device(var.device()))
            .and_then(|t| var.set(&t))
            .map_err(CheckpointError::tensor(path))?;
    }
    Ok(())
}

fn safetensors_dtype(dtype: DType) -> candle_core::Result<&'static str> {
    Ok(match dtype {
        DType::F32 => "F32",
        DType::F64 => "F64",
        DType::U8 => "U8",
        d => candle_core::bail!("checkpoints hold f32, f64 or u8 tensors, got {d:?}"),
    })
}

/// The tensor's values, row-major, little-endian.
fn le_bytes(t: &Tensor) -> candle_core::Result<Vec<u8>> {
    let t = t.flatten_all()?;
    Ok(match t.dtype() {
        DType::F32 => t
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec1::<f64>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::U8 => t.to_vec1::<u8>()?,
        d => candle_core::bail!("checkpoints hold f32, f64 or u8 tensors, got {d:?}"),
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module};

    use super::*;
    use crate::config::ImageTowerConfig;
    use crate::model::init::{seeded_uniform, seeded_var_builder};
    use crate::model::tower::{ImageTower, build_tower};

    fn tower(seed: u64) -> (ImageTower, VarMap) {
        let cfg = ImageTowerConfig {
            f_maps: vec![4, 8],
            embed_dim: 16,
            ..ImageTowerConfig::default()
        };
        let vm = VarMap::new();
        let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
        (build_tower(&cfg, vb).unwrap(), vm)
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn save_then_load_reproduces_outputs_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/weights.safetensors");
        let x = seeded_uniform((2, 3, 8, 16, 16), -1.0, 1.0, 1, 0, &Device::Cpu).unwrap();
        let (a, vm_a) = tower(1);
        let ya = a.forward(&x).unwrap();
        save_varmap(&vm_a, &path).unwrap();

        let (b, vm_b) = tower(2);
        assert_ne!(bits(&b.forward(&x).unwrap()), bits(&ya));
        load_varmap(&vm_b, &path).unwrap();
        assert_eq!(bits(&b.forward(&x).unwrap()), bits(&ya));
        for ((na, ta), (nb, tb)) in named_tensors(&vm_a).iter().zip(named_tensors(&vm_b).iter()) {
            assert_eq!(na, nb);
            assert_eq!(bits(ta), bits(tb), "{na}");
        }
        // Only the checkpoint is left in the folder (no temporary file).
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // candle's own reader agrees on names and shapes.
        let read = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        assert_eq!(read.len(), named_tensors(&vm_a).len());
        assert_eq!(read["levels.1.conv2.conv.weight"].dims(), [8, 4, 3, 3, 3]);
    }

    #[test]
    fn a_checkpoint_of_another_model_is_rejected_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let (_, vm_a) = tower(1);
        save_varmap(&vm_a, &path).unwrap();

        let cfg = ImageTowerConfig {
            f_maps: vec![4, 16],
            embed_dim: 16,
            ..ImageTowerConfig::default()
        };
        let vm = VarMap::new();
        build_tower(&cfg, seeded_var_builder(&vm, 3, DType::F32, &Device::Cpu)).unwrap();
        let before: Vec<_> = named_tensors(&vm).iter().map(|(_, t)| bits(t)).collect();
        let err = load_varmap(&vm, &path).unwrap_err();
        assert!(format!("{err:#}").contains("shape"), "{err:#}");
        let after: Vec<_> = named_tensors(&vm).iter().map(|(_, t)| bits(t)).collect();
        assert_eq!(before, after);

        let err = load_varmap(&vm, &dir.path().join("none.safetensors")).unwrap_err();
        assert!(format!("{err:#}").contains("none.safetensors"), "{err:#}");
    }
}
