//! Where the milliseconds go: the optimised plan run node by node with a
//! clock around each, summed per tract operator (`utx-edge bench --profile`).

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tract_onnx::prelude::*;

use super::SegModel;

/// Time spent in one kind of tract operator, per batch.
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    /// tract's operator name after optimisation (`Conv`, `OptMatMul`, `FlashSDPA`, …).
    pub op: String,
    pub nodes: usize,
    pub ms: f64,
    pub share: f64,
}

/// Time spent in one node, per batch.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTime {
    pub node: String,
    pub op: String,
    pub ms: f64,
}

impl SegModel {
    /// Runs `input` `iterations` times timing every node; per-op totals
    /// (largest first) and the `top` slowest nodes, both in ms per batch.
    pub fn profile(
        &self,
        input: &[f32],
        iterations: usize,
        top: usize,
    ) -> Result<(Vec<OpTime>, Vec<NodeTime>)> {
        let n = self.metadata.spec.input_size;
        let mut per_node: HashMap<usize, f64> = HashMap::new();
        let mut state = self.plan.spawn()?;
        for _ in 0..iterations.max(1) {
            let x = Tensor::from_shape(&[self.batch, 1, n, n], input)?;
            state.run_plan_with_eval(tvec!(x.into()), |ctx, op_state, node, inputs| {
                let t = Instant::now();
                let out = tract_core::plan::eval(ctx, op_state, node, inputs);
                *per_node.entry(node.id).or_default() += t.elapsed().as_secs_f64() * 1000.0;
                out
            })?;
        }
        let model = self.plan.model();
        let scale = 1.0 / iterations.max(1) as f64;
        let total: f64 = per_node.values().sum::<f64>() * scale;
        let mut ops: HashMap<String, (usize, f64)> = HashMap::new();
        let mut nodes = Vec::new();
        for (&id, &ms) in &per_node {
            let node = model.node(id);
            let op = node.op().name().to_string();
            let e = ops.entry(op.clone()).or_default();
            e.0 += 1;
            e.1 += ms * scale;
            nodes.push(NodeTime {
                node: node.name.clone(),
                op,
                ms: ms * scale,
            });
        }
        let mut ops: Vec<OpTime> = ops
            .into_iter()
            .map(|(op, (nodes, ms))| OpTime {
                op,
                nodes,
                ms,
                share: ms / total.max(1e-12),
            })
            .collect();
        ops.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        nodes.truncate(top);
        Ok((ops, nodes))
    }
}
