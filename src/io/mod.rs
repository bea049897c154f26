//! Files in, arrays out: NIfTI reading and writing, studies and cohorts, preprocessing into
//! the model grid, the preprocessing cache, and the synthetic demo cohort.
//!
//! Must not use candle or egui.

pub mod atomic;
pub mod cache;
pub mod cohort;
pub mod display;
pub mod error;
pub mod fetch;
pub mod nifti_read;
pub mod nifti_write;
pub mod normalize;
pub mod preprocess;
pub mod qform;
pub mod register;
pub mod resample;
pub mod sheet;
pub mod study;
pub mod synth;
pub mod template;
pub mod volume;

pub use error::IoError;
pub use volume::{Affine, Volume};
