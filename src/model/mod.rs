//! Loading a segmentation model with tract: metadata, precision checks,
//! threads, and a plan optimised for a fixed batch of slices.

pub mod metadata;
pub mod ops;
pub mod probe;
pub mod profile;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;

pub use metadata::{Metadata, ModelSpec, Precision};
pub use probe::{ActivationProbe, GraphTensor, Sqnr};
pub use profile::{NodeTime, OpTime};

use crate::input_error;

/// `model` translated to f32 arithmetic when `to_f32` (an fp16 graph on a
/// CPU without native fp16: see [`LoadedModel::fp16_arithmetic`]).
fn in_arithmetic_precision(mut model: TypedModel, to_f32: bool) -> TractResult<TypedModel> {
    if to_f32 {
        let f16_to_f32 = tract_core::transform::get_transform("f16_to_f32")?
            .context("tract's f16_to_f32 transform")?;
        f16_to_f32.transform(&mut model)?;
    }
    Ok(model)
}

/// The demonstration models compiled into the binary (models/README.md).
pub const EMBEDDED: [(Precision, &[u8]); 3] = [
    (
        Precision::Fp32,
        include_bytes!("../../models/demo-fp32.onnx"),
    ),
    (
        Precision::Fp16,
        include_bytes!("../../models/demo-fp16.onnx"),
    ),
    (
        Precision::Int8,
        include_bytes!("../../models/demo-int8.onnx"),
    ),
];

/// Where a model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource<'a> {
    Embedded(Precision),
    File(&'a Path),
}

/// A parsed ONNX model and its metadata, not yet optimised.
pub struct LoadedModel {
    pub name: String,
    pub metadata: Metadata,
    pub parameters: usize,
    /// Whether an fp16 model computes in f16. Where the CPU has no native
    /// fp16 arithmetic (x86) tract emulates it 40–2 000× slower than f32
    /// (BENCHMARKS.md), so by default the graph is translated to f32 there:
    /// the weights keep their fp16 values, the arithmetic is f32. `true`
    /// forces f16 arithmetic (`--allow-slow-fp16`).
    pub fp16_arithmetic: bool,
    tensors: Vec<GraphTensor>,
    model: InferenceModel,
}

/// True when this CPU does fp16 arithmetic natively (tract emulates it otherwise).
pub fn native_fp16() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("fp16")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

