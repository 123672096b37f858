//! The shipped models pass `onnx.checker` (full check) and run in
//! onnxruntime, whose fp32 logits match tract's to 1e-4. Needs python3 with
//! onnx and onnxruntime (`.ci/run` installs them); outside CI the test says
//! it skipped when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use tract_onnx::prelude::*;
use utx_edge::volume::{model_slices, read_volume, Window};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn onnx_checker_and_onnxruntime_accept_the_shipped_models() {
    if !python_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide python3 with onnx and onnxruntime (.ci/run installs them)"
        );
        eprintln!("skipped: python3 with onnx and onnxruntime not found");
        return;
    }
    let models: Vec<PathBuf> = ["fp32", "fp16", "int8"]
        .iter()
        .map(|p| root().join(format!("models/demo-{p}.onnx")))
        .collect();
    let proto = tract_onnx::onnx().proto_model_for_path(&models[0]).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(
        &proto
            .metadata_props
            .iter()
            .find(|p| p.key == "utx.config")
            .unwrap()
            .value,
    )
    .unwrap();
    let size = cfg["input_size"].as_u64().unwrap() as usize;
    let window = Window::new(
        cfg["window_hu"][0].as_f64().unwrap() as f32,
        cfg["window_hu"][1].as_f64().unwrap() as f32,
    );
    let vol = read_volume(&root().join("../shared/data/ct_small.nii.gz")).unwrap();
    let all = model_slices(&vol, size, cfg["spacing_mm"].as_f64().unwrap(), window).unwrap();
    let n = 2;
    let x: Vec<f32> = all[10 * size * size..(10 + n) * size * size].to_vec();

    let mut m = tract_onnx::onnx().model_for_path(&models[0]).unwrap();
    m.set_input_fact(0, f32::fact([n, 1, size, size]).into())
        .unwrap();
    let plan = m.into_optimized().unwrap().into_runnable().unwrap();
    let y = plan
        .run(tvec!(Tensor::from_shape(&[n, 1, size, size], &x)
            .unwrap()
            .into()))
        .unwrap();
    let view = y[0].try_as_plain_ram().unwrap();
    let logits = view.as_slice::<f32>().unwrap();

    let dir = std::env::temp_dir().join(format!("utx-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (xin, yout) = (dir.join("x.f32"), dir.join("tract.f32"));
    std::fs::write(
        &xin,
        x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(
        &yout,
        logits
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_onnx.py"))
        .args([&xin, &yout])
        .args([n.to_string(), size.to_string()])
        .args(&models)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "the second ONNX consumer refused: {text}"
    );
    assert_eq!(text.matches("checker ok").count(), 3, "{text}");
}
