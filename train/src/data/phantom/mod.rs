//! Synthetic abdominal CT phantom: deterministic 2D axial slices with a label map.
//!
//! The phantom is used by tests (a known, reproducible input for the data pipeline and the
//! models) and to pre-train the segmentation networks when real, labelled CT is scarce. Each
//! [`Phantom`] is one synthetic patient whose anatomy (body habitus, organ sizes, positions and
//! boundary irregularities, contrast phase, noise level) is fixed by a seed. Any axial slice of
//! that patient can then be rendered at any resolution: all anatomy is defined in physical
//! millimetres, so a 128 px × 3 mm grid and a 256 px × 1.5 mm grid show the same 384 mm field
//! of view and the same organ areas in mm².
//!
//! # Coordinate convention
//!
//! * `z` is the relative height of the slice in the abdomen, in `[0, 1]`: `0` is the lower
//!   abdomen (pelvic inlet, iliac wings, aortic bifurcation), `1` the lung bases and the dome of
//!   the liver.
//! * Images are `size × size`, row-major. Row 0 is **anterior**, the last row **posterior**;
//!   column 0 is the patient's **right**, the last column the patient's **left**: the
//!   radiological display convention (the patient is seen from the feet, lying supine). The
//!   field of view is centred on the grid.
//! * Intensities are Hounsfield units (air −1000, fat ≈ −100, water 0, soft tissue 30–70,
//!   contrast-enhanced blood 150–250, bone up to ≈ 1000), clamped to `[-1024, 3071]`.
//! * Labels are `0` for background and `1..=7` for [`ORGANS`] (index + 1), the seven organs of
//!   the U-Transformer multi-organ task (TotalSegmentator ids 1..7). Each pixel has exactly one
//!   label: overlapping organs are resolved by a fixed priority (gallbladder > pancreas >
//!   kidneys > spleen > liver > stomach), and organs are only drawn in the abdominal cavity, so
//!   they never cover bone, muscle, large vessels or the body wall and never leave the body.
//!
//! # Example
//!
//! ```rust
//! use utx_train::data::phantom::{Phantom, ORGANS};
//!
//! let patient = Phantom::new(42);
//! let size = 128; // 128 px × 3 mm = 384 mm field of view
//! let mut hu = vec![0.0f32; size * size];
//! let mut labels = vec![0u8; size * size];
//! patient.render(0.75, size, 3.0, 0, &mut hu, &mut labels);
//!
//! let liver = 1 + ORGANS.iter().position(|&name| name == "liver").unwrap() as u8;
//! assert!(labels.contains(&liver));
//! assert!(hu[0] < -900.0); // the corner of the field of view is air
//! ```

use std::f32::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod patient;
mod render;
mod scene;
mod shapes;
#[cfg(test)]
mod tests;

pub use patient::Phantom;
use patient::*;
use scene::*;
use shapes::*;

/// The seven organs the phantom draws, label `i + 1` for `ORGANS[i]`: the
/// model classes after background ([`utx_edge::labels::ORGAN_CLASSES`]).
pub const ORGANS: [&str; 7] = {
    let c = utx_edge::labels::ORGAN_CLASSES;
    [c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
};

const SPLEEN: u8 = 1;
const KIDNEY_RIGHT: u8 = 2;
const KIDNEY_LEFT: u8 = 3;
const GALLBLADDER: u8 = 4;
const LIVER: u8 = 5;
const STOMACH: u8 = 6;
const PANCREAS: u8 = 7;

/// Scratch label of abdominal-cavity pixels that organs may claim while a slice is drawn;
/// turned into background (0) before `render` returns.
const FREE: u8 = u8::MAX;

const AIR_HU: f32 = -1000.0;
const HU_MIN: f32 = -1024.0;
const HU_MAX: f32 = 3071.0;
