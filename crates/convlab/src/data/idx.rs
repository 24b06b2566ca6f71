//! The IDX format of MNIST and Fashion-MNIST: magic `00 00 08 <ndim>` (unsigned bytes),
//! `ndim` big-endian u32 dimensions, then the bytes. Files may be gzipped (read by their
//! content, whatever their name; gzipped ones need the `archive` feature).
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

use super::archive::gunzip;
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

/// The most payload bytes an IDX file may announce (2 GiB): far above MNIST's 47 MB and
/// EMNIST's 0.6 GB, far below what would exhaust memory. Larger claims are refused before
/// anything is allocated.
pub const MAX_IDX_BYTES: u64 = 2 << 30;

/// Deflate's largest possible expansion: one compressed byte yields at most 1,032 bytes.
/// A gzip file of `n` bytes therefore cannot legitimately hold more than about `1032·n`.
pub const MAX_GZIP_RATIO: u64 = 1032;

/// Reads a file whole, gunzipping it when it starts with the gzip magic `1f 8b`.
///
/// Kept for callers that want the bytes; the decompressed size is capped at
/// [`MAX_IDX_BYTES`] and at what the compressed size allows, so a gzip bomb is an error.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, Error> {
    let name = path.display().to_string();
    let raw = std::fs::read(path).map_err(|e| Error::Io { path: name.clone(), source: e })?;
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    let cap = gzip_cap(raw.len()).min(MAX_IDX_BYTES);
    let mut out = Vec::new();
    gunzip(&raw[..], &name)?.take(cap + 1).read_to_end(&mut out).map_err(|e| gzip_error(&name, e))?;
    if out.len() as u64 > cap {
        return Err(format_error(
            &name,
            format!(
                "gzip stream expands beyond {cap} bytes, the most this {}-byte file may hold; refusing to read further",
                raw.len()
            ),
        ));
    }
    Ok(out)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The most bytes a gzip file of `compressed` bytes can expand to.
fn gzip_cap(compressed: usize) -> u64 {
    (compressed as u64).saturating_mul(MAX_GZIP_RATIO).saturating_add(1024)
}

fn gzip_error(path: &str, e: std::io::Error) -> Error {
    format_error(path, format!("not a valid gzip file ({e}); delete it and fetch it again"))
}

/// What an IDX header announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxHeader {
    pub dims: Vec<usize>,
    /// Bytes of the header itself (`4 + 4·ndim`).
    pub header_len: usize,
    /// Bytes of data the dimensions announce (their product, checked for overflow).
    pub payload_len: u64,
}

