//! Training data: volumes, slices, labels, phantoms, sampling and augmentation.

pub mod phantom;
