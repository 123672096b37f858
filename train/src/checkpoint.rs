//! The checkpoint contract (shared/DESIGN.md §3): a folder with `config.json`
//! (the ModelConfig and the facts of its training) and `model.safetensors`
//! (candle VarMap names, dotted).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::model::UNet;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// What a checkpoint says about how it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingFacts {
    /// The command line that produced it.
    pub command: String,
    /// Training volumes (paths) and phantom count.
    pub data: Vec<String>,
    pub phantoms: usize,
    pub steps: usize,
    pub batch: usize,
    pub seed: u64,
    pub lr: f64,
    pub lr_decay: f64,
    pub fold: String,
    pub device: String,
    pub elapsed_s: f64,
    /// Validation Dice per class name on held-out slices, at the last validation.
    pub val_dice: BTreeMap<String, f64>,
    pub val_mean_dice: f64,
    pub val_slices: usize,
    /// Loss per validation point: (step, train loss, val mean Dice).
    pub history: Vec<(usize, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    pub model: ModelConfig,
    pub training: TrainingFacts,
}

/// Writes a checkpoint folder; files are written under temporary names and
/// renamed, so a checkpoint is never half-written.
pub fn save(dir: &Path, cfg: &CheckpointConfig, vm: &VarMap) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the checkpoint folder", dir.display()))?;
    let tmp_w = dir.join(format!(".{WEIGHTS_FILE}.partial"));
    vm.save(&tmp_w)
        .with_context(|| format!("{}: cannot write weights", tmp_w.display()))?;
    let tmp_c = dir.join(format!(".{CONFIG_FILE}.partial"));
    fs::write(&tmp_c, serde_json::to_string_pretty(cfg)? + "\n")?;
    fs::rename(&tmp_w, dir.join(WEIGHTS_FILE))?;
    fs::rename(&tmp_c, dir.join(CONFIG_FILE))?;
    Ok(())
}

/// Reads `config.json` of a checkpoint folder.
pub fn read_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read the checkpoint config", path.display()))?;
    let cfg: CheckpointConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a utx checkpoint config", path.display()))?;
    cfg.model
        .validate()
        .with_context(|| format!("{}: invalid model config", path.display()))?;
    Ok(cfg)
}

pub fn weights_path(dir: &Path) -> PathBuf {
    dir.join(WEIGHTS_FILE)
}

/// Builds the network of a checkpoint and loads its weights, checking that
/// every tensor exists with the shape the config implies and that the file
/// has no tensor the config does not explain.
pub fn load(dir: &Path, device: &Device) -> Result<(CheckpointConfig, VarMap, UNet)> {
    let cfg = read_config(dir)?;
    let vm = VarMap::new();
    let net = UNet::new(&cfg.model, VarBuilder::from_varmap(&vm, DType::F32, device))?;
    load_weights_checked(&vm, &weights_path(dir))?;
    Ok((cfg, vm, net))
}

/// Loads `path` into the vars of `vm`, naming any missing, unexpected or
/// mis-shaped tensor.
pub fn load_weights_checked(vm: &VarMap, path: &Path) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("{}: cannot read safetensors", path.display()))?;
    let vars = vm.data().lock().unwrap();
    let mut missing: Vec<&String> = vars.keys().filter(|k| !tensors.contains_key(*k)).collect();
    missing.sort();
    if let Some(name) = missing.first() {
        bail!("{}: tensor `{name}` is missing ({} missing in all); does the config match these weights?", path.display(), missing.len());
    }
    let mut extra: Vec<&String> = tensors.keys().filter(|k| !vars.contains_key(*k)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        bail!("{}: tensor `{name}` is not part of the configured network; does the config match these weights?", path.display());
    }
    for (name, var) in vars.iter() {
        let t = &tensors[name];
        if t.dims() != var.dims() {
            bail!(
                "{}: tensor `{name}` has shape {:?}, the config needs {:?}",
                path.display(),
                t.dims(),
                var.dims()
            );
        }
        var.set(&t.to_dtype(DType::F32)?.to_device(var.device())?)?;
    }
    Ok(())
}
