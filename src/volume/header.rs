//! Reading and checking a NIfTI-1 header before any voxel is allocated.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;
use flate2::read::MultiGzDecoder;
use nifti::{Endianness, NiftiHeader};

use crate::input_error;

/// Largest volume we agree to hold in memory (voxels), checked before allocating.
/// 2^30 voxels is 4 GiB as f32: beyond any CT a console produces.
pub const MAX_VOXELS: usize = 1 << 30;
/// Largest in-plane side we accept (voxels).
pub const MAX_SIDE: usize = 8192;

/// The on-disk voxel type of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Dtype {
    fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            2 => Dtype::U8,
            256 => Dtype::I8,
            4 => Dtype::I16,
            512 => Dtype::U16,
            8 => Dtype::I32,
            768 => Dtype::U32,
            16 => Dtype::F32,
            64 => Dtype::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::I16 | Dtype::U16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::U16 => "uint16",
            Dtype::I32 => "int32",
            Dtype::U32 => "uint32",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
        }
    }
}

/// A checked NIfTI header: 3D geometry, voxel type, scaling and affine.
#[derive(Debug, Clone)]
pub struct ScanHeader {
    pub path: PathBuf,
    pub nifti: NiftiHeader,
    /// Voxel counts along the three stored axes (i fastest).
    pub dims: [usize; 3],
    /// Volumes along the 4th axis; only the first is used.
    pub volumes: usize,
    pub dtype: Dtype,
    /// Voxel → world (RAS+, mm) affine, from the sform, else the qform, else pixdim.
    pub affine: [[f64; 4]; 4],
    /// Which transform the affine came from: "sform", "qform" or "pixdim".
    pub affine_source: &'static str,
    pub gzipped: bool,
}

/// Opens a possibly gzipped file as a byte stream.
pub fn open_stream(path: &Path) -> Result<(Box<dyn Read>, bool)> {
    let mut file =
        File::open(path).map_err(|e| input_error!("{}: cannot open: {e}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).unwrap_or(0);
    let file =
        File::open(path).map_err(|e| input_error!("{}: cannot open: {e}", path.display()))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok((
            Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(file))),
            true,
        ))
    } else {
        Ok((Box::new(BufReader::with_capacity(1 << 20, file)), false))
    }
}

impl ScanHeader {
    /// Reads and validates the header of `path`, and leaves `stream` positioned
    /// at the first voxel.
    pub fn read(path: &Path) -> Result<(Self, Box<dyn Read>)> {
        let (mut stream, gzipped) = open_stream(path)?;
        let mut raw = [0u8; 348];
        stream.read_exact(&mut raw).map_err(|_| {
            input_error!(
                "{}: not a NIfTI-1 file (shorter than a 348-byte header{})",
                path.display(),
                if gzipped { " after decompression" } else { "" }
            )
        })?;
        let nifti = NiftiHeader::from_reader(&raw[..])
            .map_err(|e| input_error!("{}: not a readable NIfTI-1 header ({e})", path.display()))?;
        let header = Self::check(path, nifti, gzipped)?;
        // Skip extensions up to the voxel offset.
        let offset = header.nifti.vox_offset as u64;
        if offset < 348 {
            return Err(input_error!(
                "{}: vox_offset {} is inside the header",
                path.display(),
                offset
            ));
        }
        let skipped = std::io::copy(&mut (&mut stream).take(offset - 348), &mut std::io::sink())?;
        if skipped != offset - 348 {
            return Err(input_error!(
                "{}: truncated before the voxel data",
                path.display()
            ));
        }
        Ok((header, stream))
    }

