//! The one integration-test binary (see STYLE.md): modules below.

// Test helpers outside #[test] functions may unwrap: a failure is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "gui")]
mod app;
mod architecture;
mod cli;
#[cfg(feature = "cuda")]
mod cuda;
mod nifti_errors;
mod preprocess;
mod shipped;
mod synth;
mod text;
mod train;
mod viewer_fixture;
mod worker;
