//! The ONNX metadata contract (shared/DESIGN.md §3): everything the runtime
//! needs is in `metadata_props`, so a model file is self-describing.

use std::collections::HashMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::input_error;
use crate::volume::Window;

/// The numeric precision a model was exported at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
    Int8,
}

impl Precision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fp32" => Some(Precision::Fp32),
            "fp16" => Some(Precision::Fp16),
            "int8" => Some(Precision::Int8),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

/// The part of utx-train's `ModelConfig` the runtime relies on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: String,
    pub classes: usize,
    pub base_channels: usize,
    pub levels: usize,
    pub input_size: usize,
    pub heads: usize,
    pub spacing_mm: f64,
    pub window_hu: [f32; 2],
    pub class_names: Vec<String>,
}

/// A model's metadata, parsed and checked.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub spec: ModelSpec,
    pub precision: Precision,
    pub normalization: String,
    pub calibration: String,
    pub source: String,
    pub training: Option<serde_json::Value>,
}

impl Metadata {
    /// Parses `metadata_props`; `what` names the model for error messages.
    pub fn from_props(props: &HashMap<String, String>, what: &str) -> Result<Self> {
        let get = |k: &str| {
            props.get(k).ok_or_else(|| {
                input_error!("{what}: metadata `{k}` is missing; this is not a utx-export model (export it with utx-export)")
            })
        };
        let spec: ModelSpec = serde_json::from_str(get("utx.config")?).map_err(|e| {
            input_error!("{what}: metadata utx.config is not a valid model config ({e})")
        })?;
        let precision = Precision::parse(get("utx.precision")?).ok_or_else(|| {
            input_error!("{what}: metadata utx.precision must be fp32, fp16 or int8")
        })?;
        let bad = |why: String| Err(input_error!("{what}: inconsistent metadata: {why}"));
        if spec.classes < 2 || spec.classes > 255 {
            return bad(format!("{} classes (2..=255 expected)", spec.classes));
        }
        if spec.class_names.len() != spec.classes {
            return bad(format!(
                "{} class names for {} classes",
                spec.class_names.len(),
                spec.classes
            ));
        }
        if spec.input_size == 0
            || spec.input_size > 4096
            || spec.spacing_mm.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            return bad(format!(
                "input_size {} / spacing_mm {}",
                spec.input_size, spec.spacing_mm
            ));
        }
        if spec.window_hu[1].partial_cmp(&spec.window_hu[0]) != Some(std::cmp::Ordering::Greater) {
            return bad(format!("window_hu {:?} is empty", spec.window_hu));
        }
        Ok(Self {
            spec,
            precision,
            normalization: get("utx.normalization")?.clone(),
            calibration: props
                .get("utx.calibration")
                .cloned()
                .unwrap_or_else(|| "none".into()),
            source: props.get("utx.source").cloned().unwrap_or_default(),
            training: props
                .get("utx.training")
                .and_then(|t| serde_json::from_str(t).ok()),
        })
    }

    pub fn window(&self) -> Window {
        Window::new(self.spec.window_hu[0], self.spec.window_hu[1])
    }
}
