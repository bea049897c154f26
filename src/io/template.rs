//! The MNI ICBM152 2009a nonlinear symmetric templates (1 mm; T1, grey- and white-matter
//! probability maps), committed under `assets/anatomy/` and embedded in the binary: the
//! anatomy of the demo cohort (`synth`) and the target of preprocessing's registration
//! (`register`). Coordinates are MNI millimetres, RAS+.

use std::path::Path;

use super::error::Result;
use super::nifti_read::parse_nifti_bytes;
use super::volume::Volume;

/// One embedded template file: its path in the repository and its bytes.
pub struct TemplateFile {
    /// Path in the repository, used in error messages.
    pub name: &'static str,
    bytes: &'static [u8],
}

macro_rules! template_file {
    ($file:literal) => {
        TemplateFile {
            name: concat!("assets/anatomy/", $file),
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/anatomy/",
                $file
            )),
        }
    };
}

/// The T1-weighted template, brain-extracted (0 outside the brain).
pub const T1: TemplateFile = template_file!("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz");
/// Grey-matter probability, 0-255.
pub const GM: TemplateFile = template_file!("mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz");
/// White-matter probability, 0-255.
pub const WM: TemplateFile = template_file!("mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz");

impl TemplateFile {
    /// Decodes the embedded file; `world_from_voxel` maps to MNI millimetres.
    pub fn read(&self) -> Result<Volume> {
        parse_nifti_bytes(self.bytes, Path::new(self.name)).map(|l| l.volume)
    }
}
