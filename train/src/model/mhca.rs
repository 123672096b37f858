//! Multi-head cross-attention gate on a skip connection (U-Transformer, Fig. 3).
//!
//! Y, the decoder map from the level below, says *what* to look for; S, the
//! skip, says *where*. Queries and keys come from Y, values from S, on a token
//! grid of at most 32×32 (Y strided, S average-pooled) so the attention matrix
//! stays small. The attention output becomes a sigmoid filter Z, upsampled to
//! S's size, and the block returns `concat(Z ⊙ S, up(Y))`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
//! // Skip of 4 channels at 16×16, Y of 8 channels at 8×8, 8×8 tokens.
//! let gate = utx_train::model::mhca::Mhca::new(4, 8, 16, 8, 2, vb).unwrap();
//! let s = Tensor::zeros((1, 4, 16, 16), DType::F32, &Device::Cpu).unwrap();
//! let y = Tensor::zeros((1, 8, 8, 8), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(gate.forward(&s, &y, true).unwrap().dims(), &[1, 8, 16, 16]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::{ConvTranspose2d, ConvTranspose2dConfig, Module, VarBuilder};

use super::attention::MultiHeadAttention;
use super::conv_block::ConvBn;
use super::ops;
use super::pos_encoding::positional_encoding_2d;

#[derive(Debug, Clone)]
pub struct Mhca {
    /// Y → Q/K features: 1×1 conv (stride `y_stride`) → BN → ReLU, to S's channels.
    pub qk: ConvBn,
    /// S → V features: 1×1 conv → BN → ReLU, then average-pooled by `s_pool`.
    pub v: ConvBn,
    pub attn: MultiHeadAttention,
    /// Attention output → 1×1 conv → BN → sigmoid: the filter Z.
    pub gate: ConvBn,
    /// up(Y): 2×2 transposed convolution, stride 2, to S's channels.
    pub up: ConvTranspose2d,
    pub pe: Tensor,
    pub grid: usize,
    pub y_stride: usize,
    pub s_pool: usize,
}

impl Mhca {
    /// `c_s` channels at `s_side`² for the skip; `c_y` channels at (`s_side`/2)²
    /// for Y; a `grid`×`grid` token grid.
    pub fn new(
        c_s: usize,
        c_y: usize,
        s_side: usize,
        grid: usize,
        heads: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let up_cfg = ConvTranspose2dConfig {
            stride: 2,
            ..Default::default()
        };
        Ok(Self {
            qk: ConvBn::new(c_y, c_s, 1, vb.pp("qk"))?,
            v: ConvBn::new(c_s, c_s, 1, vb.pp("v"))?,
            attn: MultiHeadAttention::new(c_s, heads, false, vb.pp("attn"))?,
            gate: ConvBn::new(c_s, c_s, 1, vb.pp("gate"))?,
            up: candle_nn::conv_transpose2d(c_y, c_s, 2, up_cfg, vb.pp("up"))?,
            pe: positional_encoding_2d(c_s, grid, grid, vb.device())?.to_dtype(vb.dtype())?,
            grid,
            y_stride: (s_side / 2) / grid,
            s_pool: s_side / grid,
        })
    }

    pub fn forward(&self, s: &Tensor, y: &Tensor, train: bool) -> Result<Tensor> {
        let qk = self
            .qk
            .forward_relu(&ops::subsample(y, self.y_stride)?, train)?;
        let qk = ops::to_tokens(&qk.broadcast_add(&self.pe)?)?;
        let v = ops::avg_pool(&self.v.forward_relu(s, train)?, self.s_pool)?;
        let att = self.attn.forward(&qk, &qk, &ops::to_tokens(&v)?)?;
        let att = ops::from_tokens(&att, self.grid, self.grid)?;
        let z = candle_nn::ops::sigmoid(&self.gate.forward(&att, train)?)?;
        let z = ops::upsample_bilinear(&z, self.s_pool)?;
        Tensor::cat(&[(s * z)?, self.up.forward(y)?], 1)
    }
}
