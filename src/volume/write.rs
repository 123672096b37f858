//! Writing a uint8 label volume on the exact grid of its source scan, plane by
//! plane, into a temporary file that is renamed only when complete.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use nifti::NiftiHeader;

use super::header::ScanHeader;
use crate::input_error;

/// NIfTI extension code for free text ("comment"); our payload is JSON.
pub const ECODE_COMMENT: i32 = 6;

/// Refuses to overwrite `dest` unless `force`: every writer of results says the same.
pub fn refuse_existing(dest: &Path, force: bool) -> Result<()> {
    if dest.exists() && !force {
        return Err(input_error!(
            "{}: already exists (use --force to overwrite)",
            dest.display()
        ));
    }
    Ok(())
}

/// A label volume being written. Dropping it before [`finish`](Self::finish)
/// removes the temporary file, so a failed run leaves nothing behind.
pub struct LabelWriter {
    sink: Option<Box<dyn Write>>,
    tmp: PathBuf,
    dest: PathBuf,
    plane: usize,
    planes_left: usize,
}

impl LabelWriter {
    /// Starts `dest` with the geometry of `source` (dims, pixdim, qform, sform and
    /// their codes) and a JSON extension `extension_json` (e.g. class names).
    /// Gzips when `dest` ends in `.gz`. Refuses an existing `dest` unless `force`.
    pub fn create(
        dest: &Path,
        source: &ScanHeader,
        extension_json: &str,
        force: bool,
    ) -> Result<Self> {
        refuse_existing(dest, force)?;
        let name = dest
            .file_name()
            .ok_or_else(|| input_error!("{}: not a file path", dest.display()))?;
        let lower = name.to_string_lossy().to_lowercase();
        if !(lower.ends_with(".nii") || lower.ends_with(".nii.gz")) {
            return Err(input_error!(
                "{}: output name must end in .nii or .nii.gz",
                dest.display()
            ));
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.{}.partial",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp)
            .map_err(|e| input_error!("{}: cannot write here ({e})", dest.display()))?;
        let buffered = BufWriter::with_capacity(1 << 20, file);
        let mut sink: Box<dyn Write> = if lower.ends_with(".gz") {
            Box::new(GzEncoder::new(buffered, Compression::new(6)))
        } else {
            Box::new(buffered)
        };
        let header = label_header(&source.nifti, extension_json.len());
        let res = write_header(&mut sink, &header, extension_json.as_bytes());
        let [nx, ny, nz] = source.dims;
        let mut me = Self {
            sink: Some(sink),
            tmp,
            dest: dest.to_owned(),
            plane: nx * ny,
            planes_left: nz,
        };
        res.with_context(|| format!("{}: writing the header", me.dest.display()))?;
        me.planes_left = nz;
        Ok(me)
    }

    /// Appends the next stored (i, j) plane of labels.
    pub fn write_plane(&mut self, plane: &[u8]) -> Result<()> {
        assert_eq!(plane.len(), self.plane, "label plane of the wrong size");
        anyhow::ensure!(self.planes_left > 0, "more planes than the volume has");
        let sink = self.sink.as_mut().expect("writer already finished");
        sink.write_all(plane)
            .with_context(|| format!("{}: write failed", self.dest.display()))?;
        self.planes_left -= 1;
        Ok(())
    }

    /// Flushes, closes and renames the temporary file onto the destination.
    pub fn finish(mut self) -> Result<()> {
        self.commit()
    }

    fn commit(&mut self) -> Result<()> {
        anyhow::ensure!(
            self.planes_left == 0,
            "{} planes were never written",
            self.planes_left
        );
        let mut sink = self.sink.take().expect("writer already finished");
        sink.flush()
            .with_context(|| format!("{}: write failed", self.dest.display()))?;
        drop(sink); // finishes the gzip stream and closes the file
        fs::rename(&self.tmp, &self.dest).with_context(|| {
            format!(
                "{}: cannot move the finished file into place",
                self.dest.display()
            )
        })?;
        Ok(())
    }
}

impl super::stream::LabelSink for LabelWriter {
    fn write_plane(&mut self, plane: &[u8]) -> Result<()> {
        LabelWriter::write_plane(self, plane)
    }

