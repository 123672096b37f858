//! [`UpConvOp`] replaces tract's `Deconv` for the 2 × 2 stride-2 transposed
//! convolutions of the decoder: tract runs them as a GEMM into a tap buffer,
//! a pack and a `DeconvSum` scatter (6 % of the edge preset's time,
//! BENCHMARKS.md); ours is our packed GEMM and one interleaving copy
//! ([`crate::kernels::upconv`]).

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Deconv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::kernels::conv::Isa;
use crate::kernels::upconv::UpConv2x2;

#[derive(Clone, Debug)]
pub struct UpConvOp(pub Arc<UpConv2x2>);

impl PartialEq for UpConvOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for UpConvOp {}

impl Op for UpConvOp {
    fn name(&self) -> StaticName {
        "UpConv2x2".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}→{} on {}×{}",
            self.0.cin, self.0.cout, self.0.h, self.0.w
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for UpConvOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let u = &self.0;
        let x = &inputs[0];
        let n = x.shape()[0];
        let xv = x.try_as_plain_ram()?;
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[n, u.cout, 2 * u.h, 2 * u.w])? };
        let mut yv = y.try_as_plain_ram_mut()?;
        let pool = super::plan_pool();
        u.run(
            xv.as_slice::<f32>()?,
            yv.as_slice_mut::<f32>()?,
            pool.as_deref(),
        );
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for UpConvOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let u = &self.0;
        let n = inputs[0].shape[0].clone();
        Ok(tvec!(f32::fact(&[
            n,
            u.cout.into(),
            (2 * u.h).into(),
            (2 * u.w).into()
        ])))
    }

    as_op!();
}

/// The [`UpConv2x2`] `node` computes, when it is an f32 NCHW `Deconv` with
/// a 2 × 2 kernel, stride 2, no padding, dilation or output adjustment, one
/// group, and constant weights and bias.
fn up_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<UpConv2x2>> {
    let Some(op) = node.op_as::<Deconv>() else {
        return Ok(None);
    };
    let spec = &op.pool_spec;
    let x = model.outlet_fact(node.inputs[0])?;
    let Some(shape) = x.shape.as_concrete().filter(|s| s.len() == 4) else {
        return Ok(None);
    };
    let fits = op.group == 1
        && op.kernel_format == KernelFormat::OIHW
        && op.adjustments.iter().all(|a| *a == 0)
        && spec.data_format == DataFormat::NCHW
        && x.datum_type == f32::datum_type()
        && *spec.kernel_shape == [2, 2]
        && spec.strides.as_deref() == Some(&[2, 2])
        && spec
            .dilations
            .as_ref()
            .is_none_or(|d| d.iter().all(|d| *d == 1))
        && match &spec.padding {
            PaddingSpec::Valid => true,
            PaddingSpec::Explicit(b, a) => b.iter().chain(a).all(|p| *p == 0),
            _ => false,
        };
    let (Some(weights), Some(bias)) = (
        super::constant(model, node.inputs[1]),
        node.inputs.get(2).and_then(|i| super::constant(model, *i)),
    ) else {
        return Ok(None);
    };
    let (cin, cout) = (shape[1], spec.output_channels);
    if !fits || weights.datum_type() != f32::datum_type() || weights.len() != cout * cin * 4 {
        return Ok(None);
    }
    let bias = bias.cast_to::<f32>()?;
    let bias = bias.try_as_plain_ram()?;
    let bias = bias.as_slice::<f32>()?;
    let bias = match bias.len() {
        n if n == cout => bias.to_vec(),
        1 => vec![bias[0]; cout],
        _ => return Ok(None),
    };
    let w = weights.try_as_plain_ram()?;
    Ok(Some(UpConv2x2::new(
        cin,
        cout,
        shape[2],
        shape[3],
        w.as_slice::<f32>()?,
        &bias,
    )))
}

/// Replaces every `Deconv` of `model` that [`UpConv2x2`] runs by an
/// [`UpConvOp`]; returns how many it replaced (none on CPUs without AVX2 +
/// FMA or AVX-512, where tract's GEMM is the faster one).
pub fn use_up_conv(model: &mut TypedModel) -> TractResult<usize> {
    if Isa::detect() == Isa::Portable {
        return Ok(0);
    }
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(up) = up_conv(model, node)? else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, UpConvOp(Arc::new(up)), &[x])?;
        patch.shunt_outside(model, OutletId::new(id, 0), y[0])?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
