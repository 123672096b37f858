//! `utx-edge eval`: a label volume against a reference on the same grid,
//! per class Dice, HD95 and normalised surface Dice (definitions: [`metrics`]).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::input_error;
use crate::labels::LabelMap;
use crate::metrics::{surface_distances, DiceAccumulator};
use crate::volume::extension::{class_names, read_label_extension};
use crate::volume::{PlaneReader, ScanHeader};

mod table;

/// Largest difference (mm) between two affines' entries still called the same grid.
pub const GRID_TOLERANCE_MM: f64 = 1e-3;

/// What to compare and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Map of the reference's ids to classes (`--labels`); identity if `None`.
    pub ref_labels: Option<String>,
    /// Map of the prediction's ids to classes; identity if `None`.
    pub pred_labels: Option<String>,
    /// Tolerance of the normalised surface Dice (mm).
    pub tolerance_mm: f64,
    /// Class names when the prediction carries none (its model's classes).
    pub default_classes: Vec<String>,
}

/// Scores of one class. Undefined values are `None` (JSON `null`); an
/// infinite HD95 is `null` with `hd95_infinite: true`.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScore {
    pub id: u8,
    pub name: String,
    /// "present", "missing in prediction", "missing in reference" or "absent in both".
    pub status: &'static str,
    pub pred_voxels: u64,
    pub ref_voxels: u64,
    pub pred_ml: f64,
    pub ref_ml: f64,
    pub dice: Option<f64>,
    pub hd95_mm: Option<f64>,
    pub hd95_infinite: bool,
    pub nsd: Option<f64>,
}

/// Means over the classes present in the prediction or the reference
/// (a class missing on one side counts with Dice 0 and NSD 0); HD95 over
/// the classes present on both sides, where it is finite.
#[derive(Debug, Clone, Serialize)]
pub struct MeanScores {
    pub classes: usize,
    pub dice: Option<f64>,
    pub nsd: Option<f64>,
    pub hd95_classes: usize,
    pub hd95_mm: Option<f64>,
}

/// What `eval --json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub pred: String,
    pub reference: String,
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub labels: String,
    pub pred_labels: String,
    pub class_names_from: String,
    pub tolerance_mm: f64,
    pub definition: &'static str,
    pub classes: Vec<ClassScore>,
    pub mean: MeanScores,
    pub seconds: f64,
}

/// One line on what the numbers mean, carried in every report.
pub const DEFINITION: &str = "DeepMind surface-distance: surfels on voxel corners (2x2x2 codes, marching-cubes areas), \
exact EDT in mm; HD95 = max of the two directed area-weighted 95th percentiles; NSD = surfel area within tolerance on \
both surfaces / total area; one mask empty: Dice 0, HD95 infinite, NSD 0; both empty: undefined";

/// Reads `path` plane by plane into classes through `map`.
fn read_classes(path: &Path, map: &LabelMap) -> Result<(ScanHeader, Vec<u8>)> {
    let mut r = PlaneReader::open(path)?;
    let h = r.header().clone();
    let plane = h.dims[0] * h.dims[1];
    let mut buf = vec![0f32; plane];
    let mut out = vec![0u8; plane * h.dims[2]];
    for o in out.chunks_exact_mut(plane) {
        r.read_into(&mut buf)?;
        map.apply(&buf, o, path)?;
    }
    Ok((h, out))
}

/// Refuses two headers that are not on one grid (dims, affine within
/// [`GRID_TOLERANCE_MM`]).
pub fn check_same_grid(pred: &ScanHeader, reference: &ScanHeader) -> Result<()> {
    let (p, r) = (pred.path.display(), reference.path.display());
    if pred.dims != reference.dims {
        return Err(input_error!(
            "{p} and {r} are not on the same grid: dims {:?} vs {:?}",
            pred.dims,
            reference.dims
        ));
    }
    let worst = (0..3)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .map(|(i, j)| (pred.affine[i][j] - reference.affine[i][j]).abs())
        .fold(0.0, f64::max);
    if worst.is_nan() || worst > GRID_TOLERANCE_MM {
        return Err(input_error!(
            "{p} and {r} are not on the same grid: their voxel-to-world affines ({} vs {}) differ by up to {worst:.4} mm \
             (tolerance {GRID_TOLERANCE_MM} mm); resample one onto the other first",
            pred.affine_source,
            reference.affine_source
        ));
    }
    Ok(())
}

