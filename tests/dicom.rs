//! DICOM in, DICOM SEG out, end to end on a series built from the real sample
//! (`tests/make_dicom_series.py`: five transfer syntaxes, shuffled file names,
//! a stray series, a zipped copy, broken series).
//!
//! Needs python3 with pydicom, numpy, nibabel, highdicom and the encoders
//! (pylibjpeg-openjpeg, pylibjpeg-libjpeg): `.ci/run` installs them; outside
//! CI the tests say they skipped when they are missing.
#![cfg(feature = "dicom")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use utx_edge::volume::read_volume;

const PHI: [&str; 3] = ["Secret", "PHI-4711", "19500101"];

fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import pydicom, numpy, nibabel, highdicom, openjpeg, libjpeg",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide python3 with pydicom, numpy, nibabel, highdicom, pylibjpeg-openjpeg, pylibjpeg-libjpeg (.ci/run installs them)"
        );
        eprintln!(
            "skipped: python3 with pydicom, nibabel, highdicom and the JPEG codecs not found"
        );
    }
    ok
}

struct Fixture {
    dir: PathBuf,
    truth: serde_json::Value,
}

impl Fixture {
    fn series(&self) -> PathBuf {
        self.dir.join("series")
    }
    fn uid(&self) -> &str {
        self.truth["series_uid"].as_str().unwrap()
    }
    fn bad(&self, case: &str) -> PathBuf {
        self.dir.join("bad").join(case)
    }
}

/// The generated series (once per test binary), or None when Python is missing.
fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        if !python_ready() {
            return None;
        }
        let dir = tmp("dicom-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        let o = Command::new("python3")
            .arg(root().join("tests/make_dicom_series.py"))
            .arg(shared("ct_small.nii.gz"))
            .arg(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let truth = serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap())
            .unwrap();
        Some(Fixture { dir, truth })
    })
    .as_ref()
}

/// The sample segmented from its NIfTI (once per test binary).
fn nifti_reference() -> &'static Path {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let out = tmp("reference.nii.gz");
        let ct = shared("ct_small.nii.gz");
        let o = utx(&["segment", p(&ct), "-o", p(&out), "--quiet", "--force"]);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    })
}

fn affine(v: &utx_edge::volume::Volume) -> [[f64; 4]; 4] {
    v.header.affine
}

#[allow(clippy::needless_range_loop)]
fn inverse(a: &[[f64; 4]; 4]) -> [[f64; 4]; 4] {
    // Inverse of [R t; 0 1] via the 3×3 adjugate.
    let m = |i: usize, j: usize| a[i][j];
    let det = m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1))
        - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0))
        + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
    let mut r = [[0.0; 4]; 4];
    for i in 0..3 {
        for j in 0..3 {
            let (i1, i2) = ((j + 1) % 3, (j + 2) % 3);
            let (j1, j2) = ((i + 1) % 3, (i + 2) % 3);
            r[i][j] = (m(i1, j1) * m(i2, j2) - m(i1, j2) * m(i2, j1)) / det;
        }
    }
    for i in 0..3 {
        r[i][3] = -(0..3).map(|j| r[i][j] * a[j][3]).sum::<f64>();
    }
    r[3][3] = 1.0;
    r
}