    fn check(path: &Path, nifti: NiftiHeader, gzipped: bool) -> Result<Self> {
        let p = path.display();
        if &nifti.magic != b"n+1\0" && &nifti.magic != b"ni1\0" {
            return Err(input_error!(
                "{p}: bad NIfTI magic {:?} (NIfTI-2 and Analyze are not supported)",
                nifti.magic
            ));
        }
        let rank = nifti.dim[0] as usize;
        if !(1..=7).contains(&rank) {
            return Err(input_error!("{p}: invalid dim[0] = {rank}"));
        }
        if rank < 3 {
            return Err(input_error!(
                "{p}: {rank}D image; a CT volume needs 3 dimensions"
            ));
        }
        let dims = [
            nifti.dim[1] as usize,
            nifti.dim[2] as usize,
            nifti.dim[3] as usize,
        ];
        if dims.contains(&0) {
            return Err(input_error!("{p}: empty volume (dims {dims:?})"));
        }
        if rank > 4 && nifti.dim[5..=rank].iter().any(|&d| d > 1) {
            return Err(input_error!(
                "{p}: {rank}D data with more than one component per voxel is not a CT volume"
            ));
        }
        let volumes = if rank >= 4 {
            (nifti.dim[4] as usize).max(1)
        } else {
            1
        };
        let dtype = Dtype::from_code(nifti.datatype).ok_or_else(|| {
            input_error!("{p}: unsupported NIfTI datatype code {} (expected an integer or float scalar type)", nifti.datatype)
        })?;
        let voxels = dims.iter().product::<usize>();
        if voxels > MAX_VOXELS || dims.iter().any(|&d| d > MAX_SIDE) {
            return Err(input_error!(
                "{p}: dims {dims:?} exceed the limits ({MAX_SIDE} per side, {MAX_VOXELS} voxels)"
            ));
        }
        let (affine, affine_source) = affine_of(&nifti);
        let det = det3(&affine);
        if !det.is_finite() || det.abs() < 1e-12 {
            return Err(input_error!(
                "{p}: the {affine_source} affine is singular or not finite"
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            nifti,
            dims,
            volumes,
            dtype,
            affine,
            affine_source,
            gzipped,
        })
    }

    /// `scl_slope`/`scl_inter` as the standard says: slope 0 means no scaling.
    pub fn scaling(&self) -> (f32, f32) {
        let s = self.nifti.scl_slope;
        if s == 0.0 || !s.is_finite() {
            (1.0, 0.0)
        } else {
            (
                s,
                if self.nifti.scl_inter.is_finite() {
                    self.nifti.scl_inter
                } else {
                    0.0
                },
            )
        }
    }

    pub fn endianness(&self) -> Endianness {
        self.nifti.endianness
    }

    /// Physical length (mm) of one step along each stored axis.
    pub fn spacing(&self) -> [f64; 3] {
        let a = &self.affine;
        [0, 1, 2].map(|c| (a[0][c].powi(2) + a[1][c].powi(2) + a[2][c].powi(2)).sqrt())
    }

    /// Orientation codes (e.g. "RAS", "LPS") as nibabel's `aff2axcodes` gives them.
    pub fn axcodes(&self) -> String {
        let a = &self.affine;
        (0..3)
            .map(|c| {
                let col = [a[0][c], a[1][c], a[2][c]];
                let w = (0..3)
                    .max_by(|&x, &y| col[x].abs().total_cmp(&col[y].abs()))
                    .unwrap();
                let pos = col[w] > 0.0;
                match (w, pos) {
                    (0, true) => 'R',
                    (0, false) => 'L',
                    (1, true) => 'A',
                    (1, false) => 'P',
                    (2, true) => 'S',
                    _ => 'I',
                }
            })
            .collect()
    }

    /// Volume of one voxel (mm³), from the affine.
    pub fn voxel_volume_mm3(&self) -> f64 {
        det3(&self.affine).abs()
    }

    /// Bytes of one stored (i, j) plane.
    pub fn plane_bytes(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dtype.size()
    }
}

/// The voxel → world affine the way nibabel chooses it: sform when its code is
/// set, else qform, else a plain scaling by pixdim (NIfTI "method 1").
pub(crate) fn affine_of(h: &NiftiHeader) -> ([[f64; 4]; 4], &'static str) {
    let f = |v: f32| v as f64;
    if h.sform_code > 0 {
        let r = |s: [f32; 4]| [f(s[0]), f(s[1]), f(s[2]), f(s[3])];
        return (
            [r(h.srow_x), r(h.srow_y), r(h.srow_z), [0.0, 0.0, 0.0, 1.0]],
            "sform",
        );
    }
    let px = [f(h.pixdim[1]), f(h.pixdim[2]), f(h.pixdim[3])];
    if h.qform_code > 0 {
        let (b, c, d) = (f(h.quatern_b), f(h.quatern_c), f(h.quatern_d));
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let r = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let s = [px[0], px[1], px[2] * qfac];
        let off = [f(h.quatern_x), f(h.quatern_y), f(h.quatern_z)];
        let mut m = [[0.0; 4]; 4];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = r[i][j] * s[j];
            }
            m[i][3] = off[i];
        }
        m[3][3] = 1.0;
        return (m, "qform");
    }
    let mut m = [[0.0; 4]; 4];
    for i in 0..3 {
        m[i][i] = px[i];
    }
    m[3][3] = 1.0;
    (m, "pixdim")
}

fn det3(a: &[[f64; 4]; 4]) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}