    fn finish(&mut self) -> Result<()> {
        self.commit()
    }
}

impl Drop for LabelWriter {
    fn drop(&mut self) {
        if self.sink.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The source header turned into a uint8 label header: same grid, no scaling.
fn label_header(src: &NiftiHeader, ext_len: usize) -> NiftiHeader {
    let mut h = src.clone();
    h.dim = [3, src.dim[1], src.dim[2], src.dim[3], 1, 1, 1, 1];
    h.datatype = 2;
    h.bitpix = 8;
    h.scl_slope = 1.0;
    h.scl_inter = 0.0;
    h.cal_min = 0.0;
    h.cal_max = 0.0;
    h.intent_code = 1002; // NIFTI_INTENT_LABEL
    h.intent_name = *b"labels\0\0\0\0\0\0\0\0\0\0";
    h.magic = *b"n+1\0";
    h.vox_offset = (352 + extension_size(ext_len)) as f32;
    h
}

fn extension_size(payload: usize) -> usize {
    if payload == 0 {
        0
    } else {
        (8 + payload).div_ceil(16) * 16
    }
}

fn write_header(w: &mut dyn Write, h: &NiftiHeader, ext: &[u8]) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(352 + ext.len() + 16);
    let i16s = |b: &mut Vec<u8>, v: i16| b.extend_from_slice(&v.to_le_bytes());
    let f32s = |b: &mut Vec<u8>, v: f32| b.extend_from_slice(&v.to_le_bytes());
    b.extend_from_slice(&348i32.to_le_bytes());
    b.extend_from_slice(&h.data_type);
    b.extend_from_slice(&h.db_name);
    b.extend_from_slice(&h.extents.to_le_bytes());
    i16s(&mut b, h.session_error);
    b.push(h.regular);
    b.push(h.dim_info);
    h.dim.iter().for_each(|&d| i16s(&mut b, d as i16));
    [h.intent_p1, h.intent_p2, h.intent_p3]
        .iter()
        .for_each(|&v| f32s(&mut b, v));
    [h.intent_code, h.datatype, h.bitpix, h.slice_start]
        .iter()
        .for_each(|&v| i16s(&mut b, v));
    h.pixdim.iter().for_each(|&v| f32s(&mut b, v));
    [h.vox_offset, h.scl_slope, h.scl_inter]
        .iter()
        .for_each(|&v| f32s(&mut b, v));
    i16s(&mut b, h.slice_end);
    b.push(h.slice_code);
    b.push(h.xyzt_units);
    [h.cal_max, h.cal_min, h.slice_duration, h.toffset]
        .iter()
        .for_each(|&v| f32s(&mut b, v));
    b.extend_from_slice(&h.glmax.to_le_bytes());
    b.extend_from_slice(&h.glmin.to_le_bytes());
    let mut descrip = [0u8; 80];
    let n = h.descrip.len().min(80);
    descrip[..n].copy_from_slice(&h.descrip[..n]);
    b.extend_from_slice(&descrip);
    b.extend_from_slice(&h.aux_file);
    i16s(&mut b, h.qform_code);
    i16s(&mut b, h.sform_code);
    [
        h.quatern_b,
        h.quatern_c,
        h.quatern_d,
        h.quatern_x,
        h.quatern_y,
        h.quatern_z,
    ]
    .iter()
    .for_each(|&v| f32s(&mut b, v));
    for row in [h.srow_x, h.srow_y, h.srow_z] {
        row.iter().for_each(|&v| f32s(&mut b, v));
    }
    b.extend_from_slice(&h.intent_name);
    b.extend_from_slice(&h.magic);
    debug_assert_eq!(b.len(), 348);
    let size = extension_size(ext.len());
    b.extend_from_slice(&[u8::from(size > 0), 0, 0, 0]);
    if size > 0 {
        b.extend_from_slice(&(size as i32).to_le_bytes());
        b.extend_from_slice(&ECODE_COMMENT.to_le_bytes());
        b.extend_from_slice(ext);
        b.resize(352 + size, 0);
    }
    w.write_all(&b)
}

/// Writes `header` (its `vox_offset` reset to 352, no extensions) and raw
/// voxel bytes as one NIfTI file, gzipped when the name ends in `.gz`. For
/// tools and tests that produce scans in any datatype and orientation.
pub fn write_raw(path: &Path, header: &NiftiHeader, data: &[u8]) -> Result<()> {
    let mut h = header.clone();
    h.vox_offset = 352.0;
    h.magic = *b"n+1\0";
    let file = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut sink: Box<dyn Write> = if path.to_string_lossy().ends_with(".gz") {
        Box::new(GzEncoder::new(BufWriter::new(file), Compression::fast()))
    } else {
        Box::new(BufWriter::new(file))
    };
    write_header(&mut sink, &h, &[])?;
    sink.write_all(data)?;
    sink.flush()?;
    Ok(())
}
