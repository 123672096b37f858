//! `utx-edge eval` without a reference implementation: empty-mask rules,
//! class names, the table and the JSON, and bad input (exit code 2, a line
//! naming the file, no JSON left behind).

mod common;

use std::path::Path;

use common::*;
use utx_edge::volume::write::write_raw;
use utx_edge::volume::ScanHeader;

fn eval(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    let o = utx(&all);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        stderr(&o),
    )
}

/// A copy of the reference labels whose affine is shifted by `shift` mm along x.
fn shifted_copy(src: &Path, dst: &Path, shift: f32) {
    let (h, _) = ScanHeader::read(src).unwrap();
    let mut n = h.nifti.clone();
    n.srow_x[3] += shift;
    n.quatern_x += shift;
    n.dim = [3, n.dim[1], n.dim[2], n.dim[3], 1, 1, 1, 1];
    (n.datatype, n.bitpix, n.scl_slope, n.scl_inter) = (2, 8, 1.0, 0.0);
    let v = utx_edge::volume::read_volume(src).unwrap();
    write_raw(
        dst,
        &n,
        &v.data.iter().map(|&x| x as u8).collect::<Vec<_>>(),
    )
    .unwrap();
}

#[test]
fn perfect_missing_and_absent_classes() {
    // The reference against itself, with pancreas (id 7) dropped from the
    // reference's map: six perfect organs, one found only in the prediction.
    let refp = shared("ct_small_seg.nii.gz");
    let json = tmp("self.json");
    let (code, out, err) = eval(&[
        "--pred",
        p(&refp),
        "--ref",
        p(&refp),
        "--pred-labels",
        "totalseg7",
        "--labels",
        "1:1,2:2,3:3,4:4,5:5,6:6",
        "--tolerance-mm",
        "1",
        "--json",
        p(&json),
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["class_names_from"], "model");
    let classes = r["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 7);
    for c in &classes[..6] {
        assert_eq!(c["status"], "present");
        assert_eq!(
            (c["dice"].as_f64(), c["hd95_mm"].as_f64(), c["nsd"].as_f64()),
            (Some(1.0), Some(0.0), Some(1.0)),
            "{c}"
        );
    }
    let pancreas = &classes[6];
    assert_eq!(pancreas["name"], "pancreas");
    assert_eq!(pancreas["status"], "missing in reference");
    assert_eq!(pancreas["pred_voxels"], 644);
    assert!(pancreas["hd95_mm"].is_null() && pancreas["hd95_infinite"] == true);
    assert_eq!(
        (pancreas["dice"].as_f64(), pancreas["nsd"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(r["mean"]["classes"], 7);
    assert_eq!(r["mean"]["hd95_classes"], 6);
    assert!((r["mean"]["dice"].as_f64().unwrap() - 6.0 / 7.0).abs() < 1e-12);
    // The table: one line per class, "inf" for the infinite HD95.
    let line = out.lines().find(|l| l.starts_with("pancreas")).unwrap();
    assert!(
        line.contains("inf") && line.contains("missing in reference"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("liver") && l.contains("1.000")),
        "{out}"
    );

    // Classes absent from both are undefined, not zero.
    let (code, _, err) = eval(&[
        "--pred",
        p(&refp),
        "--ref",
        p(&refp),
        "--pred-labels",
        "1:1",
        "--labels",
        "1:1",
        "--json",
        p(&json),
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let liver = &r["classes"][4];
    assert_eq!(liver["status"], "absent in both");
    assert!(liver["dice"].is_null() && liver["hd95_mm"].is_null() && liver["nsd"].is_null());
    assert_eq!(liver["hd95_infinite"], false);
    assert_eq!(r["mean"]["classes"], 1);
}

#[test]
fn bad_input_is_refused_naming_the_file() {
    let refp = shared("ct_small_seg.nii.gz");
    let shifted = tmp("shifted.nii.gz");
    shifted_copy(&refp, &shifted, 1.5);
    let missing = tmp("no-such-seg.nii.gz");
    let cases: Vec<(Vec<&str>, &str, Vec<String>)> = vec![
        (
            vec!["--pred", p(&missing), "--ref", p(&refp)],
            "cannot open",
            vec![p(&missing).into()],
        ),
        (
            vec![
                "--pred",
                p(&shifted),
                "--ref",
                p(&refp),
                "--labels",
                "totalseg7",
                "--pred-labels",
                "totalseg7",
            ],
            "not on the same grid",
            vec![p(&shifted).into(), p(&refp).into()],
        ),
        // Without --labels, TotalSegmentator's ids (up to 117) are not classes.
        (
            vec![
                "--pred",
                p(&refp),
                "--ref",
                p(&refp),
                "--pred-labels",
                "totalseg7",
            ],
            "out of range",
            vec![p(&refp).into()],
        ),
        (
            vec!["--pred", p(&refp), "--ref", p(&refp), "--labels", "1:99"],
            "out of range",
            vec![],
        ),
        (
            vec![
                "--pred",
                p(&refp),
                "--ref",
                p(&refp),
                "--tolerance-mm",
                "-1",
            ],
            "tolerance",
            vec![],
        ),
    ];
    for (i, (args, needle, names)) in cases.into_iter().enumerate() {
        let json = tmp(&format!("bad-{i}.json"));
        let mut args = args;
        args.extend(["--json", p(&json)]);
        let (code, _, err) = eval(&args);
        assert_eq!(code, 2, "case {i}: {err}");
        assert!(err.contains(needle), "case {i}: {err}");
        for n in names {
            assert!(err.contains(&n), "case {i} should name {n}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(!json.exists(), "case {i} left {}", json.display());
    }
}
