//! The two ends of the streaming pipeline: where planes of HU come from and
//! where planes of labels go, both in stored order (k = 0, 1, …).
//!
//! A NIfTI file ([`PlaneReader`](super::PlaneReader) → [`LabelWriter`](super::write::LabelWriter))
//! is one pair; a DICOM series or a label volume kept in memory (for `drift`
//! and `eval`) are others. The scheduler in `pipeline` sees only these traits.

use anyhow::Result;

use super::header::ScanHeader;

/// A scan read plane by plane: each call returns the next stored (i, j)
/// plane (i fastest) of the first volume, in Hounsfield units.
pub trait PlaneSource {
    /// The geometry every plane lives on.
    fn header(&self) -> &ScanHeader;
    /// Reads the next plane into `out` (length dims[0]·dims[1]).
    fn read_into(&mut self, out: &mut [f32]) -> Result<()>;
}

/// Receives label planes in stored order; `finish` commits the result (for a
/// file: rename the temporary into place). Dropping an unfinished sink must
/// leave nothing behind.
pub trait LabelSink {
    fn write_plane(&mut self, plane: &[u8]) -> Result<()>;
    fn finish(&mut self) -> Result<()>;
}

/// A label volume collected in memory, stored order (i fastest).
#[derive(Debug, Clone, Default)]
pub struct LabelVolume {
    pub dims: [usize; 3],
    pub data: Vec<u8>,
}

impl LabelVolume {
    pub fn new(dims: [usize; 3]) -> Self {
        Self {
            dims,
            data: Vec::with_capacity(dims.iter().product()),
        }
    }
}

impl LabelSink for LabelVolume {
    fn write_plane(&mut self, plane: &[u8]) -> Result<()> {
        let [nx, ny, nz] = self.dims;
        assert_eq!(plane.len(), nx * ny, "label plane of the wrong size");
        anyhow::ensure!(
            self.data.len() < nx * ny * nz,
            "more planes than the volume has"
        );
        self.data.extend_from_slice(plane);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        anyhow::ensure!(
            self.data.len() == self.dims.iter().product::<usize>(),
            "{} planes were never written",
            self.dims[2] - self.data.len() / (self.dims[0] * self.dims[1]).max(1)
        );
        Ok(())
    }
}
