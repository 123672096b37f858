//! Hounsfield windowing and normalisation, as recorded in a model's metadata.

use serde::{Deserialize, Serialize};

/// Clips HU to `[lo, hi]` and maps that range linearly onto `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub lo: f32,
    pub hi: f32,
}

impl Window {
    pub fn new(lo: f32, hi: f32) -> Self {
        assert!(hi > lo, "window [{lo}, {hi}] is empty");
        Self { lo, hi }
    }

    /// The normalisation formula, for the model metadata.
    pub fn describe(&self) -> String {
        format!(
            "x = (clip(HU, {}, {}) - {}) / {}",
            self.lo,
            self.hi,
            self.lo,
            self.hi - self.lo
        )
    }

    #[inline]
    pub fn apply(&self, hu: f32) -> f32 {
        (hu.clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo)
    }

    pub fn apply_slice(&self, hu: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(hu) {
            *o = self.apply(v);
        }
    }
}
