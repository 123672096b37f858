//! The network of `utx_train::model::UNet` written as an ONNX graph, layer
//! for layer: BatchNorm folded into convolutions, attention as the opset-23
//! `Attention` op, bilinear upsampling as the same interpolation matrices
//! training used, so tract reproduces candle's forward pass.

use utx_train::config::{Arch, ModelConfig};
use utx_train::model::{ops::linear_resize_matrix, pos_encoding::positional_encoding_values};

use crate::graph::{attr_float, attr_int, attr_ints, GraphBuilder};
use crate::quantize::ConvQuantizer;
use crate::weights::{Array, Weights};

pub struct Emitter<'a> {
    pub g: GraphBuilder,
    pub w: &'a Weights,
    pub cfg: &'a ModelConfig,
    /// When set, convolutions become integer QLinearConv.
    pub quant: Option<&'a ConvQuantizer>,
    /// Every convolution as (name, input tensor, output tensor), for calibration.
    pub convs: Vec<(String, String, String)>,
}

impl<'a> Emitter<'a> {
    pub fn new(
        float: crate::graph::FloatType,
        w: &'a Weights,
        cfg: &'a ModelConfig,
        quant: Option<&'a ConvQuantizer>,
    ) -> Self {
        Self {
            g: GraphBuilder::new(float),
            w,
            cfg,
            quant,
            convs: Vec::new(),
        }
    }

