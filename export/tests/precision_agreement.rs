//! The shipped fp16 and int8 models agree with fp32 on the argmax of at
//! least 99 % of the pixels of the real sample (all of its slices), run by
//! tract alone (not the runtime's kernels: an independent consumer). On
//! CPUs without native fp16 the fp16 graph is translated to f32 arithmetic,
//! as the runtime does: tract's f16 emulation takes minutes per slice on
//! some x86 CPUs.

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;
use utx_edge::volume::{model_slices, read_volume, Window};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Argmax labels of a model over `slices` (model-grid images), run in batches.
fn labels(model: &Path, slices: &[f32], size: usize, k: usize) -> Vec<u8> {
    let count = slices.len() / (size * size);
    let mut m = tract_onnx::onnx().model_for_path(model).unwrap();
    m.set_input_fact(0, f32::fact([count, 1, size, size]).into())
        .unwrap();
    let mut typed = m.into_typed().unwrap();
    if !utx_edge::model::native_fp16() {
        tract_onnx::tract_core::transform::get_transform("f16_to_f32")
            .unwrap()
            .unwrap()
            .transform(&mut typed)
            .unwrap();
    }
    let plan = typed.into_optimized().unwrap().into_runnable().unwrap();
    let y = plan
        .run(tvec!(Tensor::from_shape(&[count, 1, size, size], slices)
            .unwrap()
            .into()))
        .unwrap();
    let view = y[0].try_as_plain_ram().unwrap();
    let l = view.as_slice::<f32>().unwrap();
    let n2 = size * size;
    (0..count * n2)
        .map(|i| {
            let (b, p) = (i / n2, i % n2);
            (0..k)
                .max_by(|&a, &c| l[(b * k + a) * n2 + p].total_cmp(&l[(b * k + c) * n2 + p]))
                .unwrap() as u8
        })
        .collect()
}

#[test]
fn fp16_and_int8_agree_with_fp32_on_the_real_sample() {
    let fp32 = root().join("models/demo-fp32.onnx");
    let proto = tract_onnx::onnx().proto_model_for_path(&fp32).unwrap();
    let meta = |k: &str| {
        proto
            .metadata_props
            .iter()
            .find(|p| p.key == k)
            .unwrap()
            .value
            .clone()
    };
    let cfg: serde_json::Value = serde_json::from_str(&meta("utx.config")).unwrap();
    let size = cfg["input_size"].as_u64().unwrap() as usize;
    let k = cfg["classes"].as_u64().unwrap() as usize;
    let window = Window::new(
        cfg["window_hu"][0].as_f64().unwrap() as f32,
        cfg["window_hu"][1].as_f64().unwrap() as f32,
    );
    let vol = read_volume(&root().join("../shared/data/ct_small.nii.gz")).unwrap();
    let slices = model_slices(&vol, size, cfg["spacing_mm"].as_f64().unwrap(), window).unwrap();
    let reference = labels(&fp32, &slices, size, k);
    for p in ["int8", "fp16"] {
        let got = labels(
            &root().join(format!("models/demo-{p}.onnx")),
            &slices,
            size,
            k,
        );
        let agree = reference.iter().zip(&got).filter(|(a, b)| a == b).count() as f64
            / reference.len() as f64;
        eprintln!("{p}: argmax agreement with fp32 {:.3} %", agree * 100.0);
        assert!(
            agree >= 0.99,
            "{p} agrees with fp32 on only {:.3} % of pixels",
            agree * 100.0
        );
    }
}