/// The class names a label file carries in its utx-edge extension, if any.
pub fn pred_class_names(pred: &Path) -> Result<Option<Vec<String>>> {
    Ok(read_label_extension(pred)?.as_ref().and_then(class_names))
}

/// Compares the label volume `pred` with `reference`.
pub fn evaluate(pred: &Path, reference: &Path, opts: &EvalOptions) -> Result<EvalReport> {
    let t0 = Instant::now();
    if !(opts.tolerance_mm.is_finite() && opts.tolerance_mm >= 0.0) {
        return Err(input_error!(
            "--tolerance-mm must be a finite distance ≥ 0 (got {})",
            opts.tolerance_mm
        ));
    }
    // Headers first: a grid mismatch is reported before any voxel is read.
    let (hp, hr) = (ScanHeader::read(pred)?.0, ScanHeader::read(reference)?.0);
    check_same_grid(&hp, &hr)?;
    let (names, names_from) = match pred_class_names(pred)? {
        Some(n) => (n, format!("label extension of {}", pred.display())),
        None => (opts.default_classes.clone(), "model".to_string()),
    };
    let k = names.len();
    if !(2..=256).contains(&k) {
        return Err(input_error!(
            "{}: {k} classes; need background and at least one class",
            pred.display()
        ));
    }
    let map = |spec: &Option<String>| match spec {
        Some(s) => LabelMap::from_arg(s, k),
        None => Ok(LabelMap::identity(k)),
    };
    let (pmap, rmap) = (map(&opts.pred_labels)?, map(&opts.ref_labels)?);
    let (_, p) = read_classes(pred, &pmap)?;
    let (_, r) = read_classes(reference, &rmap)?;
    let spacing = hr.spacing();
    let ml = hr.voxel_volume_mm3() / 1000.0;
    let mut acc = DiceAccumulator::new(k);
    acc.add(&p, &r);
    let (mut pc, mut rc) = (vec![0u64; k], vec![0u64; k]);
    crate::metrics::count_labels(&p, &mut pc);
    crate::metrics::count_labels(&r, &mut rc);
    let classes: Vec<ClassScore> = (1..k)
        .map(|c| {
            let s = surface_distances(&p, &r, hr.dims, c as u8, spacing);
            let hd = s.hd95();
            ClassScore {
                id: c as u8,
                name: names[c].clone(),
                status: match (pc[c] > 0, rc[c] > 0) {
                    (true, true) => "present",
                    (false, true) => "missing in prediction",
                    (true, false) => "missing in reference",
                    (false, false) => "absent in both",
                },
                pred_voxels: pc[c],
                ref_voxels: rc[c],
                pred_ml: pc[c] as f64 * ml,
                ref_ml: rc[c] as f64 * ml,
                dice: acc.dice(c),
                hd95_mm: hd.filter(|h| h.is_finite()),
                hd95_infinite: hd.is_some_and(|h| h.is_infinite()),
                nsd: s.surface_dice(opts.tolerance_mm),
            }
        })
        .collect();
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let hd: Vec<f64> = classes.iter().filter_map(|c| c.hd95_mm).collect();
    let mean = MeanScores {
        classes: classes.iter().filter(|c| c.dice.is_some()).count(),
        dice: mean(classes.iter().filter_map(|c| c.dice).collect()),
        nsd: mean(classes.iter().filter_map(|c| c.nsd).collect()),
        hd95_classes: hd.len(),
        hd95_mm: mean(hd),
    };
    Ok(EvalReport {
        pred: pred.display().to_string(),
        reference: reference.display().to_string(),
        dims: hr.dims,
        spacing_mm: spacing,
        labels: opts.ref_labels.clone().unwrap_or_else(|| "identity".into()),
        pred_labels: opts
            .pred_labels
            .clone()
            .unwrap_or_else(|| "identity".into()),
        class_names_from: names_from,
        tolerance_mm: opts.tolerance_mm,
        definition: DEFINITION,
        classes,
        mean,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
