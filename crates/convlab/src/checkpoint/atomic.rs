//! Atomic file replacement: write to a temporary file beside the target, flush it to disk,
//! then rename it over the target. A reader sees the old file or the new one, never half of
//! either; a failed write leaves the old file as it was and removes the temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

/// A fresh temporary path in the directory of `path`: `.<name>.tmp-<pid>-<n>`.
fn temp_path(path: &Path) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file path", path.display())))?
        .to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id())))
}

/// Replaces the file at `path` with what `write` produces, atomically: the bytes go to a
/// temporary file in the same directory, which is fsynced and then renamed over `path`.
/// If `write` fails (or anything else does) the temporary file is removed and `path` is left
/// untouched. The error names the file.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("convlab-atomic-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("hello.txt");
/// convlab::checkpoint::write_atomic(&path, |w| w.write_all(b"hello")).unwrap();
/// let failed = convlab::checkpoint::write_atomic(&path, |w| {
///     w.write_all(b"half a fi")?;
///     Err(std::io::Error::other("disk full"))
/// });
/// assert!(failed.is_err());
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_atomic(path: impl AsRef<Path>, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), Error> {
    let path = path.as_ref();
    let tmp = temp_path(path)?;
    let result = (|| -> Result<(), Error> {
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io_error(path, e))?;
        let mut w = BufWriter::new(file);
        write(&mut w).map_err(|e| io_error(path, e))?;
        let file = w.into_inner().map_err(|e| io_error(path, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(path, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| io_error(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable (best effort: not every platform can open a directory).
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Whether a process with this id still runs (Linux: `/proc/<pid>`; elsewhere assumed).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the temporary files that [`write_atomic`] calls of processes that no longer run
/// left in `dir` (a process killed in the middle of a write leaves its `.<name>.tmp-<pid>-<n>`
/// behind; the target file itself is intact). Returns how many were removed. Files of
/// running processes and every other file are kept.
pub fn remove_stale_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix('.') else { continue };
        let Some((_, tail)) = rest.rsplit_once(".tmp-") else { continue };
        let Some((pid, n)) = tail.split_once('-') else { continue };
        let (Ok(pid), true) = (pid.parse::<u32>(), !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if !alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
