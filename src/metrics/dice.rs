//! Volumetric overlap: Dice per class, and voxel counts.

/// Dice overlap of class `k` between two label maps of the same grid.
/// Both empty gives `None` (undefined: the organ is absent from both).
pub fn dice(pred: &[u8], reference: &[u8], k: u8) -> Option<f64> {
    let (mut inter, mut p, mut r) = (0u64, 0u64, 0u64);
    for (&a, &b) in pred.iter().zip(reference) {
        let (ia, ib) = (a == k, b == k);
        inter += (ia && ib) as u64;
        p += ia as u64;
        r += ib as u64;
    }
    (p + r > 0).then(|| 2.0 * inter as f64 / (p + r) as f64)
}

/// Voxel counts per class (0..classes) of a label map, summed into `counts`.
pub fn count_labels(labels: &[u8], counts: &mut [u64]) {
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
}

/// Per-class overlap counts accumulated over many slices, for Dice over a
/// whole set without holding it in memory.
#[derive(Debug, Clone, Default)]
pub struct DiceAccumulator {
    inter: Vec<u64>,
    pred: Vec<u64>,
    reference: Vec<u64>,
}

impl DiceAccumulator {
    pub fn new(classes: usize) -> Self {
        Self {
            inter: vec![0; classes],
            pred: vec![0; classes],
            reference: vec![0; classes],
        }
    }

    pub fn add(&mut self, pred: &[u8], reference: &[u8]) {
        let k = self.inter.len();
        for (&a, &b) in pred.iter().zip(reference) {
            let (a, b) = (a as usize, b as usize);
            if a < k {
                self.pred[a] += 1;
            }
            if b < k {
                self.reference[b] += 1;
            }
            if a == b && a < k {
                self.inter[a] += 1;
            }
        }
    }

    /// Dice of class `k`, `None` when absent from both.
    pub fn dice(&self, k: usize) -> Option<f64> {
        let s = self.pred[k] + self.reference[k];
        (s > 0).then(|| 2.0 * self.inter[k] as f64 / s as f64)
    }

    /// Mean Dice over the foreground classes present in either map.
    pub fn mean_foreground(&self) -> f64 {
        let d: Vec<f64> = (1..self.inter.len()).filter_map(|k| self.dice(k)).collect();
        if d.is_empty() {
            0.0
        } else {
            d.iter().sum::<f64>() / d.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_counts_overlap() {
        let p = [0, 1, 1, 2, 0];
        let r = [0, 1, 0, 2, 2];
        assert_eq!(dice(&p, &r, 1), Some(2.0 / 3.0));
        assert_eq!(dice(&p, &r, 2), Some(2.0 / 3.0));
        assert_eq!(dice(&p, &r, 3), None);
        let mut acc = DiceAccumulator::new(3);
        acc.add(&p[..2], &r[..2]);
        acc.add(&p[2..], &r[2..]);
        assert_eq!(acc.dice(1), Some(2.0 / 3.0));
        assert!((acc.mean_foreground() - 2.0 / 3.0).abs() < 1e-12);
    }
}
