//! Bad and unusual NIfTI input through `read_nifti`: every failure is an error naming the
//! file and the problem, never a panic; odd-but-usable input loads with warnings.

// `allow-unwrap-in-tests` covers only `#[test]` functions, not the helpers they share.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use brainclip::io::nifti_read::{LoadedNifti, read_nifti};
use brainclip::io::nifti_write::{StoredType, write_nifti};
use brainclip::io::{Affine, Volume};
use flate2::Compression;
use flate2::write::GzEncoder;

/// A single-file NIfTI-1 header (vox_offset 352, unit pixdim, no transform codes) in
/// either byte order, followed by `payload`.
fn nifti(big: bool, dims: &[i16], datatype: i16, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 352];
    let mut put = |at: usize, le: &[u8]| {
        let mut v = le.to_vec();
        if big {
            v.reverse();
        }
        b[at..at + v.len()].copy_from_slice(&v);
    };
    put(0, &348i32.to_le_bytes());
    put(40, &(dims.len() as i16).to_le_bytes());
    for (i, d) in dims.iter().enumerate() {
        put(42 + 2 * i, &d.to_le_bytes());
    }
    put(70, &datatype.to_le_bytes());
    for i in 0..4 {
        put(76 + 4 * i, &1f32.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    b[344..348].copy_from_slice(b"n+1\0");
    b.extend_from_slice(payload);
    b
}

/// Values as stored bytes: `f32` or `i16`, in either byte order.
fn payload_f32(big: bool, values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        })
        .collect()
}

