//! Segmentation metrics on label maps: volumetric Dice ([`dice`]) and the
//! surface metrics HD95 and normalised surface Dice ([`surface`]), per class,
//! in millimetres from the voxel spacing.
//!
//! # Definitions
//!
//! The surface metrics follow DeepMind's `surface-distance` library
//! (Nikolov et al., 2021, the paper that introduced the surface Dice) to the
//! letter, because the common implementations disagree by more than the
//! differences between models that one wants to see:
//!
//! - MONAI takes surface *voxels* (mask voxels with a background neighbour),
//!   every one weighing the same, and on anisotropic grids counts a voxel
//!   face and a voxel edge alike;
//! - MedPy's `hd95` pools both directed distance sets into one percentile
//!   and also uses unweighted surface voxels;
//! - DeepMind places the surface on the voxel *corners*: each corner whose
//!   2×2×2 neighbourhood is neither all inside nor all outside is a surface
//!   element ("surfel"), weighted by the area (mm²) of the marching-cubes
//!   surface through that neighbourhood.
//!
//! We use DeepMind's. For a class, with `P` the predicted and `R` the
//! reference mask on one grid of spacing `s` (mm):
//!
//! 1. Both masks are cropped to the bounding box of `P ∪ R` and zero-padded
//!    by one voxel, so only the organ's neighbourhood is processed (a
//!    512×512×N scan costs what its organ costs). Outside the image counts
//!    as background.
//! 2. Every voxel corner gets the 8-bit code of its 2×2×2 neighbourhood;
//!    codes other than 0 and 255 are surfels, with the area of the code's
//!    marching-cubes triangles at spacing `s` ([`surfels`]).
//! 3. An exact Euclidean distance transform with spacing `s` ([`edt`]) gives,
//!    for every surfel of `P`, the distance (mm) to the nearest surfel of `R`,
//!    and vice versa.
//! 4. **HD95** = max of the two directed 95th percentiles, each weighted by
//!    surfel area: the smallest distance `d` such that the surfels within
//!    `d` hold at least 95 % of that surface's area.
//! 5. **NSD at tolerance τ** = (area of `P`'s surfels within τ of `R` + area
//!    of `R`'s surfels within τ of `P`) / (area of `P` + area of `R`).
//!
//! Empty masks: both empty → every metric is undefined (`None`, the class is
//! "absent in both"); one empty → Dice 0, HD95 infinite, NSD 0 (DeepMind's
//! values too).

pub mod dice;
pub mod edt;
pub mod surface;
pub mod surfels;

pub use dice::{count_labels, dice, DiceAccumulator};
pub use surface::{surface_distances, SurfaceDistances};
