//! Reading back the JSON extension that [`LabelWriter`](super::write::LabelWriter)
//! stores in a label file (class names, the model that made it).

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use nifti::{Endianness, NiftiHeader};

use super::header::open_stream;
use super::write::ECODE_COMMENT;
use crate::input_error;

/// The first NIfTI extension of `path` that is a JSON object with a `labels`
/// member (as `utx-edge segment` writes), or `None` when there is none.
pub fn read_label_extension(path: &Path) -> Result<Option<serde_json::Value>> {
    let (mut stream, _) = open_stream(path)?;
    let mut raw = [0u8; 352];
    if stream.read_exact(&mut raw).is_err() {
        return Ok(None);
    }
    let Ok(h) = NiftiHeader::from_reader(&raw[..348]) else {
        return Ok(None);
    };
    if raw[348] == 0 {
        return Ok(None);
    }
    let int = |b: &[u8]| {
        let b: [u8; 4] = b.try_into().unwrap();
        match h.endianness {
            Endianness::Little => i32::from_le_bytes(b),
            Endianness::Big => i32::from_be_bytes(b),
        }
    };
    let mut at = 352usize;
    let end = h.vox_offset as usize;
    while at + 8 <= end {
        let mut head = [0u8; 8];
        stream
            .read_exact(&mut head)
            .map_err(|e| input_error!("{}: truncated NIfTI extension ({e})", path.display()))?;
        let (size, code) = (int(&head[..4]), int(&head[4..]));
        if size < 8 || size % 16 != 0 || at + size as usize > end {
            return Ok(None); // not a well-formed extension list: ignore it
        }
        let mut body = vec![0u8; size as usize - 8];
        stream
            .read_exact(&mut body)
            .map_err(|e| input_error!("{}: truncated NIfTI extension ({e})", path.display()))?;
        at += size as usize;
        if code == ECODE_COMMENT {
            let text = String::from_utf8_lossy(&body);
            let json = serde_json::from_str::<serde_json::Value>(text.trim_end_matches('\0'));
            if let Ok(v) = json {
                if v.get("labels").is_some_and(|l| l.is_object()) {
                    return Ok(Some(v));
                }
            }
        }
    }
    Ok(None)
}

/// Class names from a label extension's `labels` object (`{"0": "background", …}`):
/// `None` unless the ids are exactly 0…K−1.
pub fn class_names(ext: &serde_json::Value) -> Option<Vec<String>> {
    let obj = ext.get("labels")?.as_object()?;
    let mut names = vec![None; obj.len()];
    for (id, name) in obj {
        let slot = names.get_mut(id.parse::<usize>().ok()?)?;
        *slot = Some(name.as_str()?.to_string());
    }
    names.into_iter().collect()
}
