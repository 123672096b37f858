//! Label maps from a dataset's ids to a model's classes, shared by training
//! (`utx-train --labels`) and evaluation (`utx-edge eval --labels`), so both
//! read a reference segmentation the same way. E.g. `totalseg7`:
//! TotalSegmentator's ids 1…7 to the seven organs, everything else background.

use std::path::Path;

use anyhow::Result;

use crate::input_error;

/// The seven organs of the U-Transformer paper's multi-organ experiment,
/// after background: the classes of the shipped models, in the order of
/// TotalSegmentator's ids 1…7 (so `totalseg7` is the identity on them).
pub const ORGAN_CLASSES: [&str; 8] = [
    "background",
    "spleen",
    "kidney_right",
    "kidney_left",
    "gallbladder",
    "liver",
    "stomach",
    "pancreas",
];

/// A total map from stored label ids (0…255) to model classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    table: [Option<u8>; 256],
    classes: usize,
    /// Unlisted ids become background instead of being an error.
    others_to_background: bool,
}

impl LabelMap {
    /// Identity: ids 0…classes−1 are the classes, any other id is an error.
    pub fn identity(classes: usize) -> Self {
        let mut table = [None; 256];
        for (i, t) in table.iter_mut().enumerate().take(classes) {
            *t = Some(i as u8);
        }
        Self {
            table,
            classes,
            others_to_background: false,
        }
    }

    /// Parses `"1:1,2:2,5:5"` (id:class pairs) or `totalseg7`; unlisted ids
    /// go to background.
    pub fn parse(spec: &str, classes: usize) -> Result<Self> {
        let spec = spec.trim();
        if spec == "totalseg7" {
            return Self::parse("1:1,2:2,3:3,4:4,5:5,6:6,7:7", classes);
        }
        let mut table = [None; 256];
        table[0] = Some(0);
        for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (a, b) = pair
                .split_once(':')
                .ok_or_else(|| input_error!("label map entry `{pair}` is not id:class"))?;
            let id: u8 = a
                .trim()
                .parse()
                .map_err(|_| input_error!("label map: `{a}` is not an id in 0..=255"))?;
            let class: u8 = b
                .trim()
                .parse()
                .map_err(|_| input_error!("label map: `{b}` is not a class number"))?;
            if class as usize >= classes {
                return Err(input_error!(
                    "label map: class {class} for id {id} is out of range (the model has {classes} classes)"
                ));
            }
            table[id as usize] = Some(class);
        }
        Ok(Self {
            table,
            classes,
            others_to_background: true,
        })
    }

    /// Reads a JSON object `{"id": class, …}` from a file; unlisted ids go to background.
    pub fn from_json_file(path: &Path, classes: usize) -> Result<Self> {
        let p = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| input_error!("{p}: cannot read the label map ({e})"))?;
        let obj: std::collections::BTreeMap<String, u8> =
            serde_json::from_str(&text).map_err(|e| {
                input_error!("{p}: label map must be a JSON object {{\"id\": class}} ({e})")
            })?;
        let spec: Vec<String> = obj.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        Self::parse(&spec.join(","), classes).map_err(|e| input_error!("{p}: bad label map: {e}"))
    }

    /// A `--labels` argument: a `.json` file, else a spec for [`parse`](Self::parse).
    pub fn from_arg(arg: &str, classes: usize) -> Result<Self> {
        let p = Path::new(arg);
        if p.extension().is_some_and(|e| e == "json") {
            Self::from_json_file(p, classes)
        } else {
            Self::parse(arg, classes)
        }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Maps stored ids into classes; `what` names the file for the error.
    pub fn apply(&self, values: &[f32], out: &mut [u8], what: &Path) -> Result<()> {
        for (o, &v) in out.iter_mut().zip(values) {
            let id = v.round();
            if !(0.0..=255.0).contains(&id) || (v - id).abs() > 1e-3 {
                return Err(input_error!(
                    "{}: label value {v} is not an integer id in 0..=255",
                    what.display()
                ));
            }
            *o = match (self.table[id as usize], self.others_to_background) {
                (Some(c), _) => c,
                (None, true) => 0,
                (None, false) => return Err(input_error!(
                    "{}: label id {id} is out of range for {} classes (give --labels to map dataset ids to classes)",
                    what.display(),
                    self.classes
                )),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::is_input_error;

    #[test]
    fn maps_and_refuses() {
        let m = LabelMap::parse("totalseg7", 8).unwrap();
        let mut out = [9u8; 4];
        m.apply(&[0.0, 5.0, 42.0, 7.0], &mut out, Path::new("x"))
            .unwrap();
        assert_eq!(out, [0, 5, 0, 7]);
        let id = LabelMap::identity(3);
        let err = id
            .apply(&[0.0, 3.0], &mut out[..2], Path::new("lab.nii"))
            .unwrap_err();
        assert!(err.to_string().contains("lab.nii") && err.to_string().contains("id 3"));
        assert!(is_input_error(&err));
        assert!(LabelMap::parse("1:9", 8).is_err());
        assert!(LabelMap::parse("1-2", 8).is_err());
        assert!(id.apply(&[1.5], &mut out[..1], Path::new("x")).is_err());
    }
}
