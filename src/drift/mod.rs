//! The quantisation drift gate (`utx-edge drift`): does a quantised model
//! segment like the model it was quantised from?
//!
//! Every volume is segmented by the reference (normally fp32) and by the
//! candidate (int8, fp16) through the same streaming pipeline; the candidate's
//! labels are scored against the reference's with Dice, pooled over all
//! volumes per organ. Drift is `100 · (1 − Dice)`, in Dice points. An organ is
//! gated when the reference finds at least `min_voxels` of it (below that one
//! voxel more or less swings Dice by points and says nothing about the
//! model). The gate fails when a gated organ drifts more than `max_drift`
//! points or their mean more than `max_mean_drift`.
//!
//! To show *where* precision is lost, [`sqnr`] compares the two graphs'
//! activations layer by layer on a few slices.

pub mod sqnr;

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::eval::check_same_grid;
use crate::labels::LabelMap;
use crate::metrics::{count_labels, DiceAccumulator};
use crate::model::SegModel;
use crate::pipeline::segment_stream;
use crate::volume::{read_volume, LabelVolume, PlaneReader, SliceFrame};

pub use sqnr::{layer_sqnr, LayerSqnr};

/// Thresholds of the gate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GateLimits {
    /// Largest drift allowed for any gated organ, in Dice points.
    pub max_drift: f64,
    /// Largest mean drift over the gated organs, in Dice points.
    pub max_mean_drift: f64,
    /// Reference voxels (all volumes together) an organ needs to be gated.
    pub min_voxels: u64,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            max_drift: 1.0,
            max_mean_drift: 0.5,
            min_voxels: 200,
        }
    }
}

/// One organ's agreement, pooled over all volumes.
#[derive(Debug, Clone, Serialize)]
pub struct OrganDrift {
    pub id: u8,
    pub name: String,
    pub reference_voxels: u64,
    pub candidate_voxels: u64,
    /// Dice of the candidate's labels against the reference's (`None`: absent from both).
    pub dice: Option<f64>,
    /// `100 · (1 − dice)`.
    pub drift_points: Option<f64>,
    pub gated: bool,
    /// With reference segmentations: Dice of each model against them.
    pub reference_vs_truth: Option<f64>,
    pub candidate_vs_truth: Option<f64>,
}

/// Reference segmentations ("truth") of the drift volumes, one per volume in
/// the same order, and how their ids map onto the model's classes.
pub struct Truth<'a> {
    pub paths: &'a [PathBuf],
    pub labels: &'a LabelMap,
}

/// Per-volume agreement (mean Dice over organs present in either).
#[derive(Debug, Clone, Serialize)]
pub struct VolumeDrift {
    pub path: String,
    pub slices: usize,
    pub dice: Vec<Option<f64>>,
}

/// What `utx-edge drift` reports (and writes with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub reference: String,
    pub reference_precision: String,
    pub candidate: String,
    pub candidate_precision: String,
    pub limits: GateLimits,
    pub volumes: Vec<VolumeDrift>,
    pub organs: Vec<OrganDrift>,
    /// Mean drift over the gated organs.
    pub mean_drift_points: Option<f64>,
    pub reference_ms_per_slice: f64,
    pub candidate_ms_per_slice: f64,
    pub sqnr: Vec<LayerSqnr>,
    /// Why the gate failed; empty when it passed.
    pub failures: Vec<String>,
}

impl DriftReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Checks that two models segment the same classes the same way.
pub fn check_compatible(reference: &SegModel, candidate: &SegModel) -> Result<()> {
    let (r, c) = (&reference.metadata.spec, &candidate.metadata.spec);
    if r.class_names != c.class_names {
        return Err(crate::input_error!(
            "{} and {} segment different classes ({:?} vs {:?}): drift compares exports of one model",
            reference.name,
            candidate.name,
            r.class_names,
            c.class_names
        ));
    }
    Ok(())
}

