//! Surface distances between a predicted and a reference mask, and the two
//! metrics built on them: HD95 and the normalised surface Dice (NSD). The
//! definitions and why these ones: see the [module doc](super).

use super::edt::distance_transform;
use super::surfels::area_table;

/// For each surfel of one surface: (distance in mm to the other surface,
/// surfel area in mm²), sorted by distance then area.
pub type Surfels = Vec<(f64, f64)>;

/// The surfels of both surfaces of one class, each with its distance to the other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurfaceDistances {
    pub pred_to_ref: Surfels,
    pub ref_to_pred: Surfels,
}

impl SurfaceDistances {
    /// Both masks empty: every surface metric is undefined.
    pub fn both_empty(&self) -> bool {
        self.pred_to_ref.is_empty() && self.ref_to_pred.is_empty()
    }

    /// Robust Hausdorff distance (mm) at `percent`: the larger of the two
    /// directed, area-weighted percentiles. `None` when both masks are empty,
    /// `+∞` when one is.
    pub fn hausdorff(&self, percent: f64) -> Option<f64> {
        (!self.both_empty()).then(|| {
            directed_percentile(&self.pred_to_ref, percent)
                .max(directed_percentile(&self.ref_to_pred, percent))
        })
    }

    /// HD95 (mm): [`hausdorff`](Self::hausdorff) at 95 %.
    pub fn hd95(&self) -> Option<f64> {
        self.hausdorff(95.0)
    }

    /// Normalised surface Dice at `tolerance_mm`: the fraction of both
    /// surfaces' area lying within the tolerance of the other surface.
    /// `None` when both masks are empty, 0 when one is.
    pub fn surface_dice(&self, tolerance_mm: f64) -> Option<f64> {
        let within = |s: &Surfels| -> f64 {
            s.iter()
                .filter(|(d, _)| *d <= tolerance_mm)
                .fold(0.0, |t, (_, a)| t + a)
        };
        let total = |s: &Surfels| -> f64 { s.iter().fold(0.0, |t, (_, a)| t + a) };
        (!self.both_empty()).then(|| {
            (within(&self.pred_to_ref) + within(&self.ref_to_pred))
                / (total(&self.pred_to_ref) + total(&self.ref_to_pred))
        })
    }
}

/// The smallest distance whose surfels hold `percent` % of the area
/// (`+∞` for an empty surface, which is infinitely far from the other).
fn directed_percentile(s: &Surfels, percent: f64) -> f64 {
    let total = s.iter().fold(0.0, |t, (_, a)| t + a);
    let mut cum = 0.0;
    for &(d, a) in s {
        cum += a;
        if cum / total >= percent / 100.0 {
            return d;
        }
    }
    s.last().map_or(f64::INFINITY, |&(d, _)| d)
}

/// Bounding box (inclusive voxel ranges) of the voxels of class `k` in either map.
fn bounding_box(pred: &[u8], reference: &[u8], dims: [usize; 3], k: u8) -> Option<[[usize; 2]; 3]> {
    let mut bb: Option<[[usize; 2]; 3]> = None;
    let rows = pred
        .chunks_exact(dims[0])
        .zip(reference.chunks_exact(dims[0]));
    for (row, (a, b)) in rows.enumerate() {
        let hit = |x: &usize| a[*x] == k || b[*x] == k;
        let Some(first) = (0..dims[0]).find(hit) else {
            continue;
        };
        let last = (0..dims[0]).rev().find(hit).unwrap();
        let (y, z) = (row % dims[1], row / dims[1]);
        let b = bb.get_or_insert([[first, last], [y, y], [z, z]]);
        b[0] = [b[0][0].min(first), b[0][1].max(last)];
        b[1] = [b[1][0].min(y), b[1][1].max(y)];
        b[2] = [b[2][0].min(z), b[2][1].max(z)];
    }
    bb
}

