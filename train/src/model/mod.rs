//! The U-Transformer and its baselines, one layer a file (shared/DESIGN.md §2).

pub mod attention;
pub mod attention_gate;
pub mod conv_block;
pub mod init;
pub mod mhca;
pub mod mhsa;
pub mod ops;
pub mod pos_encoding;
pub mod unet;

pub use unet::UNet;

/// Trainable parameters of a configuration (BatchNorm running statistics excluded).
pub fn parameter_count(cfg: &crate::config::ModelConfig) -> anyhow::Result<usize> {
    let vm = candle_nn::VarMap::new();
    let vb =
        candle_nn::VarBuilder::from_varmap(&vm, candle_core::DType::F32, &candle_core::Device::Cpu);
    UNet::new(cfg, vb)?;
    let vars = vm.data().lock().unwrap();
    Ok(vars
        .iter()
        .filter(|(k, _)| !k.contains("running_"))
        .map(|(_, v)| v.elem_count())
        .sum())
}
