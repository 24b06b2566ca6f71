//! Gzip streams and tar.gz archives, with the `archive` feature (`flate2`, `tar`). Without it
//! both return [`Error::MissingFeature`], so gzipped IDX files and the CIFAR-10 archive are
//! refused with a message naming the feature, while raw files read as usual.

use std::io::Read;
use std::path::Path;

use crate::Error;

pub(crate) use imp::{gunzip, unpack_tar_gz};

#[cfg(feature = "archive")]
mod imp {
    use super::*;

    /// A reader of the decompressed bytes of the gzip stream `r`.
    pub(crate) fn gunzip<'a>(r: impl Read + 'a, _name: &str) -> Result<Box<dyn Read + 'a>, Error> {
        Ok(Box::new(flate2::read::GzDecoder::new(r)))
    }

    /// Unpacks the tar.gz archive `file` (read from `archive`) into the folder `into`.
    pub(crate) fn unpack_tar_gz(file: std::fs::File, archive: &Path, into: &Path) -> Result<(), Error> {
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
            .unpack(into)
            .map_err(|e| Error::Format { path: archive.display().to_string(), msg: format!("cannot unpack: {e}") })
    }
}

#[cfg(not(feature = "archive"))]
mod imp {
    use super::*;

    pub(crate) fn gunzip<'a>(_r: impl Read + 'a, name: &str) -> Result<Box<dyn Read + 'a>, Error> {
        Err(Error::MissingFeature { feature: "archive", what: format!("{name}: reading a gzipped file") })
    }

    pub(crate) fn unpack_tar_gz(_file: std::fs::File, archive: &Path, _into: &Path) -> Result<(), Error> {
        Err(Error::MissingFeature {
            feature: "archive",
            what: format!("{}: unpacking a tar.gz archive", archive.display()),
        })
    }
}
