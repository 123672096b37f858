//! Slice sampling that oversamples slices showing small organs: each slice's
//! weight is 1 plus a rarity bonus for every class it contains, so the
//! pancreas and gallbladder are seen as often as the liver.

use rand::{rngs::StdRng, Rng};

use super::slices::SliceSet;

#[derive(Debug, Clone)]
pub struct SliceSampler {
    cumulative: Vec<f64>,
}

impl SliceSampler {
    /// `real_fraction` (0..1) is the share of draws that go to real (not
    /// synthetic) slices when both are present: phantoms can outnumber the
    /// real slices many times and would otherwise drown them.
    pub fn new(set: &SliceSet, classes: usize, real_fraction: f64) -> Self {
        let counts = set.class_counts(classes);
        let fg: u64 = counts[1..].iter().sum();
        let present = counts[1..].iter().filter(|&&c| c > 0).count().max(1);
        // Rarity of class k: (mean foreground class size / its size)^½, capped.
        let bonus: Vec<f64> = counts
            .iter()
            .enumerate()
            .map(|(k, &c)| match (k, c) {
                (0, _) | (_, 0) => 0.0,
                _ => ((fg as f64 / present as f64) / c as f64).sqrt().min(10.0),
            })
            .collect();
        let mut seen = vec![false; classes];
        let weights: Vec<f64> = (0..set.len())
            .map(|i| {
                seen.iter_mut().for_each(|s| *s = false);
                for &l in set.label(i) {
                    if let Some(s) = seen.get_mut(l as usize) {
                        *s = true;
                    }
                }
                1.0 + (0..classes)
                    .filter(|&k| seen[k])
                    .map(|k| bonus[k])
                    .sum::<f64>()
            })
            .collect();
        let synthetic = |i: usize| set.origins[i].synthetic;
        let real_w: f64 = (0..set.len())
            .filter(|&i| !synthetic(i))
            .map(|i| weights[i])
            .sum();
        let synth_w: f64 = (0..set.len())
            .filter(|&i| synthetic(i))
            .map(|i| weights[i])
            .sum();
        let f = real_fraction.clamp(1e-3, 1.0 - 1e-3);
        let synth_scale = if real_w > 0.0 && synth_w > 0.0 {
            real_w * (1.0 - f) / f / synth_w
        } else {
            1.0
        };
        let mut total = 0.0;
        let cumulative = (0..set.len())
            .map(|i| {
                total += weights[i] * if synthetic(i) { synth_scale } else { 1.0 };
                total
            })
            .collect();
        Self { cumulative }
    }

    /// A slice index drawn by weight.
    pub fn sample(&self, rng: &mut StdRng) -> usize {
        let total = *self.cumulative.last().expect("sampling from an empty set");
        let x = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }
}
