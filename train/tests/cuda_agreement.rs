//! CPU and CUDA forward passes agree (built with `--features cuda`, run
//! where a GPU exists; elsewhere the test says it skipped).

#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use utx_train::config::{Arch, ModelConfig, Preset};
use utx_train::model::{init::init_weights, UNet};

#[test]
fn cpu_and_cuda_forward_passes_agree() {
    if !candle_core::utils::cuda_is_available() {
        eprintln!("skipped: no CUDA device");
        return;
    }
    let gpu = Device::new_cuda(0).unwrap();
    let cfg = ModelConfig::preset(Preset::Demo, Arch::UTransformer);
    let vm = VarMap::new();
    let cpu_net = UNet::new(&cfg, VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu)).unwrap();
    init_weights(&vm, 3).unwrap();
    let dir = std::env::temp_dir().join(format!("utx-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    vm.save(dir.join("w.safetensors")).unwrap();
    let mut vm_gpu = VarMap::new();
    let gpu_net = UNet::new(&cfg, VarBuilder::from_varmap(&vm_gpu, DType::F32, &gpu)).unwrap();
    vm_gpu.load(dir.join("w.safetensors")).unwrap();
    let n = cfg.input_size;
    let x: Vec<f32> = (0..2 * n * n)
        .map(|i| ((i * 31 % 97) as f32) / 97.0)
        .collect();
    let a = cpu_net
        .forward_t(
            &Tensor::from_slice(&x, (2, 1, n, n), &Device::Cpu).unwrap(),
            false,
        )
        .unwrap();
    let b = gpu_net
        .forward_t(&Tensor::from_slice(&x, (2, 1, n, n), &gpu).unwrap(), false)
        .unwrap();
    let (a, b) = (
        a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        b.to_device(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    eprintln!("max |cpu - cuda| = {diff:.2e}");
    assert!(diff < 1e-3, "CPU and CUDA logits differ by {diff}");
}
