//! The volume pipeline, one step a file, shared by training and inference so
//! that both see exactly the same slices:
//!
//! read ([`header`], [`read`]) → orient ([`orient`]) → window ([`window`]) →
//! resample to the model grid ([`resample`]) → … → resample back → write ([`write`]).

pub mod header;
pub mod orient;
pub mod read;
pub mod resample;
pub mod window;
pub mod write;

pub use header::{Dtype, ScanHeader};
pub use orient::SliceFrame;
pub use read::{read_volume, PlaneReader, Volume};
pub use resample::{AxisMap, SliceResampler};
pub use window::Window;
