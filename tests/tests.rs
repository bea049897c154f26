//! The one integration-test binary (see STYLE.md): modules below.

// Test helpers outside #[test] functions may unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod cli;
mod nifti_errors;
mod preprocess;
mod synth;
mod text;
mod train;
