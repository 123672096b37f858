//! utx-train: the U-Transformer (Petit et al., 2021) and its baselines in
//! candle, the training data pipeline, and the training loop.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod loss;
pub mod model;
pub mod train;

pub use config::{Arch, ModelConfig, Preset};
pub use model::UNet;
