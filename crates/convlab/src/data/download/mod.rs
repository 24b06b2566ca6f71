//! Downloading dataset files: resumable (an interrupted download stays as `<file>.part` and
//! continues with an HTTP `Range` request), verified (SHA-256 of the file, or of its
//! gunzipped content), and atomic (the `.part` file is renamed to its final name only after
//! it verifies, so a file under its final name is always complete).
//!
//! This needs the `download` feature (on by default); without it [`fetch`] and [`verify`]
//! return [`Error::MissingFeature`](crate::Error::MissingFeature). The progress bar needs
//! the `progress` feature, the check of gunzipped content the `archive` feature.
//!
//! ```no_run
//! use convlab::data::download::{fetch, Check};
//! let dest = std::path::Path::new("/tmp/convlab/fashion-mnist/t10k-labels-idx1-ubyte.gz");
//! fetch(
//!     "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
//!     dest,
//!     &Check::Sha256("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
//!     true,
//! ).unwrap();
//! ```

#[cfg(feature = "download")]
mod http;
#[cfg(not(feature = "download"))]
pub use disabled::{fetch, verify};
#[cfg(feature = "download")]
pub use http::{fetch, sha256_hex, verify};

/// How a downloaded file is verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// SHA-256 of the file as downloaded (hex).
    Sha256(&'static str),
    /// SHA-256 of the gunzipped content (hex): for files whose compressed form has no
    /// published hash but whose content has.
    Sha256Gunzipped(&'static str),
    /// No known hash: the dataset reader validates the structure instead.
    None,
}

/// Without the `download` feature: the same functions, each an [`Error::MissingFeature`].
#[cfg(not(feature = "download"))]
mod disabled {
    use std::path::Path;

    use super::Check;
    use crate::Error;

    /// A file already in place (downloaded earlier) is used as it is; downloading needs the
    /// `download` feature.
    pub fn fetch(url: &str, dest: &Path, _check: &Check, _progress: bool) -> Result<(), Error> {
        if dest.is_file() {
            return Ok(());
        }
        Err(Error::MissingFeature { feature: "download", what: format!("downloading {url}") })
    }

    /// Checking a SHA-256 needs the `download` feature.
    pub fn verify(path: &Path, check: &Check) -> Result<(), Error> {
        match check {
            Check::None => Ok(()),
            _ => Err(Error::MissingFeature {
                feature: "download",
                what: format!("checking the SHA-256 of {}", path.display()),
            }),
        }
    }
}
