//! NIfTI-1 reading: `.nii` / `.nii.gz` bytes in, a [`Volume`] plus a [`NiftiInfo`] out.
//!
//! This is the one place where file voxels become [`Volume::data`]; the on-disk order
//! (`i` fastest) is kept as is.
//!
//! The 348-byte header is parsed by the `nifti` crate, but everything after it is done here,
//! because the crate's readers trust the header for allocation and its `qform_affine`
//! panics on negative pixdim. Every input either loads or gives an [`IoError::Invalid`]
//! naming the problem and the file; nothing panics and nothing is allocated beyond what the
//! file can justify (the claim is checked against the file length, or for gzip against the
//! most that deflate can expand the compressed bytes to, before anything is read).
//!
//! Choices:
//! - **4-D and higher** inputs load their first 3-D volume, with the warning
//!   "4-D input (N volumes): using the first" in [`NiftiInfo::warnings`]. The file must still
//!   hold all the data its header claims. 1-D and 2-D inputs get size 1 on missing axes.
//! - **NaN / ±Inf voxels** (after scaling, including values beyond `f32` range) become `0.0`
//!   with a warning giving their count; a volume with no finite voxel at all is an error.
//!   Finite values beyond ±[`MAX_MAGNITUDE`] are an error: no MR intensity comes near, they
//!   mean a wrong datatype, byte order or `scl_slope`, and `f32` arithmetic on them
//!   (interpolation, blurring) would overflow into NaN.
//! - **Scaling**: `v * scl_slope + scl_inter` when `scl_slope` is finite and non-zero (as
//!   nibabel); otherwise the stored values are used as they are.
//! - **world_from_voxel**: sform when `sform_code > 0`, else qform when `qform_code > 0`,
//!   else `diag(pixdim)`. A non-finite or singular result is an error.
//! - Only single-file NIfTI-1 (`n+1`) is read; `.hdr/.img` pairs and NIfTI-2 are refused.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use nifti::{Endianness, NiftiHeader};
use serde::Serialize;

mod datatype;

use datatype::{Datatype, decode, scaling};

use super::error::{IoError, Result};
use super::qform::Qform;
use super::volume::{Affine, Volume};

/// Size of a NIfTI-1 header in bytes.
const HEADER_LEN: usize = 348;
/// Smallest `vox_offset` of a single-file NIfTI-1 (header plus the 4-byte extension flag).
const MIN_VOX_OFFSET: u64 = 352;
/// Most voxels in the one 3-D volume we decode (2^31, i.e. 8 GiB of `f32`).
const MAX_VOXELS: u64 = 1 << 31;
/// Deflate expands at most ~1032x; a claim beyond this factor cannot be in the file.
const GZIP_MAX_RATIO: u128 = 1100;
/// Slack for the gzip bound, so tiny files with a real header are never refused.
const GZIP_SLACK: u128 = 64 * 1024;

/// What a NIfTI header says, as read, for `inspect` and logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NiftiInfo {
    /// All dimensions, `dim[1..=dim[0]]`.
    pub dims: Vec<usize>,
    /// Stored datatype: "u8", "i8", "i16", "u16", "i32", "u32", "f32" or "f64".
    pub datatype: String,
    /// Voxel size in mm along `i, j, k` (column norms of `world_from_voxel`).
    pub voxel_size_mm: [f64; 3],
    /// Orientation code of the voxel axes, e.g. "RAS" or "LPS".
    pub orientation: String,
    /// Where `world_from_voxel` came from: "sform", "qform" or "pixdim".
    pub transform_source: String,
    /// The voxel-to-world transform, row-major.
    pub world_from_voxel: [[f64; 4]; 4],
    /// Slope applied to stored values (1 when the header asks for no scaling).
    pub scl_slope: f64,
    /// Intercept applied to stored values (0 when the header asks for no scaling).
    pub scl_inter: f64,
    /// Smallest finite voxel value after scaling.
    pub min: f32,
    /// Largest finite voxel value after scaling.
    pub max: f32,
    /// Things the user should know: 4-D input, replaced non-finite voxels.
    pub warnings: Vec<String>,
}

