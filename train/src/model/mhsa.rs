//! Multi-head self-attention over the bottleneck (U-Transformer, Fig. 2):
//! X + 2D positional encoding → tokens → multi-head attention → residual.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
//! let mhsa = utx_train::model::mhsa::Mhsa::new(8, 2, 4, vb).unwrap();
//! let x = Tensor::zeros((1, 8, 4, 4), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(mhsa.forward(&x).unwrap().dims(), &[1, 8, 4, 4]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::MultiHeadAttention;
use super::ops;
use super::pos_encoding::positional_encoding_2d;

#[derive(Debug, Clone)]
pub struct Mhsa {
    pub attn: MultiHeadAttention,
    pub pe: Tensor,
    pub side: usize,
}

impl Mhsa {
    /// Self-attention over a `side`×`side` map of `channels` channels.
    pub fn new(channels: usize, heads: usize, side: usize, vb: VarBuilder) -> Result<Self> {
        let pe = positional_encoding_2d(channels, side, side, vb.device())?.to_dtype(vb.dtype())?;
        Ok(Self {
            attn: MultiHeadAttention::new(channels, heads, true, vb)?,
            pe,
            side,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let tokens = ops::to_tokens(&x.broadcast_add(&self.pe)?)?;
        let y = self.attn.forward(&tokens, &tokens, &tokens)?;
        x + ops::from_tokens(&y, self.side, self.side)?
    }
}
