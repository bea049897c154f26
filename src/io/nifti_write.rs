//! NIfTI-1 writing: a [`Volume`] to a single-file `.nii` or `.nii.gz`.
//!
//! The 348-byte little-endian header is written by hand (fixed offsets from `nifti1.h`), with
//! both sform (code 1, scanner) and qform (code 1) set from `world_from_voxel`, `pixdim` from
//! its column norms, units mm, magic `n+1`, `vox_offset` 352 (no extensions). Output is
//! byte-identical across runs: the gzip header carries mtime 0 and no file name. Files are
//! written atomically through [`write_atomic_with`].

use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::atomic::write_atomic_with;
use super::error::{IoError, Result};
use super::qform::Qform;
use super::volume::{Affine, Volume};

/// How voxel values are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredType {
    /// Unsigned 8-bit: values rounded and clamped to `0..=255`.
    U8,
    /// Signed 16-bit: values rounded and clamped to `-32768..=32767`.
    I16,
    /// 32-bit float, stored exactly.
    F32,
}

impl StoredType {
    /// `(datatype code, bytes per voxel)`.
    fn code_and_size(self) -> (i16, usize) {
        match self {
            StoredType::U8 => (2, 1),
            StoredType::I16 => (4, 2),
            StoredType::F32 => (16, 4),
        }
    }
}

/// Size of the header plus the 4-byte extension flag; the data starts here.
const VOX_OFFSET: usize = 352;

/// Writes `volume` to `path` (gzip when the name ends with `.gz`), atomically.
pub fn write_nifti(path: &Path, volume: &Volume, stored: StoredType) -> Result<()> {
    let bytes = encode(volume, stored).map_err(|p| IoError::invalid(path, p))?;
    let gz = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".gz"));
    write_atomic_with(path, |f| {
        let mut out = BufWriter::new(f);
        if gz {
            // `GzEncoder::new` writes mtime 0 and no name: the output is reproducible.
            let mut enc = GzEncoder::new(&mut out, Compression::new(3));
            enc.write_all(&bytes)?;
            enc.finish()?;
        } else {
            out.write_all(&bytes)?;
        }
        out.flush()
    })
}

