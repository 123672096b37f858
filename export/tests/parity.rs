//! tract on the fp32 export reproduces candle's forward pass, for every
//! architecture of the paper's table, on real slices.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor as CTensor};
use candle_nn::{VarBuilder, VarMap};
use prost::Message;
use tract_onnx::prelude::*;
use utx_edge::volume::{model_slices, read_volume, Window};
use utx_export::{export, ExportOptions, Precision};
use utx_train::checkpoint::{self, CheckpointConfig, TrainingFacts};
use utx_train::config::{Arch, ModelConfig, Preset};
use utx_train::model::{init::init_weights, UNet};

/// A small config that still has two levels, strided MHCA queries (y_stride 2)
/// and pooled values (s_pool 4 and 2).
fn small(arch: Arch) -> ModelConfig {
    let mut c = ModelConfig::preset(Preset::Demo, arch);
    c.base_channels = 4;
    c.heads = 2;
    c
}

fn real_slices(cfg: &ModelConfig, take: &[usize]) -> Vec<f32> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ct_small.nii.gz");
    let vol = read_volume(&p).unwrap();
    let all = model_slices(
        &vol,
        cfg.input_size,
        cfg.spacing_mm,
        Window::new(cfg.window_hu[0], cfg.window_hu[1]),
    )
    .unwrap();
    let n2 = cfg.input_size * cfg.input_size;
    take.iter()
        .flat_map(|&s| all[s * n2..(s + 1) * n2].to_vec())
        .collect()
}

/// A checkpoint with random weights and non-trivial BatchNorm statistics.
fn checkpoint_for(cfg: &ModelConfig, x: &[f32], batch: usize) -> (PathBuf, UNet) {
    let vm = VarMap::new();
    let net = UNet::new(cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    init_weights(&vm, 11).unwrap();
    let n = cfg.input_size;
    let xt = CTensor::from_slice(x, (batch, 1, n, n), &Device::Cpu).unwrap();
    for _ in 0..3 {
        net.forward_t(&xt, true).unwrap();
    }
    let dir = std::env::temp_dir().join(format!(
        "utx-parity-{}-{}",
        std::process::id(),
        cfg.arch.name()
    ));
    checkpoint::save(
        &dir,
        &CheckpointConfig {
            model: cfg.clone(),
            training: TrainingFacts::default(),
        },
        &vm,
    )
    .unwrap();
    (dir, net)
}

fn run_tract(
    model: &tract_onnx::pb::ModelProto,
    x: &[f32],
    batch: usize,
    n: usize,
) -> (Vec<f32>, Vec<String>) {
    let mut m = tract_onnx::onnx()
        .model_for_read(&mut &*model.encode_to_vec())
        .unwrap();
    m.set_input_fact(0, f32::fact([batch, 1, n, n]).into())
        .unwrap();
    let opt = m.into_optimized().unwrap();
    let ops: Vec<String> = opt
        .nodes()
        .iter()
        .map(|n| n.op().name().to_string())
        .collect();
    let plan = opt.into_runnable().unwrap();
    let out = plan
        .run(tvec!(Tensor::from_shape(&[batch, 1, n, n], x)
            .unwrap()
            .into()))
        .unwrap();
    let view = out[0].try_as_plain_ram().unwrap();
    (view.as_slice::<f32>().unwrap().to_vec(), ops)
}

fn argmax(logits: &[f32], batch: usize, k: usize, n2: usize) -> Vec<usize> {
    (0..batch * n2)
        .map(|i| {
            let (b, p) = (i / n2, i % n2);
            (0..k)
                .max_by(|&a, &c| {
                    logits[(b * k + a) * n2 + p].total_cmp(&logits[(b * k + c) * n2 + p])
                })
                .unwrap()
        })
        .collect()
}

#[test]
fn fp32_export_matches_candle_for_every_architecture() {
    for arch in [
        Arch::Unet,
        Arch::AttentionUnet,
        Arch::Mhsa,
        Arch::Mhca,
        Arch::UTransformer,
    ] {
        let cfg = small(arch);
        let (n, k, batch) = (cfg.input_size, cfg.classes, 3);
        let x = real_slices(&cfg, &[5, 12, 20]);
        let (dir, net) = checkpoint_for(&cfg, &x, batch);
        let xt = CTensor::from_slice(&x, (batch, 1, n, n), &Device::Cpu).unwrap();
        let want = net
            .forward_t(&xt, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let model = export(&dir, &ExportOptions::new(Precision::Fp32)).unwrap();
        let (got, ops) = run_tract(&model, &x, batch, n);
        let max_diff = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let (aw, ag) = (
            argmax(&want, batch, k, n * n),
            argmax(&got, batch, k, n * n),
        );
        let agree = aw.iter().zip(&ag).filter(|(a, b)| a == b).count() as f64 / aw.len() as f64;
        eprintln!(
            "{arch:?}: max |Δlogit| {max_diff:.2e}, argmax agreement {:.4} %",
            agree * 100.0
        );
        assert!(
            max_diff <= 1e-4,
            "{arch:?}: max abs logit difference {max_diff}"
        );
        assert!(agree >= 0.9999, "{arch:?}: argmax agreement {agree}");
        if arch.has_mhsa() || arch.has_mhca() {
            // The attention runs as tract's tiled online-softmax kernel; no n×n softmax is built.
            assert!(
                ops.iter().any(|o| o.to_lowercase().contains("sdpa")),
                "{arch:?}: no Sdpa in {ops:?}"
            );
            assert!(
                !ops.iter().any(|o| o.to_lowercase().contains("softmax")),
                "{arch:?}: explicit softmax in {ops:?}"
            );
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
