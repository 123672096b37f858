//! `utx-edge`: segment CT volumes on the CPU with the U-Transformer.
//! A thin layer over the library: parse the command line, call, report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use utx_edge::error::is_input_error;
use utx_edge::input_error;
use utx_edge::model::{native_fp16, LoadedModel, ModelSource, Precision, SegModel};

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
    /// Segment a CT volume (.nii / .nii.gz) into a label volume on the same grid.
    Segment(SegmentArgs),
    /// Describe a scan (.nii/.nii.gz) or a model (.onnx).
    Info {
        /// A NIfTI scan or an ONNX model; `embedded` for the built-in model.
        file: String,
        /// Precision of the embedded model to describe.
        #[arg(long, value_enum, default_value = "fp32")]
        precision: PrecisionArg,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PrecisionArg {
    Fp32,
    Fp16,
    Int8,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
            PrecisionArg::Int8 => Precision::Int8,
        }
    }
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// An ONNX model exported by utx-export (default: the embedded demo model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Which embedded model to use (ignored with --model, whose metadata says).
    #[arg(long, value_enum, default_value = "fp32")]
    precision: PrecisionArg,
    /// Threads for tract (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Slices per inference batch.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Run fp16 even on a CPU without native fp16 arithmetic (very slow).
    #[arg(long)]
    allow_slow_fp16: bool,
}

#[derive(Args)]
struct SegmentArgs {
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

fn threads(arg: Option<usize>) -> usize {
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn load_model(a: &ModelArgs) -> Result<(SegModel, usize)> {
    if a.batch == 0 || a.batch > 256 {
        return Err(input_error!("--batch must be in 1..=256"));
    }
    let source = match &a.model {
        Some(p) => ModelSource::File(p),
        None => ModelSource::Embedded(a.precision.into()),
    };
    let loaded = LoadedModel::load(source)?;
    if loaded.metadata.precision == Precision::Fp16 && !native_fp16() && !a.allow_slow_fp16 {
        return Err(input_error!(
            "{}: this CPU has no native fp16 arithmetic, so tract would emulate it about 100× slower; \
             use --precision fp32 or int8 (or --allow-slow-fp16 to insist)",
            loaded.name
        ));
    }
    let t = threads(a.threads);
    Ok((loaded.plan(a.batch, t)?, t))
}

fn segment(a: SegmentArgs) -> Result<()> {
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

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)
        .map_err(|e| input_error!("{}: cannot write ({e})", path.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| input_error!("{}: cannot write ({e})", path.display()))?;
    Ok(())
}

fn info(file: &str, precision: PrecisionArg) -> Result<()> {
    let json = if file == "embedded" {
        serde_json::to_string_pretty(&utx_edge::info::model_info(ModelSource::Embedded(
            precision.into(),
        ))?)?
    } else if file.to_lowercase().ends_with(".onnx") {
        serde_json::to_string_pretty(&utx_edge::info::model_info(ModelSource::File(Path::new(
            file,
        )))?)?
    } else {
        serde_json::to_string_pretty(&utx_edge::info::scan_info(Path::new(file))?)?
    };
    println!("{json}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Segment(a) => segment(a),
        Command::Info { file, precision } => info(&file, precision),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("utx-edge: error: {e:#}");
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
    }
}
