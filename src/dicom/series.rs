//! Scanning DICOM headers, grouping them into series, choosing one, sorting its
//! slices along the slice normal and checking that they form a regular volume.
//!
//! Only headers are read here (up to the pixel data): decoding waits for the
//! streamed [`DicomSource`](super::DicomSource), one plane at a time.

use std::collections::BTreeMap;

use anyhow::Result;
use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::files::{Container, DicomFile};
use crate::input_error;

/// Transfer syntaxes whose pixel data we decode: (UID, name).
pub const SUPPORTED_SYNTAXES: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
    ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    ("1.2.840.10008.1.2.4.57", "JPEG Lossless (Process 14)"),
    (
        "1.2.840.10008.1.2.4.70",
        "JPEG Lossless (Process 14, Selection Value 1)",
    ),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
];

/// Modalities of objects that sit beside images in an export but are not slices.
const NOT_IMAGES: &[&str] = &[
    "SEG", "RTSTRUCT", "SR", "PR", "KO", "REG", "RTPLAN", "RTRECORD", "DOC",
];

/// Names of transfer syntaxes a console may send that we do not decode.
fn unsupported_name(uid: &str) -> Option<&'static str> {
    Some(match uid {
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline, lossy",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended, lossy",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "High-Throughput JPEG 2000"
        }
        _ => return None,
    })
}

/// What one slice's header says (no pixel data, no patient data).
#[derive(Debug, Clone)]
pub struct SliceInfo {
    /// Index of the file in its [`Container`].
    pub file: usize,
    /// How errors name the file.
    pub name: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub series_uid: String,
    pub series_description: String,
    pub modality: String,
    pub study_uid: String,
    pub frame_of_reference_uid: String,
    pub transfer_syntax: String,
    pub rows: usize,
    pub cols: usize,
    pub frames: usize,
    pub samples: usize,
    pub ipp: Option<[f64; 3]>,
    pub iop: Option<[f64; 6]>,
    /// (row spacing, column spacing), mm.
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness: Option<f64>,
    pub slope: f64,
    pub intercept: f64,
}

/// A chosen series, its slices sorted along the normal, with its geometry.
#[derive(Debug, Clone)]
pub struct Series {
    pub uid: String,
    pub description: String,
    pub slices: Vec<SliceInfo>,
    pub rows: usize,
    pub cols: usize,
    /// Row direction (along a row, i.e. increasing column) and column
    /// direction (down a column), LPS.
    pub iop: [f64; 6],
    /// (row spacing, column spacing), mm.
    pub pixel_spacing: [f64; 2],
    /// Distance between slice centres along the normal, mm.
    pub slice_spacing: f64,
    /// Voxel (column, row, slice) → world RAS+ mm, as dcm2niix and nibabel build it.
    pub affine: [[f64; 4]; 4],
    /// Files skipped because they are not DICOM, and similar notes.
    pub warnings: Vec<String>,
}

fn text(obj: &DicomFile, tag: Tag) -> String {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.into_owned()))
        .map(|s| {
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        })
        .unwrap_or_default()
}

fn floats(obj: &DicomFile, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_float64().ok())
        .filter(|v| v.iter().all(|x| x.is_finite()))
}

fn int(obj: &DicomFile, tag: Tag) -> Option<i64> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok())
}

impl SliceInfo {
    fn from_file(file: usize, name: String, obj: &DicomFile) -> Self {
        let arr = |v: Option<Vec<f64>>, n: usize| v.filter(|v| v.len() == n);
        Self {
            file,
            name,
            sop_class_uid: text(obj, tags::SOP_CLASS_UID),
            sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID),
            series_uid: text(obj, tags::SERIES_INSTANCE_UID),
            series_description: text(obj, tags::SERIES_DESCRIPTION),
            modality: text(obj, tags::MODALITY),
            study_uid: text(obj, tags::STUDY_INSTANCE_UID),
            frame_of_reference_uid: text(obj, tags::FRAME_OF_REFERENCE_UID),
            transfer_syntax: obj
                .meta()
                .transfer_syntax()
                .trim_end_matches(['\0', ' '])
                .to_string(),
            rows: int(obj, tags::ROWS).unwrap_or(0).max(0) as usize,
            cols: int(obj, tags::COLUMNS).unwrap_or(0).max(0) as usize,
            frames: int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize,
            samples: int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1) as usize,
            ipp: arr(floats(obj, tags::IMAGE_POSITION_PATIENT), 3).map(|v| [v[0], v[1], v[2]]),
            iop: arr(floats(obj, tags::IMAGE_ORIENTATION_PATIENT), 6)
                .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]),
            pixel_spacing: arr(floats(obj, tags::PIXEL_SPACING), 2).map(|v| [v[0], v[1]]),
            slice_thickness: floats(obj, tags::SLICE_THICKNESS).and_then(|v| v.first().copied()),
            slope: floats(obj, tags::RESCALE_SLOPE)
                .and_then(|v| v.first().copied())
                .filter(|&s| s != 0.0)
                .unwrap_or(1.0),
            intercept: floats(obj, tags::RESCALE_INTERCEPT)
                .and_then(|v| v.first().copied())
                .unwrap_or(0.0),
        }
    }
}