/// A decoded NIfTI file: the first 3-D volume and what its header said.
#[derive(Debug, Clone)]
pub struct LoadedNifti {
    /// Voxels and transform.
    pub volume: Volume,
    /// Header summary and warnings.
    pub info: NiftiInfo,
}

/// Reads a single-file NIfTI-1 (`.nii`, or gzip-compressed whatever its name).
pub fn read_nifti(path: &Path) -> Result<LoadedNifti> {
    let bytes = fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => IoError::missing("NIfTI file", path),
        _ => IoError::os("read", path, e),
    })?;
    parse_nifti_bytes(&bytes, path)
}

/// Decodes NIfTI-1 file content; `path` only names the file in errors. Gzip is recognised
/// by its magic bytes `1f 8b`, not by the name.
pub fn parse_nifti_bytes(bytes: &[u8], path: &Path) -> Result<LoadedNifti> {
    parse(bytes).map_err(|problem| IoError::invalid(path, problem))
}

fn parse(bytes: &[u8]) -> std::result::Result<LoadedNifti, String> {
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let mut src: Box<dyn Read + '_> = if gz {
        Box::new(MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let layout = parse_header(&read_up_to(&mut src, HEADER_LEN as u64)?)?;
    // Refuse what the file cannot hold before reading (and allocating) anything more.
    let claimed = layout.vox_offset + layout.total_bytes;
    let len = bytes.len() as u128;
    if gz && claimed > len * GZIP_MAX_RATIO + GZIP_SLACK {
        return Err(format!(
            "header claims {} ({} bytes), more than this {len}-byte gzip file can hold",
            layout.describe_claim(),
            layout.total_bytes,
        ));
    }
    if !gz && claimed > len {
        return Err(format!(
            "truncated file: header claims {} ({} bytes from offset {}) but the file has {len} bytes",
            layout.describe_claim(),
            layout.total_bytes,
            layout.vox_offset,
        ));
    }
    // All below fit in u64 now: they are bounded by the file length times 1100.
    let first_bytes = layout.first_volume_bytes;
    skip(&mut src, layout.vox_offset as u64 - HEADER_LEN as u64)?;
    let first = read_up_to(&mut src, first_bytes)?;
    if (first.len() as u64) < first_bytes {
        return Err(format!(
            "truncated gzip data: voxel data ends after {} of {first_bytes} bytes",
            first.len(),
        ));
    }
    if gz {
        // Later volumes are not decoded, but a file that lacks them is still truncated.
        skip(&mut src, layout.total_bytes as u64 - first_bytes)?;
    }
    build(&layout, &first)
}

/// Reads up to `n` bytes (fewer only at the end of the stream), growing the buffer as the
/// data arrives rather than trusting `n`.
fn read_up_to(src: &mut impl Read, n: u64) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    src.take(n).read_to_end(&mut buf).map_err(gzip_error)?;
    Ok(buf)
}

/// Reads and discards exactly `n` bytes.
fn skip(src: &mut impl Read, n: u64) -> std::result::Result<(), String> {
    let got = io::copy(&mut src.take(n), &mut io::sink()).map_err(gzip_error)?;
    if got < n {
        return Err(format!("truncated gzip data: ends {} bytes early", n - got));
    }
    Ok(())
}

/// Only the gzip decoder fails on read; a byte slice never does.
fn gzip_error(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("truncated gzip data ({e})"),
        _ => format!("corrupt gzip data ({e})"),
    }
}

/// Everything needed to decode the data, validated.
struct Layout {
    header: NiftiHeader,
    all_dims: Vec<usize>,
    dims3: [usize; 3],
    datatype: Datatype,
    vox_offset: u128,
    /// Bytes of all volumes the header claims.
    total_bytes: u128,
    /// Bytes of the first 3-D volume, the part we decode.
    first_volume_bytes: u64,
}

impl Layout {
    fn describe_claim(&self) -> String {
        let dims: Vec<String> = self.all_dims.iter().map(|d| d.to_string()).collect();
        format!("{} {} voxels", dims.join("x"), self.datatype.name())
    }
}

