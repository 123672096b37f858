//! Activation ranges for int8: the fp32 graph runs in tract over real
//! slices (windowed as the model expects) with every convolution's input and
//! output exposed, and a [`RangeObserver`] watches each.

use std::path::PathBuf;

use anyhow::{Context, Result};
use prost::Message;
use serde::Serialize;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use utx_edge::volume::{model_slices, read_volume, Window};
use utx_train::config::ModelConfig;

use crate::quantize::{Calibration, ConvQuantizer, ConvRanges, RangeObserver};

/// What the `utx.calibration` metadata records.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    pub method: Calibration,
    pub data: Vec<String>,
    pub slices: usize,
    /// Convolutions left in float.
    pub float_layers: Vec<String>,
}

pub fn calibrate(
    fp32: &ModelProto,
    convs: &[(String, String, String)],
    cfg: &ModelConfig,
    volumes: &[PathBuf],
    method: Calibration,
) -> Result<(ConvQuantizer, CalibrationReport)> {
    let n = cfg.input_size;
    let window = Window::new(cfg.window_hu[0], cfg.window_hu[1]);
    let mut slices = Vec::new();
    for v in volumes {
        let vol = read_volume(v)?;
        slices.extend(model_slices(&vol, n, cfg.spacing_mm, window)?);
    }
    let count = slices.len() / (n * n);
    anyhow::ensure!(count > 0, "no calibration slices");

    // Expose each distinct tensor once.
    let mut names: Vec<String> = Vec::new();
    for (_, i, o) in convs {
        for t in [i, o] {
            if !names.contains(t) {
                names.push(t.clone());
            }
        }
    }
    let mut model = tract_onnx::onnx().model_for_read(&mut &*fp32.encode_to_vec())?;
    model.set_input_fact(0, f32::fact([1, 1, n, n]).into())?;
    let outlets = names
        .iter()
        .map(|t| {
            // Graph inputs are found by node name, other tensors by outlet label.
            model
                .find_outlet_label(t)
                .or_else(|| model.node_by_name(t).ok().map(|n| OutletId::new(n.id, 0)))
                .with_context(|| format!("tensor {t} not found in the graph"))
        })
        .collect::<Result<Vec<_>>>()?;
    model.select_output_outlets(&outlets)?;
    let plan = model.into_optimized()?.into_runnable()?;
    let mut obs = vec![RangeObserver::new(); names.len()];
    for pass in 0..2 {
        if pass == 1 && method == Calibration::MinMax {
            break;
        }
        for s in slices.chunks_exact(n * n) {
            let x = Tensor::from_shape(&[1, 1, n, n], s)?;
            let outs = plan.run(tvec!(x.into()))?;
            for (o, t) in obs.iter_mut().zip(outs.iter()) {
                let view = t.try_as_plain_ram()?;
                let v = view.as_slice::<f32>()?;
                if pass == 0 {
                    o.observe_range(v);
                } else {
                    o.observe_hist(v);
                }
            }
        }
    }
    let idx = |t: &String| names.iter().position(|n| n == t).unwrap();
    let mut quant = ConvQuantizer::default();
    for (name, i, o) in convs {
        let (x, y) = (&obs[idx(i)], &obs[idx(o)]);
        quant.ranges.insert(
            name.clone(),
            ConvRanges {
                x: x.range(method, false),
                y: y.range(method, false),
                y_relu: y.range(method, true),
            },
        );
    }
    let report = CalibrationReport {
        method,
        data: volumes
            .iter()
            .map(|p| {
                p.file_name()
                    .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into())
            })
            .collect(),
        slices: count,
        float_layers: Vec::new(),
    };
    Ok((quant, report))
}
