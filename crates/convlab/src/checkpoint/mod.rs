//! Checkpoints: a module's parameters and buffers in a safetensors file, under PyTorch's
//! `state_dict` names, with string metadata describing the model ([`CheckpointMeta`]).
//!
//! The files are ordinary safetensors: `safetensors.torch.load_file` reads them and
//! `load_state_dict(strict=True)` accepts them in the matching PyTorch model; a torchvision
//! `state_dict` written by `safetensors.torch.save_file` loads here. Writes are atomic
//! (temporary file, fsync, rename). Reading converts any numeric dtype to f32 (PyTorch stores
//! `num_batches_tracked` as i64); a truncated, corrupt or foreign file is an error naming it.
//!
//! ```
//! use convlab::checkpoint::{self, CheckpointMeta};
//! use convlab::nn::{Linear, Module, ParamRng};
//!
//! let dir = std::env::temp_dir().join(format!("convlab-ckpt-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("linear.safetensors");
//! let net = Linear::new(3, 2, true, &mut ParamRng::new(0));
//! let meta = CheckpointMeta { epoch: Some(4), class_names: vec!["cat".into(), "dog".into()], ..CheckpointMeta::new("linear", serde_json::json!({ "in": 3, "out": 2 })) };
//! checkpoint::save(&path, &net, &meta).unwrap();
//!
//! let other = Linear::new(3, 2, true, &mut ParamRng::new(1));
//! let back = checkpoint::load_into(&path, &other).unwrap();
//! assert_eq!(back.epoch, Some(4));
//! assert_eq!(other.weight.to_vec(), net.weight.to_vec());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod atomic;
mod format;
mod meta;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::nn::Module;
use crate::{Error, Tensor};

pub use atomic::{remove_stale_temp_files, write_atomic};
pub(crate) use format::f16_to_f32;
use format::Stored;
pub use meta::{CheckpointMeta, Normalization};

/// A safetensors file's contents: tensors by name (as f32) and its string metadata.
pub type TensorsAndMetadata = (BTreeMap<String, Tensor>, BTreeMap<String, String>);

/// A checkpoint read from disk: its tensors (as f32) and its metadata.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, Tensor>,
    pub meta: CheckpointMeta,
}

/// What a non-strict load found: keys the module has but the file lacks, keys the file has
/// but the module does not, and keys present in both with different shapes
/// (`"name: file [..] vs module [..]"`). Only the keys that fit were loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    pub mismatched: Vec<String>,
}

impl LoadReport {
    /// True when every key matched (what a strict load requires).
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("missing keys: {}", self.missing.join(", ")));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected keys: {}", self.unexpected.join(", ")));
        }
        if !self.mismatched.is_empty() {
            parts.push(format!("wrong shapes: {}", self.mismatched.join("; ")));
        }
        parts.join("; ")
    }
}

fn format_error(path: &Path, msg: String) -> Error {
    Error::Format { path: path.display().to_string(), msg }
}

/// A single-element tensor fits a single-element slot whatever the rank (`[]` vs `[1]`), as
/// in PyTorch's loading of old checkpoints.
fn fits(file: &Tensor, own: &Tensor) -> bool {
    file.dims() == own.dims() || (file.numel() == 1 && own.numel() == 1)
}

