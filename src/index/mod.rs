//! Embeddings over plain `f32`: the stored index with its model fingerprint, cosine top-k,
//! similarity matrices, retrieval and zero-shot metrics, and the report-embedding cache.
//!
//! Must not use candle or egui.

pub mod eval;
pub mod matrix;
pub mod metrics;
pub mod paired;
pub mod pca;
pub mod sim;
pub mod store;
mod table;
pub mod text_cache;

pub use eval::{EvalError, EvalInputs, EvalReport, Interval, Intervals, evaluate};
pub use matrix::{class_order, render_matrix_png, write_matrix_csv, write_matrix_png};
pub use paired::{PairedError, PairedMetric, PairedReport, compare};
pub use sim::{SimMatrix, cosine_matrix, l2_normalize, top_k};
pub use store::{EmbeddingIndex, Hit, IndexEntry, IndexError};