/// Surfels of class `k` of both label maps (same grid `dims`, axis 0
/// fastest, `spacing` mm per axis), each with its distance to the other
/// surface. Works on the bounding box of both masks only.
pub fn surface_distances(
    pred: &[u8],
    reference: &[u8],
    dims: [usize; 3],
    k: u8,
    spacing: [f64; 3],
) -> SurfaceDistances {
    let n: usize = dims.iter().product();
    assert!(
        pred.len() == n && reference.len() == n,
        "label maps of the wrong size"
    );
    let Some(bb) = bounding_box(pred, reference, dims, k) else {
        return SurfaceDistances::default();
    };
    // The box padded with one background voxel on every side (`pad`), and
    // the grid of voxel corners between them (`grid`, one smaller).
    let ext = bb.map(|[lo, hi]| hi - lo + 1);
    let pad = ext.map(|e| e + 2);
    let grid = ext.map(|e| e + 1);
    let crop = |labels: &[u8]| -> Vec<bool> {
        let mut m = vec![false; pad.iter().product()];
        for z in 0..ext[2] {
            for y in 0..ext[1] {
                let src = bb[0][0] + dims[0] * (bb[1][0] + y + dims[1] * (bb[2][0] + z));
                let dst = 1 + pad[0] * (1 + y + pad[1] * (1 + z));
                for x in 0..ext[0] {
                    m[dst + x] = labels[src + x] == k;
                }
            }
        }
        m
    };
    let (mp, mr) = (crop(pred), crop(reference));
    // Neighbourhood code of every corner: corner p sees padded voxels p + (a, b, c).
    let codes = |m: &[bool]| -> Vec<u8> {
        let mut out = Vec::with_capacity(grid.iter().product());
        for z in 0..grid[2] {
            for y in 0..grid[1] {
                for x in 0..grid[0] {
                    let mut code = 0u8;
                    for (bit, (a, b, c)) in (0..8).map(|i| (i, (i >> 2, (i >> 1) & 1, i & 1))) {
                        if m[(x + a) + pad[0] * ((y + b) + pad[1] * (z + c))] {
                            code |= 128 >> bit;
                        }
                    }
                    out.push(code);
                }
            }
        }
        out
    };
    let (cp, cr) = (codes(&mp), codes(&mr));
    drop((mp, mr));
    let border = |c: &[u8]| -> Vec<bool> { c.iter().map(|&c| c != 0 && c != 255).collect() };
    let (bp, br) = (border(&cp), border(&cr));
    let (to_pred, to_ref) = (
        distance_transform(&bp, grid, spacing),
        distance_transform(&br, grid, spacing),
    );
    let area = area_table(spacing);
    let surfels = |b: &[bool], c: &[u8], dist: &[f64]| -> Surfels {
        let mut s: Surfels = (0..b.len())
            .filter(|&i| b[i])
            .map(|i| (dist[i], area[c[i] as usize]))
            .collect();
        s.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
        s
    };
    SurfaceDistances {
        pred_to_ref: surfels(&bp, &cp, &to_ref),
        ref_to_pred: surfels(&br, &cr, &to_pred),
    }
}

