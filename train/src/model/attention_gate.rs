//! Additive attention gate of the Attention U-Net baseline (Oktay et al., 2018):
//! α = σ(ψ(ReLU(W_x S + W_g Y))), computed at Y's resolution and upsampled;
//! the block returns `concat(α ⊙ S, up(Y))`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
//! let gate = utx_train::model::attention_gate::AttentionGate::new(4, 8, vb).unwrap();
//! let s = Tensor::zeros((1, 4, 16, 16), DType::F32, &Device::Cpu).unwrap();
//! let y = Tensor::zeros((1, 8, 8, 8), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(gate.forward(&s, &y, true).unwrap().dims(), &[1, 8, 16, 16]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::{ConvTranspose2d, ConvTranspose2dConfig, Module, VarBuilder};

use super::conv_block::ConvBn;
use super::ops;

#[derive(Debug, Clone)]
pub struct AttentionGate {
    /// W_x: 1×1 conv of stride 2 on S (subsample, then 1×1 conv) → BN.
    pub wx: ConvBn,
    /// W_g: 1×1 conv on Y → BN.
    pub wg: ConvBn,
    /// ψ: 1×1 conv to one channel → BN → sigmoid.
    pub psi: ConvBn,
    pub up: ConvTranspose2d,
}

impl AttentionGate {
    pub fn new(c_s: usize, c_y: usize, vb: VarBuilder) -> Result<Self> {
        let inter = (c_s / 2).max(1);
        let up_cfg = ConvTranspose2dConfig {
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            wx: ConvBn::new(c_s, inter, 1, vb.pp("wx"))?,
            wg: ConvBn::new(c_y, inter, 1, vb.pp("wg"))?,
            psi: ConvBn::new(inter, 1, 1, vb.pp("psi"))?,
            up: candle_nn::conv_transpose2d(c_y, c_s, 2, up_cfg, vb.pp("up"))?,
        })
    }

    pub fn forward(&self, s: &Tensor, y: &Tensor, train: bool) -> Result<Tensor> {
        let a = (self.wx.forward(&ops::subsample(s, 2)?, train)? + self.wg.forward(y, train)?)?
            .relu()?;
        let alpha = candle_nn::ops::sigmoid(&self.psi.forward(&a, train)?)?;
        let alpha = ops::upsample_bilinear(&alpha, 2)?;
        Tensor::cat(&[s.broadcast_mul(&alpha)?, self.up.forward(y)?], 1)
    }
}
