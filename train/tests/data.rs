//! The data loader on the real sample: orientation, label mapping, and the
//! errors a user gets for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use utx_train::config::{Arch, ModelConfig, Preset};
use utx_train::data::{Case, LabelMap, SliceSet};

const CT: &str = "../shared/data/ct_small.nii.gz";
const SEG: &str = "../shared/data/ct_small_seg.nii.gz";

fn shared(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn real_case() -> Case {
    Case {
        name: "ct_small".into(),
        image: shared(CT),
        label: shared(SEG),
    }
}

fn centroid(set: &SliceSet, class: u8) -> (f64, f64) {
    let n = set.size;
    let (mut r, mut c, mut k) = (0.0, 0.0, 0.0);
    for (i, &l) in set.labels.iter().enumerate() {
        if l == class {
            let p = i % (n * n);
            r += (p / n) as f64;
            c += (p % n) as f64;
            k += 1.0;
        }
    }
    (r / k, c / k)
}

#[test]
fn real_sample_is_oriented_and_mapped() {
    // At the demo spacing (3 mm, the scan's own) the model grid coincides with
    // the scan pixel for pixel, so every organ keeps its exact voxel count
    // (shared/data/README.md).
    let cfg = ModelConfig::preset(Preset::Demo, Arch::UTransformer);
    let mut set = SliceSet::new(cfg.input_size);
    set.add_case(
        &real_case(),
        &cfg,
        &LabelMap::parse("totalseg7", 8).unwrap(),
    )
    .unwrap();
    assert_eq!(set.len(), 30);
    assert_eq!(
        set.class_counts(8)[1..],
        [9452, 3947, 3676, 1333, 38634, 4675, 644]
    );
    // Radiological frame: the liver (5) on the image left (patient right), the
    // spleen (1) on the image right; right kidney (2) left of the left kidney (3);
    // the stomach (6) anterior (above) the kidneys.
    let mid = cfg.input_size as f64 / 2.0;
    assert!(centroid(&set, 5).1 < mid && centroid(&set, 1).1 > mid);
    assert!(centroid(&set, 2).1 < centroid(&set, 3).1);
    assert!(centroid(&set, 6).0 < centroid(&set, 2).0.min(centroid(&set, 3).0));
    // Images are windowed into [0, 1], air outside the body at 0.
    assert!(set.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(set.image(0)[0], 0.0);
}

fn train_cmd(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_utx-train"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["fit", "--preset", "tiny", "--steps", "1", "-q", "--out"])
        .arg(std::env::temp_dir().join(format!("utx-bad-{}", std::process::id())))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_training_input_is_named() {
    let tmp = std::env::temp_dir().join(format!("utx-train-data-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let ct = shared(CT);
    let seg = shared(SEG);

    // A missing label file.
    let (ok, err) = train_cmd(&[
        "--image",
        ct.to_str().unwrap(),
        "--label",
        "/nonexistent/seg.nii.gz",
    ]);
    assert!(
        !ok && err.contains("/nonexistent/seg.nii.gz") && err.contains("no such file"),
        "{err}"
    );

    // Label ids beyond the model's classes without a mapping.
    let (ok, err) = train_cmd(&[
        "--image",
        ct.to_str().unwrap(),
        "--label",
        seg.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("ct_small_seg.nii.gz") && err.contains("out of range"),
        "{err}"
    );

    // Shapes that differ: a label volume with one slice less.
    let vol = utx_edge::volume::read_volume(&seg).unwrap();
    let mut h = vol.header.nifti.clone();
    h.dim[3] -= 1;
    h.datatype = 2;
    h.bitpix = 8;
    let plane = vol.dims()[0] * vol.dims()[1];
    let bytes: Vec<u8> = vol.data[..plane * (vol.dims()[2] - 1)]
        .iter()
        .map(|&v| v as u8)
        .collect();
    let short = tmp.join("short_seg.nii.gz");
    utx_edge::volume::write::write_raw(&short, &h, &bytes).unwrap();
    let (ok, err) = train_cmd(&[
        "--image",
        ct.to_str().unwrap(),
        "--label",
        short.to_str().unwrap(),
        "--labels",
        "totalseg7",
    ]);
    assert!(
        !ok && err.contains("short_seg.nii.gz") && err.contains("differs"),
        "{err}"
    );

    // A file that is not NIfTI.
    let junk = tmp.join("junk.nii");
    std::fs::write(&junk, b"not a nifti file at all").unwrap();
    let (ok, err) = train_cmd(&[
        "--image",
        junk.to_str().unwrap(),
        "--label",
        seg.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("junk.nii") && err.contains("NIfTI"),
        "{err}"
    );

    // An empty dataset.
    let (ok, err) = train_cmd(&[]);
    assert!(!ok && err.contains("no training data"), "{err}");
    let empty = tmp.join("empty");
    std::fs::create_dir_all(empty.join("imagesTr")).unwrap();
    std::fs::create_dir_all(empty.join("labelsTr")).unwrap();
    let (ok, err) = train_cmd(&["--data", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("no NIfTI images"), "{err}");
}