/// DeepMind's own test cases (`surface_distance_test.py`), 3D: their masks
/// are numpy arrays indexed `[x0, x1, x2]` with `spacing_mm` per axis; ours
/// are flat with axis 0 fastest, so `[x0, x1, x2]` is `x0 + n0·(x1 + n1·x2)`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::dice;

    fn at(dims: [usize; 3], c: [usize; 3]) -> usize {
        c[0] + dims[0] * (c[1] + dims[1] * c[2])
    }

    fn close(got: f64, want: f64, places: i32) -> bool {
        (got - want).abs() < 0.5 * 10f64.powi(-places)
    }

    #[test]
    fn two_voxels_2mm_apart() {
        let dims = [128; 3];
        let (mut gt, mut pred) = (vec![0u8; 128 * 128 * 128], vec![0u8; 128 * 128 * 128]);
        gt[at(dims, [50, 60, 70])] = 1;
        pred[at(dims, [50, 60, 72])] = 1;
        let s = surface_distances(&pred, &gt, dims, 1, [3.0, 2.0, 1.0]);
        let hd95 = s.hd95().unwrap();
        let hd100 = s.hausdorff(100.0).unwrap();
        let nsd = s.surface_dice(1.0).unwrap();
        assert!(
            close(hd95, 2.0, 3) && close(hd100, 2.0, 3),
            "{hd95} {hd100}"
        );
        assert!(close(nsd, 0.5, 3), "{nsd}");
        assert_eq!(dice(&pred, &gt, 1), Some(0.0));
        // A single voxel's surface: its 8 corners, each seeing it alone.
        assert_eq!(s.pred_to_ref.len(), 8);
    }

    #[test]
    fn two_cubes_shifted_by_one_voxel() {
        let dims = [100; 3];
        let n = 100 * 100 * 100;
        let (mut gt, mut pred) = (vec![0u8; n], vec![0u8; n]);
        for i in 0..n {
            let x0 = i % 100;
            gt[i] = (x0 < 50) as u8;
            pred[i] = (x0 < 51) as u8;
        }
        let s = surface_distances(&pred, &gt, dims, 1, [2.0, 1.0, 1.0]);
        let (hd95, nsd) = (s.hd95().unwrap(), s.surface_dice(1.0).unwrap());
        let d = dice(&pred, &gt, 1).unwrap();
        assert!(close(hd95, 2.0, 3), "{hd95}");
        assert!(close(s.hausdorff(100.0).unwrap(), 2.0, 3));
        assert!(close(nsd, 0.836, 3), "{nsd}");
        assert!(close(d, 0.990, 3), "{d}");
        // What DeepMind's package (surface-distance 0.1, SciPy 1.17) prints for this case.
        assert!((nsd - 0.8361450084979621).abs() < 1e-12, "{nsd}");
    }

    #[test]
    fn empty_masks() {
        let dims = [16, 12, 10];
        let n = dims.iter().product();
        let (empty, mut one) = (vec![0u8; n], vec![0u8; n]);
        one[at(dims, [5, 6, 7])] = 1;
        for (p, r) in [(&empty, &one), (&one, &empty)] {
            let s = surface_distances(p, r, dims, 1, [3.0, 2.0, 1.0]);
            assert_eq!(s.hd95(), Some(f64::INFINITY));
            assert_eq!(s.surface_dice(1.0), Some(0.0));
            assert_eq!(dice(p, r, 1), Some(0.0));
        }
        let s = surface_distances(&empty, &empty, dims, 1, [3.0, 2.0, 1.0]);
        assert!(s.both_empty());
        assert_eq!((s.hd95(), s.surface_dice(1.0)), (None, None));
        assert_eq!(dice(&empty, &empty, 1), None);
        // Identical masks: every surfel is on the other surface.
        let s = surface_distances(&one, &one, dims, 1, [3.0, 2.0, 1.0]);
        assert_eq!((s.hd95(), s.surface_dice(0.0)), (Some(0.0), Some(1.0)));
    }

    #[test]
    fn masks_on_the_image_border_and_other_classes() {
        // Class 2 touches the grid's edges; class 1 is elsewhere and must not count.
        let dims = [6, 5, 4];
        let n = dims.iter().product();
        let mut a = vec![1u8; n];
        let mut b = vec![1u8; n];
        for i in 0..n {
            let x = i % 6;
            a[i] = if x < 2 { 2 } else { 1 };
            b[i] = if x < 3 { 2 } else { 1 };
        }
        let s = surface_distances(&a, &b, dims, 2, [1.0; 3]);
        // The shifted face is 1 mm away; all others coincide.
        assert_eq!(s.hausdorff(100.0), Some(1.0));
        assert!(s.pred_to_ref.iter().all(|&(d, _)| d == 0.0 || d == 1.0));
    }
}
