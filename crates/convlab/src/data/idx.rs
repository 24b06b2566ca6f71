//! The IDX format of MNIST and Fashion-MNIST: magic `00 00 08 <ndim>` (unsigned bytes),
//! `ndim` big-endian u32 dimensions, then the bytes. Files may be gzipped (read by their
//! content, whatever their name).
//!
//! ```
//! use convlab::data::idx;
//! let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 3];
//! bytes.extend([7, 2, 1]);
//! let arr = idx::parse(&bytes, "labels").unwrap();
//! assert_eq!((arr.dims, arr.data), (vec![3], vec![7, 2, 1]));
//! assert!(idx::parse(&bytes[..10], "labels").unwrap_err().to_string().contains("truncated"));
//! ```

use std::io::Read;
use std::path::Path;

use crate::Error;

/// A parsed IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

fn format_error(path: &str, msg: impl Into<String>) -> Error {
    Error::Format { path: path.to_string(), msg: msg.into() }
}

/// Reads a file whole, gunzipping it when it starts with the gzip magic `1f 8b`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, Error> {
    let raw = std::fs::read(path).map_err(|e| Error::Io { path: path.display().to_string(), source: e })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| format_error(&path.display().to_string(), format!("not a valid gzip file ({e}); delete it and fetch it again")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses IDX bytes; `path` names the file in errors. Only the unsigned-byte type (`0x08`)
/// is accepted. The file must hold exactly the bytes its header announces.
pub fn parse(bytes: &[u8], path: &str) -> Result<IdxArray, Error> {
    if bytes.len() < 4 {
        return Err(format_error(path, format!("not an IDX file: {} bytes, too short for a header", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_error(
            path,
            format!("not an IDX file: magic number {:02x} {:02x} {:02x} {:02x} does not start with 00 00", bytes[0], bytes[1], bytes[2], bytes[3]),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format_error(path, format!("IDX element type 0x{:02x} is not 0x08 (unsigned byte)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(format_error(path, "IDX header has no dimensions"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format_error(path, format!("truncated IDX header: {ndim} dimensions need {header} bytes, the file has {}", bytes.len())));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let want = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| format_error(path, format!("IDX dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have < want {
        let per: usize = dims[1..].iter().product();
        let items = have.checked_div(per).unwrap_or(0);
        return Err(format_error(
            path,
            format!("truncated: the header claims {} items of {:?} ({want} bytes) but the file holds {have} bytes ({items} complete items)", dims[0], &dims[1..]),
        ));
    }
    if have > want {
        return Err(format_error(path, format!("{} bytes after the {want} the header {dims:?} announces", have - want)));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Reads and parses an IDX file (raw or gzipped) and checks its rank.
pub fn load(path: &Path, rank: usize) -> Result<IdxArray, Error> {
    let name = path.display().to_string();
    let arr = parse(&read_maybe_gz(path)?, &name)?;
    if arr.dims.len() != rank {
        return Err(format_error(&name, format!("expected {rank} dimensions, the IDX header has {} ({:?})", arr.dims.len(), arr.dims)));
    }
    Ok(arr)
}
