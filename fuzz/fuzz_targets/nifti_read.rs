//! Fuzz target: arbitrary bytes through the NIfTI reader must give `Ok` or `Err`, never a
//! panic, an abort or an allocation beyond libFuzzer's limit (`-rss_limit_mb`, 2 GB).
//!
//! Run (only stable rustc here, hence RUSTC_BOOTSTRAP):
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run nifti_read -- -max_total_time=600`

#![no_main]

use std::path::Path;

use brainclip::io::nifti_read::parse_nifti_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(loaded) = parse_nifti_bytes(data, Path::new("fuzz.nii")) {
        // What a successful read promises (see `Volume`): consistent size, finite voxels.
        let v = &loaded.volume;
        assert_eq!(v.data.len(), v.dims.iter().product::<usize>());
        assert!(v.data.iter().all(|x| x.is_finite()));
        assert!(v.world_from_voxel.inverse().is_some());
    }
});
