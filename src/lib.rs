//! brainclip: compare brain MRI studies with a CLIP-style image + report model.
//!
//! Module layout and dependency direction (see `../shared/STYLE.md`):
//! `config ← io ← model ← train ← worker ← app`, with `index` beside them and `cli` on top.

pub mod cli;
pub mod config;
pub mod index;
pub mod io;
pub mod model;
pub mod train;
pub mod worker;

#[cfg(feature = "gui")]
pub mod app;