/// Segments every volume of `data` with both models and scores the
/// candidate against the reference. `progress(volume, done, total)` follows
/// each model's slices.
pub fn drift(
    reference: &SegModel,
    candidate: &SegModel,
    threads: usize,
    data: &[PathBuf],
    truth: Option<Truth>,
    limits: GateLimits,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<DriftReport> {
    check_compatible(reference, candidate)?;
    let k = reference.metadata.spec.classes;
    if let Some(t) = &truth {
        if t.paths.len() != data.len() {
            return Err(crate::input_error!(
                "{} reference segmentations for {} volumes: give one --truth per volume, in the same order",
                t.paths.len(),
                data.len()
            ));
        }
    }
    let (mut ref_truth, mut cand_truth) = (DiceAccumulator::new(k), DiceAccumulator::new(k));
    let mut pooled = DiceAccumulator::new(k);
    let (mut ref_voxels, mut cand_voxels) = (vec![0u64; k], vec![0u64; k]);
    let mut volumes = Vec::new();
    let (mut ref_s, mut cand_s, mut slices) = (0.0, 0.0, 0usize);
    for (i, path) in data.iter().enumerate() {
        let header = PlaneReader::open(path)?.header().clone();
        // The reference segmentation is checked before minutes of inference, not after.
        let truth_labels = match &truth {
            Some(t) => {
                let tv = read_volume(&t.paths[i])?;
                check_same_grid(&tv.header, &header)?;
                let mut mapped = vec![0u8; tv.data.len()];
                t.labels.apply(&tv.data, &mut mapped, &tv.header.path)?;
                Some(mapped)
            }
            None => None,
        };
        let mut run = |model: &SegModel| -> Result<(LabelVolume, f64)> {
            let mut reader = PlaneReader::open(path)?;
            let mut sink = LabelVolume::new(header.dims);
            let report = segment_stream(model, threads, &mut reader, &mut sink, |d, t| {
                progress(&model.name, d, t)
            })?;
            Ok((sink, report.seconds_inference))
        };
        let (refr, s) = run(reference)?;
        ref_s += s;
        let (cand, s) = run(candidate)?;
        cand_s += s;
        let n = header.dims[SliceFrame::from_header(&header)?.slice_axis];
        slices += n;
        if let Some(mapped) = &truth_labels {
            ref_truth.add(&refr.data, mapped);
            cand_truth.add(&cand.data, mapped);
        }
        let mut one = DiceAccumulator::new(k);
        one.add(&cand.data, &refr.data);
        pooled.add(&cand.data, &refr.data);
        count_labels(&refr.data, &mut ref_voxels);
        count_labels(&cand.data, &mut cand_voxels);
        volumes.push(VolumeDrift {
            path: path.display().to_string(),
            slices: n,
            dice: (0..k).map(|c| one.dice(c)).collect(),
        });
    }
    let names = &reference.metadata.spec.class_names;
    let organs: Vec<OrganDrift> = (1..k)
        .map(|c| {
            let dice = pooled.dice(c);
            OrganDrift {
                id: c as u8,
                name: names[c].clone(),
                reference_voxels: ref_voxels[c],
                candidate_voxels: cand_voxels[c],
                dice,
                drift_points: dice.map(|d| 100.0 * (1.0 - d)),
                gated: ref_voxels[c] >= limits.min_voxels,
                reference_vs_truth: truth.as_ref().and_then(|_| ref_truth.dice(c)),
                candidate_vs_truth: truth.as_ref().and_then(|_| cand_truth.dice(c)),
            }
        })
        .collect();
    let gated: Vec<&OrganDrift> = organs.iter().filter(|o| o.gated).collect();
    let mean = (!gated.is_empty()).then(|| {
        gated
            .iter()
            .map(|o| o.drift_points.unwrap_or(0.0))
            .sum::<f64>()
            / gated.len() as f64
    });
    let mut failures = Vec::new();
    for o in &gated {
        let d = o.drift_points.unwrap_or(0.0);
        if d > limits.max_drift {
            failures.push(format!(
                "{} drifted {d:.2} Dice points (limit {:.2})",
                o.name, limits.max_drift
            ));
        }
    }
    if let Some(m) = mean.filter(|&m| m > limits.max_mean_drift) {
        failures.push(format!(
            "mean drift {m:.2} Dice points over {} organs (limit {:.2})",
            gated.len(),
            limits.max_mean_drift
        ));
    }
    let per_slice = |s: f64| s * 1000.0 / slices.max(1) as f64;
    Ok(DriftReport {
        reference: reference.name.clone(),
        reference_precision: reference.metadata.precision.name().into(),
        candidate: candidate.name.clone(),
        candidate_precision: candidate.metadata.precision.name().into(),
        limits,
        volumes,
        organs,
        mean_drift_points: mean,
        reference_ms_per_slice: per_slice(ref_s),
        candidate_ms_per_slice: per_slice(cand_s),
        sqnr: Vec::new(),
        failures,
    })
}
