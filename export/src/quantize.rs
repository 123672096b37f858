//! Static int8 quantisation of the convolutions, calibrated on real slices.
//!
//! Every convolution becomes `QuantizeLinear → QLinearConv → DequantizeLinear`:
//! uint8 activations with a per-tensor scale and zero point from calibration,
//! int8 weights with one symmetric scale per output channel, int32 bias. tract
//! runs QLinearConv with integer kernels; QDQ around a float Conv would be
//! dequantised and run in float (shared/DESIGN.md §5). Attention, softmax,
//! resampling and the element-wise ops stay in float.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tract_onnx::pb::tensor_proto::DataType;

use crate::graph::{attr_ints, GraphBuilder};
use crate::weights::Array;

/// How activation ranges are taken from the calibration data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// The observed minimum and maximum.
    MinMax,
    /// The 0.01 % and 99.99 % percentiles: ignores rare outliers, so the
    /// bulk of the values get finer steps.
    Percentile,
    /// The clipping range that minimises the expected squared quantisation
    /// error (rounding inside, clipping outside) over the observed histogram.
    Mse,
}

/// Observed range of one tensor: a running min/max and, for percentiles, a
/// histogram over a fixed range found in a first pass.
#[derive(Debug, Clone, Default)]
pub struct RangeObserver {
    pub min: f32,
    pub max: f32,
    hist: Vec<u64>,
    lo: f32,
    hi: f32,
}

pub const BINS: usize = 4096;

