//! `utx-edge bench`: latency percentiles and peak memory on this machine.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::ProgressBar;
use utx_edge::input_error;
use utx_edge::volume::{model_slices, read_volume};

use crate::model_args::{load_model, write_atomic, ModelArgs};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A CT volume whose middle slices are the input (default: a synthetic
    /// abdomen-like slice; latency does not depend on the content).
    #[arg(long)]
    scan: Option<PathBuf>,
    /// Timed batches.
    #[arg(long, default_value_t = 30)]
    iterations: usize,
    /// Untimed batches first (caches, lazy packing).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Also time every node of the plan and print where the time goes, per
    /// tract operator and for the slowest nodes.
    #[arg(long)]
    profile: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.iterations == 0 {
        return Err(input_error!("--iterations must be at least 1"));
    }
    let (model, threads) = load_model(&a.model)?;
    let spec = &model.metadata.spec;
    let (n, batch) = (spec.input_size, model.batch);
    let input = match &a.scan {
        Some(path) => {
            let vol = read_volume(path)?;
            let slices = model_slices(&vol, n, spec.spacing_mm, model.metadata.window())?;
            let count = slices.len() / (n * n);
            (0..batch)
                .flat_map(|i| {
                    let s = (count / 2 + i) % count;
                    slices[s * n * n..(s + 1) * n * n].to_vec()
                })
                .collect()
        }
        None => synthetic_slices(n, batch),
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(a.iterations as u64)
    } else {
        ProgressBar::hidden()
    };
    let r = utx_edge::bench::bench(&model, threads, &input, a.warmup, a.iterations, |d, _| {
        bar.set_position(d as u64)
    })?;
    bar.finish_and_clear();
    let p = &r.ms_per_slice;
    println!(
        "{} ({} {}, {n}×{n}) on {}: batch {}, {} threads, {} iterations",
        r.model, r.arch, r.precision, r.cpu, r.batch, r.threads, r.iterations
    );
    println!(
        "ms/slice  min {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}  ({:.1} slices/s)",
        p.min, p.p50, p.p90, p.p99, p.max, p.mean, r.slices_per_second
    );
    match r.peak_rss_mb {
        Some(mb) => println!("peak RSS {mb:.1} MB"),
        None => println!("peak RSS: not available on this OS"),
    }
    let own = &r.own_kernels;
    println!(
        "our kernels: {} f32 conv (PackedConv), {} int8 conv (QConv), {} attention (TiledAttention), \
         {} max pool (MaxPool2x2), {} transposed conv (UpConv2x2)",
        own.conv, own.qconv, own.attention, own.pool, own.up_conv
    );
    let mut json = serde_json::to_value(&r)?;
    if a.profile {
        // Every node in the JSON, the slowest 15 on screen.
        let (ops, nodes) = model.profile(&input, a.iterations.min(10), usize::MAX)?;
        let total: f64 = ops.iter().map(|o| o.ms).sum();
        println!("profile (ms per batch of {batch}, node by node; total {total:.2} ms):");
        for o in &ops {
            println!(
                "  {:<24} {:>4} nodes {:>9.2} ms {:>6.1} %",
                o.op,
                o.nodes,
                o.ms,
                100.0 * o.share
            );
        }
        println!("slowest nodes:");
        for n in nodes.iter().take(15) {
            println!("  {:<40} {:<20} {:>9.2} ms", n.node, n.op, n.ms);
        }
        json["profile"] = serde_json::json!({ "ops": ops, "slowest_nodes": nodes });
    }
    if let Some(path) = &a.json {
        write_atomic(path, &(serde_json::to_string_pretty(&json)? + "\n"))?;
    }
    Ok(())
}

/// A body-like slice in model-input units (windowed to [0, 1]): an ellipse of
/// soft tissue with a brighter disc, air around.
fn synthetic_slices(n: usize, batch: usize) -> Vec<f32> {
    let c = n as f32 / 2.0;
    let one: Vec<f32> = (0..n * n)
        .map(|i| {
            let (y, x) = ((i / n) as f32 - c, (i % n) as f32 - c);
            let body = (x / (0.45 * n as f32)).powi(2) + (y / (0.35 * n as f32)).powi(2) < 1.0;
            let organ = (x - 0.1 * n as f32).powi(2) + y.powi(2) < (0.12 * n as f32).powi(2);
            match (body, organ) {
                (_, true) => 0.7,
                (true, false) => 0.45,
                _ => 0.0,
            }
        })
        .collect();
    one.repeat(batch)
}
