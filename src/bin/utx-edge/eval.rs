//! `utx-edge eval`: a label volume against a reference, per class Dice, HD95
//! and normalised surface Dice, as a table or JSON.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use utx_edge::eval::{evaluate, pred_class_names, EvalOptions};
use utx_edge::model::{LoadedModel, ModelSource, Precision};

use crate::model_args::write_atomic;

#[derive(Args)]
pub struct EvalArgs {
    /// The segmentation to score (.nii / .nii.gz label volume).
    #[arg(long)]
    pred: PathBuf,
    /// The reference segmentation, on the same grid.
    #[arg(long = "ref")]
    reference: PathBuf,
    /// Map the reference's ids to classes: `totalseg7`, `id:class,…` or a JSON file
    /// (unlisted ids become background). Default: ids are the classes.
    #[arg(long)]
    labels: Option<String>,
    /// The same for the prediction (default: ids are the classes).
    #[arg(long)]
    pred_labels: Option<String>,
    /// Tolerance of the normalised surface Dice, in mm.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    tolerance_mm: f64,
    /// Also write the scores as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Class names when the prediction has no utx-edge label extension: this
    /// model's (default: the embedded model's).
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(a: EvalArgs) -> Result<()> {
    // Only loaded when the prediction does not name its classes itself.
    let default_classes = || -> Result<Vec<String>> {
        let src = match &a.model {
            Some(p) => ModelSource::File(p),
            None => ModelSource::Embedded(Precision::Fp32),
        };
        Ok(LoadedModel::load(src)?.metadata.spec.class_names)
    };
    let has_names = pred_class_names(&a.pred).is_ok_and(|n| n.is_some());
    let opts = EvalOptions {
        ref_labels: a.labels.clone(),
        pred_labels: a.pred_labels.clone(),
        tolerance_mm: a.tolerance_mm,
        default_classes: if has_names {
            Vec::new()
        } else {
            default_classes()?
        },
    };
    let report = evaluate(&a.pred, &a.reference, &opts)?;
    if let Some(j) = &a.json {
        write_atomic(j, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    }
    print!("{}", report.table());
    Ok(())
}
