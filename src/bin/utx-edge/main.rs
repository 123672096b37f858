//! `utx-edge`: segment CT volumes on the CPU with the U-Transformer.
//! A thin layer over the library: parse the command line, call, report.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use utx_edge::error::is_input_error;

mod bench;
mod drift;
mod eval;
mod info;
mod model_args;
mod segment;

use model_args::PrecisionArg;

#[derive(Parser)]
#[command(
    name = "utx-edge",
    version,
    about = "On-device CT organ segmentation with the U-Transformer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Segment a CT volume (.nii / .nii.gz, or a DICOM series folder / .zip) into labels
    /// on the same grid (NIfTI, or DICOM SEG).
    Segment(segment::SegmentArgs),
    /// Check that a quantised model segments like its reference (the CI gate).
    Drift(drift::DriftArgs),
    /// Latency percentiles and peak memory of a model on this machine.
    Bench(bench::BenchArgs),
    /// Score a segmentation against a reference: Dice, HD95, surface Dice per class.
    Eval(eval::EvalArgs),
    /// Describe a scan (.nii/.nii.gz, a DICOM series folder or .zip) or a model (.onnx).
    Info {
        /// A NIfTI scan, a DICOM series (folder or .zip) or an ONNX model; `embedded` for the built-in model.
        file: String,
        /// DICOM input with several series: the SeriesInstanceUID to describe.
        #[arg(long)]
        series: Option<String>,
        /// Precision of the embedded model to describe.
        #[arg(long, value_enum, default_value = "fp32")]
        precision: PrecisionArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Segment(a) => segment::run(a).map(|()| 0),
        Command::Drift(a) => drift::run(a),
        Command::Bench(a) => bench::run(a).map(|()| 0),
        Command::Eval(a) => eval::run(a).map(|()| 0),
        Command::Info {
            file,
            precision,
            series,
        } => info::run(&file, precision, series.as_deref()).map(|()| 0),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("utx-edge: error: {e:#}");
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
    }
}
