//! The downloader and SHA-256 checks (the `download` feature: `ureq`, `sha2`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use bar::Bar;

use super::Check;
use crate::Error;

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
            let name = path.display().to_string();
            let got = sha256_hex(crate::data::archive::gunzip(reader, &name)?).map_err(|e| Error::Format {
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

    let bar = Bar::new(progress, remaining.map_or(0, |r| r + start), start, url.rsplit('/').next().unwrap_or(url));
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
    bar.finish();
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

/// The download's progress bar (shown only on a terminal), with the `progress` feature.
#[cfg(feature = "progress")]
mod bar {
    use indicatif::{ProgressBar, ProgressStyle};

    pub(super) struct Bar(ProgressBar);

    impl Bar {
        /// A bar of `total` bytes at `start`, labelled `name`; hidden unless `show`.
        pub(super) fn new(show: bool, total: u64, start: u64, name: &str) -> Bar {
            if !show {
                return Bar(ProgressBar::hidden());
            }
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(name.to_string());
            bar.set_position(start);
            Bar(bar)
        }

        pub(super) fn inc(&self, n: u64) {
            self.0.inc(n);
        }

        pub(super) fn finish(&self) {
            self.0.finish_and_clear();
        }
    }
}

/// Without the `progress` feature: downloads show no bar.
#[cfg(not(feature = "progress"))]
mod bar {
    pub(super) struct Bar;

    impl Bar {
        pub(super) fn new(_show: bool, _total: u64, _start: u64, _name: &str) -> Bar {
            Bar
        }

        pub(super) fn inc(&self, _n: u64) {}

        pub(super) fn finish(&self) {}
    }
}