    /// A convolution (named by its checkpoint prefix) with folded weights.
    /// `relu`: a ReLU follows, which the int8 path folds into the output's
    /// quantisation range.
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        w: &Array,
        b: &[f32],
        stride: usize,
        relu: bool,
    ) -> String {
        let k = w.dims[2];
        let pad = (k / 2) as i64;
        if let Some(q) = self.quant.filter(|q| !q.keeps_float(name)) {
            return q.emit(&mut self.g, name, x, w, b, stride, pad, relu);
        }
        let wn = self.g.constant(&format!("{name}.w"), &w.dims, &w.data);
        let bn = self.g.constant(&format!("{name}.b"), &[b.len()], b);
        let attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("pads", &[pad; 4]),
            attr_ints("strides", &[stride as i64; 2]),
        ];
        let y = self.g.node("Conv", name, &[x, &wn, &bn], attrs);
        self.convs
            .push((name.to_string(), x.to_string(), y.clone()));
        y
    }

    fn conv_bn(&mut self, prefix: &str, x: &str, stride: usize, relu: bool) -> String {
        let (w, b) = self.w.folded_conv(prefix);
        let y = self.conv(prefix, x, &w, &b, stride, relu);
        if relu {
            self.g
                .node("Relu", &format!("{prefix}.relu"), &[&y], vec![])
        } else {
            y
        }
    }

    fn double_conv(&mut self, prefix: &str, x: &str) -> String {
        let y = self.conv_bn(&format!("{prefix}.c1"), x, 1, true);
        self.conv_bn(&format!("{prefix}.c2"), &y, 1, true)
    }

    fn conv_transpose(&mut self, prefix: &str, x: &str) -> String {
        let w = self.w.get(&format!("{prefix}.weight")).clone();
        let b = self.w.get(&format!("{prefix}.bias")).data.clone();
        let wn = self
            .g
            .constant(&format!("{prefix}.weight"), &w.dims, &w.data);
        let bn = self.g.constant(&format!("{prefix}.bias"), &[b.len()], &b);
        let attrs = vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ];
        self.g.node("ConvTranspose", prefix, &[x, &wn, &bn], attrs)
    }

    /// Linear layer on tokens `[N, n, c]`: MatMul by Wᵀ, plus bias.
    fn linear(&mut self, prefix: &str, x: &str) -> String {
        let w = self.w.get(&format!("{prefix}.weight"));
        let (out, inp) = (w.dims[0], w.dims[1]);
        let mut wt = vec![0f32; out * inp];
        for o in 0..out {
            for i in 0..inp {
                wt[i * out + o] = w.data[o * inp + i];
            }
        }
        let b = self.w.get(&format!("{prefix}.bias")).data.clone();
        let wn = self
            .g
            .constant(&format!("{prefix}.weight_t"), &[inp, out], &wt);
        let bn = self.g.constant(&format!("{prefix}.bias"), &[out], &b);
        let y = self.g.node("MatMul", prefix, &[x, &wn], vec![]);
        self.g.node("Add", prefix, &[&y, &bn], vec![])
    }

    fn tokens_of(&mut self, x: &str, c: usize) -> String {
        let shape = self.g.const_i64("shape_tokens", &[0, c as i64, -1]);
        let y = self.g.node("Reshape", "flat", &[x, &shape], vec![]);
        self.g.node(
            "Transpose",
            "tokens",
            &[&y],
            vec![attr_ints("perm", &[0, 2, 1])],
        )
    }

    fn map_of(&mut self, t: &str, c: usize, side: usize) -> String {
        let y = self.g.node(
            "Transpose",
            "channels",
            &[t],
            vec![attr_ints("perm", &[0, 2, 1])],
        );
        let shape = self
            .g
            .const_i64("shape_map", &[0, c as i64, side as i64, side as i64]);
        self.g.node("Reshape", "map", &[&y, &shape], vec![])
    }

    fn add_pos_encoding(&mut self, name: &str, x: &str, c: usize, side: usize) -> String {
        let pe = positional_encoding_values(c, side, side);
        let pe = self
            .g
            .constant(&format!("{name}.pos_encoding"), &[1, c, side, side], &pe);
        self.g.node("Add", name, &[x, &pe], vec![])
    }

    /// Multi-head attention: projections, then ONNX `Attention` on 3D tokens.
    fn attention(&mut self, prefix: &str, qk: &str, v: &str, heads: usize, c: usize) -> String {
        let q = self.linear(&format!("{prefix}.q"), qk);
        let k = self.linear(&format!("{prefix}.k"), qk);
        let v = self.linear(&format!("{prefix}.v"), v);
        let attrs = vec![
            attr_int("q_num_heads", heads as i64),
            attr_int("kv_num_heads", heads as i64),
            attr_float("scale", 1.0 / ((c / heads) as f32).sqrt()),
        ];
        self.g.node("Attention", prefix, &[&q, &k, &v], attrs)
    }

    /// Bilinear ×k upsampling with the matrices training used (half-pixel, clamped).
    fn upsample(&mut self, name: &str, x: &str, side: usize, k: usize) -> String {
        if k == 1 {
            return x.to_string();
        }
        let m = linear_resize_matrix(side, side * k, &candle_core::Device::Cpu)
            .and_then(|m| m.flatten_all()?.to_vec1::<f32>())
            .expect("interpolation matrix");
        let mut mt = vec![0f32; m.len()];
        for o in 0..side * k {
            for i in 0..side {
                mt[i * side * k + o] = m[o * side + i];
            }
        }
        let mh = self
            .g
            .constant(&format!("{name}.rows"), &[side * k, side], &m);
        let mw = self
            .g
            .constant(&format!("{name}.cols_t"), &[side, side * k], &mt);
        let y = self.g.node("MatMul", name, &[x, &mw], vec![]);
        self.g.node("MatMul", name, &[&mh, &y], vec![])
    }

    fn mhsa(&mut self, x: &str) -> String {
        let (c, side) = (
            self.cfg.channels(self.cfg.levels),
            self.cfg.side(self.cfg.levels),
        );
        let xp = self.add_pos_encoding("mhsa", x, c, side);
        let t = self.tokens_of(&xp, c);
        let a = self.attention("mhsa", &t, &t, self.cfg.heads, c);
        let o = self.linear("mhsa.o", &a);
        let y = self.map_of(&o, c, side);
        self.g.node("Add", "mhsa.residual", &[x, &y], vec![])
    }

    fn mhca(&mut self, l: usize, s: &str, y: &str) -> String {
        let p = format!("dec{l}.mhca");
        let (cs, side) = (self.cfg.channels(l), self.cfg.side(l));
        let grid = self.cfg.token_grid(l);
        let (y_stride, s_pool) = ((side / 2) / grid, side / grid);
        let qk = self.conv_bn(&format!("{p}.qk"), y, y_stride, true);
        let qk = self.add_pos_encoding(&p, &qk, cs, grid);
        let qk = self.tokens_of(&qk, cs);
        let v = self.conv_bn(&format!("{p}.v"), s, 1, true);
        let v = if s_pool > 1 {
            let k = [s_pool as i64; 2];
            self.g.node(
                "AveragePool",
                &format!("{p}.pool"),
                &[&v],
                vec![attr_ints("kernel_shape", &k), attr_ints("strides", &k)],
            )
        } else {
            v
        };
        let v = self.tokens_of(&v, cs);
        let a = self.attention(&format!("{p}.attn"), &qk, &v, self.cfg.heads, cs);
        let a = self.map_of(&a, cs, grid);
        let z = self.conv_bn(&format!("{p}.gate"), &a, 1, false);
        let z = self
            .g
            .node("Sigmoid", &format!("{p}.sigmoid"), &[&z], vec![]);
        let z = self.upsample(&format!("{p}.upsample"), &z, grid, s_pool);
        self.gated_concat(l, &p, s, &z, y)
    }

    /// `concat(filter ⊙ S, up(Y))`: how both gates join the decoder.
    fn gated_concat(&mut self, l: usize, p: &str, s: &str, filter: &str, y: &str) -> String {
        let gated = self
            .g
            .node("Mul", &format!("{p}.filter"), &[s, filter], vec![]);
        let up = self.conv_transpose(&format!("{p}.up"), y);
        self.g.node(
            "Concat",
            &format!("dec{l}.concat"),
            &[&gated, &up],
            vec![attr_int("axis", 1)],
        )
    }

    fn additive_gate(&mut self, l: usize, s: &str, y: &str) -> String {
        let p = format!("dec{l}.gate");
        let side = self.cfg.side(l);
        let a = self.conv_bn(&format!("{p}.wx"), s, 2, false);
        let b = self.conv_bn(&format!("{p}.wg"), y, 1, false);
        let sum = self.g.node("Add", &p, &[&a, &b], vec![]);
        let sum = self.g.node("Relu", &p, &[&sum], vec![]);
        let alpha = self.conv_bn(&format!("{p}.psi"), &sum, 1, false);
        let alpha = self.g.node("Sigmoid", &p, &[&alpha], vec![]);
        let alpha = self.upsample(&format!("{p}.upsample"), &alpha, side / 2, 2);
        self.gated_concat(l, &p, s, &alpha, y)
    }

    /// Emits the whole network from `input` (float in the graph's type); returns the logits.
    pub fn network(&mut self, input: &str) -> String {
        let cfg = self.cfg;
        let mut x = input.to_string();
        let mut skips = Vec::new();
        for l in 0..cfg.levels {
            let s = self.double_conv(&format!("enc{l}"), &x);
            let k = [2i64, 2];
            x = self.g.node(
                "MaxPool",
                &format!("enc{l}.pool"),
                &[&s],
                vec![attr_ints("kernel_shape", &k), attr_ints("strides", &k)],
            );
            skips.push(s);
        }
        let mut y = self.double_conv("bottleneck", &x);
        if cfg.arch.has_mhsa() {
            y = self.mhsa(&y);
        }
        for l in (0..cfg.levels).rev() {
            let joined = match cfg.arch {
                Arch::Unet | Arch::Mhsa => {
                    let up = self.conv_transpose(&format!("dec{l}.up"), &y);
                    self.g.node(
                        "Concat",
                        &format!("dec{l}.concat"),
                        &[&skips[l], &up],
                        vec![attr_int("axis", 1)],
                    )
                }
                Arch::AttentionUnet => self.additive_gate(l, &skips[l], &y),
                Arch::Mhca | Arch::UTransformer => self.mhca(l, &skips[l], &y),
            };
            y = self.double_conv(&format!("dec{l}.conv"), &joined);
        }
        let w = self.w.get("head.weight").clone();
        let b = self.w.get("head.bias").data.clone();
        self.conv("head", &y, &w, &b, 1, false)
    }
}
