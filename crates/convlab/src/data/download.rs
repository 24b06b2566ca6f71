//! Downloading dataset files: resumable (an interrupted download stays as `<file>.part` and
//! continues with an HTTP `Range` request), verified (SHA-256 of the file, or of its
//! gunzipped content), and atomic (the `.part` file is renamed to its final name only after
//! it verifies, so a file under its final name is always complete).
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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Error;

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

fn io_err(path: &Path, e: io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source: e }
}

/// The SHA-256 (hex) of everything `reader` yields.
pub fn sha256_hex(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The SHA-256 the check compares, computed from the file at `path`.
fn digest_of(path: &Path, check: &Check) -> Result<Option<(String, &'static str)>, Error> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let reader = io::BufReader::new(file);
    Ok(match *check {
        Check::Sha256(want) => Some((sha256_hex(reader).map_err(|e| io_err(path, e))?, want)),
        Check::Sha256Gunzipped(want) => {
            let got = sha256_hex(flate2::read::GzDecoder::new(reader)).map_err(|e| Error::Format {
                path: path.display().to_string(),
                msg: format!("not a valid gzip file: {e}"),
            })?;
            Some((got, want))
        }
        Check::None => None,
    })
}

/// Verifies the file at `path` against `check` (an error names the file and both hashes).
pub fn verify(path: &Path, check: &Check) -> Result<(), Error> {
    if let Some((got, want)) = digest_of(path, check)? {
        if !got.eq_ignore_ascii_case(want) {
            let what =
                if matches!(check, Check::Sha256Gunzipped(_)) { "SHA-256 of the gunzipped content" } else { "SHA-256" };
            return Err(Error::Format {
                path: path.display().to_string(),
                msg: format!("checksum mismatch: {what} is {got}, expected {want}"),
            });
        }
    }
    Ok(())
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Downloads `url` to `dest` unless `dest` exists. Bytes go to `dest.part` (continuing an
/// earlier partial download with a `Range` request when the server allows it); the finished
/// file is verified with `check` and renamed to `dest`. On a checksum mismatch the partial
/// file is removed and the error names the URL and both hashes. `progress` shows a progress
/// bar on a terminal.
pub fn fetch(url: &str, dest: &Path, check: &Check, progress: bool) -> Result<(), Error> {
    if dest.is_file() {
        return Ok(());
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let part = part_path(dest);
    download_to(url, &part, progress)?;
    if let Err(e) = verify(&part, check) {
        let _ = fs::remove_file(&part);
        return Err(Error::Format {
            path: url.to_string(),
            msg: format!("downloaded file failed verification and was removed ({e})"),
        });
    }
    fs::rename(&part, dest).map_err(|e| io_err(dest, e))
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(30)).timeout_read(Duration::from_secs(60)).build()
}

/// Appends the rest of `url` to `part` (starting over when the server ignores the range).
fn download_to(url: &str, part: &Path, progress: bool) -> Result<(), Error> {
    let net_err = |e: String| Error::Io { path: url.to_string(), source: io::Error::other(e) };
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = agent().get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        // 416: the partial file already holds everything (or more): let verification decide.
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()),
        Err(ureq::Error::Status(code, r)) => return Err(net_err(format!("HTTP {code} {}", r.status_text()))),
        Err(e) => return Err(net_err(e.to_string())),
    };
    let resumed = response.status() == 206;
    let remaining: Option<u64> = response.header("Content-Length").and_then(|v| v.parse().ok());
    let start = if resumed { have } else { 0 };
    let mut file = if resumed { OpenOptions::new().append(true).open(part) } else { File::create(part) }
        .map_err(|e| io_err(part, e))?;

    let bar = if progress {
        indicatif::ProgressBar::new(remaining.map_or(0, |r| r + start))
    } else {
        indicatif::ProgressBar::hidden()
    };
    if progress {
        let style =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
        bar.set_position(start);
    }
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.flush();
                return Err(net_err(format!(
                    "{e} after {} bytes (the partial download in {} resumes next time)",
                    start + got,
                    part.display()
                )));
            }
        };
        file.write_all(&buf[..n]).map_err(|e| io_err(part, e))?;
        got += n as u64;
        bar.inc(n as u64);
    }
    file.sync_all().map_err(|e| io_err(part, e))?;
    bar.finish_and_clear();
    if let Some(r) = remaining {
        if got < r {
            return Err(net_err(format!(
                "connection closed after {} of {} bytes (the partial download in {} resumes next time)",
                start + got,
                start + r,
                part.display()
            )));
        }
    }
    Ok(())
}