#[test]
fn series_segments_like_the_nifti_and_keeps_the_geometry() {
    let Some(f) = fixture() else { return };
    let out = tmp("dicom-seg.nii.gz");
    let rep = tmp("dicom-report.json");
    let o = utx(&[
        "segment",
        p(&f.series()),
        "--series",
        f.uid(),
        "-o",
        p(&out),
        "--report",
        p(&rep),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = std::fs::read_to_string(&rep).unwrap();
    for s in PHI {
        assert!(
            !stderr(&o).contains(s) && !report.contains(s),
            "patient data leaked"
        );
    }
    assert!(
        stderr(&o).contains("not DICOM"),
        "the README.txt skip is reported: {}",
        stderr(&o)
    );

    let ours = read_volume(&out).unwrap();
    let reference = read_volume(nifti_reference()).unwrap();
    let [nx, ny, nz] = reference.header.dims;
    assert_eq!(ours.header.dims, [nx, ny, nz]);
    // The generator stores pixel (r, c) of slice k as voxel (nx-1-c, ny-1-r, k):
    // our affine must be the NIfTI's composed with that flip.
    let (a, b) = (affine(&ours), reference.header.affine);
    for w in 0..3 {
        let expect = [
            -b[w][0],
            -b[w][1],
            b[w][2],
            b[w][3] + b[w][0] * (nx - 1) as f64 + b[w][1] * (ny - 1) as f64,
        ];
        for c in 0..4 {
            assert!(
                (a[w][c] - expect[c]).abs() < 1e-3,
                "affine {a:?}, expected row {w} {expect:?}"
            );
        }
    }
    // sform and qform of the written file agree (codes 1).
    assert_eq!(
        (ours.header.nifti.sform_code, ours.header.nifti.qform_code),
        (1, 1)
    );

    assert_world_equal(&ours, &reference);
    let organs = ours.data.iter().filter(|&&v| v > 0.0).count();
    assert!(organs > 1000, "only {organs} organ voxels");
}

/// `ours` has the labels of `reference` voxel for voxel, after mapping each of
/// its voxels through its affine to world and back into the reference grid.
fn assert_world_equal(ours: &utx_edge::volume::Volume, reference: &utx_edge::volume::Volume) {
    let [nx, ny, nz] = ours.header.dims;
    let (a, b) = (affine(ours), reference.header.affine);
    let rdims = reference.header.dims;
    assert_eq!(
        rdims.iter().product::<usize>(),
        nx * ny * nz,
        "not the same number of voxels"
    );
    let inv = inverse(&b);
    let mut differ = 0;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let x = [i as f64, j as f64, k as f64];
                let world: Vec<f64> = (0..3)
                    .map(|w| a[w][0] * x[0] + a[w][1] * x[1] + a[w][2] * x[2] + a[w][3])
                    .collect();
                let v: Vec<f64> = (0..3)
                    .map(|w| {
                        inv[w][0] * world[0]
                            + inv[w][1] * world[1]
                            + inv[w][2] * world[2]
                            + inv[w][3]
                    })
                    .collect();
                let idx: Vec<usize> = v.iter().map(|c| c.round() as usize).collect();
                assert!(v
                    .iter()
                    .zip(&idx)
                    .all(|(c, &r)| (c - r as f64).abs() < 1e-3));
                let ref_label = reference.data[idx[0] + rdims[0] * (idx[1] + rdims[1] * idx[2])];
                if ours.data[i + nx * (j + ny * k)] != ref_label {
                    differ += 1;
                }
            }
        }
    }
    assert_eq!(differ, 0, "{differ} voxels differ from the NIfTI result");
}

