//! Lossless compact storage of the per-voxel input statistics in weight files.
//!
//! The voxel statistics (`input_norm.mean`, `input_norm.std`, `input_norm.mask`, each the
//! model input's full `[3, 16, 112, 112]` shape in f32) are 7 MB of a 10 MB demo model, yet
//! they are mirror-symmetric by construction (every training study is added with its mirror)
//! and the mask holds only zeros and ones. [`pack`] stores the left half of a tensor that is
//! exactly mirror-symmetric along its last axis (`<name>.left`), and a 0/1 tensor as `u8`
//! (`<name>.u8`, after halving when symmetric: `<name>.left.u8`); [`unpack`] rebuilds the
//! originals bit for bit. Any other tensor, and any tensor that does not qualify, is stored
//! as it is, so files written before this existed load unchanged.

use std::collections::HashMap;

use candle_core::{D, DType, Result, Tensor};

/// Names of the tensors worth packing.
const PACKED: [&str; 3] = ["input_norm.mean", "input_norm.std", "input_norm.mask"];
/// Suffix of a stored left half.
const LEFT: &str = ".left";
/// Suffix of a 0/1 tensor stored as `u8`.
const BYTES: &str = ".u8";

/// The tensors to write: each of [`PACKED`] halved and/or narrowed where that is lossless.
pub fn pack(tensors: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
    tensors
        .into_iter()
        .map(|(name, t)| {
            if !PACKED.contains(&name.as_str()) || t.dtype() != DType::F32 || t.rank() == 0 {
                return Ok((name, t));
            }
            let values = t.flatten_all()?.to_vec1::<f32>()?;
            let width = t.dim(D::Minus1)?;
            let (mut name, mut t) = (name, t);
            if width > 0 && width % 2 == 0 && is_mirror_symmetric(&values, width) {
                t = t.narrow(D::Minus1, 0, width / 2)?.contiguous()?;
                name.push_str(LEFT);
            }
            if values.iter().all(|v| v.to_bits() == 0 || *v == 1.0) {
                t = t.to_dtype(DType::U8)?;
                name.push_str(BYTES);
            }
            Ok((name, t))
        })
        .collect()
}

/// The tensors as the model has them: every packed tensor of a file read back in full f32.
/// Only the names [`pack`] writes are unpacked; a file holding a statistic both packed and
/// in full is an error.
pub fn unpack(tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        let (name, t) = unpack_one(name, t)?;
        if out.contains_key(&name) {
            candle_core::bail!("{name} is stored twice (packed and in full)");
        }
        out.insert(name, t);
    }
    Ok(out)
}

/// One tensor of a file under its model name, unpacked when [`pack`] packed it.
fn unpack_one(name: String, t: Tensor) -> Result<(String, Tensor)> {
    let (stem, t) = match name.strip_suffix(BYTES) {
        Some(stem) => (stem, t.to_dtype(DType::F32)?),
        None => (name.as_str(), t),
    };
    let (stem, t) = match stem.strip_suffix(LEFT) {
        Some(stem) => {
            let half = t.dim(D::Minus1)?;
            let reversed: Vec<u32> = (0..half as u32).rev().collect();
            let reversed = Tensor::new(reversed.as_slice(), t.device())?;
            let right = t.contiguous()?.index_select(&reversed, t.rank() - 1)?;
            (stem, Tensor::cat(&[&t, &right], D::Minus1)?)
        }
        None => (stem, t),
    };
    if stem != name && !PACKED.contains(&stem) {
        candle_core::bail!("{name} is not a tensor this build packs");
    }
    Ok((stem.to_string(), t))
}

/// Whether every row of `width` values reads the same backwards, bit for bit.
fn is_mirror_symmetric(values: &[f32], width: usize) -> bool {
    values.chunks_exact(width).all(|row| {
        row.iter()
            .zip(row.iter().rev())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    })
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    fn round_trip(tensors: Vec<(String, Tensor)>) -> (Vec<String>, HashMap<String, Tensor>) {
        let packed = pack(tensors).unwrap();
        let names = packed.iter().map(|(n, _)| n.clone()).collect();
        (names, unpack(packed.into_iter().collect()).unwrap())
    }

    #[test]
    fn symmetric_statistics_and_masks_pack_losslessly_and_others_stay() {
        let dev = Device::Cpu;
        // Rows [a, b, b, a]: mirror-symmetric, with a negative zero and a subnormal.
        let row = [1.5f32, -0.0, f32::MIN_POSITIVE / 2.0, 7.25];
        let sym: Vec<f32> = row
            .iter()
            .flat_map(|&a| [a, 0.3, 0.3, a])
            .chain([2.0, 1.0, 1.0, 2.0])
            .collect();
        let mean = Tensor::from_vec(sym, (5, 4), &dev).unwrap();
        let mask = Tensor::from_vec(vec![0f32, 1., 1., 0., 1., 1., 1., 1.], (2, 4), &dev).unwrap();
        // Almost symmetric (one bit off) and not binary: both stay as they are.
        let std = Tensor::from_vec(vec![1f32, 2., 2., 1.0000001], (1, 4), &dev).unwrap();
        let other = Tensor::from_vec(vec![1f32, 2., 2., 1.], (1, 4), &dev).unwrap();
        let (names, back) = round_trip(vec![
            ("input_norm.mean".into(), mean.clone()),
            ("input_norm.mask".into(), mask.clone()),
            ("input_norm.std".into(), std.clone()),
            ("image.w".into(), other.clone()),
        ]);
        assert_eq!(
            names,
            [
                "input_norm.mean.left",
                "input_norm.mask.left.u8",
                "input_norm.std",
                "image.w"
            ]
        );
        for (name, original) in [
            ("input_norm.mean", &mean),
            ("input_norm.mask", &mask),
            ("input_norm.std", &std),
            ("image.w", &other),
        ] {
            assert_eq!(back[name].dims(), original.dims(), "{name}");
            assert_eq!(back[name].dtype(), DType::F32, "{name}");
            assert_eq!(bits(&back[name]), bits(original), "{name}");
        }
        // Packed names are only the statistics', and each is stored once.
        let t = Tensor::zeros((1, 2), DType::F32, &dev).unwrap();
        let foreign = HashMap::from([("image.w.left".to_string(), t.clone())]);
        assert!(unpack(foreign).is_err());
        let twice = HashMap::from([
            ("input_norm.std".to_string(), t.clone()),
            ("input_norm.std.left".to_string(), t),
        ]);
        assert!(unpack(twice).unwrap_err().to_string().contains("twice"));
        // The negative zero is not a mask value: a tensor with it is not narrowed to u8.
        let signed = Tensor::from_vec(vec![-0.0f32, 1., 1., -0.0], (1, 4), &dev).unwrap();
        let (names, back) = round_trip(vec![("input_norm.mask".into(), signed.clone())]);
        assert_eq!(names, ["input_norm.mask.left"]);
        assert_eq!(bits(&back["input_norm.mask"]), bits(&signed));
    }
}
