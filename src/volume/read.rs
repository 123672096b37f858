//! Voxel reading: stored planes one at a time into a reused buffer
//! ([`PlaneReader`]), or a whole volume ([`read_volume`]) when the slice axis
//! is not the last stored axis and planes must be permuted.

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use nifti::Endianness;

use super::header::{Dtype, ScanHeader};
use crate::input_error;

/// Streams the stored (i, j) planes of the first volume, k by k, decoding each
/// into Hounsfield units (scl_slope / scl_inter applied) in a buffer that is
/// allocated once.
pub struct PlaneReader {
    header: ScanHeader,
    stream: Box<dyn Read>,
    raw: Vec<u8>,
    next: usize,
}

impl PlaneReader {
    pub fn open(path: &Path) -> Result<Self> {
        let (header, stream) = ScanHeader::read(path)?;
        let raw = vec![0u8; header.plane_bytes()];
        Ok(Self {
            header,
            stream,
            raw,
            next: 0,
        })
    }

    pub fn header(&self) -> &ScanHeader {
        &self.header
    }

    /// Index of the next plane `read_into` will return.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Reads the next plane into `out` (length dims[0]·dims[1], i fastest).
    pub fn read_into(&mut self, out: &mut [f32]) -> Result<()> {
        let h = &self.header;
        let k = self.next;
        if k >= h.dims[2] {
            anyhow::bail!("{}: read past the last plane", h.path.display());
        }
        self.stream.read_exact(&mut self.raw).map_err(|e| {
            input_error!(
                "{}: truncated or corrupt data at plane {k} of {} ({e})",
                h.path.display(),
                h.dims[2]
            )
        })?;
        let (slope, inter) = h.scaling();
        decode(&self.raw, h.dtype, h.endianness(), slope, inter, out);
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(input_error!(
                "{}: non-finite voxel (NaN or Inf) at (i={}, j={}, k={k}); clean the scan before segmenting",
                h.path.display(), i % h.dims[0], i / h.dims[0]
            ));
        }
        self.next += 1;
        Ok(())
    }
}

impl super::stream::PlaneSource for PlaneReader {
    fn header(&self) -> &ScanHeader {
        &self.header
    }

    fn read_into(&mut self, out: &mut [f32]) -> Result<()> {
        PlaneReader::read_into(self, out)
    }
}

/// A whole 3D volume in stored order (i fastest), in Hounsfield units.
pub struct Volume {
    pub header: ScanHeader,
    pub data: Vec<f32>,
}

impl Volume {
    pub fn dims(&self) -> [usize; 3] {
        self.header.dims
    }
}

/// Reads the first 3D volume of `path` entirely.
pub fn read_volume(path: &Path) -> Result<Volume> {
    let mut reader = PlaneReader::open(path)?;
    let [nx, ny, nz] = reader.header.dims;
    let plane = nx * ny;
    let mut data = vec![0f32; plane * nz];
    for k in 0..nz {
        reader.read_into(&mut data[k * plane..(k + 1) * plane])?;
    }
    Ok(Volume {
        header: reader.header,
        data,
    })
}

/// Converts raw stored values to f32 with the NIfTI scaling `v · slope + inter`.
fn decode(raw: &[u8], dtype: Dtype, endian: Endianness, slope: f32, inter: f32, out: &mut [f32]) {
    let little = endian == Endianness::Little;
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            for (o, b) in out.iter_mut().zip(raw.chunks_exact($n)) {
                let bytes: [u8; $n] = b.try_into().unwrap();
                let v = if little {
                    <$t>::from_le_bytes(bytes)
                } else {
                    <$t>::from_be_bytes(bytes)
                };
                *o = (v as f64 * slope as f64 + inter as f64) as f32;
            }
        };
    }
    match dtype {
        Dtype::U8 => conv!(u8, 1),
        Dtype::I8 => conv!(i8, 1),
        Dtype::I16 => conv!(i16, 2),
        Dtype::U16 => conv!(u16, 2),
        Dtype::I32 => conv!(i32, 4),
        Dtype::U32 => conv!(u32, 4),
        Dtype::F32 => conv!(f32, 4),
        Dtype::F64 => conv!(f64, 8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_applies_scaling_and_endianness() {
        let raw = [0x01u8, 0x00, 0xff, 0xff]; // i16 LE: 1, -1
        let mut out = [0f32; 2];
        decode(&raw, Dtype::I16, Endianness::Little, 2.0, -1024.0, &mut out);
        assert_eq!(out, [-1022.0, -1026.0]);
        decode(&raw, Dtype::I16, Endianness::Big, 1.0, 0.0, &mut out);
        assert_eq!(out, [256.0, -1.0]);
    }
}