/// Parses and checks the header at the start of `bytes` (which may hold more). Errors when
/// `bytes` is too short for the header, the magic or type is wrong, or the dimensions'
/// product overflows or exceeds [`MAX_IDX_BYTES`].
pub fn parse_header(bytes: &[u8], path: &str) -> Result<IdxHeader, Error> {
    if bytes.len() < 4 {
        return Err(format_error(path, format!("not an IDX file: {} bytes, too short for a header", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_error(
            path,
            format!(
                "not an IDX file: magic number {:02x} {:02x} {:02x} {:02x} does not start with 00 00",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format_error(path, format!("IDX element type 0x{:02x} is not 0x08 (unsigned byte)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(format_error(path, "IDX header has no dimensions"));
    }
    let header_len = 4 + 4 * ndim;
    if bytes.len() < header_len {
        return Err(format_error(
            path,
            format!("truncated IDX header: {ndim} dimensions need {header_len} bytes, the file has {}", bytes.len()),
        ));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let payload_len = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).ok_or_else(|| {
        format_error(path, format!("IDX dimensions {dims:?} overflow: their product does not fit in 64 bits"))
    })?;
    if payload_len > MAX_IDX_BYTES {
        return Err(format_error(
            path,
            format!("the IDX header claims {dims:?} = {payload_len} bytes, more than the limit of {MAX_IDX_BYTES} bytes; refusing to allocate"),
        ));
    }
    Ok(IdxHeader { dims, header_len, payload_len })
}

/// Parses the bytes of an IDX file as stored on disk: raw, or gzipped (recognized by the
/// magic `1f 8b`, whatever the name). A gzipped file is decompressed in bounded memory: the
/// header is read first, its claim is checked against [`MAX_IDX_BYTES`] and against what
/// the compressed size can hold ([`MAX_GZIP_RATIO`]), and then exactly the announced bytes
/// are read (one more is an error), so a gzip bomb costs at most what the header claims.
///
/// ```
/// use convlab::data::idx;
/// // A header announcing 10^9 labels in a 30-byte gzip file.
/// let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// let billion = 1_000_000_000u32.to_be_bytes();
/// std::io::Write::write_all(&mut enc, &[0, 0, 8, 1, billion[0], billion[1], billion[2], billion[3]]).unwrap();
/// let err = idx::decode(&enc.finish().unwrap(), "labels.gz").unwrap_err().to_string();
/// assert!(err.starts_with("labels.gz: ") && err.contains("cannot hold"), "{err}");
/// ```
pub fn decode(stored: &[u8], path: &str) -> Result<IdxArray, Error> {
    if !is_gzip(stored) {
        return parse(stored, path);
    }
    let mut dec = gunzip(stored, path)?;
    // The header: 4 bytes, then 4 per dimension.
    let mut head = Vec::with_capacity(4 + 4 * 255);
    read_up_to(&mut dec, &mut head, 4, path)?;
    if head.len() == 4 && head[0] == 0 && head[1] == 0 {
        let ndim = head[3] as usize;
        read_up_to(&mut dec, &mut head, 4 * ndim, path)?;
    }
    let h = parse_header(&head, path)?;
    let cap = gzip_cap(stored.len());
    if h.payload_len > cap {
        return Err(format_error(
            path,
            format!(
                "the IDX header claims {:?} = {} bytes, but a {}-byte gzip file cannot hold more than {cap} (deflate expands at most {MAX_GZIP_RATIO}:1): corrupt or malicious",
                h.dims,
                h.payload_len,
                stored.len()
            ),
        ));
    }
    let want = h.payload_len as usize;
    // Reserve what the header claims, up to 64 MiB; beyond that the buffer grows as bytes arrive.
    let mut data = Vec::with_capacity(want.min(64 << 20));
    (&mut dec).take(h.payload_len + 1).read_to_end(&mut data).map_err(|e| gzip_error(path, e))?;
    if data.len() > want {
        return Err(format_error(
            path,
            format!(
                "the gzip stream holds more than the {want} bytes the header {:?} announces; refusing to read further",
                h.dims
            ),
        ));
    }
    check_len(&h, data.len(), path)?;
    Ok(IdxArray { dims: h.dims, data })
}

/// Appends up to `n` more bytes of `r` to `buf` (fewer at the end of the stream).
fn read_up_to(r: &mut impl Read, buf: &mut Vec<u8>, n: usize, path: &str) -> Result<(), Error> {
    r.take(n as u64).read_to_end(buf).map_err(|e| gzip_error(path, e))?;
    Ok(())
}

/// Compares the `have` payload bytes with what the header announces.
fn check_len(h: &IdxHeader, have: usize, path: &str) -> Result<(), Error> {
    let want = h.payload_len as usize;
    let dims = &h.dims;
    if have < want {
        let per: usize = dims[1..].iter().product();
        let items = have.checked_div(per).unwrap_or(0);
        return Err(format_error(
            path,
            format!("truncated: the header claims {} items of {:?} ({want} bytes) but the file holds {have} bytes ({items} complete items)", dims[0], &dims[1..]),
        ));
    }
    if have > want {
        return Err(format_error(
            path,
            format!("{} bytes after the {want} the header {dims:?} announces", have - want),
        ));
    }
    Ok(())
}

/// Parses IDX bytes; `path` names the file in errors. Only the unsigned-byte type (`0x08`)
/// is accepted. The file must hold exactly the bytes its header announces.
pub fn parse(bytes: &[u8], path: &str) -> Result<IdxArray, Error> {
    let h = parse_header(bytes, path)?;
    check_len(&h, bytes.len() - h.header_len, path)?;
    Ok(IdxArray { data: bytes[h.header_len..].to_vec(), dims: h.dims })
}

/// Reads and parses an IDX file (raw or gzipped, see [`decode`]) and checks its rank.
pub fn load(path: &Path, rank: usize) -> Result<IdxArray, Error> {
    let name = path.display().to_string();
    let stored = std::fs::read(path).map_err(|e| Error::Io { path: name.clone(), source: e })?;
    let arr = decode(&stored, &name)?;
    if arr.dims.len() != rank {
        return Err(format_error(
            &name,
            format!("expected {rank} dimensions, the IDX header has {} ({:?})", arr.dims.len(), arr.dims),
        ));
    }
    Ok(arr)
}
