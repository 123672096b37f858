//! Decoding one slice's pixel data (native or JPEG lossless, JPEG 2000, RLE)
//! into Hounsfield units: stored value × RescaleSlope + RescaleIntercept.

use anyhow::Result;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};

use super::files::DicomFile;
use super::series::SliceInfo;
use crate::input_error;

/// Decodes the single frame of `obj` (the file of `slice`) into `out`, in
/// storage order (columns fastest), applying the slice's own rescale.
pub fn decode_slice(obj: &DicomFile, slice: &SliceInfo, out: &mut [f32]) -> Result<()> {
    let name = &slice.name;
    let decoded = obj.decode_pixel_data().map_err(|e| {
        input_error!(
            "{name}: cannot decode the pixel data (transfer syntax {}): {e}",
            slice.transfer_syntax
        )
    })?;
    if (decoded.rows() as usize, decoded.columns() as usize) != (slice.rows, slice.cols) {
        return Err(input_error!(
            "{name}: pixel data is {}×{}, the header says {}×{}",
            decoded.columns(),
            decoded.rows(),
            slice.cols,
            slice.rows
        ));
    }
    // Raw stored values (sign from PixelRepresentation); the rescale is ours,
    // so that it is the one read and checked with the header.
    let raw: Vec<f64> = decoded
        .to_vec_frame_with_options(
            0,
            &ConvertOptions::new().with_modality_lut(ModalityLutOption::None),
        )
        .map_err(|e| input_error!("{name}: cannot convert the pixel data: {e}"))?;
    if raw.len() != out.len() {
        return Err(input_error!(
            "{name}: {} pixels decoded, {} expected",
            raw.len(),
            out.len()
        ));
    }
    for (o, &v) in out.iter_mut().zip(raw.iter()) {
        *o = (v * slice.slope + slice.intercept) as f32;
    }
    Ok(())
}
