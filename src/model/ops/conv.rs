//! [`PackedConvOp`] replaces tract's f32 `Conv` (with a ReLU that follows it
//! folded in): our packed-GEMM convolution with implicit im2col
//! ([`crate::kernels::conv`]) instead of tract's eager im2col, its separate
//! single-threaded `Pad` nodes and its AVX2-width GEMM (BENCHMARKS.md).

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::math::Max;
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::kernels::conv::{ConvShape, Isa, PackedConv};

/// A convolution kernel of ours on f32 NCHW tensors (f32 or int8 inside).
pub trait ConvKernel: std::fmt::Debug + Send + Sync + 'static {
    /// The operator's name in plans and profiles.
    const NAME: &'static str;
    fn shape(&self) -> &ConvShape;
    /// The instruction set it runs on, for plan listings.
    fn path(&self) -> String;
    fn run(&self, input: &[f32], output: &mut [f32], relu: bool, pool: Option<&rayon::ThreadPool>);
}

impl ConvKernel for PackedConv {
    const NAME: &'static str = "PackedConv";

    fn shape(&self) -> &ConvShape {
        &self.shape
    }

    fn path(&self) -> String {
        format!("{:?}", self.isa())
    }

    fn run(&self, input: &[f32], output: &mut [f32], relu: bool, pool: Option<&rayon::ThreadPool>) {
        PackedConv::run(self, input, output, relu, pool)
    }
}

/// A convolution by one of our kernels, optionally followed by ReLU: the
/// operator both [`PackedConvOp`] and [`super::QConvOp`] are.
#[derive(Debug)]
pub struct KernelConvOp<K> {
    pub conv: Arc<K>,
    pub relu: bool,
}

// By hand: a derive would ask `K: Clone`, but only the `Arc` is cloned.
impl<K> Clone for KernelConvOp<K> {
    fn clone(&self) -> Self {
        Self {
            conv: self.conv.clone(),
            relu: self.relu,
        }
    }
}

/// An f32 convolution with packed weights ([`PackedConv`]).
pub type PackedConvOp = KernelConvOp<PackedConv>;

impl<K> PartialEq for KernelConvOp<K> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.conv, &other.conv) && self.relu == other.relu
    }
}

impl<K> Eq for KernelConvOp<K> {}

impl<K: ConvKernel> Op for KernelConvOp<K> {
    fn name(&self) -> StaticName {
        K::NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let s = self.conv.shape();
        Ok(vec![format!(
            "{}→{} {}×{} stride {} pad {}, {}{}",
            s.cin,
            s.cout,
            s.kernel,
            s.kernel,
            s.stride,
            s.pad,
            self.conv.path(),
            if self.relu { ", ReLU" } else { "" }
        )])
    }

    op_as_typed_op!();
}

impl<K: ConvKernel> EvalOp for KernelConvOp<K> {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let s = self.conv.shape();
        let n = x.shape()[0];
        let xv = x.try_as_plain_ram()?;
        let mut output = unsafe { Tensor::uninitialized::<f32>(&[n, s.cout, s.oh, s.ow])? };
        let mut view = output.try_as_plain_ram_mut()?;
        let pool = super::plan_pool();
        self.conv.run(
            xv.as_slice::<f32>()?,
            view.as_slice_mut::<f32>()?,
            self.relu,
            pool.as_deref(),
        );
        Ok(tvec!(output.into_tvalue()))
    }
}

impl<K: ConvKernel> TypedOp for KernelConvOp<K> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let s = self.conv.shape();
        let n = inputs[0].shape[0].clone();
        Ok(tvec!(f32::fact(&[
            n,
            s.cout.into(),
            s.oh.into(),
            s.ow.into()
        ])))
    }

    as_op!();
}

