//! `utx-edge bench` measures what it says: as many timed batches as asked,
//! ordered percentiles, the model's own description, and peak memory.

mod common;

use common::*;

#[test]
fn reports_ordered_percentiles_and_memory() {
    let json = tmp("bench.json");
    let o = utx(&[
        "bench",
        "--precision",
        "int8",
        "--threads",
        "1",
        "--batch",
        "2",
        "--iterations",
        "4",
        "--warmup",
        "1",
        "--scan",
        p(&root().join("data/sample/ct_small.nii.gz")),
        "--json",
        p(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["precision"], "int8");
    assert_eq!(
        (
            r["batch"].as_u64(),
            r["threads"].as_u64(),
            r["iterations"].as_u64()
        ),
        (Some(2), Some(1), Some(4))
    );
    let q = &r["ms_per_slice"];
    let v: Vec<f64> = ["min", "p50", "p90", "p99", "max"]
        .iter()
        .map(|k| q[k].as_f64().unwrap())
        .collect();
    assert!(v[0] > 0.0 && v.windows(2).all(|w| w[0] <= w[1]), "{q}");
    let mean = q["mean"].as_f64().unwrap();
    assert!(v[0] <= mean && mean <= v[4]);
    assert!((r["slices_per_second"].as_f64().unwrap() - 1000.0 / mean).abs() < 1e-6);
    if cfg!(target_os = "linux") {
        // The model and its buffers are resident: more than a few MB, less than a GB.
        let rss = r["peak_rss_mb"].as_f64().unwrap();
        assert!((5.0..1000.0).contains(&rss), "{rss}");
    }
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("p50") && text.contains("peak RSS"), "{text}");
}

#[test]
fn zero_iterations_is_refused() {
    let o = utx(&["bench", "--iterations", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn profile_accounts_for_every_node_and_uses_our_attention() {
    let json = tmp("bench-profile.json");
    let o = utx(&[
        "bench",
        "--threads",
        "1",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--profile",
        "--json",
        p(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let ops = r["profile"]["ops"].as_array().unwrap();
    let share: f64 = ops.iter().map(|o| o["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "shares sum to {share}");
    let ms: Vec<f64> = ops.iter().map(|o| o["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "largest first: {ms:?}");
    // The demo model's three attention blocks run as our kernel, not tract's FlashSDPA.
    let attn = ops
        .iter()
        .find(|o| o["op"] == "TiledAttention")
        .expect("TiledAttention in the plan");
    assert_eq!(attn["nodes"], 3);
    assert!(ops.iter().all(|o| o["op"] != "FlashSDPA"));
    assert_eq!(r["own_kernels"]["attention"], 3);
    // Its 17 convolutions run as ours where the CPU has AVX2 + FMA or AVX-512.
    let convs = ops.iter().find(|o| o["op"] == "PackedConv");
    assert_eq!(
        convs.map(|c| c["nodes"].clone()),
        (r["own_kernels"]["conv"] != 0).then(|| 17.into())
    );
    let o = utx(&[
        "bench",
        "--threads",
        "1",
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--profile",
        "--tract-kernels-only",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    let profiled = |op: &str| text.lines().any(|l| l.trim_start().starts_with(op));
    assert!(
        profiled("FlashSDPA") && !profiled("TiledAttention") && !profiled("PackedConv"),
        "{text}"
    );
    assert!(
        text.contains("our kernels: 0 f32 conv (PackedConv), 0 int8 conv (QConv), 0 attention"),
        "{text}"
    );
}
