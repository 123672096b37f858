//! `utx-edge info` describes scans and models.

mod common;

use common::*;

#[test]
fn describes_a_scan_and_a_model() {
    let o = utx(&["info", p(&root().join("data/sample/ct_small.nii.gz"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dims"], serde_json::json!([122, 101, 30]));
    assert_eq!(v["orientation"], "RAS");
    assert_eq!(v["datatype"], "int16");
    assert_eq!(
        (v["hu_min"].as_f64().unwrap(), v["hu_max"].as_f64().unwrap()),
        (-1100.0, 1207.0)
    );
    assert!(v["streamable"].as_bool().unwrap());

    for (what, precision) in [("embedded", "fp32"), ("models/demo-int8.onnx", "int8")] {
        let arg = if what == "embedded" {
            what.to_string()
        } else {
            p(&root().join(what)).to_string()
        };
        let o = utx(&["info", &arg]);
        assert!(o.status.success(), "{}", stderr(&o));
        let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(m["arch"], "u_transformer");
        assert_eq!(m["precision"], precision);
        assert_eq!(m["classes"].as_array().unwrap().len(), 8);
        assert_eq!(m["input_size"], 128);
        assert!(m["parameters"].as_u64().unwrap() > 100_000);
        if precision == "int8" {
            assert!(
                m["calibration"].as_str().unwrap().contains("percentile"),
                "{m}"
            );
        }
    }
}
