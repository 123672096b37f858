//! DICOM SEG output: a [`LabelSink`] that keeps the non-empty (slice, organ)
//! frames bit-packed in memory and, on `finish`, writes one binary
//! Segmentation object (one segment per organ, coded with SNOMED CT) that
//! references the source series, to a temporary file renamed into place.
//!
//! Frame geometry is the source's: label plane k is the k-th slice along the
//! normal, stored exactly like its pixels (columns fastest), so frame k takes
//! slice k's ImagePositionPatient and SOP Instance UID and no pixel is moved.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use dicom_core::smallvec::SmallVec;
use dicom_core::value::DataSetSequence;
use dicom_core::{dicom_value, DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

use super::files::DicomFile;
use super::series::Series;
use crate::input_error;
use crate::volume::write::refuse_existing;
use crate::volume::LabelSink;

const SEG_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.4";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// A coded concept: (value, scheme, meaning).
type Code = (&'static str, &'static str, &'static str);

const ANATOMICAL_STRUCTURE: Code = ("123037004", "SCT", "Anatomical Structure");

/// SNOMED CT code of an organ by the model's class name.
pub fn organ_code(name: &str) -> Code {
    match name.to_ascii_lowercase().as_str() {
        "spleen" => ("78961009", "SCT", "Spleen"),
        "kidney_right" | "right kidney" => ("9846003", "SCT", "Right kidney"),
        "kidney_left" | "left kidney" => ("18639004", "SCT", "Left kidney"),
        "gallbladder" => ("28231008", "SCT", "Gallbladder"),
        "liver" => ("10200004", "SCT", "Liver"),
        "stomach" => ("69695003", "SCT", "Stomach"),
        "pancreas" => ("15776009", "SCT", "Pancreas"),
        _ => ("91723000", "SCT", "Anatomical structure"),
    }
}

/// Patient, study, frame-of-reference and clinical-trial attributes copied
/// from the source (type 2 ones are written empty when the source lacks them).
const COPIED: &[(Tag, VR, bool)] = &[
    (tags::SPECIFIC_CHARACTER_SET, VR::CS, false),
    (tags::PATIENT_NAME, VR::PN, true),
    (tags::PATIENT_ID, VR::LO, true),
    (tags::ISSUER_OF_PATIENT_ID, VR::LO, false),
    (tags::PATIENT_BIRTH_DATE, VR::DA, true),
    (tags::PATIENT_SEX, VR::CS, true),
    (tags::PATIENT_AGE, VR::AS, false),
    (tags::PATIENT_WEIGHT, VR::DS, false),
    (tags::OTHER_PATIENT_I_DS_SEQUENCE, VR::SQ, false),
    (tags::STUDY_INSTANCE_UID, VR::UI, true),
    (tags::STUDY_DATE, VR::DA, true),
    (tags::STUDY_TIME, VR::TM, true),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN, true),
    (tags::STUDY_ID, VR::SH, true),
    (tags::ACCESSION_NUMBER, VR::SH, true),
    (tags::STUDY_DESCRIPTION, VR::LO, false),
    (tags::FRAME_OF_REFERENCE_UID, VR::UI, true),
    (tags::POSITION_REFERENCE_INDICATOR, VR::LO, true),
    (tags::CLINICAL_TRIAL_SPONSOR_NAME, VR::LO, false),
    (tags::CLINICAL_TRIAL_PROTOCOL_ID, VR::LO, false),
    (tags::CLINICAL_TRIAL_SUBJECT_ID, VR::LO, false),
    (tags::CLINICAL_TRIAL_SITE_ID, VR::LO, false),
];

/// What the SEG says about the algorithm that made it.
#[derive(Debug, Clone)]
pub struct SegInfo {
    /// Class names, index = label value (0 = background, not a segment).
    pub class_names: Vec<String>,
    /// e.g. "utx-edge u_transformer fp32".
    pub algorithm: String,
    pub version: String,
}

/// Collects label planes and writes a DICOM SEG on `finish`.
pub struct SegWriter {
    dest: PathBuf,
    series: Series,
    copied: Vec<DataElement<InMemDicomObject>>,
    info: SegInfo,
    /// (plane, segment number, packed bits) of every non-empty frame.
    frames: Vec<(usize, usize, Vec<u8>)>,
    planes: usize,
}

impl SegWriter {
    /// Prepares a SEG for `series`; `first` is the header of its first slice
    /// (patient and study are copied from it). Refuses an existing `dest`
    /// unless `force`.
    pub fn create(
        dest: &Path,
        series: &Series,
        first: &DicomFile,
        info: SegInfo,
        force: bool,
    ) -> Result<Self> {
        refuse_existing(dest, force)?;
        if dest.file_name().is_none() {
            return Err(input_error!("{}: not a file path", dest.display()));
        }
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(input_error!(
                "{}: cannot write here (no folder {})",
                dest.display(),
                dir.display()
            ));
        }
        let copied = COPIED
            .iter()
            .filter_map(
                |&(tag, vr, type2)| match first.element_opt(tag).ok().flatten() {
                    Some(e) => Some(e.clone()),
                    None if type2 => Some(DataElement::new(tag, vr, PrimitiveValue::Empty)),
                    None => None,
                },
            )
            .collect();
        Ok(Self {
            dest: dest.to_owned(),
            series: series.clone(),
            copied,
            info,
            frames: Vec::new(),
            planes: 0,
        })
    }

    /// Number of (slice, organ) frames kept so far.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    fn build(&self) -> InMemDicomObject {
        let s = &self.series;
        let (date, time) = now();
        let seg_series_uid = new_uid();
        let sop_uid = new_uid();
        let mut obj = InMemDicomObject::new_empty();
        for e in &self.copied {
            obj.put(e.clone());
        }
        let put_str = |obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str| {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        put_str(&mut obj, tags::SOP_CLASS_UID, VR::UI, SEG_SOP_CLASS);
        put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
        obj.put(DataElement::new(
            tags::IMAGE_TYPE,
            VR::CS,
            dicom_value!(Strs, ["DERIVED", "PRIMARY"]),
        ));
        for (tag, vr, v) in [
            (tags::SERIES_DATE, VR::DA, date.as_str()),
            (tags::SERIES_TIME, VR::TM, time.as_str()),
            (tags::CONTENT_DATE, VR::DA, date.as_str()),
            (tags::CONTENT_TIME, VR::TM, time.as_str()),
            (tags::MODALITY, VR::CS, "SEG"),
            (tags::MANUFACTURER, VR::LO, "utx-edge"),
            (tags::MANUFACTURER_MODEL_NAME, VR::LO, "utx-edge"),
            (tags::DEVICE_SERIAL_NUMBER, VR::LO, "0"),
            (tags::SOFTWARE_VERSIONS, VR::LO, self.info.version.as_str()),
            (
                tags::SERIES_DESCRIPTION,
                VR::LO,
                "Organ segmentation (utx-edge)",
            ),
            (tags::SERIES_INSTANCE_UID, VR::UI, seg_series_uid.as_str()),
            (tags::SERIES_NUMBER, VR::IS, "900"),
            (tags::INSTANCE_NUMBER, VR::IS, "1"),
            (tags::CONTENT_LABEL, VR::CS, "ORGANS"),
            (
                tags::CONTENT_DESCRIPTION,
                VR::LO,
                "Automatic organ segmentation",
            ),
            (tags::CONTENT_CREATOR_NAME, VR::PN, ""),
            (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            (tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
            (tags::SEGMENTATION_TYPE, VR::CS, "BINARY"),
        ] {
            put_str(&mut obj, tag, vr, v);
        }
        for (tag, v) in [
            (tags::SAMPLES_PER_PIXEL, 1u16),
            (tags::ROWS, s.rows as u16),
            (tags::COLUMNS, s.cols as u16),
            (tags::BITS_ALLOCATED, 1),
            (tags::BITS_STORED, 1),
            (tags::HIGH_BIT, 0),
            (tags::PIXEL_REPRESENTATION, 0),
        ] {
            obj.put(DataElement::new(tag, VR::US, dicom_value!(U16, [v])));
        }

        // Segments: one per organ class (segment number = label value).
        let segments: Vec<InMemDicomObject> = self
            .info
            .class_names
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, name)| {
                let mut seg = InMemDicomObject::new_empty();
                seg.put(DataElement::new(
                    tags::SEGMENT_NUMBER,
                    VR::US,
                    dicom_value!(U16, [i as u16]),
                ));
                seg.put(DataElement::new(
                    tags::SEGMENT_LABEL,
                    VR::LO,
                    PrimitiveValue::from(name.as_str()),
                ));
                seg.put(DataElement::new(
                    tags::SEGMENT_ALGORITHM_TYPE,
                    VR::CS,
                    PrimitiveValue::from("AUTOMATIC"),
                ));
                seg.put(DataElement::new(
                    tags::SEGMENT_ALGORITHM_NAME,
                    VR::LO,
                    PrimitiveValue::from(self.info.algorithm.as_str()),
                ));
                seg.put(code_seq(
                    tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
                    ANATOMICAL_STRUCTURE,
                ));
                seg.put(code_seq(
                    tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
                    organ_code(name),
                ));
                seg
            })
            .collect();
        obj.put(seq(tags::SEGMENT_SEQUENCE, segments));

        // The source series and every instance in it.
        let instances: Vec<InMemDicomObject> = s
            .slices
            .iter()
            .map(|sl| sop_ref(&sl.sop_class_uid, &sl.sop_instance_uid))
            .collect();
        let mut refser = InMemDicomObject::new_empty();
        refser.put(seq(tags::REFERENCED_INSTANCE_SEQUENCE, instances));
        refser.put(DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(s.uid.as_str()),
        ));
        obj.put(seq(tags::REFERENCED_SERIES_SEQUENCE, vec![refser]));

        // Dimensions: segment number, then position.
        let dim_uid = new_uid();
        let mut org = InMemDicomObject::new_empty();
        org.put(ui(tags::DIMENSION_ORGANIZATION_UID, &dim_uid));
        obj.put(seq(tags::DIMENSION_ORGANIZATION_SEQUENCE, vec![org]));
        let dim = |pointer: Tag, group: Tag, label: &str| {
            let mut d = InMemDicomObject::new_empty();
            d.put(ui(tags::DIMENSION_ORGANIZATION_UID, &dim_uid));
            d.put(DataElement::new(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(SmallVec::from_vec(vec![pointer])),
            ));
            d.put(DataElement::new(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(SmallVec::from_vec(vec![group])),
            ));
            d.put(DataElement::new(
                tags::DIMENSION_DESCRIPTION_LABEL,
                VR::LO,
                PrimitiveValue::from(label),
            ));
            d
        };
        obj.put(seq(
            tags::DIMENSION_INDEX_SEQUENCE,
            vec![
                dim(
                    tags::REFERENCED_SEGMENT_NUMBER,
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    "ReferencedSegmentNumber",
                ),
                dim(
                    tags::IMAGE_POSITION_PATIENT,
                    tags::PLANE_POSITION_SEQUENCE,
                    "ImagePositionPatient",
                ),
            ],
        ));

        // Shared: orientation and pixel measures of the source.
        let mut orient = InMemDicomObject::new_empty();
        orient.put(ds(tags::IMAGE_ORIENTATION_PATIENT, &s.iop));
        let mut measures = InMemDicomObject::new_empty();
        measures.put(ds(tags::PIXEL_SPACING, &s.pixel_spacing));
        measures.put(ds(tags::SLICE_THICKNESS, &[s.slice_spacing]));
        measures.put(ds(tags::SPACING_BETWEEN_SLICES, &[s.slice_spacing]));
        let mut shared = InMemDicomObject::new_empty();
        shared.put(seq(tags::PLANE_ORIENTATION_SEQUENCE, vec![orient]));
        shared.put(seq(tags::PIXEL_MEASURES_SEQUENCE, vec![measures]));
        obj.put(seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]));

        // Per frame: source slice, dimension indices, position, segment. The
        // position index counts only the slices that have a frame (1-based).
        let mut with_frames: Vec<usize> = self.frames.iter().map(|f| f.0).collect();
        with_frames.sort_unstable();
        with_frames.dedup();
        let per_frame: Vec<InMemDicomObject> = self
            .frames
            .iter()
            .map(|&(k, segment, _)| {
                let sl = &s.slices[k];
                let mut source = sop_ref(&sl.sop_class_uid, &sl.sop_instance_uid);
                source.put(code_seq(
                    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                    (
                        "121322",
                        "DCM",
                        "Source image for image processing operation",
                    ),
                ));
                // Same grid as the source slice: highdicom indexes by source
                // frame only when this says so.
                source.put(DataElement::new(
                    tags::SPATIAL_LOCATIONS_PRESERVED,
                    VR::CS,
                    PrimitiveValue::from("YES"),
                ));
                let mut derivation = InMemDicomObject::new_empty();
                derivation.put(seq(tags::SOURCE_IMAGE_SEQUENCE, vec![source]));
                derivation.put(code_seq(
                    tags::DERIVATION_CODE_SEQUENCE,
                    ("113076", "DCM", "Segmentation"),
                ));
                let mut content = InMemDicomObject::new_empty();
                content.put(DataElement::new(
                    tags::DIMENSION_INDEX_VALUES,
                    VR::UL,
                    dicom_value!(
                        U32,
                        [
                            segment as u32,
                            with_frames.binary_search(&k).unwrap() as u32 + 1
                        ]
                    ),
                ));
                let mut position = InMemDicomObject::new_empty();
                position.put(ds(tags::IMAGE_POSITION_PATIENT, &sl.ipp.unwrap()));
                let mut ident = InMemDicomObject::new_empty();
                ident.put(DataElement::new(
                    tags::REFERENCED_SEGMENT_NUMBER,
                    VR::US,
                    dicom_value!(U16, [segment as u16]),
                ));
                let mut f = InMemDicomObject::new_empty();
                f.put(seq(tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]));
                f.put(seq(tags::FRAME_CONTENT_SEQUENCE, vec![content]));
                f.put(seq(tags::PLANE_POSITION_SEQUENCE, vec![position]));
                f.put(seq(tags::SEGMENT_IDENTIFICATION_SEQUENCE, vec![ident]));
                f
            })
            .collect();
        obj.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from(self.frames.len().to_string()),
        ));
        obj.put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));

        // Pixel data: frames back to back, bit-packed without per-frame padding.
        let pixels = s.rows * s.cols;
        let mut data = vec![0u8; (self.frames.len() * pixels).div_ceil(8)];
        for (f, (_, _, bits)) in self.frames.iter().enumerate() {
            let start = f * pixels;
            for p in 0..pixels {
                if bits[p / 8] >> (p % 8) & 1 == 1 {
                    let q = start + p;
                    data[q / 8] |= 1 << (q % 8);
                }
            }
        }
        if data.len() % 2 == 1 {
            data.push(0);
        }
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(SmallVec::from_vec(data)),
        ));
        obj
    }
}