/// Reads the header of every DICOM file in `container` (non-DICOM files are
/// skipped and counted in the second value).
pub fn scan(container: &mut Container) -> Result<(Vec<SliceInfo>, usize)> {
    let mut slices = Vec::new();
    let mut skipped = 0;
    for i in 0..container.len() {
        match container.parse(i, true)? {
            None => skipped += 1,
            Some(obj) => {
                // A DICOMDIR, a report, a segmentation…: not a CT slice.
                let modality = text(&obj, tags::MODALITY);
                if int(&obj, tags::ROWS).is_none() || NOT_IMAGES.contains(&modality.as_str()) {
                    skipped += 1;
                    continue;
                }
                slices.push(SliceInfo::from_file(i, container.name(i), &obj));
            }
        }
    }
    if slices.is_empty() {
        return Err(input_error!(
            "{}: no DICOM image files found ({} file(s) looked at); give a folder or .zip of one CT series",
            container.path().display(),
            container.len()
        ));
    }
    Ok((slices, skipped))
}

/// Groups `slices` by SeriesInstanceUID and returns the one asked for (`want`),
/// or the only one; several without `want` is an error that lists them.
pub fn choose(
    input: &str,
    slices: Vec<SliceInfo>,
    want: Option<&str>,
) -> Result<(String, Vec<SliceInfo>)> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<SliceInfo>> = BTreeMap::new();
    for s in slices {
        if !groups.contains_key(&s.series_uid) {
            order.push(s.series_uid.clone());
        }
        groups.entry(s.series_uid.clone()).or_default().push(s);
    }
    let listing = order
        .iter()
        .map(|uid| {
            let g = &groups[uid];
            format!(
                "{} \"{}\" ({} {}, {})",
                if uid.is_empty() { "(no UID)" } else { uid },
                g[0].series_description,
                g.len(),
                if g.len() == 1 { "file" } else { "files" },
                if g[0].modality.is_empty() {
                    "?"
                } else {
                    &g[0].modality
                },
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    match want {
        Some(uid) => match groups.remove(uid) {
            Some(g) => Ok((uid.to_string(), g)),
            None => Err(input_error!(
                "{input}: no series {uid}; the series here are: {}",
                listing
            )),
        },
        None if order.len() == 1 => {
            let uid = order.remove(0);
            let g = groups.remove(&uid).unwrap();
            Ok((uid, g))
        }
        None => Err(input_error!(
            "{input}: {} series found; choose one with --series UID: {}",
            order.len(),
            listing
        )),
    }
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

impl Series {
    /// Checks the slices of one series and sorts them along the slice normal.
    pub fn build(input: &str, uid: String, mut slices: Vec<SliceInfo>) -> Result<Self> {
        let first = slices[0].clone();
        let series = format!("{input}: series {uid}");
        for s in &slices {
            let name = &s.name;
            if !SUPPORTED_SYNTAXES
                .iter()
                .any(|(u, _)| *u == s.transfer_syntax)
            {
                return Err(input_error!(
                    "{name}: unsupported transfer syntax {}{}; supported: {}. Convert the series first (e.g. `gdcmconv --raw` or `dcmdjpeg`)",
                    s.transfer_syntax,
                    unsupported_name(&s.transfer_syntax)
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    SUPPORTED_SYNTAXES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
                ));
            }
            if s.frames > 1 {
                return Err(input_error!(
                    "{name}: multi-frame image ({} frames); only one slice per file (classic CT) is supported",
                    s.frames
                ));
            }
            if s.samples != 1 {
                return Err(input_error!(
                    "{name}: {} samples per pixel; a CT slice has one",
                    s.samples
                ));
            }
            if s.rows == 0 || s.cols == 0 {
                return Err(input_error!("{name}: no Rows/Columns: not an image"));
            }
            if (s.rows, s.cols) != (first.rows, first.cols) {
                return Err(input_error!(
                    "{series}: slices of different sizes ({}: {}×{}, {}: {}×{}); a volume needs one size: remove the odd files or choose another series",
                    first.name, first.cols, first.rows, name, s.cols, s.rows
                ));
            }
            if s.ipp.is_none() {
                return Err(input_error!(
                    "{name}: no ImagePositionPatient; the slices cannot be placed (a secondary capture or a localizer?)"
                ));
            }
            if s.iop.is_none() {
                return Err(input_error!(
                    "{name}: no ImageOrientationPatient; the slices cannot be oriented"
                ));
            }
            if s.pixel_spacing.is_none_or(|p| p[0] <= 0.0 || p[1] <= 0.0) {
                return Err(input_error!(
                    "{name}: no valid PixelSpacing; the voxel size is unknown"
                ));
            }
        }
        let iop = first.iop.unwrap();
        let ps = first.pixel_spacing.unwrap();
        for s in &slices {
            let o = s.iop.unwrap();
            if o.iter().zip(iop.iter()).any(|(a, b)| (a - b).abs() > 1e-4) {
                return Err(input_error!(
                    "{series}: slices with different ImageOrientationPatient ({} and {}); not one volume",
                    first.name,
                    s.name
                ));
            }
            let p = s.pixel_spacing.unwrap();
            if (p[0] - ps[0]).abs() > 1e-4 || (p[1] - ps[1]).abs() > 1e-4 {
                return Err(input_error!(
                    "{series}: slices with different PixelSpacing ({} and {})",
                    first.name,
                    s.name
                ));
            }
        }
        let r = [iop[0], iop[1], iop[2]];
        let c = [iop[3], iop[4], iop[5]];
        let unit = |v: [f64; 3]| (dot(v, v).sqrt() - 1.0).abs() < 1e-3;
        if !unit(r) || !unit(c) || dot(r, c).abs() > 1e-3 {
            return Err(input_error!(
                "{}: ImageOrientationPatient {iop:?} is not two orthogonal unit vectors; the geometry is invalid",
                first.name
            ));
        }
        let n = cross(r, c);
        // Sort by position along the normal, never by file name or InstanceNumber.
        slices.sort_by(|a, b| dot(a.ipp.unwrap(), n).total_cmp(&dot(b.ipp.unwrap(), n)));
        let d: Vec<f64> = slices.iter().map(|s| dot(s.ipp.unwrap(), n)).collect();
        let mut warnings = Vec::new();
        let slice_spacing = if slices.len() == 1 {
            let t = first.slice_thickness.filter(|&t| t > 0.0).unwrap_or(1.0);
            warnings.push(format!(
                "{series}: a single slice; its thickness ({t} mm) is taken as the slice spacing"
            ));
            t
        } else {
            let steps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
            if let Some(k) = steps.iter().position(|&s| s < 1e-3) {
                return Err(input_error!(
                    "{series}: {} and {} are at the same position; duplicate slices or two acquisitions in one series: remove the duplicates",
                    slices[k].name,
                    slices[k + 1].name
                ));
            }
            let mut sorted = steps.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            if let Some(k) = steps
                .iter()
                .position(|&s| (s - median).abs() > 0.01 * median + 0.01)
            {
                return Err(input_error!(
                    "{series}: uneven slice spacing: {:.3} mm between {} and {}, {:.3} mm elsewhere (a missing slice?); the volume would be distorted",
                    steps[k],
                    slices[k].name,
                    slices[k + 1].name,
                    median
                ));
            }
            // Gantry tilt (or a sheared stack): positions drift across the plane.
            let p0 = slices[0].ipp.unwrap();
            for s in &slices[1..] {
                let v = sub(s.ipp.unwrap(), p0);
                let along = dot(v, n);
                let side = sub(v, [n[0] * along, n[1] * along, n[2] * along]);
                let off = dot(side, side).sqrt();
                if off > 0.01 + 1e-3 * along.abs() {
                    return Err(input_error!(
                        "{series}: the slices shift {off:.2} mm sideways along the stack (gantry tilt or a sheared volume); tilted acquisitions are not supported: resample them first (e.g. dcm2niix corrects tilt)"
                    ));
                }
            }
            (d[d.len() - 1] - d[0]) / (d.len() - 1) as f64
        };
        // LPS affine: column index along r, row index along c, slices along n.
        let p0 = slices[0].ipp.unwrap();
        let mut affine = [[0.0; 4]; 4];
        for w in 0..3 {
            affine[w][0] = r[w] * ps[1];
            affine[w][1] = c[w] * ps[0];
            affine[w][2] = n[w] * slice_spacing;
            affine[w][3] = p0[w];
        }
        affine[3][3] = 1.0;
        // LPS → RAS.
        for row in affine.iter_mut().take(2) {
            row.iter_mut().for_each(|v| *v = -*v);
        }
        if first.modality != "CT" {
            warnings.push(format!(
                "{series}: modality {} is not CT; the model expects Hounsfield units",
                if first.modality.is_empty() {
                    "(none)"
                } else {
                    &first.modality
                }
            ));
        }
        Ok(Self {
            uid,
            description: first.series_description.clone(),
            rows: first.rows,
            cols: first.cols,
            iop,
            pixel_spacing: ps,
            slice_spacing,
            affine,
            slices,
            warnings,
        })
    }

    /// The slice normal (row direction × column direction), LPS.
    pub fn normal(&self) -> [f64; 3] {
        let o = self.iop;
        cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])
    }
}

/// Scans `container`, chooses the series (`want`, or the only one) and checks it.
pub fn open_series(container: &mut Container, want: Option<&str>) -> Result<Series> {
    let input = container.path().display().to_string();
    let (slices, skipped) = scan(container)?;
    let (uid, group) = choose(&input, slices, want)?;
    let mut series = Series::build(&input, uid, group)?;
    if skipped > 0 {
        series.warnings.push(format!(
            "{input}: {skipped} file(s) skipped: not DICOM images (notes, DICOMDIR, segmentations, reports)"
        ));
    }
    Ok(series)
}
