//! Training data: cases, label maps, model-grid slices, splits, sampling,
//! augmentation and synthetic phantoms.

pub mod augment;
pub mod cases;
pub mod labels;
pub mod phantom;
pub mod sampler;
pub mod slices;
pub mod split;

pub use cases::Case;
pub use labels::LabelMap;
pub use slices::{SliceOrigin, SliceSet};
pub use split::Split;
