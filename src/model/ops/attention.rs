//! [`TiledAttention`] replaces tract's `FlashSDPA` (what ONNX `Attention`
//! becomes): same tiled online-softmax algorithm and bounded memory, but
//! 64 × 256 tiles with GEMM calls and a vectorised exp instead of 32 × 32
//! tiles of ndarray products allocated per tile.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_transformers::ops::flash_sdpa::FlashSdpaOp;

use crate::kernels::attention::{attend, Scratch};

thread_local! {
    /// Tile buffers of [`attend`], allocated on a thread's first call and reused.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Non-causal, unmasked scaled-dot-product attention on f32
/// `[batch, heads, tokens, d]` (or `[batch, tokens, d]`) tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct TiledAttention {
    /// Defaults to 1/√d.
    pub scale: Option<f32>,
}

impl Eq for TiledAttention {}

impl Op for TiledAttention {
    fn name(&self) -> StaticName {
        "TiledAttention".into()
    }

    op_as_typed_op!();
}

impl EvalOp for TiledAttention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (q, k, v) = (&inputs[0], &inputs[1], &inputs[2]);
        let shape = q.shape();
        let rank = shape.len();
        ensure!(
            rank == 3 || rank == 4,
            "TiledAttention wants rank 3 or 4, got {shape:?}"
        );
        let (tq, d) = (shape[rank - 2], shape[rank - 1]);
        let tk = k.shape()[rank - 2];
        let heads: usize = shape[..rank - 2].iter().product();
        ensure!(
            k.shape()[..rank - 2] == shape[..rank - 2]
                && k.shape() == v.shape()
                && k.shape()[rank - 1] == d,
            "TiledAttention: q {shape:?}, k {:?}, v {:?} do not match",
            k.shape(),
            v.shape()
        );
        let scale = self.scale.unwrap_or(1.0 / (d as f32).sqrt());
        let (qv, kv, vv) = (
            q.try_as_plain_ram()?,
            k.try_as_plain_ram()?,
            v.try_as_plain_ram()?,
        );
        let (q, k, v) = (
            qv.as_slice::<f32>()?,
            kv.as_slice::<f32>()?,
            vv.as_slice::<f32>()?,
        );
        // The output tensor is written in place; the tile buffers live per thread.
        let mut output = Tensor::zero::<f32>(shape)?;
        let mut view = output.try_as_plain_ram_mut()?;
        let out = view.as_slice_mut::<f32>()?;
        let one_head = |scratch: &mut Scratch, (h, o): (usize, &mut [f32])| {
            attend(
                &q[h * tq * d..],
                &k[h * tk * d..],
                &v[h * tk * d..],
                o,
                tq,
                tk,
                d,
                scale,
                scratch,
            )
        };
        // Heads are independent: on the plan's thread pool when it has one.
        match tract_linalg::multithread::current_tract_executor() {
            tract_linalg::multithread::Executor::MultiThread(pool) if heads > 1 => {
                use rayon::prelude::*;
                pool.install(|| {
                    out.par_chunks_mut(tq * d)
                        .enumerate()
                        .for_each(|c| SCRATCH.with(|s| one_head(&mut s.borrow_mut(), c)))
                })
            }
            _ => SCRATCH.with(|s| {
                let mut scratch = s.borrow_mut();
                out.chunks_mut(tq * d)
                    .enumerate()
                    .for_each(|c| one_head(&mut scratch, c))
            }),
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for TiledAttention {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

/// Replaces every f32, non-causal, unmasked `FlashSDPA` of `model` by
/// [`TiledAttention`]; returns how many it replaced.
pub fn use_tiled_attention(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(op) = node.op_as::<FlashSdpaOp>() else {
            continue;
        };
        let f32_in = node.inputs.iter().all(|i| {
            model
                .outlet_fact(*i)
                .is_ok_and(|f| f.datum_type == f32::datum_type())
        });
        if op.causal || node.inputs.len() != 3 || !f32_in {
            continue;
        }
        let new = TiledAttention { scale: op.scale };
        let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs.clone(), new)?;
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
