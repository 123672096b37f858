//! utx-edge: on-device CT organ segmentation with the U-Transformer.
//!
//! The library is the pipeline of shared/DESIGN.md §4, one step a module:
//! [`volume`] reads, orients, windows, resamples and writes scans; with the
//! `runtime` feature (default), [`model`] loads the ONNX graph with tract and
//! [`pipeline`] streams slices through it; [`metrics`] scores the result;
//! with `dicom` (default), `dicom` reads DICOM series and writes DICOM SEG.

#[cfg(feature = "dicom")]
pub mod dicom;
pub mod error;
pub mod metrics;
pub mod volume;

#[cfg(feature = "runtime")]
pub mod model;
#[cfg(feature = "runtime")]
pub mod pipeline;

pub use error::InputError;
#[cfg(feature = "runtime")]
pub mod info;
