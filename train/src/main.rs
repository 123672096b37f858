//! `utx-train`: train the U-Transformer or a baseline from NIfTI pairs and
//! synthetic phantoms, on the CPU (or a CUDA GPU with `--features cuda`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use utx_train::checkpoint::TrainingFacts;
use utx_train::config::{Arch, ModelConfig, Preset};
use utx_train::data::{cases, LabelMap, SliceSet, Split};
use utx_train::train::{train, TrainOptions};

// candle allocates a fresh buffer for every op; glibc's malloc returns large
// ones to the kernel each time, and the page faults cost more than the maths
// (measured: 2.4× faster training with mimalloc on the tiny preset).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "utx-train",
    version,
    about = "Train the U-Transformer (and its baselines) for CT organ segmentation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model and write a checkpoint folder.
    Fit(Box<FitArgs>),
    /// Print the parameter count of every preset and architecture.
    Params,
}

#[derive(Args)]
struct FitArgs {
    /// Network size.
    #[arg(long, value_enum, default_value = "demo")]
    preset: Preset,
    #[arg(long, value_enum, default_value = "u_transformer")]
    arch: Arch,
    /// Full model config (JSON) instead of a preset.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Attention heads (overrides the preset).
    #[arg(long)]
    heads: Option<usize>,
    /// A Decathlon-layout folder (imagesTr/, labelsTr/).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A text file of `image label` lines.
    #[arg(long)]
    list: Option<PathBuf>,
    /// An image volume (repeat, each with a --label).
    #[arg(long)]
    image: Vec<PathBuf>,
    /// The label volume of the --image at the same position.
    #[arg(long)]
    label: Vec<PathBuf>,
    /// Label mapping: `totalseg7`, `id:class,…`, or a JSON file {"id": class}.
    /// Without it, label ids must already be classes.
    #[arg(long)]
    labels: Option<String>,
    /// Synthetic patients to add to the training set.
    #[arg(long, default_value_t = 0)]
    phantoms: usize,
    /// Slices rendered per synthetic patient.
    #[arg(long, default_value_t = 24)]
    phantom_slices: usize,
    /// Share of sampled training slices that are real when phantoms are added.
    #[arg(long, default_value_t = 0.5)]
    real_fraction: f64,
    /// How to hold out validation data.
    #[arg(long, value_enum, default_value = "auto")]
    split: SplitKind,
    /// Number of cross-validation folds (the paper: 5).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Which fold validates.
    #[arg(long, default_value_t = 0)]
    fold: usize,
    /// Slices per block for `--split slices`.
    #[arg(long, default_value_t = 2)]
    block: usize,
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Initial learning rate (Adam).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Learning-rate decay per step (exponential).
    #[arg(long, default_value_t = 0.997)]
    lr_decay: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 100)]
    val_every: usize,
    /// Disable augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Checkpoint folder to write.
    #[arg(long, short)]
    out: PathBuf,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// `cpu` or `cuda:N`; default: cuda:0 when built with CUDA and a GPU is present, else cpu.
    #[arg(long)]
    device: Option<String>,
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SplitKind {
    /// `patients` with at least `folds` cases, else `slices`.
    Auto,
    Patients,
    Slices,
    None,
}

fn device(spec: Option<&str>) -> Result<candle_core::Device> {
    use candle_core::Device;
    match spec {
        None => Ok(Device::cuda_if_available(0)?),
        Some("cpu") => Ok(Device::Cpu),
        Some(s) if s.starts_with("cuda") => {
            let idx = s
                .strip_prefix("cuda:")
                .unwrap_or("0")
                .parse()
                .context("--device cuda:N needs a number")?;
            if !candle_core::utils::cuda_is_available() {
                bail!("--device {s}: this utx-train was built without CUDA (rebuild with --features cuda, see README)");
            }
            Ok(Device::new_cuda(idx)?)
        }
        Some(s) => bail!("--device {s}: expected cpu or cuda:N"),
    }
}

