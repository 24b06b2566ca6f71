//! CIFAR-10 in its binary form: `data_batch_1.bin` … `data_batch_5.bin` (training) and
//! `test_batch.bin`, each a run of 3,073-byte records (label byte, then 1,024 red, 1,024
//! green and 1,024 blue bytes of a 32×32 image), held in memory as bytes.
//!
//! Where the data is looked for, in order:
//! 1. `data_dir` when given (and nowhere else): the `.bin` files in it or in its
//!    `cifar-10-batches-bin/` subfolder; or `cifar-10-binary.tar.gz` in it (checked against its
//!    published SHA-256 and extracted into the cache folder); or an image-folder tree `train/<class>/*` and `test/<class>/*` (such
//!    as the JPEG copy of CIFAR-10), read with the [folder loader](super::folder) under the
//!    name `cifar10`;
//! 2. the cache folder's `cifar10/cifar-10-batches-bin/`;
//! 3. when `download` is on, <https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz> is
//!    downloaded into `cifar10/` in the cache folder, checked against its published
//!    SHA-256, unpacked (into a temporary folder renamed into place when complete) and
//!    removed.
//!
//! The archive needs the `archive` feature (and its check the `download` feature), image
//! folders the `image` feature; the `.bin` files need none.
//!
//! ```
//! use convlab::data::{cifar, Dataset};
//! let dir = std::env::temp_dir().join(format!("convlab-cifar-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let mut record = vec![3u8]; // a cat
//! record.extend(std::iter::repeat(255u8).take(3072));
//! std::fs::write(dir.join("test_batch.bin"), &record).unwrap();
//! let ds = cifar::load_binary(&[dir.join("test_batch.bin")]).unwrap();
//! assert_eq!((ds.len(), ds.image_shape(), ds.classes()[3].as_str()), (1, [3, 32, 32], "cat"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::download::{self, Check};
use super::{open_folder, DataOptions, Dataset, MemoryDataset, Split};
use crate::Error;

/// Class names in label order.
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
/// Bytes in one record: the label and 3×32×32 pixels.
pub const RECORD: usize = 1 + 3 * 32 * 32;
pub const URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Published SHA-256 of `cifar-10-binary.tar.gz` (170,052,171 bytes).
pub const SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
const ARCHIVE: &str = "cifar-10-binary.tar.gz";
const BIN_DIR: &str = "cifar-10-batches-bin";