impl LabelSink for SegWriter {
    fn write_plane(&mut self, plane: &[u8]) -> Result<()> {
        let s = &self.series;
        let pixels = s.rows * s.cols;
        assert_eq!(plane.len(), pixels, "label plane of the wrong size");
        anyhow::ensure!(
            self.planes < s.slices.len(),
            "more planes than the series has"
        );
        for segment in 1..self.info.class_names.len() {
            if !plane.iter().any(|&v| v as usize == segment) {
                continue;
            }
            let mut bits = vec![0u8; pixels.div_ceil(8)];
            for (p, &v) in plane.iter().enumerate() {
                if v as usize == segment {
                    bits[p / 8] |= 1 << (p % 8);
                }
            }
            self.frames.push((self.planes, segment, bits));
        }
        self.planes += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        anyhow::ensure!(
            self.planes == self.series.slices.len(),
            "{} planes were never written",
            self.series.slices.len() - self.planes
        );
        // A SEG needs at least one frame: an empty one for the first segment.
        if self.frames.is_empty() {
            let pixels = self.series.rows * self.series.cols;
            self.frames.push((0, 1, vec![0u8; pixels.div_ceil(8)]));
        }
        // Frames in dimension order: segment, then slice.
        self.frames.sort_by_key(|&(k, seg, _)| (seg, k));
        let file = self
            .build()
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LE))
            .context("building the DICOM SEG file meta group")?;
        let name = self.dest.file_name().unwrap().to_string_lossy();
        let dir = self
            .dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
        let res = file
            .write_to_file(&tmp)
            .map_err(|e| input_error!("{}: cannot write here ({e})", self.dest.display()))
            .and_then(|_| {
                std::fs::rename(&tmp, &self.dest)
                    .map_err(|e| input_error!("{}: cannot write here ({e})", self.dest.display()))
            });
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn ui(tag: Tag, uid: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(uid))
}

