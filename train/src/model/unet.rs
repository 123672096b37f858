//! The whole network: a 2D U-Net whose bottleneck and skips are configured by
//! [`Arch`]: plain, additive gates, MHSA, MHCA, or both (the U-Transformer).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{VarBuilder, VarMap};
//! use utx_train::config::{Arch, ModelConfig, Preset};
//! let cfg = ModelConfig::preset(Preset::Tiny, Arch::UTransformer);
//! let vm = VarMap::new();
//! let net = utx_train::model::UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
//! let x = Tensor::zeros((2, 1, 64, 64), DType::F32, &Device::Cpu).unwrap();
//! assert_eq!(net.forward_t(&x, false).unwrap().dims(), &[2, 8, 64, 64]);
//! ```

use candle_core::{Result, Tensor};
use candle_nn::{Conv2d, ConvTranspose2d, ConvTranspose2dConfig, Module, VarBuilder};

use super::attention_gate::AttentionGate;
use super::conv_block::DoubleConv;
use super::mhca::Mhca;
use super::mhsa::Mhsa;
use super::ops;
use crate::config::{Arch, ModelConfig};

/// How a skip connection joins the decoder.
#[derive(Debug, Clone)]
pub enum Skip {
    /// `concat(S, up(Y))`.
    Plain(ConvTranspose2d),
    /// `concat(α ⊙ S, up(Y))` with an additive gate.
    Additive(AttentionGate),
    /// `concat(Z ⊙ S, up(Y))` with a cross-attention gate.
    CrossAttention(Mhca),
}

impl Skip {
    fn forward(&self, s: &Tensor, y: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Skip::Plain(up) => Tensor::cat(&[s.clone(), up.forward(y)?], 1),
            Skip::Additive(g) => g.forward(s, y, train),
            Skip::CrossAttention(g) => g.forward(s, y, train),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UNet {
    pub config: ModelConfig,
    pub encoder: Vec<DoubleConv>,
    pub bottleneck: DoubleConv,
    pub mhsa: Option<Mhsa>,
    /// One per level, from the top (level 0).
    pub skips: Vec<Skip>,
    pub decoder: Vec<DoubleConv>,
    pub head: Conv2d,
}

impl UNet {
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let c = |l: usize| cfg.channels(l);
        let encoder = (0..cfg.levels)
            .map(|l| {
                DoubleConv::new(
                    if l == 0 { cfg.in_channels } else { c(l - 1) },
                    c(l),
                    vb.pp(format!("enc{l}")),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let bottleneck = DoubleConv::new(c(cfg.levels - 1), c(cfg.levels), vb.pp("bottleneck"))?;
        let side = cfg.side(cfg.levels);
        let mhsa = match cfg.arch.has_mhsa() {
            true => Some(Mhsa::new(c(cfg.levels), cfg.heads, side, vb.pp("mhsa"))?),
            false => None,
        };
        let mut skips = Vec::with_capacity(cfg.levels);
        let mut decoder = Vec::with_capacity(cfg.levels);
        for l in 0..cfg.levels {
            let vb = vb.pp(format!("dec{l}"));
            let (cs, cy) = (c(l), c(l + 1));
            skips.push(match cfg.arch {
                Arch::Unet | Arch::Mhsa => {
                    let up_cfg = ConvTranspose2dConfig {
                        stride: 2,
                        ..Default::default()
                    };
                    Skip::Plain(candle_nn::conv_transpose2d(cy, cs, 2, up_cfg, vb.pp("up"))?)
                }
                Arch::AttentionUnet => Skip::Additive(AttentionGate::new(cs, cy, vb.pp("gate"))?),
                Arch::Mhca | Arch::UTransformer => Skip::CrossAttention(Mhca::new(
                    cs,
                    cy,
                    cfg.side(l),
                    cfg.token_grid(l),
                    cfg.heads,
                    vb.pp("mhca"),
                )?),
            });
            decoder.push(DoubleConv::new(2 * cs, cs, vb.pp("conv"))?);
        }
        let head = candle_nn::conv2d(c(0), cfg.classes, 1, Default::default(), vb.pp("head"))?;
        Ok(Self {
            config: cfg.clone(),
            encoder,
            bottleneck,
            mhsa,
            skips,
            decoder,
            head,
        })
    }

    /// Logits `[b, classes, h, w]` for images `[b, 1, h, w]`; `train` selects
    /// batch statistics in BatchNorm (and updates the running ones).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut skips = Vec::with_capacity(self.encoder.len());
        let mut x = x.clone();
        for enc in &self.encoder {
            let s = enc.forward(&x, train)?;
            x = ops::max_pool2x2(&s)?;
            skips.push(s);
        }
        let mut y = self.bottleneck.forward(&x, train)?;
        if let Some(mhsa) = &self.mhsa {
            y = mhsa.forward(&y)?;
        }
        for l in (0..skips.len()).rev() {
            let joined = self.skips[l].forward(&skips[l], &y, train)?;
            y = self.decoder[l].forward(&joined, train)?;
        }
        self.head.forward(&y)
    }
}
