//! The model: 3-D convolution and pooling ops, the image tower, (later) the text tower,
//! projections, loss and checkpoints. Must not use egui, nor read files outside `checkpoint`.
