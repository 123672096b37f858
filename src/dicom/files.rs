//! Where the files of a DICOM input live: a folder (walked recursively) or a
//! .zip archive. Both are reduced to a list of named byte sources, so scanning
//! and decoding never care which one it was.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::input_error;

/// A folder or a zip archive of DICOM files.
pub enum Container {
    Dir {
        root: PathBuf,
        files: Vec<PathBuf>,
    },
    Zip {
        path: PathBuf,
        archive: zip::ZipArchive<BufReader<File>>,
        /// (index in the archive, name) of every regular entry.
        entries: Vec<(usize, String)>,
    },
}

/// True when `path` is something [`Container::open`] reads: a folder or a `.zip`.
pub fn is_dicom_input(path: &Path) -> bool {
    path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

impl Container {
    /// Lists the files of a folder (recursively, sorted by path) or of a zip.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            return Ok(Container::Dir {
                root: path.to_owned(),
                files,
            });
        }
        let file =
            File::open(path).map_err(|e| input_error!("{}: cannot open: {e}", path.display()))?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|e| input_error!("{}: not a readable zip archive ({e})", path.display()))?;
        let mut entries = Vec::new();
        for i in 0..archive.len() {
            let entry = archive
                .by_index(i)
                .map_err(|e| input_error!("{}: entry {i}: {e}", path.display()))?;
            if entry.is_dir() {
                continue;
            }
            let name = entry
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| format!("entry {i}"));
            entries.push((i, name));
        }
        entries.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(Container::Zip {
            path: path.to_owned(),
            archive,
            entries,
        })
    }

    /// The folder or archive itself.
    pub fn path(&self) -> &Path {
        match self {
            Container::Dir { root, .. } => root,
            Container::Zip { path, .. } => path,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Container::Dir { files, .. } => files.len(),
            Container::Zip { entries, .. } => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How errors name file `i`: its path, or `archive.zip:entry`.
    pub fn name(&self, i: usize) -> String {
        match self {
            Container::Dir { files, .. } => files[i].display().to_string(),
            Container::Zip { path, entries, .. } => {
                format!("{}:{}", path.display(), entries[i].1)
            }
        }
    }

    /// Reads up to `limit` bytes of file `i` (all of it when `None`).
    pub fn read(&mut self, i: usize, limit: Option<u64>) -> Result<Vec<u8>> {
        let name = self.name(i);
        let limit = limit.unwrap_or(u64::MAX);
        let mut buf = Vec::new();
        match self {
            Container::Dir { files, .. } => {
                File::open(&files[i])
                    .and_then(|f| f.take(limit).read_to_end(&mut buf))
                    .map_err(|e| input_error!("{name}: cannot read: {e}"))?;
            }
            Container::Zip {
                archive, entries, ..
            } => {
                let entry = archive
                    .by_index(entries[i].0)
                    .map_err(|e| input_error!("{name}: {e}"))?;
                entry
                    .take(limit)
                    .read_to_end(&mut buf)
                    .map_err(|e| input_error!("{name}: cannot decompress: {e}"))?;
            }
        }
        Ok(buf)
    }
}

/// A parsed DICOM file: the data set and its file meta group.
pub type DicomFile = dicom_object::DefaultDicomObject;

impl Container {
    /// Parses file `i` up to (`header_only`) or including its pixel data.
    /// `Ok(None)` when it is not a DICOM Part 10 file (no `DICM` magic after the
    /// 128-byte preamble): such files (notes, DICOMDIR viewers, …) are skipped.
    pub fn parse(&mut self, i: usize, header_only: bool) -> Result<Option<DicomFile>> {
        let head = self.read(i, Some(132))?;
        if head.len() < 132 || &head[128..132] != b"DICM" {
            return Ok(None);
        }
        let mut opts = dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Always);
        if header_only {
            opts = opts.read_until(dicom_dictionary_std::tags::PIXEL_DATA);
        }
        let name = self.name(i);
        let res = match self {
            Container::Dir { files, .. } => opts.open_file(&files[i]),
            Container::Zip { .. } => {
                let bytes = self.read(i, None)?;
                opts.from_reader(&bytes[..])
            }
        };
        res.map(Some)
            .map_err(|e| {
                input_error!(
                    "{name}: not a readable DICOM file ({e}); truncated or corrupt? remove or replace it"
                )
            })
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| input_error!("{}: cannot list: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| input_error!("{}: cannot list: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}
