//! Export options that name things: an unknown float layer is refused before
//! the (slow) calibration, naming the layers that exist.

use std::path::PathBuf;

use utx_export::{export, ExportOptions, Precision};

#[test]
fn unknown_keep_float_layer_is_refused_with_the_known_ones() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut opts = ExportOptions::new(Precision::Int8);
    opts.calibration = vec![root.join("data/sample/ct_small.nii.gz")];
    opts.keep_float = vec!["head".into(), "enc9.c1".into()];
    let err = format!(
        "{:#}",
        export(&root.join("models/demo"), &opts).unwrap_err()
    );
    assert!(
        err.contains("enc9.c1") && err.contains("known: enc0.c1"),
        "{err}"
    );
    assert!(!err.contains("--keep-float head"), "{err}");
}
