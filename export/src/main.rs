//! `utx-export`: checkpoint folder → ONNX at fp32, fp16 or int8.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use utx_export::quantize::Calibration;
use utx_export::{export, write_model, ExportOptions, Precision};

#[derive(Parser)]
#[command(
    name = "utx-export",
    version,
    about = "Export a utx-train checkpoint to self-describing ONNX"
)]
struct Cli {
    /// Checkpoint folder (config.json + model.safetensors).
    checkpoint: PathBuf,
    /// Output .onnx file.
    #[arg(short, long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "fp32")]
    precision: Precision,
    /// NIfTI volumes to calibrate int8 activations on (repeatable).
    #[arg(long)]
    calibrate: Vec<PathBuf>,
    /// How activation ranges are chosen.
    #[arg(long, value_enum, default_value = "percentile")]
    calibration_method: Calibration,
    /// Convolutions to leave in float in an int8 export (repeatable; `none`
    /// for none). Default: the first convolution and the head.
    #[arg(long)]
    keep_float: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut opts = ExportOptions::new(cli.precision);
    opts.calibration = cli.calibrate;
    opts.method = cli.calibration_method;
    match cli.keep_float.as_slice() {
        [] => {} // the default set
        [none] if none == "none" => opts.keep_float.clear(),
        l => opts.keep_float = l.to_vec(),
    }
    match export(&cli.checkpoint, &opts).and_then(|m| write_model(&m, &cli.out)) {
        Ok(()) => {
            eprintln!("wrote {} ({})", cli.out.display(), cli.precision.name());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("utx-export: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