/// The binary file names of a split.
pub fn file_names(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

fn all_in(dir: &Path, names: &[String]) -> Option<Vec<PathBuf>> {
    names.iter().map(|n| Some(dir.join(n)).filter(|p| p.is_file())).collect()
}

/// Opens a split (see the module documentation for where the data comes from).
pub fn open(split: Split, opts: &DataOptions) -> Result<Arc<dyn Dataset>, Error> {
    let names = file_names(split);
    let cache = opts.cache_dir().join("cifar10");
    if let Some(dir) = &opts.data_dir {
        for d in [dir.clone(), dir.join(BIN_DIR)] {
            if let Some(files) = all_in(&d, &names) {
                return Ok(Arc::new(load_binary(&files)?));
            }
        }
        if dir.join(ARCHIVE).is_file() {
            if !cache.join(BIN_DIR).is_dir() {
                download::verify(&dir.join(ARCHIVE), &Check::Sha256(SHA256))?;
            }
            extract(&dir.join(ARCHIVE), &cache)?;
            let files = all_in(&cache.join(BIN_DIR), &names).ok_or_else(|| missing(&names, dir))?;
            return Ok(Arc::new(load_binary(&files)?));
        }
        if dir.join("train").is_dir() && dir.join("test").is_dir() {
            return open_folder(dir, split, opts, "cifar10");
        }
        return Err(missing(&names, dir));
    }
    let bin = cache.join(BIN_DIR);
    if all_in(&bin, &names).is_none() {
        if !opts.download {
            return Err(missing(&names, &bin));
        }
        let archive = cache.join(ARCHIVE);
        download::fetch(URL, &archive, &Check::Sha256(SHA256), opts.progress)
            .map_err(|e| Error::Invalid(format!("{e}\n{}", missing(&names, &bin))))?;
        extract(&archive, &cache)?;
        let _ = std::fs::remove_file(&archive);
    }
    let files = all_in(&bin, &names).ok_or_else(|| missing(&names, &bin))?;
    Ok(Arc::new(load_binary(&files)?))
}

/// Unpacks `cifar-10-binary.tar.gz` so that `into/cifar-10-batches-bin/` appears complete or
/// not at all.
pub fn extract(archive: &Path, into: &Path) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io { path: p.display().to_string(), source: e };
    if into.join(BIN_DIR).is_dir() {
        return Ok(());
    }
    let tmp = into.join(format!(".extract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let file = std::fs::File::open(archive).map_err(|e| io(archive, e))?;
    if let Err(e) = super::archive::unpack_tar_gz(file, archive, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let inner = tmp.join(BIN_DIR);
    if !inner.is_dir() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::Format {
            path: archive.display().to_string(),
            msg: format!("the archive has no {BIN_DIR}/ folder"),
        });
    }
    let target = into.join(BIN_DIR);
    let renamed = std::fs::rename(&inner, &target).map_err(|e| io(&target, e));
    let _ = std::fs::remove_dir_all(&tmp);
    renamed
}

/// Reads binary batch files, in order, into one dataset. Each file must be a whole number
/// (at least one) of 3,073-byte records with labels below 10; errors name the file. A file's
/// size is checked before it is read, so a wrong file costs no memory.
pub fn load_binary(files: &[PathBuf]) -> Result<MemoryDataset, Error> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let io = |e| Error::Io { path: name.clone(), source: e };
        let len = std::fs::metadata(path).map_err(io)?.len();
        check_size(len, &name)?;
        let bytes = std::fs::read(path).map_err(io)?;
        append_batch(&bytes, &name, &mut pixels, &mut labels)?;
    }
    Ok(dataset(pixels, labels))
}

/// Parses binary batches held in memory, `(name, bytes)` in order, as [`load_binary`] does
/// files (the names appear in errors).
///
/// ```
/// use convlab::data::{cifar, Dataset};
/// let mut record = vec![9u8];
/// record.extend([0u8; 3072]);
/// assert_eq!(cifar::from_batches(&[("a.bin", &record)]).unwrap().len(), 1);
/// record[0] = 10;
/// let err = cifar::from_batches(&[("a.bin", &record)]).unwrap_err().to_string();
/// assert_eq!(err, "a.bin: record 0: label 10 is not below 10");
/// ```
pub fn from_batches(batches: &[(&str, &[u8])]) -> Result<MemoryDataset, Error> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (name, bytes) in batches {
        check_size(bytes.len() as u64, name)?;
        append_batch(bytes, name, &mut pixels, &mut labels)?;
    }
    Ok(dataset(pixels, labels))
}

fn dataset(pixels: Vec<u8>, labels: Vec<u8>) -> MemoryDataset {
    MemoryDataset::new("cifar10", [3, 32, 32], CLASSES.iter().map(|s| s.to_string()).collect(), pixels, labels)
}

fn check_size(len: u64, name: &str) -> Result<(), Error> {
    let record = RECORD as u64;
    if len == 0 || !len.is_multiple_of(record) {
        return Err(Error::Format {
            path: name.to_string(),
            msg: format!(
                "{len} bytes is not a whole number of {RECORD}-byte CIFAR-10 records ({} complete, {} bytes left over: truncated or not a CIFAR-10 binary batch)",
                len / record,
                len % record
            ),
        });
    }
    Ok(())
}

fn append_batch(bytes: &[u8], name: &str, pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<(), Error> {
    check_size(bytes.len() as u64, name)?;
    pixels.reserve(bytes.len());
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(Error::Format {
                path: name.to_string(),
                msg: format!("record {i}: label {} is not below 10", record[0]),
            });
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(())
}

fn missing(names: &[String], dir: &Path) -> Error {
    Error::Invalid(format!(
        "cifar10: {} not found in {}. Download {URL}, unpack it and put the files of its {BIN_DIR}/ folder there (or pass a data folder holding them, the archive itself, or train/<class>/ and test/<class>/ image folders)",
        names.join(", "),
        dir.display()
    ))
}
