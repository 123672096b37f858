//! A DICOM series as a [`PlaneSource`]: headers are read once (to choose,
//! sort and check), pixels are decoded one file per plane as the scheduler
//! asks. The geometry becomes a synthetic [`ScanHeader`] whose NIfTI header
//! carries the series affine as sform and qform, so orientation, resampling
//! and the NIfTI label writer work unchanged.

use std::path::Path;

use anyhow::Result;
use nifti::NiftiHeader;

use super::files::Container;
use super::pixels::decode_slice;
use super::series::{open_series, Series};
use crate::input_error;
use crate::volume::{Dtype, PlaneSource, ScanHeader};

/// A chosen, sorted and checked DICOM series, read plane by plane.
pub struct DicomSource {
    container: Container,
    series: Series,
    header: ScanHeader,
    next: usize,
}

impl DicomSource {
    /// Opens the folder or .zip `path` and the series `want` (or the only one).
    pub fn open(path: &Path, want: Option<&str>) -> Result<Self> {
        let mut container = Container::open(path)?;
        let series = open_series(&mut container, want)?;
        let header = scan_header(path, &series);
        Ok(Self {
            container,
            series,
            header,
            next: 0,
        })
    }

    pub fn series(&self) -> &Series {
        &self.series
    }

    /// Things the user should know (skipped files, a single slice, not CT).
    pub fn warnings(&self) -> &[String] {
        &self.series.warnings
    }

    /// Parses the header of the series' first slice (sorted order): the
    /// patient, study and frame-of-reference modules a derived object copies.
    pub fn first_header(&mut self) -> Result<super::files::DicomFile> {
        let s = &self.series.slices[0];
        self.container
            .parse(s.file, true)?
            .ok_or_else(|| input_error!("{}: no longer a DICOM file", s.name))
    }
}

impl PlaneSource for DicomSource {
    fn header(&self) -> &ScanHeader {
        &self.header
    }

    fn read_into(&mut self, out: &mut [f32]) -> Result<()> {
        let slice = self
            .series
            .slices
            .get(self.next)
            .ok_or_else(|| anyhow::anyhow!("read past the last slice of the series"))?;
        let obj = self
            .container
            .parse(slice.file, false)?
            .ok_or_else(|| input_error!("{}: no longer a DICOM file", slice.name))?;
        decode_slice(&obj, slice, out)?;
        self.next += 1;
        Ok(())
    }
}

/// The NIfTI-style geometry of a series: dims (columns, rows, slices), the
/// RAS+ affine, and a NIfTI header with that affine in both sform and qform
/// (codes 1, scanner anatomical), as dcm2niix writes it.
pub fn scan_header(path: &Path, s: &Series) -> ScanHeader {
    let dims = [s.cols, s.rows, s.slices.len()];
    let a = s.affine;
    let spacing = [0, 1, 2].map(|c| (a[0][c].powi(2) + a[1][c].powi(2) + a[2][c].powi(2)).sqrt());
    let (quat, offset, qfac) = quaternion(&a, spacing);
    let row = |w: usize| [a[w][0], a[w][1], a[w][2], a[w][3]].map(|v| v as f32);
    let nifti = NiftiHeader {
        dim: [
            3,
            dims[0] as u16,
            dims[1] as u16,
            dims[2] as u16,
            1,
            1,
            1,
            1,
        ],
        datatype: 16,
        bitpix: 32,
        pixdim: [
            qfac as f32,
            spacing[0] as f32,
            spacing[1] as f32,
            spacing[2] as f32,
            1.0,
            1.0,
            1.0,
            1.0,
        ],
        scl_slope: 1.0,
        scl_inter: 0.0,
        xyzt_units: 2,
        qform_code: 1,
        sform_code: 1,
        quatern_b: quat[0] as f32,
        quatern_c: quat[1] as f32,
        quatern_d: quat[2] as f32,
        quatern_x: offset[0] as f32,
        quatern_y: offset[1] as f32,
        quatern_z: offset[2] as f32,
        srow_x: row(0),
        srow_y: row(1),
        srow_z: row(2),
        vox_offset: 352.0,
        ..NiftiHeader::default()
    };
    ScanHeader {
        path: path.to_owned(),
        nifti,
        dims,
        volumes: 1,
        dtype: Dtype::F32,
        affine: a,
        affine_source: "dicom",
        gzipped: false,
    }
}

/// NIfTI quaternion (b, c, d), offset and qfac of an affine with orthogonal
/// columns (nifti_mat44_to_quatern).
fn quaternion(a: &[[f64; 4]; 4], spacing: [f64; 3]) -> ([f64; 3], [f64; 3], f64) {
    let mut r = [[0.0; 3]; 3];
    for (w, row) in r.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = a[w][c] / spacing[c];
        }
    }
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    let qfac = if det < 0.0 {
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
        -1.0
    } else {
        1.0
    };
    let (r11, r12, r13) = (r[0][0], r[0][1], r[0][2]);
    let (r21, r22, r23) = (r[1][0], r[1][1], r[1][2]);
    let (r31, r32, r33) = (r[2][0], r[2][1], r[2][2]);
    let trace = r11 + r22 + r33 + 1.0;
    let (mut qa, mut b, mut c, mut d);
    if trace > 0.5 {
        qa = 0.5 * trace.sqrt();
        b = 0.25 * (r32 - r23) / qa;
        c = 0.25 * (r13 - r31) / qa;
        d = 0.25 * (r21 - r12) / qa;
    } else {
        let xd = 1.0 + r11 - (r22 + r33);
        let yd = 1.0 + r22 - (r11 + r33);
        let zd = 1.0 + r33 - (r11 + r22);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r12 + r21) / b;
            d = 0.25 * (r13 + r31) / b;
            qa = 0.25 * (r32 - r23) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r12 + r21) / c;
            d = 0.25 * (r23 + r32) / c;
            qa = 0.25 * (r13 - r31) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r13 + r31) / d;
            c = 0.25 * (r23 + r32) / d;
            qa = 0.25 * (r21 - r12) / d;
        }
        if qa < 0.0 {
            (qa, b, c, d) = (-qa, -b, -c, -d);
        }
    }
    let _ = qa;
    ([b, c, d], [a[0][3], a[1][3], a[2][3]], qfac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The qform rebuilt from our quaternion is the affine we started from.
    #[test]
    fn quaternion_round_trips() {
        for a in [
            [
                [-0.8, 0.0, 0.0, 10.0],
                [0.0, -0.8, 0.0, 20.0],
                [0.0, 0.0, 2.5, -30.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            [
                [0.8, 0.0, 0.0, 10.0],
                [0.0, -0.8, 0.0, 20.0],
                [0.0, 0.0, 2.5, -30.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            [
                [0.0, 0.0, -3.0, 1.0],
                [0.7, 0.0, 0.0, 2.0],
                [0.0, -0.7, 0.0, 3.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        ] {
            let s = Series {
                uid: String::new(),
                description: String::new(),
                slices: vec![],
                rows: 4,
                cols: 5,
                iop: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                pixel_spacing: [1.0, 1.0],
                slice_spacing: 1.0,
                affine: a,
                warnings: vec![],
            };
            let mut h = scan_header(Path::new("x"), &s).nifti;
            h.sform_code = 0;
            let (aff, src) = crate::volume::header::affine_of(&h);
            assert_eq!(src, "qform");
            for w in 0..3 {
                for c in 0..4 {
                    assert!((aff[w][c] - a[w][c]).abs() < 1e-5, "{aff:?} vs {a:?}");
                }
            }
        }
    }
}