fn read_i32(b: &[u8], big: bool) -> Option<i32> {
    let raw: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(if big {
        i32::from_be_bytes(raw)
    } else {
        i32::from_le_bytes(raw)
    })
}

/// Checks the raw header bytes and parses them into a [`Layout`].
fn parse_header(b: &[u8]) -> std::result::Result<Layout, String> {
    let (sizeof_le, sizeof_be) = (read_i32(b, false), read_i32(b, true));
    if sizeof_le == Some(540) || sizeof_be == Some(540) || b.get(4..7) == Some(&b"n+2"[..]) {
        return Err("NIfTI-2 is not supported (only NIfTI-1)".into());
    }
    if b.len() < HEADER_LEN {
        return Err(format!(
            "truncated header: {} of {HEADER_LEN} bytes",
            b.len()
        ));
    }
    let big = match (sizeof_le, sizeof_be) {
        (Some(348), _) => false,
        (_, Some(348)) => true,
        (Some(v), _) => {
            return Err(format!(
                "not a NIfTI-1 file: sizeof_hdr is {v}, expected 348"
            ));
        }
        _ => return Err("truncated header".into()),
    };
    match &b[344..348] {
        b"n+1\0" => {}
        b"ni1\0" => {
            return Err(
                "separate .hdr/.img NIfTI pairs are not supported (magic \"ni1\"); convert to .nii"
                    .into(),
            );
        }
        m => {
            return Err(format!(
                "bad NIfTI magic \"{}\", expected \"n+1\" (not a NIfTI-1 file?)",
                m.escape_ascii()
            ));
        }
    }
    let header =
        NiftiHeader::from_reader(b).map_err(|e| format!("unreadable NIfTI header ({e})"))?;
    // The crate picks the byte order from dim[0] alone. Where it disagrees with sizeof_hdr,
    // dim[0] in the true order is out of range, and reading it swapped gives that value.
    let order_agrees = (header.endianness == Endianness::Big) == big;
    let dim = |i: usize| {
        let d = header.dim[i];
        (if order_agrees { d } else { d.swap_bytes() }) as i16
    };
    let ndim = dim(0);
    if !(1..=7).contains(&ndim) {
        return Err(format!("dim[0] is {ndim}, must be between 1 and 7"));
    }
    let mut all_dims = Vec::with_capacity(ndim as usize);
    for i in 1..=ndim as usize {
        match dim(i) {
            d if d <= 0 => {
                return Err(format!(
                    "dim[{i}] is {d}: every dimension must be at least 1"
                ));
            }
            d => all_dims.push(d as usize),
        }
    }
    let datatype = Datatype::from_code(header.datatype)?;
    let vox_offset = vox_offset(header.vox_offset)?;

    let mut dims3 = [1usize; 3];
    for (d3, d) in dims3.iter_mut().zip(&all_dims) {
        *d3 = *d;
    }
    // At most 7 dims below 2^15 and 8-byte voxels: no overflow in u128.
    let total_bytes =
        all_dims.iter().map(|&d| d as u128).product::<u128>() * datatype.size() as u128;
    let first_voxels = dims3.iter().map(|&d| d as u64).product::<u64>();
    if first_voxels > MAX_VOXELS {
        return Err(format!(
            "header claims {first_voxels} voxels per volume ({}x{}x{}), more than the {MAX_VOXELS} supported",
            dims3[0], dims3[1], dims3[2]
        ));
    }
    Ok(Layout {
        header,
        all_dims,
        dims3,
        datatype,
        vox_offset,
        total_bytes,
        first_volume_bytes: first_voxels * datatype.size(),
    })
}

fn vox_offset(v: f32) -> std::result::Result<u128, String> {
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(format!("vox_offset {v} is not a whole number of bytes"));
    }
    if v < MIN_VOX_OFFSET as f32 {
        return Err(format!(
            "vox_offset {v} is inside the header (must be at least {MIN_VOX_OFFSET})"
        ));
    }
    // Exact: every finite f32 is below u128::MAX.
    Ok(v as u128)
}

