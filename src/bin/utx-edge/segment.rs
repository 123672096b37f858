//! `utx-edge segment`: a CT volume in, a label volume on the same grid out.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::model_args::{load_model, write_atomic, ModelArgs};

#[derive(Args)]
pub struct SegmentArgs {
    /// Input CT volume (.nii or .nii.gz).
    input: PathBuf,
    /// Output label volume (.nii or .nii.gz).
    #[arg(short, long)]
    output: PathBuf,
    /// Write a JSON report (per-organ volumes, timings) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Overwrite an existing output.
    #[arg(long)]
    force: bool,
    /// No progress bar or summary.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(a: SegmentArgs) -> Result<()> {
    let (model, t) = load_model(&a.model)?;
    let show = !a.quiet && std::io::stderr().is_terminal();
    let bar = if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} segmenting [{bar:30}] {pos}/{len} slices ({eta})")?
            .progress_chars("=> "),
    );
    let report =
        utx_edge::pipeline::segment(&model, t, &a.input, &a.output, a.force, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
    bar.finish_and_clear();
    for w in &report.warnings {
        eprintln!("utx-edge: warning: {w}");
    }
    if let Some(r) = &a.report {
        write_atomic(r, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    if !a.quiet {
        eprintln!(
            "{} → {}: {} slices in {:.2} s ({:.1} ms/slice, {} {}, {} threads)",
            a.input.display(),
            a.output.display(),
            report.slices,
            report.seconds_total,
            report.ms_per_slice,
            report.arch,
            report.precision,
            t
        );
        for c in report.classes.iter().skip(1) {
            eprintln!("  {:<14} {:>9.1} mL", c.name, c.volume_ml);
        }
    }
    Ok(())
}
