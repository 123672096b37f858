//! Every kind of bad input gets one clear line naming the file, exit code 2,
//! no panic, and no output file left behind.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use utx_edge::volume::read_volume;

/// Runs `segment` on `input` into a fresh folder; returns (exit code, stderr, files left).
fn segment_fails(input: &Path, extra: &[&str]) -> (i32, String, Vec<PathBuf>) {
    let dir = tmp(&format!(
        "out-{}",
        input.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("seg.nii.gz");
    let mut args = vec!["segment", p(input), "-o", p(&out), "--quiet"];
    args.extend_from_slice(extra);
    let o = utx(&args);
    let left = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    (o.status.code().unwrap_or(-1), stderr(&o), left)
}

fn assert_refused(input: &Path, needle: &str) {
    let (code, err, left) = segment_fails(input, &[]);
    assert_eq!(code, 2, "{}: {err}", input.display());
    let name = input.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&*name) && err.contains(needle),
        "{}: {err}",
        input.display()
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn sample_header() -> nifti::NiftiHeader {
    read_volume(&shared("ct_small.nii.gz"))
        .unwrap()
        .header
        .nifti
}

#[test]
fn empty_truncated_corrupt_and_foreign_files() {
    let empty = tmp("empty.nii");
    std::fs::write(&empty, b"").unwrap();
    assert_refused(&empty, "not a NIfTI-1 file");

    let text = tmp("notes.nii.gz");
    std::fs::write(&text, "this is a text file, not a scan\n".repeat(20)).unwrap();
    assert_refused(&text, "NIfTI");

    // A header whose data stops halfway: the streamed writer has begun, and
    // its temporary file must be gone.
    let bytes = std::fs::read(shared("ct_small.nii.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw).unwrap();
    let cut = tmp("truncated.nii");
    std::fs::write(&cut, &raw[..raw.len() / 2]).unwrap();
    assert_refused(&cut, "truncated");

    let gz_cut = tmp("truncated_gz.nii.gz");
    std::fs::write(&gz_cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(&gz_cut, "truncated");

    let mut corrupt = raw.clone();
    corrupt[344..348].copy_from_slice(b"xyz\0");
    let c = tmp("bad_magic.nii");
    std::fs::write(&c, &corrupt).unwrap();
    assert_refused(&c, "magic");
}

#[test]
fn wrong_dimensionality_sizes_and_values() {
    let mut h = sample_header();
    h.dim = [2, 64, 64, 1, 1, 1, 1, 1];
    h.datatype = 4;
    h.bitpix = 16;
    let two_d = tmp("slice2d.nii");
    utx_edge::volume::write::write_raw(&two_d, &h, &vec![0u8; 64 * 64 * 2]).unwrap();
    assert_refused(&two_d, "2D");

    // Dimensions that would need terabytes: refused from the header alone.
    let mut h = sample_header();
    h.dim = [3, 8000, 8000, 8000, 1, 1, 1, 1];
    let huge = tmp("huge.nii");
    utx_edge::volume::write::write_raw(&huge, &h, &[0u8; 64]).unwrap();
    assert_refused(&huge, "exceed");

    // NaN voxels.
    let mut h = sample_header();
    h.dim = [3, 8, 8, 2, 1, 1, 1, 1];
    h.datatype = 16;
    h.bitpix = 32;
    let mut vals = vec![0f32; 128];
    vals[77] = f32::NAN;
    let nan = tmp("nan.nii");
    utx_edge::volume::write::write_raw(
        &nan,
        &h,
        &vals
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_refused(&nan, "NaN");
}

#[test]
fn a_4d_file_is_segmented_on_its_first_volume_with_a_warning() {
    let src = read_volume(&shared("ct_small.nii.gz")).unwrap();
    let mut h = src.header.nifti.clone();
    h.dim[0] = 4;
    h.dim[4] = 2;
    h.datatype = 4;
    h.bitpix = 16;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    let mut bytes: Vec<u8> = src
        .data
        .iter()
        .flat_map(|&v| (v as i16).to_le_bytes())
        .collect();
    bytes.extend(vec![0u8; bytes.len()]);
    let four = tmp("four_d.nii.gz");
    utx_edge::volume::write::write_raw(&four, &h, &bytes).unwrap();
    let out = tmp("four_d_seg.nii.gz");
    let o = utx(&["segment", p(&four), "-o", p(&out), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("only the first"), "{}", stderr(&o));
    assert_eq!(read_volume(&out).unwrap().header.dims, src.header.dims);
}

#[test]
fn output_that_exists_or_cannot_be_written() {
    let ct = shared("ct_small.nii.gz");
    let existing = tmp("exists.nii.gz");
    std::fs::write(&existing, b"keep me").unwrap();
    let o = utx(&["segment", p(&ct), "-o", p(&existing), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("exists.nii.gz") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let o = utx(&[
        "segment",
        p(&ct),
        "-o",
        "/nonexistent-dir/seg.nii.gz",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent-dir/seg.nii.gz"),
        "{}",
        stderr(&o)
    );

    let o = utx(&["segment", p(&ct), "-o", p(&tmp("seg.png")), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".nii"), "{}", stderr(&o));
}

#[test]
fn models_without_or_with_inconsistent_metadata() {
    use prost::Message;
    let ct = shared("ct_small.nii.gz");
    let garbage = tmp("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07garbage").unwrap();
    let (code, err, _) = segment_fails(&ct, &["--model", p(&garbage)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("garbage.onnx"), "{err}");

    let bytes = std::fs::read(root().join("models/demo-fp32.onnx")).unwrap();
    let mut m = tract_onnx::pb::ModelProto::decode(&*bytes).unwrap();
    m.metadata_props.retain(|p| p.key != "utx.config");
    let stripped = tmp("no_metadata.onnx");
    std::fs::write(&stripped, m.encode_to_vec()).unwrap();
    let (code, err, left) = segment_fails(&ct, &["--model", p(&stripped)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no_metadata.onnx") && err.contains("utx.config"),
        "{err}"
    );
    assert!(left.is_empty());

    let mut m = tract_onnx::pb::ModelProto::decode(&*bytes).unwrap();
    for p in m
        .metadata_props
        .iter_mut()
        .filter(|p| p.key == "utx.config")
    {
        p.value = p.value.replace("\"classes\":8", "\"classes\":5");
    }
    let wrong = tmp("inconsistent.onnx");
    std::fs::write(&wrong, m.encode_to_vec()).unwrap();
    let (code, err, _) = segment_fails(&ct, &["--model", p(&wrong)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("inconsistent.onnx") && err.contains("class names"),
        "{err}"
    );
}
