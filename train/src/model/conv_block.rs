//! Convolution → BatchNorm (→ ReLU) units and the U-Net double-conv block.
//!
//! Convolutions carry no bias: the BatchNorm after them has one, and the
//! export folds the BatchNorm into the convolution.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
//! let block = utx_train::model::conv_block::DoubleConv::new(1, 4, vb).unwrap();
//! let y = block.forward(&Tensor::zeros((2, 1, 8, 8), DType::F32, &Device::Cpu).unwrap(), true).unwrap();
//! assert_eq!(y.dims(), &[2, 4, 8, 8]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, ModuleT, VarBuilder};

pub const BN_EPS: f64 = 1e-5;

/// k×k convolution (padding k/2, no bias) followed by BatchNorm.
#[derive(Debug, Clone)]
pub struct ConvBn {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBn {
    pub fn new(c_in: usize, c_out: usize, k: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: k / 2,
            ..Default::default()
        };
        let conv = candle_nn::conv2d_no_bias(c_in, c_out, k, cfg, vb.pp("conv"))?;
        let bn = candle_nn::batch_norm(c_out, BN_EPS, vb.pp("bn"))?;
        Ok(Self { conv, bn })
    }

    /// Convolution then BatchNorm (batch statistics when `train`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&x.apply(&self.conv)?, train)
    }

    /// Convolution, BatchNorm, ReLU.
    pub fn forward_relu(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward(x, train)?.relu()
    }
}

/// Two (3×3 conv → BN → ReLU): one encoder or decoder level of the U-Net.
#[derive(Debug, Clone)]
pub struct DoubleConv {
    pub c1: ConvBn,
    pub c2: ConvBn,
}

impl DoubleConv {
    pub fn new(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            c1: ConvBn::new(c_in, c_out, 3, vb.pp("c1"))?,
            c2: ConvBn::new(c_out, c_out, 3, vb.pp("c2"))?,
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.c2
            .forward_relu(&self.c1.forward_relu(x, train)?, train)
    }
}
