//! The runtime, with our kernels swapped in (packed and indirect f32
//! convolutions, the fused int8 convolution, tiled attention, pooling and
//! transposed convolution), against onnxruntime on the same ONNX files and
//! real slices of the sample: fp32 logits to 1e-4 of their range; int8
//! logits close (both engines follow ONNX's QLinearConv, up to where each
//! rounds the requantisation) with the same label on ≥ 99.9 % of pixels.
//! Needs python3 with numpy and onnxruntime (`.ci/run` installs them).

mod common;

use std::process::Command;

use common::{root, shared, tmp};
use utx_edge::model::{LoadedModel, ModelSource, Precision};
use utx_edge::volume::{model_slices, read_volume};

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide python3 with numpy and onnxruntime (.ci/run installs them)"
        );
        eprintln!("skipped: python3 with numpy and onnxruntime not found");
    }
    ok
}

/// Our logits and onnxruntime's for `precision` on `n` slices of the sample.
fn both(precision: Precision, n: usize) -> (Vec<f32>, Vec<f32>, usize, usize) {
    let model = LoadedModel::load(ModelSource::Embedded(precision)).unwrap();
    let spec = model.metadata.spec.clone();
    let (size, k) = (spec.input_size, spec.classes);
    let vol = read_volume(&shared("ct_small.nii.gz")).unwrap();
    let all = model_slices(&vol, size, spec.spacing_mm, model.metadata.window()).unwrap();
    let x = all[12 * size * size..(12 + n) * size * size].to_vec();
    let plan = model.plan(n, 2).unwrap();
    let mut ours = vec![0f32; n * k * size * size];
    plan.run(&x, &mut ours).unwrap();

    let path = root().join(format!("models/demo-{}.onnx", precision.name()));
    let (xin, yout) = (
        tmp(&format!("ort-{}-x.f32", precision.name())),
        tmp(&format!("ort-{}-y.f32", precision.name())),
    );
    std::fs::write(
        &xin,
        x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
    )
    .unwrap();
    let o = Command::new("python3")
        .arg(root().join("tests/ort_logits.py"))
        .args([&path, &xin])
        .args([n.to_string(), size.to_string()])
        .arg(&yout)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: Vec<f32> = std::fs::read(&yout)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(theirs.len(), ours.len());
    (ours, theirs, k, size * size)
}

fn labels(l: &[f32], k: usize, plane: usize) -> Vec<usize> {
    (0..l.len() / k)
        .map(|i| {
            let (b, p) = (i / plane, i % plane);
            (0..k)
                .max_by(|&a, &c| l[(b * k + a) * plane + p].total_cmp(&l[(b * k + c) * plane + p]))
                .unwrap()
        })
        .collect()
}

#[test]
fn fp32_matches_onnxruntime() {
    if !python_ready() {
        return;
    }
    let (ours, theirs, _, _) = both(Precision::Fp32, 2);
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 1e-4 * scale.max(1.0),
        "max |ours − ort| {worst} (logits up to {scale})"
    );
}

#[test]
fn int8_matches_onnxruntime() {
    if !python_ready() {
        return;
    }
    let (ours, theirs, k, plane) = both(Precision::Int8, 2);
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mean = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / ours.len() as f32;
    eprintln!("int8: mean |ours − ort| {mean:.2e}, logits up to {scale:.2}");
    assert!(
        mean < 0.005 * scale,
        "mean |ours − ort| {mean} (logits up to {scale})"
    );
    let (a, b) = (labels(&ours, k, plane), labels(&theirs, k, plane));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(
        same as f64 >= 0.999 * a.len() as f64,
        "{same} of {} labels agree",
        a.len()
    );
}
