//! The training loop: weighted slice sampling, augmentation, soft Dice + CE,
//! Adam with exponential learning-rate decay, periodic validation Dice per
//! class, checkpoints and resume.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{rngs::StdRng, SeedableRng};
use utx_edge::metrics::DiceAccumulator;

use crate::checkpoint::{self, CheckpointConfig, TrainingFacts};
use crate::config::ModelConfig;
use crate::data::augment::Augment;
use crate::data::sampler::SliceSampler;
use crate::data::SliceSet;
use crate::loss::dice_ce_loss;
use crate::model::{init::init_weights, UNet};

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    /// Multiplied into the learning rate after every step.
    pub lr_decay: f64,
    pub seed: u64,
    /// Validate and checkpoint every this many steps (and at the end).
    pub val_every: usize,
    pub out: PathBuf,
    pub resume: bool,
    pub augment: bool,
    pub quiet: bool,
    /// Share of sampled slices that are real rather than synthetic.
    pub real_fraction: f64,
}

/// Per-class Dice of the network on a slice set (argmax of the logits).
pub fn evaluate(
    net: &UNet,
    set: &SliceSet,
    batch: usize,
    device: &Device,
) -> Result<DiceAccumulator> {
    let n = set.size;
    let mut acc = DiceAccumulator::new(net.config.classes);
    let mut pred = vec![0u8; n * n];
    for start in (0..set.len()).step_by(batch.max(1)) {
        let end = (start + batch).min(set.len());
        let b = end - start;
        let x = Tensor::from_slice(
            &set.images[start * n * n..end * n * n],
            (b, 1, n, n),
            device,
        )?;
        let ids = net
            .forward_t(&x, false)?
            .argmax(1)?
            .flatten_all()?
            .to_vec1::<u32>()?;
        for i in 0..b {
            pred.iter_mut()
                .zip(&ids[i * n * n..(i + 1) * n * n])
                .for_each(|(p, &v)| *p = v as u8);
            acc.add(&pred, set.label(start + i));
        }
    }
    Ok(acc)
}

/// Trains `cfg` on `train` and validates on `val`, writing the checkpoint to
/// `opts.out`. `facts` carries the description of the data and command.
pub fn train(
    cfg: &ModelConfig,
    train: &SliceSet,
    val: &SliceSet,
    opts: &TrainOptions,
    mut facts: TrainingFacts,
    device: &Device,
) -> Result<CheckpointConfig> {
    if train.is_empty() {
        bail!("no training slices: the dataset is empty (give real cases with --data/--image, or --phantoms)");
    }
    let vm = VarMap::new();
    let net = UNet::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    init_weights(&vm, opts.seed)?;
    let mut start = 0;
    if opts.resume && opts.out.join(checkpoint::CONFIG_FILE).exists() {
        let prev = checkpoint::read_config(&opts.out)?;
        if prev.model != *cfg {
            bail!("{}: the checkpoint's model config differs from this run's; resume with the same preset and options", opts.out.display());
        }
        checkpoint::load_weights_checked(&vm, &checkpoint::weights_path(&opts.out))?;
        start = prev.training.steps;
        facts.history = prev.training.history;
        // Keep the whole recipe: the original command, then each resume.
        facts.command = format!("{} && {}", prev.training.command, facts.command);
        facts.elapsed_s = prev.training.elapsed_s;
        if !opts.quiet {
            eprintln!(
                "resuming from step {start} ({}); Adam moments restart from zero",
                opts.out.display()
            );
        }
    }
    let params = ParamsAdamW {
        lr: opts.lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vm.all_vars(), params)?;
    let sampler = SliceSampler::new(train, cfg.classes, opts.real_fraction);
    // The stream of batches depends on the seed and the step, so a resumed run
    // continues the same sequence.
    let mut rng =
        StdRng::seed_from_u64(opts.seed ^ (start as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let aug = Augment::default();
    let n = cfg.input_size;
    let (mut xb, mut yb) = (
        vec![0f32; opts.batch * n * n],
        vec![0u32; opts.batch * n * n],
    );
    let mut lab = vec![0u8; n * n];

    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(opts.steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] step {pos}/{len} {msg} (eta {eta})",
        )?
        .progress_chars("=> "),
    );
    bar.set_position(start as u64);
    let t0 = Instant::now();
    let (mut loss_sum, mut loss_n) = (0.0, 0usize);
    let mut last = None;
    for step in start..opts.steps {
        for b in 0..opts.batch {
            let i = sampler.sample(&mut rng);
            let xs = &mut xb[b * n * n..(b + 1) * n * n];
            if opts.augment {
                aug.apply(&mut rng, n, train.image(i), train.label(i), xs, &mut lab);
            } else {
                xs.copy_from_slice(train.image(i));
                lab.copy_from_slice(train.label(i));
            }
            yb[b * n * n..(b + 1) * n * n]
                .iter_mut()
                .zip(&lab)
                .for_each(|(y, &l)| *y = l as u32);
        }
        let x = Tensor::from_slice(&xb, (opts.batch, 1, n, n), device)?;
        let y = Tensor::from_slice(&yb, (opts.batch, n, n), device)?;
        opt.set_learning_rate(opts.lr * opts.lr_decay.powi(step as i32));
        let (loss, _, _) = dice_ce_loss(&net.forward_t(&x, true)?, &y)?;
        opt.backward_step(&loss)?;
        let l = loss.to_scalar::<f32>()? as f64;
        if !l.is_finite() {
            bail!("training diverged at step {step} (loss {l}); lower --lr");
        }
        loss_sum += l;
        loss_n += 1;
        bar.inc(1);
        let done = step + 1;
        if done % opts.val_every == 0 || done == opts.steps {
            let mean_loss = loss_sum / loss_n as f64;
            let acc = if val.is_empty() {
                None
            } else {
                Some(evaluate(&net, val, opts.batch, device)?)
            };
            let dice = acc.as_ref().map_or(f64::NAN, |a| a.mean_foreground());
            facts.history.push((done, mean_loss, dice));
            bar.set_message(format!("loss {mean_loss:.3} val Dice {dice:.3}"));
            if bar.is_hidden() && !opts.quiet {
                eprintln!(
                    "step {done}/{}: loss {mean_loss:.4}, validation mean Dice {dice:.3}",
                    opts.steps
                );
            }
            (loss_sum, loss_n) = (0.0, 0);
            facts.steps = done;
            facts.elapsed_s += t0.elapsed().as_secs_f64() - facts_elapsed_marker(&last);
            last = Some(t0.elapsed().as_secs_f64());
            if let Some(acc) = &acc {
                facts.val_dice = (1..cfg.classes)
                    .filter_map(|k| {
                        acc.dice(k)
                            .map(|d| (cfg.class_names[k].clone(), (d * 1e4).round() / 1e4))
                    })
                    .collect();
                facts.val_mean_dice = (dice * 1e4).round() / 1e4;
                facts.val_slices = val.len();
            }
            let ck = CheckpointConfig {
                model: cfg.clone(),
                training: facts.clone(),
            };
            checkpoint::save(&opts.out, &ck, &vm)?;
        }
    }
    bar.finish_and_clear();
    Ok(CheckpointConfig {
        model: cfg.clone(),
        training: facts,
    })
}

fn facts_elapsed_marker(last: &Option<f64>) -> f64 {
    last.unwrap_or(0.0)
}
