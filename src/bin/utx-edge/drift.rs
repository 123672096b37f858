//! `utx-edge drift`: the quantisation gate. Exit 0 when the candidate
//! segments like the reference, 3 when it drifts past the limits.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use utx_edge::drift::{self, sqnr::summary, DriftReport, GateLimits, Truth};
use utx_edge::input_error;
use utx_edge::labels::LabelMap;
use utx_edge::model::{LoadedModel, ModelSource};

use crate::model_args::{threads, write_atomic};

/// Exit status of a failed gate (input errors are 2, other failures 1).
pub const GATE_FAILED: u8 = 3;

#[derive(Args)]
pub struct DriftArgs {
    /// The model the candidate is judged against (normally the fp32 export).
    #[arg(long)]
    reference: PathBuf,
    /// The quantised export under test (int8 or fp16).
    #[arg(long)]
    candidate: PathBuf,
    /// CT volumes (.nii / .nii.gz) to segment with both.
    #[arg(required = true)]
    data: Vec<PathBuf>,
    /// Reference segmentation of each volume (same order), to also score both
    /// models against it.
    #[arg(long)]
    truth: Vec<PathBuf>,
    /// How the reference segmentations' ids map onto the model's classes
    /// (`totalseg7`, `id:class,…`, or a .json file); default: the same ids.
    #[arg(long)]
    truth_labels: Option<String>,
    /// Largest drift of any organ, in Dice points (100 · (1 − Dice)).
    #[arg(long, default_value_t = 1.0)]
    max_drift: f64,
    /// Largest mean drift over the gated organs, in Dice points.
    #[arg(long, default_value_t = 0.5)]
    max_mean_drift: f64,
    /// Organs the reference finds fewer voxels of (all volumes together) are reported, not gated.
    #[arg(long, default_value_t = 200)]
    min_voxels: u64,
    /// Slices on which to measure per-layer SQNR (0: skip).
    #[arg(long, default_value_t = 8)]
    sqnr_slices: usize,
    /// Show every shared tensor in the SQNR table, not only computing layers.
    #[arg(long)]
    all_tensors: bool,
    /// Write the full report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Threads for tract (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(a: DriftArgs) -> Result<u8> {
    for (what, v) in [
        ("--max-drift", a.max_drift),
        ("--max-mean-drift", a.max_mean_drift),
    ] {
        if !(0.0..=100.0).contains(&v) {
            return Err(input_error!("{what} is in Dice points: 0 to 100"));
        }
    }
    let t = threads(a.threads);
    let reference = LoadedModel::load(ModelSource::File(&a.reference))?;
    let candidate = LoadedModel::load(ModelSource::File(&a.candidate))?;
    let sqnr = drift::layer_sqnr(&reference, &candidate, &a.data, a.sqnr_slices)?;
    let (reference, candidate) = (reference.plan(1, t)?, candidate.plan(1, t)?);
    let limits = GateLimits {
        max_drift: a.max_drift,
        max_mean_drift: a.max_mean_drift,
        min_voxels: a.min_voxels,
    };
    let bar = if !a.quiet && std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {pos}/{len} slices",
    )?);
    let classes = reference.metadata.spec.classes;
    let map = match &a.truth_labels {
        Some(m) => LabelMap::from_arg(m, classes)?,
        None => LabelMap::identity(classes),
    };
    let truth = (!a.truth.is_empty()).then_some(Truth {
        paths: &a.truth,
        labels: &map,
    });
    let mut report = drift::drift(
        &reference,
        &candidate,
        t,
        &a.data,
        truth,
        limits,
        |m, d, n| {
            bar.set_message(m.to_string());
            bar.set_length(n as u64);
            bar.set_position(d as u64);
        },
    )?;
    bar.finish_and_clear();
    report.sqnr = sqnr;
    print_report(&report, a.all_tensors);
    if let Some(path) = &a.json {
        write_atomic(path, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    if report.passed() {
        println!("PASS");
        Ok(0)
    } else {
        for f in &report.failures {
            eprintln!("utx-edge: drift gate failed: {f}");
        }
        println!("FAIL");
        Ok(GATE_FAILED)
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_infinite() => "inf".into(),
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

fn print_report(r: &DriftReport, all_tensors: bool) {
    let slices: usize = r.volumes.iter().map(|v| v.slices).sum();
    println!(
        "candidate {} ({}) vs reference {} ({}): {} volume(s), {slices} slices",
        r.candidate,
        r.candidate_precision,
        r.reference,
        r.reference_precision,
        r.volumes.len()
    );
    let truth = r.organs.iter().any(|o| o.reference_vs_truth.is_some());
    println!(
        "{:<14} {:>10} {:>10} {:>8} {:>10}{}  gate",
        "organ",
        "ref vox",
        "cand vox",
        "Dice",
        "drift pts",
        if truth { "  ref/truth cand/truth" } else { "" }
    );
    for o in &r.organs {
        let gate = if !o.gated {
            "not gated (too small)".to_string()
        } else if o.drift_points.unwrap_or(0.0) > r.limits.max_drift {
            format!("FAIL > {:.2}", r.limits.max_drift)
        } else {
            "ok".into()
        };
        let vs_truth = if truth {
            format!(
                "  {:>9} {:>10}",
                fmt_opt(o.reference_vs_truth, 4),
                fmt_opt(o.candidate_vs_truth, 4)
            )
        } else {
            String::new()
        };
        println!(
            "{:<14} {:>10} {:>10} {:>8} {:>10}{vs_truth}  {gate}",
            o.name,
            o.reference_voxels,
            o.candidate_voxels,
            fmt_opt(o.dice, 4),
            fmt_opt(o.drift_points, 2)
        );
    }
    println!(
        "mean drift over gated organs: {} points (limit {:.2}); {:.1} vs {:.1} ms/slice",
        fmt_opt(r.mean_drift_points, 3),
        r.limits.max_mean_drift,
        r.candidate_ms_per_slice,
        r.reference_ms_per_slice
    );
    if !r.sqnr.is_empty() {
        println!("per-layer SQNR of the candidate's activations (dB; higher is closer):");
        let shown = if all_tensors {
            r.sqnr.iter().collect()
        } else {
            summary(&r.sqnr)
        };
        for l in shown {
            println!(
                "  {:<28} {:<10} {:>7}",
                l.tensor,
                l.op,
                fmt_opt(l.sqnr_db, 1)
            );
        }
    }
}
