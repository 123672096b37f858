//! [`QConvOp`] replaces the int8 chain of every quantised convolution of our
//! exports, `QuantizeLinear → QLinearConv → DequantizeLinear [→ ReLU]`,
//! which tract lowers to about eight nodes (an eager u8 im2col, the integer
//! GEMM, three zero-point corrections, a float requantisation, a clamp and
//! the next QuantizeLinear; BENCHMARKS.md), by one node running
//! [`crate::kernels::qconv`].

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::ops::quant::{DequantizeLinearF32, QuantizeLinearU8};

use super::conv::{is_relu, square_geometry, ConvKernel, KernelConvOp};
use crate::kernels::conv::ConvShape;
use crate::kernels::qconv::{vnni_available, QConv, Quant};

impl ConvKernel for QConv {
    const NAME: &'static str = "QConv";

    fn shape(&self) -> &ConvShape {
        &self.shape
    }

    fn path(&self) -> String {
        if self.uses_vnni() { "VNNI" } else { "portable" }.into()
    }

    fn run(&self, input: &[f32], output: &mut [f32], relu: bool, pool: Option<&rayon::ThreadPool>) {
        QConv::run(self, input, output, relu, pool)
    }
}

/// A quantised convolution, f32 in and out, optionally followed by ReLU ([`QConv`]).
pub type QConvOp = KernelConvOp<QConv>;

/// The constant input `slot` of `node` as f32 or i32 values.
fn konst<T: Datum + Copy>(model: &TypedModel, node: &TypedNode, slot: usize) -> Option<Vec<T>> {
    let k = super::constant(model, *node.inputs.get(slot)?)?;
    let k = k.cast_to::<T>().ok()?;
    let v = k.try_as_plain_ram().ok()?;
    Some(v.as_slice::<T>().ok()?.to_vec())
}

/// The pieces of one quantised chain around the u8 `Conv` at `id`: the f32
/// input of its QuantizeLinear, the kernel, and the node whose output the
/// kernel's output replaces (the DequantizeLinear, or the ReLU after it).
fn chain(model: &TypedModel, id: usize) -> TractResult<Option<(OutletId, QConv, bool, usize)>> {
    let node = model.node(id);
    let Some(op) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &op.pool_spec;
    if op.q_params != Some(u8::datum_type())
        || op.group != 1
        || op.kernel_fmt != KernelFormat::OIHW
        || spec.data_format != DataFormat::NCHW
        || node.inputs.len() != 9
    {
        return Ok(None);
    }
    // Input: a QuantizeLinear of an f32 tensor of known shape.
    let quantiser = model.node(node.inputs[0].node);
    let Some(q) = quantiser
        .op_as::<ElementWiseOp>()
        .and_then(|e| e.0.downcast_ref::<QuantizeLinearU8>())
    else {
        return Ok(None);
    };
    let x = model.outlet_fact(quantiser.inputs[0])?;
    let Some(shape) = x.shape.as_concrete().filter(|s| s.len() == 4) else {
        return Ok(None);
    };
    // Output: a DequantizeLinear, then perhaps a ReLU.
    let Some(dequant) = model
        .single_succ(id)?
        .filter(|d| d.op_is::<DequantizeLinearF32>())
    else {
        return Ok(None);
    };
    let dq = dequant.op_as::<DequantizeLinearF32>().unwrap();
    let relu = model
        .single_succ(dequant.id)?
        .filter(|r| model.outputs.iter().all(|o| o.node != dequant.id) && is_relu(model, r));
    // Constants: weights, bias, x zero/scale, w zero/scales, y zero/scale.
    let (Some(w), Some(bias), Some(x0), Some(xs), Some(w0), Some(ws), Some(y0), Some(ys)) = (
        konst::<i8>(model, node, 1),
        konst::<i32>(model, node, 2),
        konst::<i32>(model, node, 3),
        konst::<f32>(model, node, 4),
        konst::<i32>(model, node, 5),
        konst::<f32>(model, node, 6),
        konst::<i32>(model, node, 7),
        konst::<f32>(model, node, 8),
    ) else {
        return Ok(None);
    };
    let (x0, xs, y0, ys) = (x0[0], xs[0], y0[0], ys[0]);
    // The kernel's contract: symmetric weights, one zero point and scale per
    // tensor for x and y, the same ones QuantizeLinear and DequantizeLinear use.
    let same = |a: f32, b: f32| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
    let fits = w0.iter().all(|z| *z == 0)
        && (0..=255).contains(&x0)
        && (0..=255).contains(&y0)
        && q.zero_point as i32 == x0
        && same(q.scale, 1.0 / xs)
        && dq.zero_point == y0
        && same(dq.scale, ys);
    let Some((kernel, stride, pad)) = square_geometry(spec).filter(|_| fits) else {
        return Ok(None);
    };
    let shape = ConvShape::new(
        shape[1],
        spec.output_channels,
        shape[2],
        shape[3],
        kernel,
        stride,
        pad,
    );
    if w.len() != shape.cout * shape.k() {
        return Ok(None);
    }
    let conv = QConv::new(
        shape,
        &w,
        &ws,
        &bias,
        Quant::new(xs, x0 as u8),
        Quant::new(ys, y0 as u8),
    );
    let last = relu.map(|r| r.id).unwrap_or(dequant.id);
    Ok(Some((quantiser.inputs[0], conv, relu.is_some(), last)))
}

/// Replaces every quantised convolution chain of `model` that [`QConv`]
/// runs by a [`QConvOp`]; returns how many it replaced (none on CPUs
/// without AVX-512 VNNI).
pub fn use_qconv(model: &mut TypedModel) -> TractResult<usize> {
    // The portable integer path is exact but not measured to beat tract's
    // (which has NEON and AVX2 kernels): ours runs where VNNI is.
    if !vnni_available() {
        return Ok(0);
    }
    let mut replaced = 0;
    for id in model.eval_order()? {
        let Some((input, conv, relu, last)) = chain(model, id)? else {
            continue;
        };
        let name = model.node(id).name.clone();
        let op = QConvOp {
            conv: Arc::new(conv),
            relu,
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, input)?;
        let y = patch.wire_node(&name, op, &[x])?;
        patch.shunt_outside(model, OutletId::new(last, 0), y[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
