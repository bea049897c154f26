//! NIfTI voxel types and their decoding into scaled `f32` values.

/// Stored voxel types we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Datatype {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

/// NIfTI datatype codes we refuse, named for the error message.
const UNSUPPORTED: [(i16, &str); 10] = [
    (0, "unknown (0)"),
    (1, "binary (1)"),
    (32, "complex64 (32)"),
    (128, "RGB24 (128)"),
    (1024, "int64 (1024)"),
    (1280, "uint64 (1280)"),
    (1536, "float128 (1536)"),
    (1792, "complex128 (1792)"),
    (2048, "complex256 (2048)"),
    (2304, "RGBA32 (2304)"),
];

impl Datatype {
    pub(super) fn from_code(code: i16) -> std::result::Result<Self, String> {
        Ok(match code {
            2 => Datatype::U8,
            4 => Datatype::I16,
            8 => Datatype::I32,
            16 => Datatype::F32,
            64 => Datatype::F64,
            256 => Datatype::I8,
            512 => Datatype::U16,
            768 => Datatype::U32,
            _ => {
                return Err(match UNSUPPORTED.iter().find(|(c, _)| *c == code) {
                    Some((_, name)) => format!(
                        "unsupported NIfTI datatype {name}; supported: u8, i8, i16, u16, i32, u32, f32, f64"
                    ),
                    None => format!("unknown NIfTI datatype code {code}"),
                });
            }
        })
    }

    pub(super) fn size(self) -> u64 {
        match self {
            Datatype::U8 | Datatype::I8 => 1,
            Datatype::I16 | Datatype::U16 => 2,
            Datatype::I32 | Datatype::U32 | Datatype::F32 => 4,
            Datatype::F64 => 8,
        }
    }

    /// "u8", "i16", ...: the variant name in lower case.
    pub(super) fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// The `(slope, inter)` to apply, following nibabel: no scaling unless the slope is finite
/// and non-zero; then the intercept must be finite.
pub(super) fn scaling(slope: f32, inter: f32) -> std::result::Result<(f64, f64), String> {
    if !slope.is_finite() || slope == 0.0 {
        return Ok((1.0, 0.0));
    }
    if !inter.is_finite() {
        return Err(format!(
            "scl_inter is {inter} while scl_slope is {slope}: cannot scale"
        ));
    }
    Ok((f64::from(slope), f64::from(inter)))
}

/// Stored bytes to scaled `f32` values (non-finite values are left for the caller).
pub(super) fn decode(data: &[u8], dt: Datatype, big: bool, slope: f64, inter: f64) -> Vec<f32> {
    fn each<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f64, s: f64, i: f64) -> Vec<f32> {
        let (chunks, _) = data.as_chunks::<N>();
        if s == 1.0 && i == 0.0 {
            chunks.iter().map(|c| f(*c) as f32).collect()
        } else {
            chunks.iter().map(|c| (f(*c) * s + i) as f32).collect()
        }
    }
    macro_rules! num {
        ($t:ty) => {
            if big {
                each(data, |c| <$t>::from_be_bytes(c) as f64, slope, inter)
            } else {
                each(data, |c| <$t>::from_le_bytes(c) as f64, slope, inter)
            }
        };
    }
    match dt {
        Datatype::U8 => num!(u8),
        Datatype::I8 => num!(i8),
        Datatype::I16 => num!(i16),
        Datatype::U16 => num!(u16),
        Datatype::I32 => num!(i32),
        Datatype::U32 => num!(u32),
        Datatype::F32 => num!(f32),
        Datatype::F64 => num!(f64),
    }
}
