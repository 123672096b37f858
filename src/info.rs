//! `utx-edge info`: what a scan or a model file is.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::model::{LoadedModel, ModelSource};
use crate::volume::{PlaneReader, PlaneSource, SliceFrame};

#[derive(Debug, Serialize)]
pub struct ScanInfo {
    pub path: String,
    pub dims: [usize; 3],
    pub volumes: usize,
    pub spacing_mm: [f64; 3],
    pub orientation: String,
    pub affine_source: String,
    pub qform_code: i16,
    pub sform_code: i16,
    pub datatype: String,
    pub scl_slope: f32,
    pub scl_inter: f32,
    pub slice_axis: usize,
    pub streamable: bool,
    pub hu_min: f32,
    pub hu_max: f32,
    /// For a DICOM series: its UID, description, slice count and transfer syntaxes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dicom: Option<serde_json::Value>,
}

/// Reads the header and streams the voxels once for the HU range.
pub fn scan_info(path: &Path) -> Result<ScanInfo> {
    source_info(path, &mut PlaneReader::open(path)?)
}

/// [`scan_info`] of any plane source (a NIfTI reader, a DICOM series).
pub fn source_info(path: &Path, r: &mut dyn PlaneSource) -> Result<ScanInfo> {
    let h = r.header().clone();
    let frame = SliceFrame::from_header(&h)?;
    let mut plane = vec![0f32; h.dims[0] * h.dims[1]];
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for _ in 0..h.dims[2] {
        r.read_into(&mut plane)?;
        for &v in &plane {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let (slope, inter) = h.scaling();
    Ok(ScanInfo {
        path: path.display().to_string(),
        dims: h.dims,
        volumes: h.volumes,
        spacing_mm: h.spacing(),
        orientation: h.axcodes(),
        affine_source: h.affine_source.into(),
        qform_code: h.nifti.qform_code,
        sform_code: h.nifti.sform_code,
        datatype: h.dtype.name().into(),
        scl_slope: slope,
        scl_inter: inter,
        slice_axis: frame.slice_axis,
        streamable: frame.streamable(),
        hu_min: lo,
        hu_max: hi,
        dicom: None,
    })
}

#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub model: String,
    pub arch: String,
    pub precision: String,
    pub classes: Vec<String>,
    pub input_size: usize,
    pub spacing_mm: f64,
    pub window_hu: [f32; 2],
    pub heads: usize,
    pub base_channels: usize,
    pub levels: usize,
    pub parameters: usize,
    pub normalization: String,
    pub calibration: String,
    pub source: String,
    pub training: Option<serde_json::Value>,
}

pub fn model_info(source: ModelSource) -> Result<ModelInfo> {
    let m = LoadedModel::load(source)?;
    let (md, s) = (&m.metadata, &m.metadata.spec);
    Ok(ModelInfo {
        model: m.name.clone(),
        arch: s.arch.clone(),
        precision: md.precision.name().into(),
        classes: s.class_names.clone(),
        input_size: s.input_size,
        spacing_mm: s.spacing_mm,
        window_hu: s.window_hu,
        heads: s.heads,
        base_channels: s.base_channels,
        levels: s.levels,
        parameters: m.parameters,
        normalization: md.normalization.clone(),
        calibration: md.calibration.clone(),
        source: md.source.clone(),
        training: md.training.clone(),
    })
}

/// [`scan_info`] of a DICOM series (a folder or .zip; `series` chooses one of several).
#[cfg(feature = "dicom")]
pub fn dicom_info(path: &Path, series: Option<&str>) -> Result<ScanInfo> {
    let mut src = crate::dicom::DicomSource::open(path, series)?;
    let mut info = source_info(path, &mut src)?;
    let s = src.series();
    let mut syntaxes = std::collections::BTreeMap::<&str, usize>::new();
    for sl in &s.slices {
        *syntaxes.entry(sl.transfer_syntax.as_str()).or_default() += 1;
    }
    info.datatype = "dicom".into();
    info.dicom = Some(serde_json::json!({
        "series_uid": s.uid,
        "description": s.description,
        "slices": s.slices.len(),
        "image_orientation_patient": s.iop,
        "pixel_spacing_mm": s.pixel_spacing,
        "slice_spacing_mm": s.slice_spacing,
        "transfer_syntaxes": syntaxes,
        "warnings": s.warnings,
    }));
    Ok(info)
}
