//! Checks that protect a run: the output folder is writable before training starts, and a
//! step whose loss or gradients are not finite is caught before it reaches the weights.
//!
//! ```
//! use convlab::train::guard::probe_writable;
//!
//! let dir = std::env::temp_dir().join(format!("convlab-guard-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! probe_writable(&dir).unwrap();
//! assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the probe file is removed");
//! // A "folder" below a file cannot be written: the error names it.
//! std::fs::write(dir.join("file"), "x").unwrap();
//! let e = probe_writable(&dir.join("file")).unwrap_err().to_string();
//! assert!(e.contains("not writable"), "{e}");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::autograd::Gradients;
use crate::{Error, Tensor};

/// Creates, writes, fsyncs and removes a probe file in `dir`, so that an unwritable output
/// folder is reported before training starts. The error names the probe file. (It is named
/// like a temporary file of [`write_atomic`](crate::checkpoint::write_atomic), so that
/// [`remove_stale_temp_files`](crate::checkpoint::remove_stale_temp_files) removes it when a
/// process is killed in between.)
pub fn probe_writable(dir: &Path) -> Result<(), Error> {
    let probe = dir.join(format!(".convlab-probe.tmp-{}-0", std::process::id()));
    let r = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&probe)?;
        f.write_all(b"probe")?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    r.map_err(|source| Error::Io { path: format!("{} (output folder not writable)", probe.display()), source })
}

/// What is not finite in a step: the loss, or the gradient of a parameter (by name).
pub fn nonfinite(loss: f32, grads: &Gradients, params: &[(String, Tensor)]) -> Option<String> {
    if !loss.is_finite() {
        return Some(format!("the loss is {loss}"));
    }
    for (name, p) in params {
        if let Some(g) = grads.get(p) {
            if g.storage().iter().any(|v| !v.is_finite()) {
                return Some(format!("the gradient of {name} is not finite (loss {loss})"));
            }
        }
    }
    None
}