/// The whole uncompressed file: header, empty extension flag, voxels.
fn encode(volume: &Volume, stored: StoredType) -> std::result::Result<Vec<u8>, String> {
    let n: usize = volume.dims.iter().product();
    if n != volume.data.len() {
        return Err(format!(
            "cannot write: {} voxels for dims {:?}",
            volume.data.len(),
            volume.dims
        ));
    }
    let mut dims = [0i16; 3];
    for (d, &v) in dims.iter_mut().zip(&volume.dims) {
        *d = i16::try_from(v).ok().filter(|&d| d > 0).ok_or_else(|| {
            format!(
                "cannot write dims {:?}: NIfTI-1 allows 1..=32767",
                volume.dims
            )
        })?;
    }
    let affine = &volume.world_from_voxel;
    if !affine.0.iter().flatten().all(|v| v.is_finite()) || affine.inverse().is_none() {
        return Err("cannot write a singular or non-finite world_from_voxel".into());
    }
    let (code, size) = stored.code_and_size();
    let mut out = header(dims, code, size, affine);
    out.reserve(n * size);
    match stored {
        StoredType::U8 => out.extend(
            volume
                .data
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8),
        ),
        StoredType::I16 => {
            for v in &volume.data {
                // `as` saturates and maps NaN to 0.
                out.extend_from_slice(&(v.round() as i16).to_le_bytes());
            }
        }
        StoredType::F32 => {
            for v in &volume.data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// Little-endian header bytes at the `nifti1.h` offsets, plus the 4 zero extension bytes.
fn header(dims: [i16; 3], datatype: i16, size: usize, affine: &Affine) -> Vec<u8> {
    let mut h = vec![0u8; VOX_OFFSET];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &348i32.to_le_bytes());
    put(38, b"r");
    let dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
    for (i, d) in dim.iter().enumerate() {
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(70, &datatype.to_le_bytes());
    put(72, &((size * 8) as i16).to_le_bytes());
    let q = Qform::from_affine(affine);
    let pixdim = [
        q.qfac, q.zooms[0], q.zooms[1], q.zooms[2], 1.0, 1.0, 1.0, 1.0,
    ];
    for (i, p) in pixdim.iter().enumerate() {
        put(76 + 4 * i, &(*p as f32).to_le_bytes());
    }
    put(108, &(VOX_OFFSET as f32).to_le_bytes());
    put(112, &1f32.to_le_bytes()); // scl_slope
    put(123, &[2]); // xyzt_units: NIFTI_UNITS_MM
    put(148, b"brainclip");
    put(252, &1i16.to_le_bytes()); // qform_code: scanner
    put(254, &1i16.to_le_bytes()); // sform_code: scanner
    let t = affine.translation();
    let quat = [q.b, q.c, q.d, t[0], t[1], t[2]];
    for (i, v) in quat.iter().enumerate() {
        put(256 + 4 * i, &(*v as f32).to_le_bytes());
    }
    for (r, row) in affine.0.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(280 + 16 * r + 4 * c, &(*v as f32).to_le_bytes());
        }
    }
    put(344, b"n+1\0");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::nifti_read::read_nifti;

    fn rotation_z(deg: f64) -> [[f64; 3]; 3] {
        let (s, c) = deg.to_radians().sin_cos();
        [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    }

    fn matmul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut out = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                out[r][c] = (0..3).map(|k| a[r][k] * b[k][c]).sum();
            }
        }
        out
    }

    /// RAS, LAS, LPS and two slightly rotated affines (one with a flip), each with its
    /// expected orientation code.
    fn affines() -> Vec<(Affine, &'static str)> {
        let diag = |x: f64, y: f64, z: f64| [[x, 0.0, 0.0], [0.0, y, 0.0], [0.0, 0.0, z]];
        let t = [-90.5, 120.25, -60.0];
        let tilt_x = [[1.0, 0.0, 0.0], [0.0, 0.99, -0.141], [0.0, 0.141, 0.99]];
        vec![
            (Affine::from_parts(diag(1.0, 1.0, 1.0), t), "RAS"),
            (Affine::from_parts(diag(-0.9, 0.9, 5.0), t), "LAS"),
            (Affine::from_parts(diag(-1.8, -1.8, 5.0), t), "LPS"),
            (
                Affine::from_parts(matmul(rotation_z(7.0), diag(0.7, 0.8, 5.0)), t),
                "RAS",
            ),
            (
                Affine::from_parts(
                    matmul(matmul(tilt_x, rotation_z(-4.0)), diag(-0.9, 0.9, 4.0)),
                    t,
                ),
                "LAS",
            ),
        ]
    }

    fn ramp(dims: [usize; 3], affine: Affine) -> Volume {
        let n = dims.iter().product::<usize>();
        let data = (0..n).map(|i| i as f32 * 13.7 - 100.0).collect();
        Volume::new(dims, data, affine).unwrap()
    }

    fn assert_affine_close(got: [[f64; 4]; 4], want: &Affine, tol: f64) {
        for (g, w) in got.iter().flatten().zip(want.0.iter().flatten()) {
            assert!((g - w).abs() < tol, "{got:?} != {:?}", want.0);
        }
    }

    #[test]
    fn round_trip_keeps_voxels_and_affine() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (affine, code)) in affines().into_iter().enumerate() {
            let vol = ramp([4, 3, 2], affine);
            for (stored, name) in [
                (StoredType::F32, "a.nii"),
                (StoredType::I16, "b.nii.gz"),
                (StoredType::U8, "c.nii"),
            ] {
                let path = dir.path().join(format!("{i}{name}"));
                write_nifti(&path, &vol, stored).unwrap();
                let got = read_nifti(&path).unwrap();
                assert_eq!(got.volume.dims, vol.dims);
                assert_eq!(got.info.transform_source, "sform");
                assert_eq!(got.info.orientation, code);
                assert_affine_close(got.info.world_from_voxel, &affine, 1e-4);
                for (g, v) in got.volume.data.iter().zip(&vol.data) {
                    let want = match stored {
                        StoredType::F32 => *v,
                        StoredType::I16 => v.round(),
                        StoredType::U8 => v.round().clamp(0.0, 255.0),
                    };
                    assert_eq!(*g, want, "{stored:?}");
                }
            }
        }
    }

    #[test]
    fn qform_alone_reproduces_the_affine() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (affine, code)) in affines().into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.nii"));
            write_nifti(&path, &ramp([2, 2, 2], affine), StoredType::F32).unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[254..256].copy_from_slice(&0i16.to_le_bytes()); // sform_code 0
            std::fs::write(&path, &bytes).unwrap();
            let got = read_nifti(&path).unwrap();
            assert_eq!(got.info.transform_source, "qform");
            assert_eq!(got.info.orientation, code);
            assert_affine_close(got.info.world_from_voxel, &affine, 1e-4);
        }
    }

    #[test]
    fn negative_determinant_sets_qfac() {
        // LAS: det < 0, so qfac -1 and the remaining rotation is diag(-1, 1, -1), 180
        // degrees about y: (b, c, d) = (0, 1, 0).
        let q = Qform::from_affine(&affines()[1].0);
        assert_eq!((q.b, q.c, q.d, q.qfac), (0.0, 1.0, 0.0, -1.0));
        assert_eq!(q.zooms, [0.9, 0.9, 5.0]);
        let r = Qform::from_affine(&affines()[0].0);
        assert_eq!((r.b, r.c, r.d, r.qfac), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn integer_types_round_and_clamp() {
        let data = vec![-3.6, 0.4, 0.5, 254.6, 300.0, 40000.0, -40000.0, 1.49];
        let vol = Volume::new([8, 1, 1], data, Affine::identity()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u8.nii");
        write_nifti(&path, &vol, StoredType::U8).unwrap();
        let got = read_nifti(&path).unwrap().volume.data;
        assert_eq!(got, vec![0.0, 0.0, 1.0, 255.0, 255.0, 255.0, 0.0, 1.0]);
        write_nifti(&path, &vol, StoredType::I16).unwrap();
        let got = read_nifti(&path).unwrap().volume.data;
        assert_eq!(
            got,
            vec![-4.0, 0.0, 1.0, 255.0, 300.0, 32767.0, -32768.0, 1.0]
        );
    }

    #[test]
    fn gzip_output_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let vol = ramp([5, 4, 3], affines()[3].0);
        let (a, b) = (dir.path().join("a.nii.gz"), dir.path().join("b.nii.gz"));
        write_nifti(&a, &vol, StoredType::F32).unwrap();
        write_nifti(&b, &vol, StoredType::F32).unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert_eq!(a, b);
        assert_eq!(&a[..2], &[0x1f, 0x8b]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
        assert_eq!(a[3], 0, "no FNAME or other optional gzip fields");
    }

    #[test]
    fn unwritable_volumes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.nii");
        let mut vol = ramp([2, 2, 2], Affine::identity());
        vol.world_from_voxel.0[1][1] = 0.0;
        let err = write_nifti(&path, &vol, StoredType::F32).unwrap_err();
        assert!(err.to_string().contains("singular"), "{err}");
        let vol = Volume {
            dims: [40000, 1, 1],
            data: vec![0.0; 40000],
            world_from_voxel: Affine::identity(),
        };
        assert!(write_nifti(&path, &vol, StoredType::U8).is_err());
        assert!(!path.exists());
    }
}
