//! Training data: cases, label maps, model-grid slices, splits, sampling,
//! augmentation and synthetic phantoms.

pub mod augment;
pub mod cases;
pub mod phantom;
pub mod sampler;
pub mod slices;
pub mod split;

pub use cases::Case;
pub use slices::{SliceOrigin, SliceSet};
pub use split::Split;
/// Label maps live in the runtime crate, which `eval` shares with training.
pub use utx_edge::labels::LabelMap;