/// The same scan sent with rows running anterior (IOP 1,0,0,0,-1,0: slices
/// sorted head to feet): same labels in the world, SEG rows still right.
#[test]
fn another_orientation_gives_the_same_world_labels() {
    let Some(f) = fixture() else { return };
    let series = f.dir.join("series_anterior_rows");
    let out = tmp("anterior.nii.gz");
    let o = utx(&["segment", p(&series), "-o", p(&out), "--quiet", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = read_volume(&out).unwrap();
    assert_eq!(ours.header.axcodes(), "LAI");
    let reference = read_volume(nifti_reference()).unwrap();
    assert_world_equal(&ours, &reference);

    let seg = tmp("anterior.dcm");
    let o = utx(&["segment", p(&series), "-o", p(&seg), "--quiet", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    check_seg(&seg, &series);
}

fn check_seg(seg: &Path, series: &Path) {
    let names = r#"["background","spleen","kidney_right","kidney_left","gallbladder","liver","stomach","pancreas"]"#;
    let c = Command::new("python3")
        .arg(root().join("tests/check_dicom_seg.py"))
        .arg(seg)
        .arg(series)
        .arg(nifti_reference())
        .arg(names)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&c.stdout);
    assert!(c.status.success(), "{out}{}", stderr(&c));
    eprintln!("{out}");
}

#[test]
fn zip_to_dicom_seg_read_back_by_highdicom() {
    let Some(f) = fixture() else { return };
    let seg = tmp("seg.dcm");
    let o = utx(&[
        "segment",
        p(&f.dir.join("series.zip")),
        "--series",
        f.uid(),
        "-o",
        p(&seg),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for s in PHI {
        assert!(!stderr(&o).contains(s), "patient data leaked");
    }
    check_seg(&seg, &f.series());
    // The SEG copies the patient module (that is where patient data belongs).
    let bytes = std::fs::read(&seg).unwrap();
    assert!(bytes.windows(6).any(|w| w == b"Secret"));
}

#[test]
fn several_series_are_listed_not_guessed() {
    let Some(f) = fixture() else { return };
    let dir = tmp("several-out");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("seg.nii.gz");
    let o = utx(&["segment", p(&f.series()), "-o", p(&out), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(f.uid())
            && err.contains(f.truth["stray_series_uid"].as_str().unwrap())
            && err.contains("--series")
            && err.contains("abdomen 3mm")
            && err.contains("30 files"),
        "{err}"
    );
    for s in PHI {
        assert!(!err.contains(s), "patient data leaked: {err}");
    }
    assert!(!out.exists());
    let o = utx(&[
        "segment",
        p(&f.series()),
        "--series",
        "1.2.3.4",
        "-o",
        p(&out),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no series 1.2.3.4"), "{}", stderr(&o));
}

#[test]
fn broken_series_are_refused_clearly() {
    let Some(f) = fixture() else { return };
    for (case, needles) in [
        ("no_dicom", &["no DICOM image files", "no_dicom"][..]),
        (
            "truncated",
            &["slice02.dcm", "not a readable DICOM file"][..],
        ),
        (
            "truncated_pixels",
            &["slice01.dcm", "not a readable DICOM file"][..],
        ),
        ("mixed_sizes", &["different sizes", "slice01.dcm"][..]),
        (
            "missing_ipp",
            &["slice03.dcm", "no ImagePositionPatient"][..],
        ),
        (
            "unsupported_ts",
            &[
                "slice00.dcm",
                "unsupported transfer syntax 1.2.840.10008.1.2.4.80",
            ][..],
        ),
        ("gantry_tilt", &["gantry tilt", "gantry_tilt"][..]),
        ("duplicate", &["same position", "duplicate"][..]),
        ("gap", &["uneven slice spacing", "slice02.dcm"][..]),
        ("non_orthogonal", &["not two orthogonal unit vectors"][..]),
    ] {
        let dir = tmp(&format!("bad-out-{case}"));
        std::fs::create_dir_all(&dir).unwrap();
        for out in [dir.join("seg.nii.gz"), dir.join("seg.dcm")] {
            let o = utx(&["segment", p(&f.bad(case)), "-o", p(&out), "--quiet"]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{case}: {err}");
            assert!(needles.iter().all(|n| err.contains(n)), "{case}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{case}: one line: {err}");
            assert!(!err.contains("panicked"), "{case}: {err}");
            for s in PHI {
                assert!(!err.contains(s), "{case}: patient data leaked: {err}");
            }
            let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
            assert!(left.is_empty(), "{case}: left behind: {left:?}");
        }
    }
}

#[test]
fn dicom_seg_needs_a_dicom_input() {
    // No Python needed.
    let dir = tmp("seg-from-nifti");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("seg.dcm");
    let ct = shared("ct_small.nii.gz");
    let o = utx(&["segment", p(&ct), "-o", p(&out), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("DICOM SEG output needs a DICOM input"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let o = utx(&[
        "segment",
        p(&ct),
        "-o",
        p(&dir.join("x.nii.gz")),
        "--format",
        "dicom-seg",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let empty = tmp("empty-dicom-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let o = utx(&["segment", p(&empty), "-o", p(&out), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no DICOM image files"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

/// The real series from dcmqi (3 slices, implicit VR): geometry as its own
/// DICOM SEG (made by dcmqi) places it.
#[test]
fn real_dcmqi_series_geometry() {
    let src = shared("dicom/ct_3slice");
    if !src.exists() {
        eprintln!("skipped: {} not found", src.display());
        return;
    }
    let s = utx_edge::dicom::DicomSource::open(&src, None).unwrap();
    let h = utx_edge::volume::PlaneSource::header(&s);
    assert_eq!(h.dims, [512, 512, 3]);
    // dcmqi's liver SEG: IOP 1,0,0,0,1,0; 0.810547 mm; first frame at (-235.2, -226.8, -128.69).
    let a = h.affine;
    assert!((a[0][0] + 0.810547).abs() < 1e-5 && (a[1][1] + 0.810547).abs() < 1e-5);
    assert!((a[2][2].abs() - 1.0).abs() < 1e-4);
    let z: Vec<f64> = s
        .series()
        .slices
        .iter()
        .map(|x| x.ipp.unwrap()[2])
        .collect();
    assert!(
        z.windows(2).all(|w| w[1] > w[0]),
        "sorted along the normal: {z:?}"
    );
    assert_eq!(h.axcodes(), "LPS");
    assert!((a[0][3] - 235.2).abs() < 1e-3 && (a[1][3] - 226.8).abs() < 1e-3);
    assert!(
        (a[2][3] + 128.69).abs() < 1e-3,
        "origin at the lowest slice: {a:?}"
    );
}

#[test]
fn info_describes_a_series_without_patient_data() {
    let Some(f) = fixture() else { return };
    let o = utx(&["info", p(&f.dir.join("series.zip")), "--series", f.uid()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for s in PHI {
        assert!(!out.contains(s), "patient data leaked: {out}");
    }
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["dims"], serde_json::json!([122, 101, 30]));
    assert_eq!(j["orientation"], "LPS");
    assert_eq!(j["dicom"]["slices"], 30);
    let ts = j["dicom"]["transfer_syntaxes"].as_object().unwrap();
    for uid in [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.5",
    ] {
        assert_eq!(ts[uid], 6, "{uid}: {ts:?}");
    }
    // The same HU range as the NIfTI it was made from.
    let n = utx(&["info", p(&shared("ct_small.nii.gz"))]);
    let nj: serde_json::Value = serde_json::from_slice(&n.stdout).unwrap();
    assert_eq!(
        (j["hu_min"].clone(), j["hu_max"].clone()),
        (nj["hu_min"].clone(), nj["hu_max"].clone())
    );
}
