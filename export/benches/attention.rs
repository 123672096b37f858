//! The attention block alone: ONNX `Attention` as the runtime runs it (our
//! tiled online-softmax kernel, `TiledAttention`, swapped in for tract's
//! FlashSDPA), as tract runs it alone (FlashSDPA, also tiled), and the
//! explicit graph `softmax(Q·Kᵀ·s)·V`, which materialises the T×T score
//! matrix per head. Self-attention over the bottleneck tokens of
//! the `edge` (16×16) and `paper` (32×32) presets, 8 heads, 1 thread.
//! `cargo bench -p utx-export --bench attention`; results in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tract_onnx::prelude::*;
use utx_export::graph::{attr_float, attr_int, attr_ints, FloatType, GraphBuilder};

const HEADS: usize = 8;

/// `x` is `[1, 1, T, C]`; the graph's output has the same shape.
fn graph(tokens: usize, channels: usize, tiled: bool) -> tract_onnx::pb::ModelProto {
    let mut g = GraphBuilder::new(FloatType::F32);
    let d = channels / HEADS;
    let scale = 1.0 / (d as f32).sqrt();
    let y = if tiled {
        let shape = g.const_i64("tokens_shape", &[1, tokens as i64, channels as i64]);
        let x = g.node("Reshape", "tokens", &["image", &shape], vec![]);
        let attrs = vec![
            attr_int("q_num_heads", HEADS as i64),
            attr_int("kv_num_heads", HEADS as i64),
            attr_float("scale", scale),
        ];
        g.node("Attention", "attn", &[&x, &x, &x], attrs)
    } else {
        let shape = g.const_i64("heads_shape", &[tokens as i64, HEADS as i64, d as i64]);
        let x = g.node("Reshape", "tokens", &["image", &shape], vec![]);
        let xh = g.node(
            "Transpose",
            "per_head",
            &[&x],
            vec![attr_ints("perm", &[1, 0, 2])],
        );
        let xt = g.node(
            "Transpose",
            "keys_t",
            &[&x],
            vec![attr_ints("perm", &[1, 2, 0])],
        );
        let s = g.node("MatMul", "scores", &[&xh, &xt], vec![]);
        let sc = g.constant("scale", &[], &[scale]);
        let s = g.node("Mul", "scaled", &[&s, &sc], vec![]);
        let p = g.node("Softmax", "probs", &[&s], vec![attr_int("axis", -1)]);
        let o = g.node("MatMul", "context", &[&p, &xh], vec![]);
        g.node(
            "Transpose",
            "tokens_out",
            &[&o],
            vec![attr_ints("perm", &[1, 0, 2])],
        )
    };
    let out = g.const_i64("out_shape", &[1, 1, tokens as i64, channels as i64]);
    g.node_to("Reshape", &[&y, &out], "logits", vec![]);
    g.finish(
        ("image", [1, tokens, channels]),
        ("logits", [1, tokens, channels]),
        vec![],
    )
}

fn plan(tokens: usize, channels: usize, tiled: bool, ours: bool) -> Arc<TypedSimplePlan> {
    let onnx = tract_onnx::onnx();
    let mut m = onnx
        .model_for_proto_model(&graph(tokens, channels, tiled))
        .unwrap();
    m.set_input_fact(0, f32::fact([1, 1, tokens, channels]).into())
        .unwrap();
    let mut typed = m.into_optimized().unwrap();
    if ours {
        utx_edge::model::ops::use_tiled_attention(&mut typed).unwrap();
    }
    let ops: Vec<String> = typed
        .nodes()
        .iter()
        .map(|n| n.op().name().to_string())
        .collect();
    let flash = ops
        .iter()
        .any(|o| o.contains("Flash") || o.contains("Tiled") || o.contains("SDPA"));
    eprintln!(
        "T={tokens} C={channels} {}: tract ops {ops:?}; score matrix {}",
        if tiled { "Attention" } else { "explicit" },
        if tiled && flash {
            "tiled, never materialised".to_string()
        } else {
            format!(
                "{:.1} MiB ({HEADS} × {tokens}² × 4 B)",
                (HEADS * tokens * tokens * 4) as f64 / (1 << 20) as f64
            )
        }
    );
    typed.into_runnable().unwrap()
}

fn attention(c: &mut Criterion) {
    let mut group = c.benchmark_group("attention");
    group.sample_size(10);
    for (preset, tokens, channels) in [("edge", 256, 256), ("paper", 1024, 512)] {
        let x: Vec<f32> = (0..tokens * channels)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let input = Tensor::from_shape(&[1, 1, tokens, channels], &x).unwrap();
        for (name, tiled, ours) in [
            ("tiled_ours", true, true),
            ("tiled_tract_flash_sdpa", true, false),
            ("explicit_softmax", false, false),
        ] {
            let p = plan(tokens, channels, tiled, ours);
            let id = BenchmarkId::new(name, preset);
            group.bench_function(id, |b| {
                b.iter(|| p.run(tvec!(input.clone().into())).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