fn fit(a: FitArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => serde_json::from_str::<ModelConfig>(&std::fs::read_to_string(p)?)
            .with_context(|| format!("{}: not a model config", p.display()))?,
        None => ModelConfig::preset(a.preset, a.arch),
    };
    if let Some(h) = a.heads {
        cfg.heads = h;
    }
    cfg.validate()?;
    if a.image.len() != a.label.len() {
        bail!(
            "give one --label for each --image ({} images, {} labels)",
            a.image.len(),
            a.label.len()
        );
    }
    let mut all = Vec::new();
    if let Some(d) = &a.data {
        all.extend(cases::decathlon(d)?);
    }
    if let Some(l) = &a.list {
        all.extend(cases::from_list(l)?);
    }
    let pairs: Vec<_> = a
        .image
        .iter()
        .cloned()
        .zip(a.label.iter().cloned())
        .collect();
    all.extend(cases::from_pairs(&pairs)?);
    if all.is_empty() && a.phantoms == 0 {
        bail!("no training data: give --data, --list, --image/--label or --phantoms");
    }
    let map = match &a.labels {
        Some(s) => LabelMap::from_arg(s, cfg.classes)?,
        None => LabelMap::identity(cfg.classes),
    };
    let device = device(a.device.as_deref())?;
    if !a.quiet {
        eprintln!("device: {}", if device.is_cuda() { "cuda" } else { "cpu" });
    }
    let mut set = SliceSet::new(cfg.input_size);
    for c in &all {
        set.add_case(c, &cfg, &map)?;
    }
    for p in 0..a.phantoms {
        set.add_phantom(a.seed * 7919 + p as u64, a.phantom_slices, &cfg);
    }
    let split = match a.split {
        SplitKind::None => Split::None,
        SplitKind::Patients => Split::Patients {
            folds: a.folds,
            fold: a.fold,
        },
        SplitKind::Slices => Split::Slices {
            folds: a.folds,
            fold: a.fold,
            block: a.block,
        },
        SplitKind::Auto if all.len() >= a.folds => Split::Patients {
            folds: a.folds,
            fold: a.fold,
        },
        SplitKind::Auto => Split::Slices {
            folds: a.folds,
            fold: a.fold,
            block: a.block,
        },
    };
    if a.fold >= a.folds.max(1) && split != Split::None {
        bail!("--fold {} must be below --folds {}", a.fold, a.folds);
    }
    let val = set.select(|_, o| split.is_validation(o));
    let tr = set.select(|_, o| !split.is_validation(o));
    if !a.quiet {
        eprintln!(
            "{} training slices ({} real cases, {} phantoms), {} validation slices ({})",
            tr.len(),
            all.len(),
            a.phantoms,
            val.len(),
            split.describe()
        );
    }
    let facts = TrainingFacts {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        data: all
            .iter()
            .map(|c| format!("{} + {}", c.image.display(), c.label.display()))
            .collect(),
        phantoms: a.phantoms,
        batch: a.batch,
        seed: a.seed,
        lr: a.lr,
        lr_decay: a.lr_decay,
        fold: split.describe(),
        device: if device.is_cuda() {
            "cuda".into()
        } else {
            "cpu".into()
        },
        ..Default::default()
    };
    let opts = TrainOptions {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        lr_decay: a.lr_decay,
        seed: a.seed,
        val_every: a.val_every.max(1),
        out: a.out.clone(),
        resume: a.resume,
        augment: !a.no_augment,
        quiet: a.quiet,
        real_fraction: a.real_fraction,
    };
    let ck = train(&cfg, &tr, &val, &opts, facts, &device)?;
    println!("{}", serde_json::to_string_pretty(&ck.training.val_dice)?);
    eprintln!(
        "wrote {} (validation mean Dice {:.3} over {} slices)",
        a.out.display(),
        ck.training.val_mean_dice,
        ck.training.val_slices
    );
    Ok(())
}

fn params() -> Result<()> {
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>14}",
        "preset", "unet", "attention_unet", "mhsa", "mhca", "u_transformer"
    );
    for p in [Preset::Tiny, Preset::Demo, Preset::Edge, Preset::Paper] {
        let counts: Vec<String> = [
            Arch::Unet,
            Arch::AttentionUnet,
            Arch::Mhsa,
            Arch::Mhca,
            Arch::UTransformer,
        ]
        .iter()
        .map(|&arch| {
            utx_train::model::parameter_count(&ModelConfig::preset(p, arch))
                .map(|n| format!("{:.3} M", n as f64 / 1e6))
        })
        .collect::<Result<_>>()?;
        println!(
            "{:<8} {:>12} {:>12} {:>12} {:>12} {:>14}",
            format!("{p:?}").to_lowercase(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Fit(a) => fit(*a),
        Command::Params => params(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("utx-train: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
