//! Finding image/label pairs: a Medical Segmentation Decathlon folder
//! (`imagesTr/`, `labelsTr/`) or an explicit list.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One patient: a CT volume and its label volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub image: PathBuf,
    pub label: PathBuf,
}

fn is_nifti(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    (n.ends_with(".nii") || n.ends_with(".nii.gz")) && !n.starts_with('.')
}

fn stem(p: &Path) -> String {
    let n = p.file_name().unwrap().to_string_lossy().to_string();
    n.trim_end_matches(".gz")
        .trim_end_matches(".nii")
        .to_string()
}

/// Every `imagesTr/X.nii(.gz)` with its `labelsTr/X.nii(.gz)`; nnU-Net's
/// `_0000` channel suffix on images is understood.
pub fn decathlon(root: &Path) -> Result<Vec<Case>> {
    let images = root.join("imagesTr");
    let labels = root.join("labelsTr");
    if !images.is_dir() || !labels.is_dir() {
        bail!(
            "{}: not a Decathlon folder (needs imagesTr/ and labelsTr/)",
            root.display()
        );
    }
    let mut cases = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&images)
        .with_context(|| format!("{}: cannot list", images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_nifti(p))
        .collect();
    entries.sort();
    for image in entries {
        let name = stem(&image);
        let base = name.strip_suffix("_0000").unwrap_or(&name).to_string();
        let label = ["nii.gz", "nii"]
            .iter()
            .map(|ext| labels.join(format!("{base}.{ext}")))
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "{}: no label file {base}.nii(.gz) in {}",
                    image.display(),
                    labels.display()
                )
            })?;
        cases.push(Case {
            name: base,
            image,
            label,
        });
    }
    if cases.is_empty() {
        bail!("{}: no NIfTI images in imagesTr/", root.display());
    }
    Ok(cases)
}

/// Explicit pairs, checked to exist.
pub fn from_pairs(pairs: &[(PathBuf, PathBuf)]) -> Result<Vec<Case>> {
    pairs
        .iter()
        .map(|(image, label)| {
            for p in [image, label] {
                if !p.is_file() {
                    bail!("{}: no such file", p.display());
                }
            }
            Ok(Case {
                name: stem(image),
                image: image.clone(),
                label: label.clone(),
            })
        })
        .collect()
}

/// A text file of `image label` lines (paths relative to the file's folder;
/// `#` starts a comment).
pub fn from_list(list: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("{}: cannot read the case list", list.display()))?;
    let dir = list.parent().unwrap_or(Path::new("."));
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 2 {
            bail!(
                "{}:{}: expected `image label`, got `{line}`",
                list.display(),
                n + 1
            );
        }
        pairs.push((dir.join(parts[0]), dir.join(parts[1])));
    }
    if pairs.is_empty() {
        bail!("{}: the case list is empty", list.display());
    }
    from_pairs(&pairs)
}