/// Largest voxel magnitude accepted (after scaling).
pub const MAX_MAGNITUDE: f32 = 1e30;

/// Decodes the first volume's bytes and assembles the result.
fn build(layout: &Layout, data: &[u8]) -> std::result::Result<LoadedNifti, String> {
    let h = &layout.header;
    let (slope, inter) = scaling(h.scl_slope, h.scl_inter)?;
    let big = h.endianness == Endianness::Big;
    let mut values = decode(data, layout.datatype, big, slope, inter);

    let mut warnings = Vec::new();
    if layout.all_dims.len() > 3 {
        let volumes: usize = layout.all_dims[3..].iter().product();
        warnings.push(format!("4-D input ({volumes} volumes): using the first"));
    }
    let (mut min, mut max, mut non_finite) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    for v in &mut values {
        if v.is_finite() {
            min = min.min(*v);
            max = max.max(*v);
        } else {
            *v = 0.0;
            non_finite += 1;
        }
    }
    if non_finite == values.len() {
        return Err(format!(
            "no finite voxel: all {non_finite} voxels are NaN or infinite after scaling"
        ));
    }
    if min < -MAX_MAGNITUDE || max > MAX_MAGNITUDE {
        return Err(format!(
            "voxel values reach {:.3e}, beyond ±{MAX_MAGNITUDE:e}: no MR intensity comes near \
             (wrong datatype, byte order or scl_slope?)",
            if max > MAX_MAGNITUDE { max } else { min }
        ));
    }
    if non_finite > 0 {
        warnings.push(format!(
            "{non_finite} of {} voxels were NaN or infinite and were set to 0",
            values.len()
        ));
    }

    let (affine, source) = world_from_voxel(h)?;
    let volume = Volume::new(layout.dims3, values, affine)
        .ok_or_else(|| "internal error: voxel count does not match dims".to_string())?;
    let info = NiftiInfo {
        dims: layout.all_dims.clone(),
        datatype: layout.datatype.name(),
        voxel_size_mm: affine.column_norms(),
        orientation: affine.orientation_code(),
        transform_source: source.to_string(),
        world_from_voxel: affine.0,
        scl_slope: slope,
        scl_inter: inter,
        min,
        max,
        warnings,
    };
    Ok(LoadedNifti { volume, info })
}

/// Positive finite voxel sizes from `pixdim[1..=3]` (absolute values; 1 when zero or not finite).
fn zooms(h: &NiftiHeader) -> [f64; 3] {
    let mut z = [1.0; 3];
    for (zi, p) in z.iter_mut().zip(&h.pixdim[1..4]) {
        let p = f64::from(*p).abs();
        if p.is_finite() && p > 0.0 {
            *zi = p;
        }
    }
    z
}

/// `world_from_voxel` and where it came from (see module docs).
fn world_from_voxel(h: &NiftiHeader) -> std::result::Result<(Affine, &'static str), String> {
    let (affine, source) = if h.sform_code > 0 {
        let row = |r: &[f32; 4]| r.map(f64::from);
        let (x, y, z) = (row(&h.srow_x), row(&h.srow_y), row(&h.srow_z));
        (Affine([x, y, z, [0.0, 0.0, 0.0, 1.0]]), "sform")
    } else if h.qform_code > 0 {
        (qform_affine(h), "qform")
    } else {
        let z = zooms(h);
        let linear = [[z[0], 0.0, 0.0], [0.0, z[1], 0.0], [0.0, 0.0, z[2]]];
        (Affine::from_parts(linear, [0.0; 3]), "pixdim")
    };
    if !affine.0.iter().flatten().all(|v| v.is_finite()) {
        return Err(format!(
            "world_from_voxel ({source}) has non-finite entries"
        ));
    }
    if affine.inverse().is_none() {
        return Err(format!("world_from_voxel ({source}) is singular"));
    }
    Ok((affine, source))
}

