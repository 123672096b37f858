//! [`MaxPool2x2`] replaces tract's `MaxPool` for the U-Net's 2 × 2, stride-2
//! pooling: tract's runs on one thread through a generic patch walker
//! (3 % of the edge preset's time, BENCHMARKS.md); ours is one pass per
//! plane, planes in parallel.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{MaxPool, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

use crate::kernels::pool::max_pool_2x2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxPool2x2;

impl Op for MaxPool2x2 {
    fn name(&self) -> StaticName {
        "MaxPool2x2".into()
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2x2 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let &[n, c, h, w] = x.shape() else {
            bail!("MaxPool2x2 wants NCHW, got {:?}", x.shape());
        };
        let xv = x.try_as_plain_ram()?;
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[n, c, h / 2, w / 2])? };
        let mut yv = y.try_as_plain_ram_mut()?;
        let pool = super::plan_pool();
        max_pool_2x2(
            xv.as_slice::<f32>()?,
            yv.as_slice_mut::<f32>()?,
            h,
            w,
            pool.as_deref(),
        );
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for MaxPool2x2 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let s = &inputs[0].shape;
        ensure!(s.rank() == 4, "MaxPool2x2 wants NCHW");
        let half = |d: &TDim| d.clone() / 2;
        Ok(tvec!(f32::fact(&[
            s[0].clone(),
            s[1].clone(),
            half(&s[2]),
            half(&s[3])
        ])))
    }

    as_op!();
}

/// Replaces every f32 NCHW 2 × 2 stride-2 unpadded `MaxPool` of `model`
/// (without index output) by [`MaxPool2x2`]; returns how many it replaced.
pub fn use_max_pool_2x2(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = node.op_as::<MaxPool>() else {
            continue;
        };
        let spec = &op.pool_spec;
        let x = model.outlet_fact(node.inputs[0])?;
        let fits = op.with_index_outputs.is_none()
            && x.datum_type == f32::datum_type()
            && x.rank() == 4
            && spec.data_format == DataFormat::NCHW
            && *spec.kernel_shape == [2, 2]
            && spec.strides.as_deref() == Some(&[2, 2])
            && spec
                .dilations
                .as_ref()
                .is_none_or(|d| d.iter().all(|d| *d == 1))
            && match &spec.padding {
                PaddingSpec::Valid => true,
                PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false) => {
                    b.iter().chain(a).all(|p| *p == 0)
                }
                _ => false,
            };
        if !fits {
            continue;
        }
        let patch =
            TypedModelPatch::replace_single_op(model, node, &node.inputs.clone(), MaxPool2x2)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
