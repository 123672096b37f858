//! The tiny network learns, checkpoints round-trip, and bad checkpoints are named.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use utx_edge::metrics::DiceAccumulator;
use utx_train::checkpoint::{self, CheckpointConfig, TrainingFacts};
use utx_train::config::{Arch, ModelConfig, Preset};
use utx_train::data::SliceSet;
use utx_train::loss::dice_ce_loss;
use utx_train::model::{init::init_weights, UNet};

fn phantom_batch(cfg: &ModelConfig) -> (SliceSet, Tensor, Tensor) {
    let mut set = SliceSet::new(cfg.input_size);
    set.add_phantom(3, 4, cfg);
    let picked = set.select(|i, _| i == 1 || i == 2);
    let n = cfg.input_size;
    let x = Tensor::from_slice(&picked.images, (2, 1, n, n), &Device::Cpu).unwrap();
    let y: Vec<u32> = picked.labels.iter().map(|&l| l as u32).collect();
    let y = Tensor::from_vec(y, (2, n, n), &Device::Cpu).unwrap();
    (picked, x, y)
}

#[test]
fn tiny_u_transformer_overfits_one_batch() {
    let mut cfg = ModelConfig::preset(Preset::Tiny, Arch::UTransformer);
    cfg.base_channels = 8;
    let (set, x, y) = phantom_batch(&cfg);
    let vm = VarMap::new();
    let net = UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    init_weights(&vm, 1).unwrap();
    let mut opt = AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let dice = |net: &UNet| {
        let ids = net
            .forward_t(&x, true)
            .unwrap()
            .argmax(1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<u32>()
            .unwrap();
        let pred: Vec<u8> = ids.iter().map(|&v| v as u8).collect();
        let mut acc = DiceAccumulator::new(cfg.classes);
        acc.add(&pred, &set.labels);
        (acc.mean_foreground(), acc.dice(5).unwrap_or(0.0))
    };
    let (first, d0) = (
        dice_ce_loss(&net.forward_t(&x, true).unwrap(), &y)
            .unwrap()
            .0
            .to_scalar::<f32>()
            .unwrap(),
        dice(&net),
    );
    let mut last = first;
    for _ in 0..120 {
        let (loss, _, _) = dice_ce_loss(&net.forward_t(&x, true).unwrap(), &y).unwrap();
        opt.backward_step(&loss).unwrap();
        last = loss.to_scalar::<f32>().unwrap();
    }
    let d1 = dice(&net);
    eprintln!(
        "loss {first:.3} → {last:.3}, mean Dice {:.3} → {:.3}, liver {:.3} → {:.3}",
        d0.0, d1.0, d0.1, d1.1
    );
    assert!(last < 0.5 * first, "loss fell only from {first} to {last}");
    assert!(
        d1.0 > d0.0 + 0.1,
        "mean Dice rose only from {:.3} to {:.3}",
        d0.0,
        d1.0
    );
    assert!(d1.1 > 0.8, "liver Dice only {:.3} after overfitting", d1.1);
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    for arch in [
        Arch::Unet,
        Arch::AttentionUnet,
        Arch::Mhsa,
        Arch::Mhca,
        Arch::UTransformer,
    ] {
        let cfg = ModelConfig::preset(Preset::Tiny, arch);
        let vm = VarMap::new();
        let net = UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
        init_weights(&vm, 5).unwrap();
        let (_, x, _) = phantom_batch(&cfg);
        net.forward_t(&x, true).unwrap(); // move the BatchNorm running statistics
        let before = net
            .forward_t(&x, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let dir = tempdir(&format!("ck-{}", arch.name()));
        let ck = CheckpointConfig {
            model: cfg.clone(),
            training: TrainingFacts::default(),
        };
        checkpoint::save(&dir, &ck, &vm).unwrap();
        let (back, _, net2) = checkpoint::load(&dir, &Device::Cpu).unwrap();
        assert_eq!(back, ck);
        let after = net2
            .forward_t(&x, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(before, after, "{arch:?}");
    }
}

#[test]
fn seeded_initialisation_is_deterministic() {
    let cfg = ModelConfig::preset(Preset::Tiny, Arch::UTransformer);
    let weights = |seed| {
        let vm = VarMap::new();
        UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
        init_weights(&vm, seed).unwrap();
        let v = vm.data().lock().unwrap();
        v["mhsa.q.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(weights(1), weights(1));
    assert_ne!(weights(1), weights(2));
}

#[test]
fn mismatched_checkpoints_name_the_tensor() {
    let cfg = ModelConfig::preset(Preset::Tiny, Arch::UTransformer);
    let vm = VarMap::new();
    UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    let dir = tempdir("ck-bad");
    let ck = CheckpointConfig {
        model: cfg.clone(),
        training: TrainingFacts::default(),
    };
    checkpoint::save(&dir, &ck, &vm).unwrap();
    // Config says MHSA-less U-Net with more channels: weights no longer fit.
    let mut other = ck.clone();
    other.model.base_channels = 8;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        checkpoint::load(&dir, &Device::Cpu)
            .err()
            .expect("load must fail")
    );
    assert!(err.contains("tensor `") && err.contains("shape"), "{err}");
    // Arch without MHSA: the file has tensors the config does not explain.
    other.model.base_channels = 4;
    other.model.arch = Arch::Mhca;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    let err = format!(
        "{:#}",
        checkpoint::load(&dir, &Device::Cpu)
            .err()
            .expect("load must fail")
    );
    assert!(
        err.contains("mhsa.") && err.contains("not part of"),
        "{err}"
    );
    // Arch with more: a tensor is missing.
    other.model.arch = Arch::UTransformer;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    let vm2 = VarMap::new();
    let mut less = cfg.clone();
    less.arch = Arch::Mhca;
    UNet::new(
        &less,
        VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu),
    )
    .unwrap();
    vm2.save(dir.join("model.safetensors")).unwrap();
    let err = format!(
        "{:#}",
        checkpoint::load(&dir, &Device::Cpu)
            .err()
            .expect("load must fail")
    );
    assert!(err.contains("mhsa.") && err.contains("missing"), "{err}");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("utx-train-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