/// The qform transform of a header (see [`Qform::to_affine`]).
fn qform_affine(h: &NiftiHeader) -> Affine {
    let q = Qform {
        b: f64::from(h.quatern_b),
        c: f64::from(h.quatern_c),
        d: f64::from(h.quatern_d),
        qfac: if h.pixdim[0] == -1.0 { -1.0 } else { 1.0 },
        zooms: zooms(h),
    };
    q.to_affine([h.quatern_x, h.quatern_y, h.quatern_z].map(f64::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_affine(got: &Affine, want: [[f64; 4]; 4]) {
        for (g, w) in got.0.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() < 1e-6, "{:?} != {want:?}", got.0);
        }
    }

    #[test]
    fn qform_matches_hand_computed_matrix() {
        // 90 degrees about z: a = d = cos(45°); R = [[0,-1,0],[1,0,0],[0,0,1]].
        // pixdim = [-1, 2, -3, 4] -> zooms (2, 3, 4), qfac -1 flips the third column.
        let h = NiftiHeader {
            pixdim: [-1.0, 2.0, -3.0, 4.0, 1.0, 1.0, 1.0, 1.0],
            quatern_d: std::f32::consts::FRAC_1_SQRT_2,
            quatern_x: 10.0,
            quatern_y: -20.0,
            quatern_z: 30.0,
            ..NiftiHeader::default()
        };
        let want = [
            [0.0, -3.0, 0.0, 10.0],
            [2.0, 0.0, 0.0, -20.0],
            [0.0, 0.0, -4.0, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        assert_affine(&qform_affine(&h), want);

        // b = 1 (a = 0): 180 degrees about x, R = diag(1, -1, -1); qfac 7 counts as 1.
        let h = NiftiHeader {
            pixdim: [7.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            quatern_b: 1.0,
            ..NiftiHeader::default()
        };
        let mut want = Affine::identity().0;
        want[1][1] = -1.0;
        want[2][2] = -1.0;
        assert_affine(&qform_affine(&h), want);

        // Quaternions that are not finite give a non-finite transform, refused upstream.
        let h = NiftiHeader {
            quatern_c: f32::INFINITY,
            qform_code: 1,
            sform_code: 0,
            ..NiftiHeader::default()
        };
        assert!(world_from_voxel(&h).unwrap_err().contains("non-finite"));
    }

    #[test]
    fn scaling_follows_nibabel() {
        assert_eq!(scaling(f32::NAN, 5.0).unwrap(), (1.0, 0.0));
        assert_eq!(scaling(0.0, 5.0).unwrap(), (1.0, 0.0));
        assert_eq!(scaling(2.0, -3.0).unwrap(), (2.0, -3.0));
        assert!(scaling(2.0, f32::INFINITY).is_err());
        let bytes: Vec<u8> = [1i16, -2, 300]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let got = decode(&bytes, Datatype::I16, false, 0.5, 10.0);
        assert_eq!(got, vec![10.5, 9.0, 160.0]);
    }

    #[test]
    fn both_byte_orders_decode_the_same() {
        let values = [0.0f64, 1.0, 2.0, 100.0, 127.0];
        macro_rules! check {
            ($dt:expr, $t:ty) => {
                let le: Vec<u8> = values
                    .iter()
                    .flat_map(|&v| (v as $t).to_le_bytes())
                    .collect();
                let be: Vec<u8> = values
                    .iter()
                    .flat_map(|&v| (v as $t).to_be_bytes())
                    .collect();
                let want: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                assert_eq!(decode(&le, $dt, false, 1.0, 0.0), want, "{:?}", $dt);
                assert_eq!(decode(&be, $dt, true, 1.0, 0.0), want, "{:?}", $dt);
                if size_of::<$t>() > 1 {
                    assert_ne!(le, be);
                }
            };
        }
        check!(Datatype::U8, u8);
        check!(Datatype::I8, i8);
        check!(Datatype::I16, i16);
        check!(Datatype::U16, u16);
        check!(Datatype::I32, i32);
        check!(Datatype::U32, u32);
        check!(Datatype::F32, f32);
        check!(Datatype::F64, f64);
        let minus_two = (-2i16).to_be_bytes();
        assert_eq!(
            decode(&minus_two, Datatype::I16, true, 1.0, 0.0),
            vec![-2.0]
        );
    }
}
