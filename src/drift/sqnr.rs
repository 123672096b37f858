//! Per-layer signal-to-quantisation-noise ratio of a candidate export against
//! its reference: both graphs run the same model-grid slices, and every tensor
//! the two share by name (utx-export names tensors after layers) is compared.
//! A layer whose SQNR drops well below its neighbours' is where precision is
//! lost; int8 convolutions typically sit at 25–40 dB.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::model::{LoadedModel, Sqnr};
use crate::volume::{model_slices, read_volume};

/// SQNR of one shared tensor.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSqnr {
    pub tensor: String,
    /// Operator producing it in the reference graph.
    pub op: String,
    /// dB; `None` when the reference activation is all zeros.
    pub sqnr_db: Option<f64>,
}

/// The lines worth showing a reader: layers that compute, not the reshapes
/// between them; a convolution followed by a ReLU is shown after the ReLU,
/// because int8 exports apply the ReLU inside the quantised convolution.
pub fn summary(layers: &[LayerSqnr]) -> Vec<&LayerSqnr> {
    let names: std::collections::HashSet<&str> = layers.iter().map(|l| l.tensor.as_str()).collect();
    layers
        .iter()
        .filter(|l| match l.op.as_str() {
            "Conv" => !names.contains(format!("{}.relu", l.tensor).as_str()),
            "Relu" => l.tensor.ends_with(".relu"),
            op => matches!(
                op,
                "ConvTranspose" | "Attention" | "Sigmoid" | "Identity" | "Cast"
            ),
        })
        .collect()
}

/// Compares `candidate` with `reference` on at most `max_slices` slices,
/// spread evenly over the volumes of `data`.
pub fn layer_sqnr(
    reference: &LoadedModel,
    candidate: &LoadedModel,
    data: &[PathBuf],
    max_slices: usize,
) -> Result<Vec<LayerSqnr>> {
    if max_slices == 0 || data.is_empty() {
        return Ok(Vec::new());
    }
    let cand_names: std::collections::HashSet<&str> = candidate
        .graph_tensors()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let shared: Vec<_> = reference
        .graph_tensors()
        .iter()
        .filter(|t| cand_names.contains(t.name.as_str()))
        .cloned()
        .collect();
    let names: Vec<String> = shared.iter().map(|t| t.name.clone()).collect();
    let (rp, cp) = (reference.probe(&names)?, candidate.probe(&names)?);
    let spec = &reference.metadata.spec;
    let n = spec.input_size;
    let per_volume = max_slices.div_ceil(data.len()).max(1);
    let mut acc = vec![Sqnr::default(); names.len()];
    for path in data {
        let vol = read_volume(path)?;
        let slices = model_slices(&vol, n, spec.spacing_mm, reference.metadata.window())?;
        let count = slices.len() / (n * n);
        let take = per_volume.min(count);
        for i in 0..take {
            // Evenly spread, centred picks: slice ⌊(i + ½)·count/take⌋.
            let s = ((2 * i + 1) * count) / (2 * take);
            let x = &slices[s * n * n..(s + 1) * n * n];
            let (r, c) = (rp.run(x)?, cp.run(x)?);
            for ((a, r), c) in acc.iter_mut().zip(&r).zip(&c) {
                a.add(r, c);
            }
        }
    }
    Ok(shared
        .into_iter()
        .zip(acc)
        .map(|(t, a)| LayerSqnr {
            tensor: t.name,
            op: t.op,
            sqnr_db: a.db(),
        })
        .collect())
}
