//! tract operators of our own, swapped into the plan where tract's own is
//! slow (issue 6; BENCHMARKS.md has the profile that motivated each).
//!
//! - [`TiledAttention`] for tract's `FlashSDPA`, in the optimised plan;
//! - [`PackedConvOp`] for f32 `Conv` (+ ReLU), in the typed model before
//!   decluttering, which would turn 1 × 1 and strided convolutions into
//!   einsums and downsamplings, and before tract lowers the rest to im2col,
//!   `Pad` and GEMM nodes;
//! - [`QConvOp`] for the int8 `QuantizeLinear → QLinearConv →
//!   DequantizeLinear (+ ReLU)` chain, at the same point.

mod attention;
mod conv;
mod qconv;

pub use attention::{use_tiled_attention, TiledAttention};
pub use conv::{use_packed_conv, PackedConvOp};
pub use qconv::{use_qconv, QConvOp};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cast::Cast;

/// The value of `outlet` when it is a constant, looking through the `Cast`
/// nodes tract puts after ONNX initialisers before decluttering.
pub(crate) fn constant(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    let fact = model.outlet_fact(outlet).ok()?;
    if let Some(k) = &fact.konst {
        return Some(k.clone());
    }
    let node = model.node(outlet.node);
    let cast = node.op_as::<Cast>()?;
    let k = constant(model, *node.inputs.first()?)?;
    Some(k.cast_to_dt(cast.to).ok()?.into_owned().into_arc_tensor())
}

#[cfg(test)]
mod tests {
    use crate::model::{LoadedModel, ModelSource, Precision};

    /// The demo model with our attention gives tract's logits (FlashSDPA)
    /// to float rounding, on a real-looking input.
    #[test]
    fn tiled_attention_matches_tract_on_the_demo_model() {
        let load = || LoadedModel::load(ModelSource::Embedded(Precision::Fp32)).unwrap();
        let ours = load().plan_with(1, 1, true).unwrap();
        let tract = load().plan_with(1, 1, false).unwrap();
        let n = ours.metadata.spec.input_size;
        let k = ours.metadata.spec.classes;
        let x: Vec<f32> = (0..n * n)
            .map(|i| {
                let (r, c) = (
                    (i / n) as f32 / n as f32 - 0.5,
                    (i % n) as f32 / n as f32 - 0.5,
                );
                if r * r + c * c < 0.16 {
                    0.5 + 0.3 * (9.0 * r).sin() * (7.0 * c).cos()
                } else {
                    0.0
                }
            })
            .collect();
        let (mut a, mut b) = (vec![0f32; k * n * n], vec![0f32; k * n * n]);
        ours.run(&x, &mut a).unwrap();
        tract.run(&x, &mut b).unwrap();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            worst < 1e-4 * scale.max(1.0),
            "max |Δ logit| {worst} (logits up to {scale})"
        );
        assert_ne!(a, vec![0f32; k * n * n]);
    }
}