impl RangeObserver {
    pub fn new() -> Self {
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            ..Default::default()
        }
    }

    pub fn observe_range(&mut self, v: &[f32]) {
        for &x in v {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    /// Second pass: fills the histogram over [min, max].
    pub fn observe_hist(&mut self, v: &[f32]) {
        if self.hist.is_empty() {
            self.hist = vec![0; BINS];
            self.lo = self.min;
            self.hi = self.max.max(self.min + 1e-6);
        }
        let w = (self.hi - self.lo) / BINS as f32;
        for &x in v {
            let b = (((x - self.lo) / w) as usize).min(BINS - 1);
            self.hist[b] += 1;
        }
    }

    /// The range to quantise to, always including 0. `relu`: the tensor is
    /// clamped at 0 after quantisation, so the range starts at 0 and the
    /// negative values cost nothing.
    pub fn range(&self, method: Calibration, relu: bool) -> (f32, f32) {
        let (lo, hi) = self.range_of(method, relu);
        (if relu { 0.0 } else { lo.min(0.0) }, hi.max(0.0))
    }

    fn range_of(&self, method: Calibration, relu: bool) -> (f32, f32) {
        match (method, self.hist.is_empty()) {
            (Calibration::MinMax, _) | (_, true) => (self.min, self.max),
            (Calibration::Mse, false) => self.mse_range(relu),
            (Calibration::Percentile, false) => {
                let total: u64 = self.hist.iter().sum();
                let cut = (total as f64 * 1e-4) as u64;
                let w = (self.hi - self.lo) / BINS as f32;
                let mut acc = 0;
                let lo_bin = self.hist.iter().position(|&c| {
                    acc += c;
                    acc > cut
                });
                acc = 0;
                let hi_bin = self.hist.iter().rposition(|&c| {
                    acc += c;
                    acc > cut
                });
                (
                    self.lo + lo_bin.unwrap_or(0) as f32 * w,
                    self.lo + (hi_bin.unwrap_or(BINS - 1) + 1) as f32 * w,
                )
            }
        }
    }

    /// Shrinks [min, max] (both ends by the same factor) to the range with
    /// the least expected squared error: step²/12 for values inside, the
    /// squared distance to the range for values clipped outside.
    fn mse_range(&self, relu: bool) -> (f32, f32) {
        let w = (self.hi - self.lo) / BINS as f32;
        let lo0 = if relu { 0.0 } else { self.min.min(0.0) };
        let hi0 = self.max.max(0.0);
        let cost = |lo: f32, hi: f32| -> f64 {
            let step = ((hi - lo) / 255.0) as f64;
            let mut e = 0.0;
            for (b, &c) in self.hist.iter().enumerate().filter(|(_, &c)| c > 0) {
                let x = self.lo + (b as f32 + 0.5) * w;
                let d = if relu && x <= 0.0 {
                    0.0
                } else if x < lo {
                    (lo - x) as f64
                } else if x > hi {
                    (x - hi) as f64
                } else {
                    step / 12f64.sqrt()
                };
                e += c as f64 * d * d;
            }
            e
        };
        (20..=100)
            .map(|p| p as f32 / 100.0)
            .map(|a| (a * lo0, a * hi0))
            .min_by(|a, b| cost(a.0, a.1).total_cmp(&cost(b.0, b.1)))
            .unwrap()
    }
}

/// uint8 affine quantisation parameters of an activation range.
pub fn activation_params(lo: f32, hi: f32) -> (f32, u8) {
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

/// Calibrated ranges of one convolution's input and output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvRanges {
    pub x: (f32, f32),
    pub y: (f32, f32),
    /// The output's range when a ReLU follows (starts at 0).
    pub y_relu: (f32, f32),
}

/// Calibrated ranges of every convolution's input and output, by conv name.
#[derive(Debug, Clone, Default)]
pub struct ConvQuantizer {
    pub ranges: HashMap<String, ConvRanges>,
    /// Convolutions left in float (see [`DEFAULT_KEEP_FLOAT`]).
    pub keep_float: Vec<String>,
}

/// Convolutions an int8 export keeps in float by default: the first sees the
/// windowed image itself, whose 8-bit rounding every later layer inherits,
/// and the head's output is the logits, whose 256 levels would move class
/// boundaries (argmax ties) by whole pixels. Both are tiny (one input
/// channel; a 1×1 to a handful of classes), so float costs ~nothing. Measured
/// on the demo model (`utx-edge drift`): mean drift 0.85 → 0.62 Dice points.
pub const DEFAULT_KEEP_FLOAT: [&str; 2] = ["enc0.c1", "head"];

impl ConvQuantizer {
    /// True for a layer left in float in the int8 export.
    pub fn keeps_float(&self, name: &str) -> bool {
        self.keep_float.iter().any(|l| l == name)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn emit(
        &self,
        g: &mut GraphBuilder,
        name: &str,
        x: &str,
        w: &Array,
        b: &[f32],
        stride: usize,
        pad: i64,
        relu: bool,
    ) -> String {
        let r = self
            .ranges
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("no calibration for {name}"));
        let (xs, xz) = activation_params(r.x.0, r.x.1);
        // Before a ReLU the negative half of the output range is thrown away
        // anyway: quantising onto [0, hi] applies the ReLU in the integer
        // domain and spends all 256 levels on values that survive (+6 dB).
        let (ys, yz) = if relu {
            activation_params(r.y_relu.0, r.y_relu.1)
        } else {
            activation_params(r.y.0, r.y.1)
        };
        let cout = w.dims[0];
        let per = w.data.len() / cout;
        let mut wq = vec![0i8; w.data.len()];
        let mut ws = vec![0f32; cout];
        let mut bq = vec![0i32; cout];
        for o in 0..cout {
            let row = &w.data[o * per..(o + 1) * per];
            let m = row.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-8);
            ws[o] = m / 127.0;
            for (q, v) in wq[o * per..(o + 1) * per].iter_mut().zip(row) {
                *q = (v / ws[o]).round().clamp(-127.0, 127.0) as i8;
            }
            bq[o] = (b[o] as f64 / (xs as f64 * ws[o] as f64)).round() as i32;
        }
        let f32c = |g: &mut GraphBuilder, n: &str, v: &[f32]| {
            g.raw_constant(
                n,
                &[v.len()],
                DataType::Float as i32,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        };
        let scalar_f = |g: &mut GraphBuilder, n: &str, v: f32| {
            g.raw_constant(n, &[], DataType::Float as i32, v.to_le_bytes().to_vec())
        };
        let scalar_u8 = |g: &mut GraphBuilder, n: &str, v: u8| {
            g.raw_constant(n, &[], DataType::Uint8 as i32, vec![v])
        };
        let xs_n = scalar_f(g, &format!("{name}.x_scale"), xs);
        let xz_n = scalar_u8(g, &format!("{name}.x_zero"), xz);
        let ys_n = scalar_f(g, &format!("{name}.y_scale"), ys);
        let yz_n = scalar_u8(g, &format!("{name}.y_zero"), yz);
        let wq_n = g.raw_constant(
            &format!("{name}.w_q"),
            &w.dims,
            DataType::Int8 as i32,
            wq.iter().map(|&v| v as u8).collect(),
        );
        let ws_n = f32c(g, &format!("{name}.w_scale"), &ws);
        let wz_n = g.raw_constant(
            &format!("{name}.w_zero"),
            &[cout],
            DataType::Int8 as i32,
            vec![0u8; cout],
        );
        let bq_n = g.raw_constant(
            &format!("{name}.b_q"),
            &[cout],
            DataType::Int32 as i32,
            bq.iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let xq = g.node(
            "QuantizeLinear",
            &format!("{name}.xq"),
            &[x, &xs_n, &xz_n],
            vec![],
        );
        let k = w.dims[2] as i64;
        let attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("pads", &[pad; 4]),
            attr_ints("strides", &[stride as i64; 2]),
        ];
        let yq = g.node(
            "QLinearConv",
            &format!("{name}.q"),
            &[&xq, &xs_n, &xz_n, &wq_n, &ws_n, &wz_n, &ys_n, &yz_n, &bq_n],
            attrs,
        );
        // The dequantised output takes the layer's name, as the float Conv's does.
        g.node("DequantizeLinear", name, &[&yq, &ys_n, &yz_n], vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ignores_outliers_and_ranges_include_zero() {
        let mut o = RangeObserver::new();
        let mut v: Vec<f32> = (0..100_000)
            .map(|i| (i % 1000) as f32 / 1000.0 + 1.0)
            .collect();
        v.push(1000.0);
        o.observe_range(&v);
        o.observe_hist(&v);
        assert_eq!(o.range(Calibration::MinMax, false), (0.0, 1000.0));
        let (lo, hi) = o.range(Calibration::Percentile, false);
        assert_eq!(lo, 0.0);
        assert!(hi < 2.5, "{hi}");
        let (s, z) = activation_params(-1.0, 3.0);
        assert!((s - 4.0 / 255.0).abs() < 1e-7 && z == 64);
    }

    #[test]
    fn mse_clips_a_long_tail_and_relu_ranges_start_at_zero() {
        // A Laplace-like bulk with a long thin tail: the MSE range clips the
        // tail, but less of the bulk than a tight percentile would.
        let mut v: Vec<f32> = (1..20_000)
            .map(|i| -(i as f32 / 20_000.0).ln() * if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        v.extend([40.0, -40.0]);
        let mut o = RangeObserver::new();
        o.observe_range(&v);
        o.observe_hist(&v);
        let (lo, hi) = o.range(Calibration::Mse, false);
        assert!(hi < 40.0 && hi > 5.0 && lo < -5.0, "({lo}, {hi})");
        let (rlo, rhi) = o.range(Calibration::Mse, true);
        assert_eq!(rlo, 0.0);
        assert!(rhi > 5.0 && rhi < 40.0, "{rhi}");
    }
}
