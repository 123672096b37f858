//! utx-export: a utx-train checkpoint → a self-describing ONNX model at
//! fp32, fp16 or int8 (shared/DESIGN.md §3).
//!
//! ```no_run
//! use utx_export::{export, ExportOptions, Precision};
//! let model = export(std::path::Path::new("models/demo"), &ExportOptions::new(Precision::Fp32)).unwrap();
//! utx_export::write_model(&model, std::path::Path::new("demo-fp32.onnx")).unwrap();
//! ```

pub mod calibrate;
pub mod graph;
pub mod network;
pub mod quantize;
pub mod weights;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb::ModelProto;
use utx_train::checkpoint::CheckpointConfig;

use graph::FloatType;
use network::Emitter;
use quantize::{Calibration, ConvQuantizer};
use weights::Weights;

/// Numeric precision of an exported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    Fp32,
    Fp16,
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub precision: Precision,
    /// NIfTI volumes whose slices calibrate int8 activations.
    pub calibration: Vec<PathBuf>,
    pub method: Calibration,
    /// Convolutions left in float in an int8 export.
    pub keep_float: Vec<String>,
}

impl ExportOptions {
    pub fn new(precision: Precision) -> Self {
        Self {
            precision,
            calibration: Vec::new(),
            method: Calibration::Percentile,
            keep_float: quantize::DEFAULT_KEEP_FLOAT.map(String::from).to_vec(),
        }
    }
}

/// Builds the ONNX graph of a loaded checkpoint.
pub fn build(
    ck: &CheckpointConfig,
    w: &Weights,
    float: FloatType,
    quant: Option<&ConvQuantizer>,
) -> (ModelProto, Vec<(String, String, String)>) {
    let cfg = &ck.model;
    let mut e = Emitter::new(float, w, cfg, quant);
    let input = if float == FloatType::F16 {
        e.g.node(
            "Cast",
            "image_f16",
            &["image"],
            vec![graph::attr_int("to", float.onnx() as i64)],
        )
    } else {
        "image".to_string()
    };
    let logits = e.network(&input);
    if float == FloatType::F16 {
        e.g.node_to(
            "Cast",
            &[&logits],
            "logits",
            vec![graph::attr_int("to", FloatType::F32.onnx() as i64)],
        );
    } else {
        e.g.node_to("Identity", &[&logits], "logits", vec![]);
    }
    let (s, k) = (cfg.input_size, cfg.classes);
    let convs = std::mem::take(&mut e.convs);
    (
        e.g.finish(("image", [1, s, s]), ("logits", [k, s, s]), Vec::new()),
        convs,
    )
}

/// Exports the checkpoint folder `dir` at the requested precision.
pub fn export(dir: &Path, opts: &ExportOptions) -> Result<ModelProto> {
    let (ck, w) = Weights::load(dir)?;
    let source = checkpoint_hash(dir)?;
    let (mut model, calibration) = match opts.precision {
        Precision::Fp32 => (build(&ck, &w, FloatType::F32, None).0, "none".to_string()),
        Precision::Fp16 => (build(&ck, &w, FloatType::F16, None).0, "none".to_string()),
        Precision::Int8 => {
            anyhow::ensure!(
                !opts.calibration.is_empty(),
                "int8 needs calibration volumes (--calibrate VOLUME.nii.gz …)"
            );
            let (fp32, convs) = build(&ck, &w, FloatType::F32, None);
            // Checked before calibration, which takes minutes on large models.
            for l in &opts.keep_float {
                anyhow::ensure!(
                    convs.iter().any(|c| &c.0 == l),
                    "--keep-float {l}: no convolution of that name (known: {})",
                    convs
                        .iter()
                        .map(|c| c.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let (mut quant, mut report) =
                calibrate::calibrate(&fp32, &convs, &ck.model, &opts.calibration, opts.method)?;
            quant.keep_float = opts.keep_float.clone();
            report.float_layers = opts.keep_float.clone();
            (
                build(&ck, &w, FloatType::F32, Some(&quant)).0,
                serde_json::to_string(&report)?,
            )
        }
    };
    let window = utx_edge::volume::Window::new(ck.model.window_hu[0], ck.model.window_hu[1]);
    let normalization = format!(
        "{}; in-plane bilinear resampling to {} mm on a centred {}x{} grid, outside the scan x = 0",
        window.describe(),
        ck.model.spacing_mm,
        ck.model.input_size,
        ck.model.input_size
    );
    let meta = [
        ("utx.config", serde_json::to_string(&ck.model)?),
        ("utx.precision", opts.precision.name().to_string()),
        ("utx.normalization", normalization),
        ("utx.calibration", calibration),
        ("utx.source", source),
        (
            "utx.training",
            serde_json::to_string(&serde_json::json!({
                "steps": ck.training.steps,
                "val_dice": ck.training.val_dice,
                "val_mean_dice": ck.training.val_mean_dice,
                "command": ck.training.command,
            }))?,
        ),
    ];
    model.metadata_props = meta
        .into_iter()
        .map(|(k, v)| tract_onnx::pb::StringStringEntryProto {
            key: k.into(),
            value: v,
        })
        .collect();
    model.doc_string = format!(
        "{} ({}) exported from {}",
        ck.model.arch.name(),
        opts.precision.name(),
        dir.display()
    );
    Ok(model)
}

/// sha256 of the checkpoint's config and weights.
pub fn checkpoint_hash(dir: &Path) -> Result<String> {
    let mut h = Sha256::new();
    for f in [
        utx_train::checkpoint::CONFIG_FILE,
        utx_train::checkpoint::WEIGHTS_FILE,
    ] {
        let p = dir.join(f);
        h.update(std::fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// Writes the model through a temporary file.
pub fn write_model(model: &ModelProto, path: &Path) -> Result<()> {
    let tmp = path.with_extension("onnx.partial");
    std::fs::write(&tmp, model.encode_to_vec())
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
