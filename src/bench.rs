//! `utx-edge bench`: per-slice latency percentiles and peak memory of a model
//! on the machine at hand, the same measurement on an x86 console or an ARM
//! cart (no x86-specific code: tract picks its kernels at run time).

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::model::{OwnKernels, SegModel};

/// Latency distribution of repeated batches.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub arch: String,
    pub precision: String,
    pub input_size: usize,
    pub batch: usize,
    pub threads: usize,
    pub iterations: usize,
    /// Per slice (batch time / batch), milliseconds.
    pub ms_per_slice: Percentiles,
    pub slices_per_second: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), when known.
    pub peak_rss_mb: Option<f64>,
    pub cpu: String,
    /// Nodes of the plan that ran our kernels instead of tract's.
    pub own_kernels: OwnKernels,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (any order).
    pub fn of(samples: &[f64]) -> Self {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| s[((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Self {
            min: s[0],
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: s[s.len() - 1],
            mean: s.iter().sum::<f64>() / s.len() as f64,
        }
    }
}

/// Runs `warmup` untimed then `iterations` timed batches of `input`
/// (`batch × n × n` model-grid slices).
pub fn bench(
    model: &SegModel,
    threads: usize,
    input: &[f32],
    warmup: usize,
    iterations: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<BenchReport> {
    let spec = &model.metadata.spec;
    let mut logits = vec![0f32; model.batch * spec.classes * spec.input_size.pow(2)];
    for _ in 0..warmup {
        model.run(input, &mut logits)?;
    }
    let mut ms = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        model.run(input, &mut logits)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0 / model.batch as f64);
        progress(i + 1, iterations);
    }
    let p = Percentiles::of(&ms);
    Ok(BenchReport {
        model: model.name.clone(),
        arch: spec.arch.clone(),
        precision: model.metadata.precision.name().into(),
        input_size: spec.input_size,
        batch: model.batch,
        threads,
        iterations,
        slices_per_second: 1000.0 / p.mean,
        ms_per_slice: p,
        peak_rss_mb: peak_rss_mb(),
        cpu: cpu_name(),
        own_kernels: model.own_kernels,
    })
}

/// Peak resident set size of this process in MB (Linux, any architecture).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The CPU's model name and architecture, as far as the OS tells.
pub fn cpu_name() -> String {
    let arch = std::env::consts::ARCH;
    let name = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| {
                l.starts_with("model name") || l.starts_with("Model") || l.starts_with("Hardware")
            })
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    match name {
        Some(n) => format!("{n} ({arch})"),
        None => arch.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let p = Percentiles::of(&s);
        assert_eq!(
            (p.min, p.p50, p.p90, p.p99, p.max),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert!((p.mean - 50.5).abs() < 1e-12);
        let one = Percentiles::of(&[7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
    }
}
