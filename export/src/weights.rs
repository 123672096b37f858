//! Checkpoint tensors by name, with BatchNorm folding.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::Device;
use utx_train::checkpoint::{self, CheckpointConfig};
use utx_train::model::conv_block::BN_EPS;

/// A dense f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct Weights {
    map: HashMap<String, Array>,
}

impl Weights {
    /// Loads a checkpoint folder, checked against its config (every tensor
    /// present with the right shape, none unexplained).
    pub fn load(dir: &Path) -> Result<(CheckpointConfig, Self)> {
        let (cfg, vm, _) = checkpoint::load(dir, &Device::Cpu)
            .with_context(|| format!("{}: bad checkpoint", dir.display()))?;
        let vars = vm.data().lock().unwrap();
        let map = vars
            .iter()
            .map(|(k, v)| {
                let data = v.flatten_all()?.to_vec1::<f32>()?;
                Ok((
                    k.clone(),
                    Array {
                        dims: v.dims().to_vec(),
                        data,
                    },
                ))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok((cfg, Self { map }))
    }

    pub fn get(&self, name: &str) -> &Array {
        self.map
            .get(name)
            .unwrap_or_else(|| panic!("checkpoint tensor `{name}` missing after validation"))
    }

    /// Convolution `prefix.conv` with the BatchNorm `prefix.bn` folded in:
    /// W' = W·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε).
    pub fn folded_conv(&self, prefix: &str) -> (Array, Vec<f32>) {
        let w = self.get(&format!("{prefix}.conv.weight"));
        let g = &self.get(&format!("{prefix}.bn.weight")).data;
        let b = &self.get(&format!("{prefix}.bn.bias")).data;
        let m = &self.get(&format!("{prefix}.bn.running_mean")).data;
        let v = &self.get(&format!("{prefix}.bn.running_var")).data;
        let per_out = w.data.len() / w.dims[0];
        let mut folded = w.clone();
        let mut bias = vec![0f32; w.dims[0]];
        for o in 0..w.dims[0] {
            let s = g[o] / (v[o] + BN_EPS as f32).sqrt();
            folded.data[o * per_out..(o + 1) * per_out]
                .iter_mut()
                .for_each(|x| *x *= s);
            bias[o] = b[o] - m[o] * s;
        }
        (folded, bias)
    }
}