fn payload_i16(big: bool, values: &[i16]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        })
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Reads `bytes` saved as `name`; the error message must name the file and contain `problem`.
fn error_for(name: &str, bytes: &[u8], problem: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let msg = match read_nifti(&path) {
        Ok(_) => panic!("{name}: expected an error containing {problem:?}"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains(problem), "{msg:?} lacks {problem:?}");
    assert!(
        msg.ends_with(&path.display().to_string()),
        "{msg:?} lacks the path"
    );
    msg
}

fn load(name: &str, bytes: &[u8]) -> LoadedNifti {
    let dir = tempfile::tempdir().unwrap();
    read_nifti(&write(dir.path(), name, bytes)).unwrap()
}

fn cube_f32() -> Vec<u8> {
    let values: Vec<f32> = (0..8).map(|v| v as f32).collect();
    nifti(false, &[2, 2, 2], 16, &payload_f32(false, &values))
}

#[test]
fn truncated_data_is_reported() {
    let full = cube_f32();
    let msg = error_for("short.nii", &full[..full.len() - 5], "truncated file");
    assert!(msg.contains("32 bytes"), "{msg}");
    error_for(
        "short.nii.gz",
        &gzip(&full[..full.len() - 5]),
        "truncated gzip data",
    );
}

#[test]
fn truncated_header_is_reported() {
    error_for(
        "head.nii",
        &cube_f32()[..200],
        "truncated header: 200 of 348 bytes",
    );
    error_for("empty.nii", &[], "truncated header: 0 of 348 bytes");
    error_for("head.nii.gz", &gzip(&cube_f32()[..100]), "truncated header");
}

#[test]
fn corrupt_gzip_is_reported() {
    let mut garbage = vec![0x1f, 0x8b];
    garbage.extend(b"this is not a deflate stream at all".repeat(20));
    error_for("garbage.nii.gz", &garbage, "corrupt gzip data");
    // A valid gzip header, then garbage instead of deflate data.
    let mut garbage = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    garbage.extend(b"\xff\xfe garbage".repeat(30));
    error_for("garbage2.nii.gz", &garbage, "corrupt gzip data");
    // A real file cut in the middle of the deflate stream.
    let values: Vec<f32> = (0..4096).map(|v| (v * 7919 % 1000) as f32).collect();
    let gz = gzip(&nifti(
        false,
        &[16, 16, 16],
        16,
        &payload_f32(false, &values),
    ));
    error_for("cut.nii.gz", &gz[..gz.len() / 2], "truncated gzip data");
}

#[test]
fn dim0_outside_1_to_7_is_reported() {
    let mut b = cube_f32();
    b[40..42].copy_from_slice(&0i16.to_le_bytes());
    error_for("dim0.nii", &b, "dim[0] is 0, must be between 1 and 7");
    b[40..42].copy_from_slice(&9i16.to_le_bytes());
    error_for("dim9.nii", &b, "dim[0] is 9, must be between 1 and 7");
}

#[test]
fn zero_dimension_is_reported() {
    let b = nifti(false, &[2, 0, 2], 16, &[0; 64]);
    error_for("zero.nii", &b, "dim[2] is 0");
}

#[test]
fn huge_claims_on_small_files_fail_fast() {
    // ~10^12 voxels claimed by a ~1 KB file.
    let pad = [0u8; 700];
    let started = std::time::Instant::now();
    let b = nifti(false, &[10_000, 10_000, 10_000], 2, &pad);
    error_for("huge.nii", &b, "1000000000000 voxels");
    error_for("huge.nii.gz", &gzip(&b), "1000000000000 voxels");
    // The same claim spread over volumes: the first volume is allowed, the whole is not.
    let b = nifti(false, &[1000, 1000, 1000, 1000], 2, &pad);
    error_for("huge4d.nii", &b, "1000000000000 bytes");
    let msg = error_for("huge4d.nii.gz", &gzip(&b), "1000000000000 bytes");
    assert!(msg.contains("gzip file can hold"), "{msg}");
    // Claims far beyond 64 bits.
    let b = nifti(
        false,
        &[100, 100, 100, 32767, 32767, 32767, 32767],
        64,
        &pad,
    );
    error_for("vast.nii", &b, "9222246188486492168000000 bytes");
    error_for("vast.nii.gz", &gzip(&b), "gzip file can hold");
    assert!(
        started.elapsed().as_secs() < 5,
        "huge claims must fail fast"
    );
}

#[test]
fn non_finite_voxels_are_replaced_with_a_warning() {
    let values = [
        1.0,
        f32::NAN,
        3.0,
        f32::INFINITY,
        -2.0,
        f32::NEG_INFINITY,
        0.5,
        7.0,
    ];
    let l = load(
        "nan.nii",
        &nifti(false, &[2, 2, 2], 16, &payload_f32(false, &values)),
    );
    assert_eq!(l.volume.data, vec![1.0, 0.0, 3.0, 0.0, -2.0, 0.0, 0.5, 7.0]);
    assert_eq!((l.info.min, l.info.max), (-2.0, 7.0));
    assert!(
        l.info.warnings.iter().any(|w| w.contains("3 of 8 voxels")),
        "{:?}",
        l.info.warnings
    );
    let all_nan = payload_f32(false, &[f32::NAN; 8]);
    error_for(
        "allnan.nii",
        &nifti(false, &[2, 2, 2], 16, &all_nan),
        "no finite voxel",
    );
}

#[test]
fn values_beyond_any_intensity_are_refused() {
    // A checkerboard of ±3e38 (finite in f32) would overflow into NaN when interpolated.
    let values: Vec<f32> = (0..8)
        .map(|n| if n % 2 == 0 { 3e38 } else { -3e38 })
        .collect();
    let bytes = nifti(false, &[2, 2, 2], 16, &payload_f32(false, &values));
    error_for("overflow.nii", &bytes, "voxel values reach 3.000e38");
    // Large but plausible values still load.
    let values: Vec<f32> = (0..8).map(|n| n as f32 * 1e9).collect();
    let l = load(
        "large.nii",
        &nifti(false, &[2, 2, 2], 16, &payload_f32(false, &values)),
    );
    assert_eq!(l.info.max, 7e9);
}

#[test]
fn nifti2_is_refused() {
    let mut b = vec![0u8; 600];
    b[0..4].copy_from_slice(&540i32.to_le_bytes());
    b[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    error_for("v2.nii", &b, "NIfTI-2 is not supported");
    b[0..4].copy_from_slice(&540i32.to_be_bytes());
    error_for("v2.nii.gz", &gzip(&b), "NIfTI-2 is not supported");
}

#[test]
fn bad_magic_and_unsupported_datatype_are_named() {
    let mut b = cube_f32();
    b[344..348].copy_from_slice(b"xyz\0");
    error_for("magic.nii", &b, "bad NIfTI magic");
    let b = nifti(false, &[2, 2, 2], 32, &[0; 64]);
    error_for(
        "complex.nii",
        &b,
        "unsupported NIfTI datatype complex64 (32)",
    );
}

#[test]
fn missing_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.nii.gz");
    let msg = read_nifti(&path).unwrap_err().to_string();
    assert!(msg.starts_with("missing NIfTI file"), "{msg}");
    assert!(msg.ends_with(&path.display().to_string()), "{msg}");
}

#[test]
fn four_d_input_uses_the_first_volume() {
    let values: Vec<i16> = (0..24).map(|v| v * 10).collect();
    let l = load(
        "fmri.nii",
        &nifti(false, &[2, 2, 2, 3], 4, &payload_i16(false, &values)),
    );
    assert_eq!(l.info.dims, vec![2, 2, 2, 3]);
    assert_eq!(l.volume.dims, [2, 2, 2]);
    assert_eq!(
        l.volume.data,
        (0..8).map(|v| v as f32 * 10.0).collect::<Vec<_>>()
    );
    assert_eq!(
        l.info.warnings,
        vec!["4-D input (3 volumes): using the first"]
    );
    // The later volumes must still be present.
    let b = nifti(false, &[2, 2, 2, 3], 4, &payload_i16(false, &values[..20]));
    error_for("fmri_short.nii", &b, "truncated file");
}

#[test]
fn big_endian_reads_the_same_as_little_endian() {
    let values: Vec<f32> = (0..12).map(|v| v as f32 * 1.25 - 4.0).collect();
    let ints: Vec<i16> = (0..12).map(|v| v * 300 - 1000).collect();
    for (name, le, be) in [
        (
            "f32",
            nifti(false, &[3, 2, 2], 16, &payload_f32(false, &values)),
            nifti(true, &[3, 2, 2], 16, &payload_f32(true, &values)),
        ),
        (
            "i16",
            nifti(false, &[3, 2, 2], 4, &payload_i16(false, &ints)),
            nifti(true, &[3, 2, 2], 4, &payload_i16(true, &ints)),
        ),
    ] {
        let a = load(&format!("{name}_le.nii"), &le);
        let b = load(&format!("{name}_be.nii"), &be);
        let c = load(&format!("{name}_be.nii.gz"), &gzip(&be));
        assert_eq!(a.volume, b.volume, "{name}");
        assert_eq!(a.info, b.info, "{name}");
        assert_eq!(b.volume, c.volume, "{name}");
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let vol = Volume::new(
        [2, 2, 2],
        (0..8).map(|v| v as f32).collect(),
        Affine::identity(),
    )
    .unwrap();
    let gz = dir.path().join("a.nii.gz");
    write_nifti(&gz, &vol, StoredType::F32).unwrap();
    let renamed = dir.path().join("a.nii");
    std::fs::rename(&gz, &renamed).unwrap();
    assert_eq!(read_nifti(&renamed).unwrap().volume, vol);
}

#[test]
fn transform_comes_from_sform_then_qform_then_pixdim() {
    let set = |b: &mut Vec<u8>, at: usize, v: f32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let mut b = cube_f32();
    // No transform codes: pixdim, with zero and NaN spacings taken as 1 and signs dropped.
    set(&mut b, 80, 0.0);
    set(&mut b, 84, f32::NAN);
    set(&mut b, 88, -2.5);
    let l = load("pixdim.nii", &b);
    assert_eq!(l.info.transform_source, "pixdim");
    assert_eq!(l.info.voxel_size_mm, [1.0, 1.0, 2.5]);
    // qform_code 1: identity quaternion plus offset.
    b[252] = 1;
    set(&mut b, 268, 5.0);
    let l = load("qform.nii", &b);
    assert_eq!(l.info.transform_source, "qform");
    assert_eq!(l.info.world_from_voxel[0][3], 5.0);
    // sform_code 1 wins, and an all-zero sform is singular.
    b[254] = 1;
    error_for("zero_sform.nii", &b, "world_from_voxel (sform) is singular");
    for (at, v) in [(280, -2.0), (300, 2.0), (320, 3.0)] {
        set(&mut b, at, v); // srow_x[0], srow_y[1], srow_z[2]
    }
    set(&mut b, 292, f32::NAN); // srow_x[3]
    error_for("nan_sform.nii", &b, "non-finite");
    set(&mut b, 292, 7.0);
    let l = load("sform.nii", &b);
    assert_eq!(l.info.transform_source, "sform");
    assert_eq!(l.info.orientation, "LAS");
    assert_eq!(l.info.voxel_size_mm, [2.0, 2.0, 3.0]);
    assert_eq!(
        l.volume.world_from_voxel.apply([1.0, 1.0, 1.0]),
        [5.0, 2.0, 3.0]
    );
}

#[test]
fn other_header_problems_are_named() {
    let mut b = cube_f32();
    b[344..348].copy_from_slice(b"ni1\0");
    error_for("pair.nii", &b, ".hdr/.img NIfTI pairs are not supported");
    let mut b = cube_f32();
    b[0..4].copy_from_slice(&350i32.to_le_bytes());
    error_for("size.nii", &b, "sizeof_hdr is 350");
    for bad in [100.0, 352.5, f32::NAN, f32::INFINITY] {
        let mut b = cube_f32();
        b[108..112].copy_from_slice(&bad.to_le_bytes());
        error_for("offset.nii", &b, "vox_offset");
    }
    let mut b = cube_f32();
    b[46..48].copy_from_slice(&(-3i16).to_le_bytes());
    error_for("negative.nii", &b, "dim[3] is -3");
    error_for(
        "dtype.nii",
        &nifti(false, &[2], 3, &[0; 8]),
        "unknown NIfTI datatype code 3",
    );
    let mut b = cube_f32();
    b[112..120].copy_from_slice(&[0, 0, 0x80, 0x3f, 0, 0, 0xc0, 0x7f]); // slope 1, inter NaN
    error_for("inter.nii", &b, "scl_inter is NaN");
}

#[test]
fn extensions_are_skipped_and_scaling_applied() {
    let mut b = nifti(false, &[3], 2, &[]);
    b[108..112].copy_from_slice(&368f32.to_le_bytes());
    b[348] = 1; // an extension follows
    b.extend([
        16, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
    ]);
    b.extend([1, 2, 255]);
    b[112..116].copy_from_slice(&2f32.to_le_bytes());
    b[116..120].copy_from_slice(&(-1f32).to_le_bytes());
    for (name, bytes) in [("ext.nii", b.clone()), ("ext.nii.gz", gzip(&b))] {
        let l = load(name, &bytes);
        assert_eq!(l.volume.data, vec![1.0, 3.0, 509.0], "{name}");
        assert_eq!((l.info.scl_slope, l.info.scl_inter), (2.0, -1.0));
        assert_eq!((l.info.min, l.info.max), (1.0, 509.0));
        assert_eq!(l.volume.dims, [3, 1, 1]);
        assert_eq!(l.info.datatype, "u8");
    }
}