/// A DS element; 16 characters per value at most, as the standard allows.
fn ds(tag: Tag, values: &[f64]) -> DataElement<InMemDicomObject> {
    let strs: SmallVec<[String; 2]> = values.iter().map(|&v| format_ds(v)).collect();
    DataElement::new(tag, VR::DS, PrimitiveValue::Strs(strs))
}

fn format_ds(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
    for prec in (0..=10).rev() {
        let s = format!("{v:.prec$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.6e}")
}

fn code_seq(tag: Tag, (value, scheme, meaning): Code) -> DataElement<InMemDicomObject> {
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        tags::CODE_VALUE,
        VR::SH,
        PrimitiveValue::from(value),
    ));
    item.put(DataElement::new(
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        PrimitiveValue::from(scheme),
    ));
    item.put(DataElement::new(
        tags::CODE_MEANING,
        VR::LO,
        PrimitiveValue::from(meaning),
    ));
    seq(tag, vec![item])
}

fn sop_ref(class: &str, instance: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    item.put(ui(tags::REFERENCED_SOP_CLASS_UID, class));
    item.put(ui(tags::REFERENCED_SOP_INSTANCE_UID, instance));
    item
}

/// A new UID under the UUID arc: 2.25.<128 random bits as a decimal>.
pub fn new_uid() -> String {
    let h = std::collections::hash_map::RandomState::new();
    let mut a = h.build_hasher();
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    a.write_u128(t);
    a.write_u32(std::process::id());
    let hi = a.finish();
    a.write_u8(1);
    let lo = a.finish();
    let mut v = ((hi as u128) << 64) | lo as u128;
    // Shape it as a version-4 UUID, as the 2.25 arc expects.
    v = (v & !(0xF000u128 << 64)) | (0x4000u128 << 64);
    v = (v & !(0xC000_0000_0000_0000u128)) | 0x8000_0000_0000_0000u128;
    format!("2.25.{v}")
}

/// Today's date (YYYYMMDD) and time (HHMMSS), UTC.
fn now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_unique_and_valid() {
        let (a, b) = (new_uid(), new_uid());
        assert_ne!(a, b);
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()) && !a[5..].starts_with('0'));
    }

    #[test]
    fn ds_values_fit() {
        assert_eq!(format_ds(3.0), "3");
        assert_eq!(format_ds(-185.04367065429688), "-185.0436706543");
        assert_eq!(format_ds(-0.0), "0");
        assert!(format_ds(1234567.123456789).len() <= 16);
    }

    #[test]
    fn dates_are_civil() {
        let (d, t) = now();
        assert_eq!((d.len(), t.len()), (8, 6));
        assert!(d.as_str() >= "20240101");
    }
}
