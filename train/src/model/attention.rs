//! Multi-head attention over token sequences, with Q, K, V (and optionally
//! output) projections that have a bias: the part shared by MHSA and MHCA.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! let vm = VarMap::new();
//! let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
//! let mha = utx_train::model::attention::MultiHeadAttention::new(8, 2, true, vb).unwrap();
//! let x = Tensor::zeros((1, 16, 8), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(mha.forward(&x, &x, &x).unwrap().dims(), &[1, 16, 8]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

use super::ops;

#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    /// Output projection; MHCA leaves it out, its 1×1 conv gate plays that role.
    pub out: Option<Linear>,
    pub heads: usize,
    pub dim: usize,
}

impl MultiHeadAttention {
    pub fn new(dim: usize, heads: usize, with_output: bool, vb: VarBuilder) -> Result<Self> {
        if !dim.is_multiple_of(heads) {
            candle_core::bail!("attention width {dim} is not divisible by {heads} heads");
        }
        Ok(Self {
            q: candle_nn::linear(dim, dim, vb.pp("q"))?,
            k: candle_nn::linear(dim, dim, vb.pp("k"))?,
            v: candle_nn::linear(dim, dim, vb.pp("v"))?,
            out: if with_output {
                Some(candle_nn::linear(dim, dim, vb.pp("o"))?)
            } else {
                None
            },
            heads,
            dim,
        })
    }

    /// `[b, n, dim]` → `[b, heads, n, dim / heads]`.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, _) = x.dims3()?;
        x.reshape((b, n, self.heads, self.dim / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Queries from `q_in`, keys from `k_in`, values from `v_in`, all `[b, n, dim]`.
    pub fn forward(&self, q_in: &Tensor, k_in: &Tensor, v_in: &Tensor) -> Result<Tensor> {
        let (b, n, _) = q_in.dims3()?;
        let q = self.split_heads(&q_in.apply(&self.q)?)?;
        let k = self.split_heads(&k_in.apply(&self.k)?)?;
        let v = self.split_heads(&v_in.apply(&self.v)?)?;
        let y = ops::attention(&q, &k, &v)?
            .transpose(1, 2)?
            .reshape((b, n, self.dim))?;
        match &self.out {
            Some(o) => o.forward(&y),
            None => Ok(y),
        }
    }
}
