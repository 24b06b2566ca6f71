//! External data: tensors whose bytes live in a file beside the model (`model.onnx.data`),
//! named by the tensor's `external_data` entries `location`, `offset` and `length`.
//!
//! A location comes from the model's author, so it is held to the model's folder: it must be
//! a relative path without `..` (and without `\`, a separator elsewhere), and the file it
//! names, symlinks resolved, must lie inside the folder and be a regular file. The range
//! `offset..offset + length` is checked against the file's real size, and the length against
//! what the tensor's dims need, before anything is read.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::proto::TensorProto;
use super::quoted;

/// A tensor's `external_data` entries, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExternalRef<'a> {
    pub location: &'a str,
    pub offset: u64,
    /// `None`: to the end of the file.
    pub length: Option<u64>,
}

/// A decimal number as ONNX stores `offset` and `length`: digits only.
fn number(key: &str, value: &str) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("external_data {key} {} is not a decimal number", quoted(value)));
    }
    value.parse().map_err(|_| format!("external_data {key} {} does not fit 64 bits", quoted(value)))
}

/// Parses the `external_data` entries; unknown keys (and `checksum`, not verified here) are
/// ignored, a repeated key is an error.
pub(crate) fn parse(t: &TensorProto) -> Result<ExternalRef<'_>, String> {
    let (mut location, mut offset, mut length) = (None, None, None);
    for e in &t.external_data {
        let slot = match e.key.as_str() {
            "location" => &mut location,
            "offset" => &mut offset,
            "length" => &mut length,
            _ => continue,
        };
        if slot.replace(e.value.as_str()).is_some() {
            return Err(format!("external_data has {} twice", quoted(&e.key)));
        }
    }
    let location = location.ok_or("external_data has no location")?;
    Ok(ExternalRef {
        location,
        offset: offset.map(|v| number("offset", v)).transpose()?.unwrap_or(0),
        length: length.map(|v| number("length", v)).transpose()?,
    })
}

/// The location as a relative path that stays in the model's folder (before symlinks).
pub(crate) fn check_location(location: &str) -> Result<&Path, String> {
    let q = quoted(location);
    if location.contains('\0') {
        return Err(format!("external data location {q} contains a NUL byte"));
    }
    if location.contains('\\') {
        return Err(format!("external data location {q} contains '\\' (locations are POSIX paths)"));
    }
    let path = Path::new(location);
    let mut normal = 0;
    for c in path.components() {
        match c {
            Component::Normal(_) => normal += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "external data location {q} is an absolute path; it must be relative to the model's folder"
                ));
            }
            Component::ParentDir => {
                return Err(format!("external data location {q} leaves the model's folder ('..')"));
            }
        }
    }
    if normal == 0 {
        return Err(format!("external data location {q} names no file"));
    }
    Ok(path)
}

/// An external data file: its canonical path (inside the model's folder) and its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub path: PathBuf,
    pub size: u64,
}

/// Resolves `location` in `dir` (the model's canonical folder): symlinks followed, the result
/// must be a regular file inside `dir`.
pub(crate) fn resolve(dir: &Path, location: &str) -> Result<Resolved, String> {
    let rel = check_location(location)?;
    let q = quoted(location);
    let path = fs::canonicalize(dir.join(rel)).map_err(|e| format!("external data {q}: {e}"))?;
    if !path.starts_with(dir) {
        return Err(format!(
            "external data {q} resolves to {}, outside the model's folder {}",
            path.display(),
            dir.display()
        ));
    }
    let meta = fs::metadata(&path).map_err(|e| format!("external data {q}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("external data {q} is not a regular file"));
    }
    Ok(Resolved { path, size: meta.len() })
}

/// The checked range `(offset, length)` of `r` in a file of `size` bytes, for a tensor whose
/// data takes `need` bytes (`None`: a type without a fixed width).
pub(crate) fn check_range(r: &ExternalRef, size: u64, need: Option<u64>) -> Result<(u64, u64), String> {
    let q = quoted(r.location);
    if r.offset > size {
        return Err(format!("external data offset {} is past the end of {q} ({size} bytes)", r.offset));
    }
    let length = r.length.unwrap_or(size - r.offset);
    if r.offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(format!(
            "external data offset {} + length {length} runs past the end of {q} ({size} bytes)",
            r.offset
        ));
    }
    match need {
        Some(need) if need == length => Ok((r.offset, length)),
        Some(need) => Err(format!("external data in {q} holds {length} bytes, but the dims need {need}")),
        None => Err(format!("external data in {q}: the tensor's type has no fixed width")),
    }
}

fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    // A FIFO put in place of the file after the check must not block the open.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

/// Reads the external bytes of `t` from its file in `dir` (the model's canonical folder),
/// `need` bytes long. The size is checked on the opened file before the buffer is allocated.
pub(crate) fn read(dir: &Path, t: &TensorProto, need: Option<u64>) -> Result<Vec<u8>, String> {
    let r = parse(t)?;
    let resolved = resolve(dir, r.location)?;
    let q = quoted(r.location);
    let mut file = open_regular(&resolved.path).map_err(|e| format!("external data {q}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("external data {q}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("external data {q} is not a regular file"));
    }
    let (offset, length) = check_range(&r, meta.len(), need)?;
    let length = usize::try_from(length).map_err(|_| format!("external data in {q} is too large for this machine"))?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| format!("external data {q}: {e}"))?;
    let mut buf = vec![0u8; length];
    file.read_exact(&mut buf)
        .map_err(|e| format!("external data {q}: reading {length} bytes at offset {offset}: {e}"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::StringStringEntryProto;

    fn with_entries(entries: &[(&str, &str)]) -> TensorProto {
        TensorProto {
            external_data: entries
                .iter()
                .map(|&(k, v)| StringStringEntryProto { key: k.into(), value: v.into() })
                .collect(),
            data_location: 1,
            ..Default::default()
        }
    }

    #[test]
    fn entries_parse() {
        let t = with_entries(&[("location", "w.bin"), ("offset", "4096"), ("length", "12"), ("checksum", "ab")]);
        assert_eq!(parse(&t).unwrap(), ExternalRef { location: "w.bin", offset: 4096, length: Some(12) });
        let t = with_entries(&[("location", "w.bin")]);
        assert_eq!(parse(&t).unwrap(), ExternalRef { location: "w.bin", offset: 0, length: None });
        for (entries, want) in [
            (&[("offset", "0")][..], "no location"),
            (&[("location", "a"), ("location", "b")][..], "twice"),
            (&[("location", "a"), ("offset", "-1")][..], "not a decimal number"),
            (&[("location", "a"), ("length", "+5")][..], "not a decimal number"),
            (&[("location", "a"), ("length", "99999999999999999999")][..], "does not fit 64 bits"),
        ] {
            let e = parse(&with_entries(entries)).unwrap_err();
            assert!(e.contains(want), "{entries:?}: {e}");
        }
    }

    #[test]
    fn locations_stay_in_the_folder() {
        assert!(check_location("model.onnx.data").is_ok());
        assert!(check_location("./weights/w.bin").is_ok());
        for (loc, want) in [
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("weights/../../x", "'..'"),
            ("..\\x", "'\\'"),
            ("", "names no file"),
            ("./", "names no file"),
            ("a\0b", "NUL"),
        ] {
            let e = check_location(loc).unwrap_err();
            assert!(e.contains(want), "{loc:?}: {e}");
        }
    }

    #[test]
    fn ranges_are_checked_against_the_file() {
        let r = |offset, length| ExternalRef { location: "d", offset, length };
        assert_eq!(check_range(&r(8, Some(4)), 12, Some(4)), Ok((8, 4)));
        assert_eq!(check_range(&r(8, None), 12, Some(4)), Ok((8, 4)));
        assert!(check_range(&r(13, None), 12, Some(4)).unwrap_err().contains("past the end"));
        assert!(check_range(&r(8, Some(8)), 12, Some(8)).unwrap_err().contains("runs past the end"));
        assert!(check_range(&r(u64::MAX, Some(2)), u64::MAX, Some(2)).unwrap_err().contains("runs past the end"));
        assert!(check_range(&r(0, Some(4)), 12, Some(8)).unwrap_err().contains("holds 4 bytes, but the dims need 8"));
    }
}
