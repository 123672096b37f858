//! The drift gate on the shipped models and the bundled sample: the int8 and
//! fp16 exports pass at the CI thresholds, a deliberately broken int8 model
//! fails with exit code 3 naming the organs, and misuse is refused (exit 2).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use prost::Message;

/// The thresholds `.ci/run` gates the shipped int8 model with (see BENCHMARKS.md).
const CI_LIMITS: [&str; 4] = ["--max-drift", "1.5", "--max-mean-drift", "0.8"];

fn sample() -> String {
    root()
        .join("data/sample/ct_small.nii.gz")
        .display()
        .to_string()
}

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

fn drift(candidate: &str, extra: &[&str]) -> (i32, String, String) {
    let reference = model("demo-fp32.onnx");
    let sample = sample();
    let mut args = vec![
        "drift",
        "--reference",
        &reference,
        "--candidate",
        candidate,
        &sample,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let o = utx(&args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        stderr(&o),
    )
}

/// The shipped int8 model with one convolution's weight scales multiplied by
/// `factor`: the kind of error a broken quantiser would make.
fn broken_int8(factor: f32) -> PathBuf {
    let bytes = std::fs::read(model("demo-int8.onnx")).unwrap();
    let mut m = tract_onnx::pb::ModelProto::decode(&*bytes).unwrap();
    let g = m.graph.as_mut().unwrap();
    let t = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "dec0.conv.c1.w_scale")
        .expect("the int8 export names its weight scales after the layer");
    let scaled: Vec<u8> = t
        .raw_data
        .chunks_exact(4)
        .flat_map(|b| (f32::from_le_bytes(b.try_into().unwrap()) * factor).to_le_bytes())
        .collect();
    t.raw_data = scaled;
    let out = tmp(&format!("broken-int8-{factor}.onnx"));
    std::fs::write(&out, m.encode_to_vec()).unwrap();
    out
}

#[test]
fn shipped_int8_passes_and_reports_layers() {
    let json = tmp("drift-int8.json");
    let (code, out, err) = drift(
        &model("demo-int8.onnx"),
        &[&CI_LIMITS[..], &["--json", p(&json)]].concat(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.trim_end().ends_with("PASS"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let organs = r["organs"].as_array().unwrap();
    let liver = organs.iter().find(|o| o["name"] == "liver").unwrap();
    assert!(liver["gated"].as_bool().unwrap());
    assert!(liver["dice"].as_f64().unwrap() > 0.98, "{liver}");
    // Every quantised layer is compared; int8 activations sit well above 15 dB
    // and well below exact, and the float first convolution is exact.
    let sqnr = r["sqnr"].as_array().unwrap();
    let db = |name: &str| {
        sqnr.iter()
            .find(|l| l["tensor"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))["sqnr_db"]
            .as_f64()
    };
    for layer in [
        "enc1.c1.relu",
        "bottleneck.c2.relu",
        "dec0.conv.c2.relu",
        "logits",
    ] {
        let v = db(layer).unwrap();
        assert!((15.0..60.0).contains(&v), "{layer}: {v} dB");
    }
    assert_eq!(db("enc0.c1.relu"), None, "inf serialises as null");
}

#[test]
fn a_model_against_itself_has_no_drift() {
    let (code, out, err) = drift(&model("demo-fp32.onnx"), &["--sqnr-slices", "2"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("liver") && out.contains("1.0000       0.00"),
        "{out}"
    );
}

#[test]
fn a_broken_int8_model_fails_the_gate() {
    let broken = broken_int8(1.6);
    let (code, out, err) = drift(
        p(&broken),
        &[&CI_LIMITS[..], &["--sqnr-slices", "4"]].concat(),
    );
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.trim_end().ends_with("FAIL"), "{out}");
    assert!(
        err.contains("drift gate failed") && err.contains("Dice points"),
        "{err}"
    );
    // The SQNR table points at the broken layer: it is where the ratio drops.
    let line = |t: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(t))
            .unwrap()
            .to_string()
    };
    let before: f64 = line("dec1.conv.c2.relu")
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let at: f64 = line("dec0.conv.c1.relu")
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(at < before - 6.0, "{before} → {at} dB\n{out}");
}

#[test]
fn misuse_is_refused() {
    let (code, _, err) = drift(p(Path::new("/nonexistent/cand.onnx")), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/cand.onnx"), "{err}");
    let truth = shared("ct_small_seg.nii.gz");
    let (code, _, err) = drift(
        &model("demo-int8.onnx"),
        &["--truth", p(&truth), "--truth", p(&truth)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("one --truth per volume"), "{err}");
    let (code, _, err) = drift(&model("demo-int8.onnx"), &["--max-drift", "-1"]);
    assert_eq!(code, 2, "{err}");
    // A reference segmentation on another grid (shifted 3 mm) is refused, naming both files.
    let mut h = utx_edge::volume::read_volume(&truth).unwrap().header.nifti;
    h.srow_x[3] += 3.0;
    h.datatype = 2;
    h.bitpix = 8;
    let shifted = tmp("truth-shifted.nii");
    utx_edge::volume::write::write_raw(&shifted, &h, &vec![0u8; 122 * 101 * 30]).unwrap();
    let (code, _, err) = drift(&model("demo-int8.onnx"), &["--truth", p(&shifted)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("truth-shifted.nii") && err.contains("same grid"),
        "{err}"
    );
}