/// The convolution `node` computes, when it is one [`PackedConv`] runs: f32,
/// NCHW with a known shape, one group, square kernel, equal strides, no
/// dilation, the same padding on every side, constant weights and bias.
fn packed_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<PackedConv>> {
    let Some(op) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &op.pool_spec;
    let x = model.outlet_fact(node.inputs[0])?;
    let (Some(weights), Some(bias)) = (
        super::constant(model, node.inputs[1]),
        node.inputs.get(2).and_then(|i| super::constant(model, *i)),
    ) else {
        return Ok(None);
    };
    let Some(shape) = x.shape.as_concrete() else {
        return Ok(None);
    };
    let plain = op.q_params.is_none()
        && op.group == 1
        && op.kernel_fmt == KernelFormat::OIHW
        && x.datum_type == f32::datum_type()
        && weights.datum_type() == f32::datum_type()
        && shape.len() == 4;
    let Some((kernel, stride, pad)) = square_geometry(spec).filter(|_| plain) else {
        return Ok(None);
    };
    let cout = spec.output_channels;
    let bias = bias.cast_to::<f32>()?;
    let bias = bias.try_as_plain_ram()?;
    let bias = bias.as_slice::<f32>()?;
    let bias = if bias.len() == cout {
        bias.to_vec()
    } else if bias.len() == 1 {
        vec![bias[0]; cout]
    } else {
        return Ok(None);
    };
    let conv_shape = ConvShape::new(shape[1], cout, shape[2], shape[3], kernel, stride, pad);
    let w = weights.try_as_plain_ram()?;
    Ok(Some(PackedConv::new(
        conv_shape,
        w.as_slice::<f32>()?,
        &bias,
    )))
}

/// (kernel, stride, padding) of an NCHW 2D convolution with a square
/// kernel, equal strides, no dilation and the same padding on every side:
/// the geometry [`ConvShape`] describes.
pub(super) fn square_geometry(spec: &PoolSpec) -> Option<(usize, usize, usize)> {
    let k = &spec.kernel_shape;
    let stride = spec
        .strides
        .as_ref()
        .map(|s| s.to_vec())
        .unwrap_or(vec![1, 1]);
    let pad = match &spec.padding {
        PaddingSpec::Valid => 0,
        PaddingSpec::Explicit(b, a) if b.iter().chain(a).all(|p| *p == b[0]) => b[0],
        _ => return None,
    };
    let square = spec.data_format == DataFormat::NCHW
        && k.len() == 2
        && k[0] == k[1]
        && stride.len() == 2
        && stride[0] == stride[1]
        && spec
            .dilations
            .as_ref()
            .is_none_or(|d| d.iter().all(|d| *d == 1));
    square.then_some((k[0], stride[0], pad))
}

/// True when `node` is `max(x, 0)`, which is how tract writes ONNX `Relu`.
pub(super) fn is_relu(model: &TypedModel, node: &TypedNode) -> bool {
    let Some(bin) = node.op_as::<TypedBinOp>() else {
        return false;
    };
    bin.0.is::<Max>()
        && node.inputs.len() == 2
        && node.inputs.iter().any(|i| {
            super::constant(model, *i).is_some_and(|k| {
                k.cast_to::<f32>().is_ok_and(|k| {
                    k.try_as_plain_ram().is_ok_and(|v| {
                        v.as_slice::<f32>()
                            .is_ok_and(|v| v.iter().all(|x| *x == 0.0))
                    })
                })
            })
        })
}

/// Replaces every f32 `Conv` of `model` that [`PackedConv`] runs by a
/// [`PackedConvOp`], folding a ReLU that is the convolution's only consumer;
/// returns how many it replaced (none on CPUs without AVX2 + FMA or AVX-512).
pub fn use_packed_conv(model: &mut TypedModel) -> TractResult<usize> {
    // Without an x86 SIMD kernel of ours, tract's (NEON on ARM) is the faster choice.
    if Isa::detect() == Isa::Portable {
        return Ok(0);
    }
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(conv) = packed_conv(model, node)? else {
            continue;
        };
        let relu = model
            .single_succ(id)?
            .filter(|succ| model.outputs.iter().all(|o| o.node != id) && is_relu(model, succ));
        let last = relu.map(|r| r.id).unwrap_or(id);
        let op = PackedConvOp {
            conv: Arc::new(conv),
            relu: relu.is_some(),
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?;
        patch.shunt_outside(model, OutletId::new(last, 0), y[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