/// Compares `tensors` with the module's own, by name.
pub fn compare(module: &dyn Module, tensors: &BTreeMap<String, Tensor>) -> LoadReport {
    let own = module.named_tensors();
    let mut report = LoadReport::default();
    for (name, t, _) in &own {
        match tensors.get(name) {
            None => report.missing.push(name.clone()),
            Some(v) if !fits(v, t) => {
                report.mismatched.push(format!("{name}: file {} vs module {}", v.shape(), t.shape()))
            }
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = own.iter().map(|(n, _, _)| n.as_str()).collect();
    report.unexpected = tensors.keys().filter(|k| !known.contains(k.as_str())).cloned().collect();
    report
}

/// Copies every fitting tensor of `tensors` into the module (in place, keeping the module's
/// tensor handles) and reports the rest. With `strict`, nothing is copied unless everything
/// fits, and a mismatch is an error listing the keys.
pub fn apply(module: &dyn Module, tensors: &BTreeMap<String, Tensor>, strict: bool) -> Result<LoadReport, String> {
    let report = compare(module, tensors);
    if strict && !report.is_clean() {
        return Err(format!("does not fit {}: {}", module.kind(), report.summary()));
    }
    for (name, t, _) in module.named_tensors() {
        if let Some(v) = tensors.get(&name).filter(|v| fits(v, &t)) {
            t.set_data(v.to_vec());
        }
    }
    Ok(report)
}

/// Writes `tensors` (as f32) and the string `metadata` to a safetensors file at `path`,
/// atomically. For optimizer state and other tensors that are not a module's.
pub fn save_tensors(
    path: impl AsRef<Path>,
    tensors: &BTreeMap<String, Tensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let path = path.as_ref();
    let list: Vec<(String, Tensor, Stored)> =
        tensors.iter().map(|(n, t)| (n.clone(), t.clone(), Stored::F32)).collect();
    let bytes = format::encode(path, &list, metadata)?;
    write_atomic(path, |w: &mut dyn Write| w.write_all(&bytes))
}

/// Saves the module's parameters and buffers under their `state_dict` names, with `meta`
/// (its `convlab_version` filled in when empty), atomically.
///
/// NOTE: `num_batches_tracked` buffers are written as i64, as PyTorch stores them, so the file
/// is byte-for-byte the kind of `state_dict` PyTorch writes; everything else is f32.
pub fn save(path: impl AsRef<Path>, module: &dyn Module, meta: &CheckpointMeta) -> Result<(), Error> {
    let path = path.as_ref();
    let list: Vec<(String, Tensor, Stored)> = module
        .named_tensors()
        .into_iter()
        .map(|(n, t, _)| {
            let stored = if n == "num_batches_tracked" || n.ends_with(".num_batches_tracked") {
                Stored::I64
            } else {
                Stored::F32
            };
            (n, t, stored)
        })
        .collect();
    let mut meta = meta.clone();
    if meta.convlab_version.is_empty() {
        meta.convlab_version = env!("CARGO_PKG_VERSION").to_string();
    }
    let bytes = format::encode(path, &list, &meta.to_metadata())?;
    write_atomic(path, |w: &mut dyn Write| w.write_all(&bytes))
}

/// Reads a safetensors file: its tensors as f32 and its raw string metadata.
pub fn load_tensors(path: impl AsRef<Path>) -> Result<TensorsAndMetadata, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    format::decode(path, &bytes)
}

/// Reads a checkpoint: tensors and [`CheckpointMeta`] (a file without ConvLab metadata, such
/// as a PyTorch `state_dict`, gives empty metadata).
pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint, Error> {
    let path = path.as_ref();
    let (tensors, raw) = load_tensors(path)?;
    let meta = CheckpointMeta::from_metadata(&raw).map_err(|msg| format_error(path, msg))?;
    Ok(Checkpoint { tensors, meta })
}

/// Parses the bytes of a checkpoint file as [`load`] does (`name` names it in errors). The
/// header's length, offsets and shapes are checked against the bytes before any tensor is
/// built: a header longer than the file, offsets past its end, overlapping or gapped ranges
/// and shapes that do not match their byte ranges are errors.
///
/// ```
/// use convlab::checkpoint;
/// let mut bytes = 1000u64.to_le_bytes().to_vec(); // a header length past the end
/// bytes.extend(b"{}");
/// let err = checkpoint::from_bytes(&bytes, "x.safetensors").unwrap_err().to_string();
/// assert!(err.starts_with("x.safetensors: not a safetensors file"), "{err}");
/// ```
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Checkpoint, Error> {
    let path = Path::new(name);
    let (tensors, raw) = format::decode(path, bytes)?;
    let meta = CheckpointMeta::from_metadata(&raw).map_err(|msg| format_error(path, msg))?;
    Ok(Checkpoint { tensors, meta })
}

/// Errors when `t` (the tensor `name` of the file `path`) holds a NaN or an infinity, naming
/// the first such element by its index: for inputs, where such values would silently
/// poison every output.
///
/// ```
/// use convlab::{checkpoint, Tensor};
/// let x = Tensor::from_vec(vec![0.5, f32::NAN, 1.0, 2.0], [1, 1, 2, 2]);
/// let err = checkpoint::check_finite("x.safetensors", "input", &x).unwrap_err().to_string();
/// assert_eq!(err, "x.safetensors: tensor 'input' holds NaN at index [0, 0, 0, 1] (1 non-finite value in all); inputs must be finite numbers");
/// ```
pub fn check_finite(path: impl AsRef<Path>, name: &str, t: &Tensor) -> Result<(), Error> {
    let data = t.storage();
    let Some(first) = data.iter().position(|v| !v.is_finite()) else { return Ok(()) };
    let count = data.iter().filter(|v| !v.is_finite()).count();
    let mut index = vec![0usize; t.rank()];
    let mut rest = first;
    for (slot, &d) in index.iter_mut().zip(t.dims()).rev() {
        *slot = rest % d;
        rest /= d;
    }
    let plural = if count == 1 { "value" } else { "values" };
    Err(format_error(
        path.as_ref(),
        format!("tensor '{name}' holds {} at index {index:?} ({count} non-finite {plural} in all); inputs must be finite numbers", data[first]),
    ))
}

/// Loads a checkpoint into `module`, strictly: missing, unexpected and wrongly shaped keys
/// are an error naming the file and the keys, and then the module is unchanged.
pub fn load_into(path: impl AsRef<Path>, module: &dyn Module) -> Result<CheckpointMeta, Error> {
    let path = path.as_ref();
    let ck = load(path)?;
    apply(module, &ck.tensors, true).map_err(|msg| format_error(path, msg))?;
    Ok(ck.meta)
}

/// Loads what fits of a checkpoint into `module` and reports the keys that did not
/// (PyTorch's `strict=False`).
pub fn load_into_non_strict(
    path: impl AsRef<Path>,
    module: &dyn Module,
) -> Result<(CheckpointMeta, LoadReport), Error> {
    let path = path.as_ref();
    let ck = load(path)?;
    let report = apply(module, &ck.tensors, false).map_err(|msg| format_error(path, msg))?;
    Ok((ck.meta, report))
}