impl LoadedModel {
    pub fn load(source: ModelSource) -> Result<Self> {
        let (name, bytes): (String, std::borrow::Cow<[u8]>) = match source {
            ModelSource::Embedded(p) => {
                let b = EMBEDDED.iter().find(|(q, _)| *q == p).unwrap().1;
                (format!("embedded demo-{}", p.name()), b.into())
            }
            ModelSource::File(path) => {
                let b = std::fs::read(path)
                    .map_err(|e| input_error!("{}: cannot read the model ({e})", path.display()))?;
                (path.display().to_string(), b.into())
            }
        };
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &*bytes)
            .map_err(|e| input_error!("{name}: not a readable ONNX model ({e})"))?;
        let props: HashMap<String, String> = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let metadata = Metadata::from_props(&props, &name)?;
        let parameters = proto
            .graph
            .as_ref()
            .map(|g| {
                g.initializer
                    .iter()
                    .map(|t| t.dims.iter().product::<i64>().max(1) as usize)
                    .sum()
            })
            .unwrap_or(0);
        let tensors = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .flat_map(|n| {
                n.output.iter().map(|o| GraphTensor {
                    name: o.clone(),
                    op: n.op_type.clone(),
                })
            })
            .collect();
        let model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| input_error!("{name}: tract cannot load this graph ({e})"))?;
        Ok(Self {
            name,
            metadata,
            parameters,
            fp16_arithmetic: native_fp16(),
            tensors,
            model,
        })
    }

    /// True when an fp16 model's arithmetic runs in f32 here.
    pub fn fp16_in_f32(&self) -> bool {
        self.metadata.precision == Precision::Fp16 && !self.fp16_arithmetic
    }

    /// Optimises the graph for batches of `batch` slices on `threads` threads,
    /// with our own kernels where tract's are slow ([`ops`]).
    pub fn plan(self, batch: usize, threads: usize) -> Result<SegModel> {
        self.plan_with(batch, threads, true)
    }

    /// [`plan`](Self::plan), choosing whether to swap in our kernels
    /// (`false`: tract's own plan, for comparisons).
    pub fn plan_with(self, batch: usize, threads: usize, own_kernels: bool) -> Result<SegModel> {
        let n = self.metadata.spec.input_size;
        let to_f32 = self.fp16_in_f32();
        let mut model = self.model;
        model.set_input_fact(0, f32::fact([batch, 1, n, n]).into())?;
        // tract's direct spatial convolution is slower than im2col + GEMM on
        // our layers (edge preset: 517 → 445 ms/slice without it; BENCHMARKS.md),
        // so our plans are optimised without it.
        let mut swapped = OwnKernels::default();
        let scope = tract_core::knobs::KnobScope::new(if own_kernels {
            vec![("TRACT_DISABLE_DIRECT_SPATIAL", "true")]
        } else {
            vec![]
        })?;
        let mut typed = scope
            .enter(|| -> TractResult<TypedModel> {
                // Swapped before decluttering, which would turn 1 × 1 and
                // strided convolutions into einsums and downsamplings.
                let mut typed = in_arithmetic_precision(model.into_typed()?, to_f32)?;
                if own_kernels {
                    swapped.conv = ops::use_packed_conv(&mut typed)?;
                    swapped.qconv = ops::use_qconv(&mut typed)?;
                    swapped.pool = ops::use_max_pool_2x2(&mut typed)?;
                    swapped.up_conv = ops::use_up_conv(&mut typed)?;
                }
                typed.into_optimized()
            })
            .with_context(|| format!("{}: optimising the graph for batch {batch}", self.name))?;
        if own_kernels {
            swapped.attention = ops::use_tiled_attention(&mut typed)?;
        }
        let opts = RunOptions {
            executor: (threads > 1)
                .then(|| tract_linalg::multithread::Executor::multithread(threads)),
            ..Default::default()
        };
        let plan = typed.into_runnable_with_options(&opts)?;
        Ok(SegModel {
            name: self.name,
            metadata: self.metadata,
            parameters: self.parameters,
            batch,
            own_kernels: swapped,
            plan,
        })
    }
}

/// How many nodes of a plan run our kernels ([`ops`]) instead of tract's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OwnKernels {
    /// f32 convolutions ([`ops::PackedConvOp`]).
    pub conv: usize,
    /// int8 convolution chains ([`ops::QConvOp`]).
    pub qconv: usize,
    /// Attention blocks ([`ops::TiledAttention`]).
    pub attention: usize,
    /// 2 × 2 max pools ([`ops::MaxPool2x2`]).
    pub pool: usize,
    /// 2 × 2 stride-2 transposed convolutions ([`ops::UpConvOp`]).
    pub up_conv: usize,
}

/// A model ready to run: logits for a batch of model-grid slices.
pub struct SegModel {
    pub name: String,
    pub metadata: Metadata,
    pub parameters: usize,
    pub batch: usize,
    pub own_kernels: OwnKernels,
    plan: Arc<TypedSimplePlan>,
}

impl SegModel {
    /// Runs one batch; `input` is `batch × n × n`, the logits are written to
    /// `logits` (`batch × classes × n × n`).
    pub fn run(&self, input: &[f32], logits: &mut [f32]) -> Result<()> {
        let n = self.metadata.spec.input_size;
        // tract takes ownership of its inputs: this copy is the one allocation per batch.
        let x = Tensor::from_shape(&[self.batch, 1, n, n], input)?;
        let out = self.plan.run(tvec!(x.into()))?;
        let view = out[0].try_as_plain_ram()?;
        let y = view.as_slice::<f32>()?;
        anyhow::ensure!(
            y.len() == logits.len(),
            "model output has {} values, expected {}",
            y.len(),
            logits.len()
        );
        logits.copy_from_slice(y);
        Ok(())
    }
}
