//! The volume pipeline, one step a file, shared by training and inference so
//! that both see exactly the same slices:
//!
//! read ([`header`], [`read`]) → orient ([`orient`]) → window ([`window`]) →
//! resample to the model grid ([`resample`]) → … → resample back → write ([`write`]).
//! [`stream`] names the two ends, so other formats plug into the same scheduler.

pub mod extension;
pub mod header;
pub mod orient;
pub mod read;
pub mod resample;
pub mod stream;
pub mod window;
pub mod write;

pub use header::{Dtype, ScanHeader};
pub use orient::SliceFrame;
pub use read::{read_volume, PlaneReader, Volume};
pub use resample::{AxisMap, SliceResampler};
pub use stream::{LabelSink, LabelVolume, PlaneSource};
pub use window::Window;

/// Every slice of a whole volume on the model grid (`size`² each, windowed):
/// what the model sees, for calibration and training.
pub fn model_slices(
    vol: &Volume,
    size: usize,
    spacing_mm: f64,
    window: Window,
) -> anyhow::Result<Vec<f32>> {
    let frame = SliceFrame::from_header(&vol.header)?;
    let rs = SliceResampler::new(
        frame.rows(),
        frame.cols(),
        frame.row_spacing,
        frame.col_spacing,
        size,
        spacing_mm,
    );
    let mut hu = vec![0f32; frame.rows() * frame.cols()];
    let mut out = vec![0f32; frame.slices() * size * size];
    for (s, o) in out.chunks_exact_mut(size * size).enumerate() {
        frame.gather(&vol.data, s, &mut hu);
        hu.iter_mut().for_each(|v| *v = window.apply(*v));
        rs.image_to_model(&hu, 0.0, o);
    }
    Ok(out)
}
