//! utx-edge: on-device CT organ segmentation with the U-Transformer.
//!
//! The library is the pipeline of shared/DESIGN.md §4, one step a module:
//! [`volume`] reads, orients, windows, resamples and writes scans; with the
//! `runtime` feature (default), [`model`] loads the ONNX graph with tract and
//! [`pipeline`] streams slices through it; [`metrics`] scores the result and
//! [`eval`] compares a segmentation with a reference ([`labels`] maps dataset
//! ids to classes, for training and evaluation alike).
//! With `dicom` (default), `dicom` reads DICOM series and writes DICOM SEG.

#[cfg(feature = "dicom")]
pub mod dicom;
pub mod error;
pub mod eval;
pub mod labels;
pub mod metrics;
pub mod volume;

#[cfg(feature = "runtime")]
pub mod bench;
#[cfg(feature = "runtime")]
pub mod drift;
#[cfg(feature = "runtime")]
pub mod kernels;
#[cfg(feature = "runtime")]
pub mod model;
#[cfg(feature = "runtime")]
pub mod pipeline;

pub use error::InputError;
#[cfg(feature = "runtime")]
pub mod info;
