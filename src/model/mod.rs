//! The model: 3-D convolution and pooling ops, the image tower, (later) the text tower,
//! projections, loss and checkpoints. Must not use egui, nor read files outside `checkpoint`.

pub mod anomaly;
pub mod checkpoint;
pub mod clip;
pub mod conv3d;
pub mod device;
pub mod head_mask;
pub mod init;
pub mod loss;
pub mod pack;
pub mod pool;
pub mod standardize;
pub mod text;
pub mod tower;
