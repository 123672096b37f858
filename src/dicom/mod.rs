//! DICOM in, DICOM SEG out (feature `dicom`): a CT series from a folder or a
//! .zip becomes a [`PlaneSource`](crate::volume::PlaneSource) for the same
//! streaming scheduler as NIfTI, and labels can go back as a DICOM
//! Segmentation that references the source slices.
//!
//! [`files`] lists the files of a folder or zip → [`series`] reads their
//! headers, groups by series, sorts along the slice normal and checks the
//! geometry → [`source`] builds the NIfTI-style header and decodes one slice
//! per plane with [`pixels`] → [`seg`] writes the DICOM SEG.
//!
//! No patient data is logged: errors and warnings name files, series UIDs and
//! descriptions only.

pub mod files;
pub mod pixels;
pub mod seg;
pub mod series;
pub mod source;

pub use files::{is_dicom_input, Container};
pub use seg::{SegInfo, SegWriter};
pub use series::{Series, SliceInfo};
pub use source::DicomSource;
