//! tract operators of our own, swapped into the plan where tract's own is
//! slow (issue 6; BENCHMARKS.md has the profile that motivated each).
//!
//! - [`TiledAttention`] for tract's `FlashSDPA`, in the optimised plan;
//! - [`PackedConvOp`] for f32 `Conv` (+ ReLU), in the typed model before
//!   decluttering, which would turn 1 × 1 and strided convolutions into
//!   einsums and downsamplings, and before tract lowers the rest to im2col,
//!   `Pad` and GEMM nodes;
//! - [`QConvOp`] for the int8 `QuantizeLinear → QLinearConv →
//!   DequantizeLinear (+ ReLU)` chain, at the same point;
//! - [`MaxPool2x2`] for the 2 × 2 stride-2 `MaxPool`, and [`UpConvOp`]
//!   for the 2 × 2 stride-2 `ConvTranspose`, at the same point.
//!
//! The convolutions are swapped where our kernels have a SIMD path (AVX2 +
//! FMA or AVX-512 for f32, AVX-512 VNNI for int8); elsewhere, ARM included,
//! tract's own kernels run. `SegModel::own_kernels` counts the swaps.

mod attention;
mod conv;
mod pool;
mod qconv;
mod upconv;

pub use attention::{use_tiled_attention, TiledAttention};
pub use conv::{use_packed_conv, ConvKernel, KernelConvOp, PackedConvOp};
pub use pool::{use_max_pool_2x2, MaxPool2x2};
pub use qconv::{use_qconv, QConvOp};
pub use upconv::{use_up_conv, UpConvOp};

use tract_onnx::prelude::*;

/// The thread pool of the plan being run, when it has one: our kernels
/// spread their work over it as tract's own do.
pub(crate) fn plan_pool() -> Option<Arc<rayon::ThreadPool>> {
    match tract_linalg::multithread::current_tract_executor() {
        tract_linalg::multithread::Executor::MultiThread(pool) => Some(pool),
        _ => None,
    }
}

/// The value of `outlet` when it is a constant: a `Const`, or an operator
/// whose inputs all are (the `Cast`, `Reshape` and `MoveAxis` nodes tract
/// puts after ONNX initialisers before decluttering), evaluated here.
pub(crate) fn constant(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    let fact = model.outlet_fact(outlet).ok()?;
    if let Some(k) = &fact.konst {
        return Some(k.clone());
    }
    let node = model.node(outlet.node);
    if node.inputs.is_empty() || node.op.as_op().name() == "Source" {
        return None;
    }
    let inputs = node
        .inputs
        .iter()
        .map(|i| constant(model, *i).map(|k| k.into_tvalue()))
        .collect::<Option<TVec<TValue>>>()?;
    let outputs = node.op.eval_out_of_plan(inputs).ok()??;
    Some(outputs.get(outlet.slot)?.clone().into_arc_tensor())
}

#[cfg(test)]
mod tests {
    use crate::kernels::conv::Isa;
    use crate::kernels::qconv::vnni_available;
    use crate::model::{LoadedModel, ModelSource, OwnKernels, Precision, SegModel};

    /// A real-looking slice: a disc of textured tissue in air.
    fn slice(n: usize) -> Vec<f32> {
        (0..n * n)
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
            .collect()
    }

    /// Logits of our plan and tract's own for the embedded `precision` model.
    fn both(precision: Precision, threads: usize) -> (SegModel, Vec<f32>, Vec<f32>) {
        let load = || LoadedModel::load(ModelSource::Embedded(precision)).unwrap();
        let ours = load().plan_with(1, threads, true).unwrap();
        let tract = load().plan_with(1, threads, false).unwrap();
        let n = ours.metadata.spec.input_size;
        let k = ours.metadata.spec.classes;
        let x = slice(n);
        let (mut a, mut b) = (vec![0f32; k * n * n], vec![0f32; k * n * n]);
        ours.run(&x, &mut a).unwrap();
        tract.run(&x, &mut b).unwrap();
        assert_ne!(a, vec![0f32; k * n * n]);
        (ours, a, b)
    }

    /// With every convolution and attention block swapped for ours, the demo
    /// model gives tract's logits to float rounding, on 1 and 2 threads.
    #[test]
    fn own_kernels_match_tract_on_the_fp32_demo_model() {
        for threads in [1, 2] {
            let (ours, a, b) = both(Precision::Fp32, threads);
            let simd = Isa::detect() != Isa::Portable;
            assert_eq!(
                ours.own_kernels,
                OwnKernels {
                    conv: if simd { 17 } else { 0 },
                    qconv: 0,
                    attention: 3,
                    pool: 2,
                    up_conv: if simd { 2 } else { 0 },
                }
            );
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
        }
    }

    /// The int8 demo model with our integer convolutions against tract's:
    /// both implement QLinearConv, but tract requantises in its own way
    /// (not always ONNX's round-half-to-even), so a few activations land
    /// one step apart and the logits agree to a small fraction of their
    /// range, with the same label almost everywhere.
    #[test]
    fn own_kernels_match_tract_on_the_int8_demo_model() {
        let (ours, a, b) = both(Precision::Int8, 2);
        let (simd, vnni) = (Isa::detect() != Isa::Portable, vnni_available());
        assert_eq!(
            ours.own_kernels,
            OwnKernels {
                conv: if simd { 2 } else { 0 },
                qconv: if vnni { 15 } else { 0 },
                attention: 3,
                pool: 2,
                up_conv: if simd { 2 } else { 0 },
            }
        );
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mean = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum::<f32>() / a.len() as f32;
        assert!(
            mean < 0.01 * scale,
            "mean |Δ logit| {mean} (logits up to {scale})"
        );
        let (k, n) = (ours.metadata.spec.classes, ours.metadata.spec.input_size);
        let label = |l: &[f32], p: usize| {
            (0..k).max_by(|&i, &j| l[i * n * n + p].total_cmp(&l[j * n * n + p]))
        };
        let same = (0..n * n).filter(|&p| label(&a, p) == label(&b, p)).count();
        assert!(
            same as f64 > 0.995 * (n * n) as f64,
            "{same} of {} labels agree",
            n * n
        );
    }
}
