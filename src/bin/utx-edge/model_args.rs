//! Model selection shared by the subcommands that run a model.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use utx_edge::input_error;
use utx_edge::model::{LoadedModel, ModelSource, Precision, SegModel};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
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
pub struct ModelArgs {
    /// An ONNX model exported by utx-export (default: the embedded demo model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Which embedded model to use (ignored with --model, whose metadata says).
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// Threads for tract (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Slices per inference batch.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// fp16 models compute in f16 even on a CPU without native fp16
    /// arithmetic (emulated, 40–2 000× slower); by default they compute in
    /// f32 there, with their fp16 weights.
    #[arg(long)]
    pub allow_slow_fp16: bool,
    /// Use tract's own kernels only (no TiledAttention): for comparisons.
    #[arg(long, hide = true)]
    pub tract_kernels_only: bool,
}

pub fn threads(arg: Option<usize>) -> usize {
    arg.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

pub fn load_model(a: &ModelArgs) -> Result<(SegModel, usize)> {
    if a.batch == 0 || a.batch > 256 {
        return Err(input_error!("--batch must be in 1..=256"));
    }
    let source = match &a.model {
        Some(p) => ModelSource::File(p),
        None => ModelSource::Embedded(a.precision.into()),
    };
    let mut loaded = LoadedModel::load(source)?;
    loaded.fp16_arithmetic |= a.allow_slow_fp16;
    if loaded.fp16_in_f32() {
        eprintln!(
            "utx-edge: note: {}: this CPU has no native fp16 arithmetic, so the fp16 weights \
             run in f32 (--allow-slow-fp16 emulates f16 arithmetic instead)",
            loaded.name
        );
    }
    let t = threads(a.threads);
    Ok((loaded.plan_with(a.batch, t, !a.tract_kernels_only)?, t))
}

/// Writes `text` to `path` through a temporary file, so a reader never sees half of it.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)
        .map_err(|e| input_error!("{}: cannot write ({e})", path.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| input_error!("{}: cannot write ({e})", path.display()))?;
    Ok(())
}
