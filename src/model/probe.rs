//! Intermediate activations by tensor name, to compare two exports of the
//! same network layer by layer (per-layer SQNR in `utx-edge drift`).
//!
//! utx-export names every tensor after its layer (`enc0.c1`, `mhsa`,
//! `dec1.mhca.gate`, …) at every precision, so the activations of an int8 or
//! fp16 graph line up with the fp32 graph's by name.

use anyhow::{Context, Result};
use tract_onnx::prelude::*;

use super::LoadedModel;

/// A tensor computed by a node of the ONNX graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphTensor {
    pub name: String,
    /// The ONNX operator that produces it (`Conv`, `QLinearConv`, `Attention`, …).
    pub op: String,
}

/// A plan whose outputs are the chosen intermediate tensors, batch 1.
pub struct ActivationProbe {
    names: Vec<String>,
    size: usize,
    plan: Arc<TypedSimplePlan>,
}

impl LoadedModel {
    /// Every tensor computed by a node, in graph order.
    pub fn graph_tensors(&self) -> &[GraphTensor] {
        &self.tensors
    }

    /// A single-threaded plan that outputs the tensors `names` (all must exist).
    pub fn probe(&self, names: &[String]) -> Result<ActivationProbe> {
        let n = self.metadata.spec.input_size;
        let mut model = self.model.clone();
        model.select_outputs_by_name(names)?;
        model.set_input_fact(0, f32::fact([1, 1, n, n]).into())?;
        let plan = model
            .into_typed()
            .and_then(|m| super::in_arithmetic_precision(m, self.fp16_in_f32()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("{}: building the activation probe", self.name))?;
        Ok(ActivationProbe {
            names: names.to_vec(),
            size: n,
            plan,
        })
    }
}

impl ActivationProbe {
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Runs one model-grid slice (`n × n`); one f32 vector per probed tensor.
    pub fn run(&self, slice: &[f32]) -> Result<Vec<Vec<f32>>> {
        let x = Tensor::from_shape(&[1, 1, self.size, self.size], slice)?;
        let outs = self.plan.run(tvec!(x.into()))?;
        outs.iter()
            .zip(&self.names)
            .map(|(t, name)| {
                let t = t
                    .cast_to::<f32>()
                    .with_context(|| format!("activation {name} is not numeric"))?;
                Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
            })
            .collect()
    }
}

/// Signal-to-quantisation-noise ratio accumulated over many activations:
/// 10·log10(Σ x² / Σ (x − y)²) for reference x and candidate y, in dB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqnr {
    signal: f64,
    noise: f64,
}

impl Sqnr {
    pub fn add(&mut self, reference: &[f32], candidate: &[f32]) {
        for (&x, &y) in reference.iter().zip(candidate) {
            self.signal += (x as f64).powi(2);
            self.noise += (x as f64 - y as f64).powi(2);
        }
    }

    /// dB; infinite when the candidate is exact, `None` without signal.
    pub fn db(&self) -> Option<f64> {
        if self.signal == 0.0 {
            None
        } else if self.noise == 0.0 {
            Some(f64::INFINITY)
        } else {
            Some(10.0 * (self.signal / self.noise).log10())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_of_known_noise() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        // Noise with 1 % of the signal's amplitude: 40 dB.
        let y: Vec<f32> = x.iter().map(|v| v * 1.01).collect();
        let mut s = Sqnr::default();
        s.add(&x, &y);
        assert!((s.db().unwrap() - 40.0).abs() < 1e-3, "{:?}", s.db());
        let mut exact = Sqnr::default();
        exact.add(&x, &x);
        assert_eq!(exact.db(), Some(f64::INFINITY));
        assert_eq!(Sqnr::default().db(), None);
    }
}
