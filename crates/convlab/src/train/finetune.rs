//! Fine-tuning: training a network made elsewhere for another number of classes.
//!
//! - An ONNX file whose output scores another number of classes than the dataset has gets a
//!   new classifier ([`crate::nn::replace_classifier`]: its last Linear or 1×1 convolution,
//!   freshly initialized from the run's seed) when the model is built
//!   ([`resolve_for_classes`]). Rebuilding it from a checkpoint does the same and then loads
//!   the saved weights over it, so every command that reads a checkpoint gets the trained
//!   network; the checkpoint metadata names the replaced layer ([`REPLACED_CLASSIFIER`]).
//! - A zoo model is built for the dataset's classes; weights of another class count (a
//!   torchvision `state_dict`) load with [`load_init`], which keeps the fresh classifier and
//!   says so, and refuses any other mismatch.
//! - [`trainable_parameters`]: with `freeze_backbone`, only the classifier's.

use std::path::Path;

use crate::checkpoint;
use crate::nn::{find_classifier, replace_classifier, Classifier, Module, Replacement};
use crate::spec::{resolve_model, ModelSource, ResolvedModel};
use crate::{Error, Tensor};

/// The checkpoint metadata entry naming the classifier a run replaced: JSON
/// `{"layer": "fc", "in_features": 512, "classes_before": 1000, "classes": 5}`.
pub const REPLACED_CLASSIFIER: &str = "replaced_classifier";

/// What model to build for a run or a checkpoint.
#[derive(Clone, Copy, Debug)]
pub struct ModelRequest<'a> {
    /// A zoo name, a spec (string or file) or an ONNX file.
    pub model: &'a str,
    pub in_channels: Option<usize>,
    /// `[C, H, W]` of the images (default: the model's own).
    pub input: Option<&'a [usize]>,
    /// The classes the model must score.
    pub classes: usize,
    /// Seed of the initial weights (and of a replaced classifier's).
    pub seed: u64,
}

/// Resolves the model of `request` ([`resolve_model`]) for `request.classes` classes. An ONNX
/// file whose output has another size last gets a new classifier with that many outputs
/// (returned with the model); its description is the file's absolute path, so that a
/// checkpoint rebuilds it from any folder.
pub fn resolve_for_classes(request: &ModelRequest) -> Result<(ResolvedModel, Option<Replacement>), Error> {
    let r = request;
    if !r.model.trim().to_ascii_lowercase().ends_with(".onnx") {
        let resolved = resolve_model(r.model, r.in_channels, Some(r.classes), r.input, r.seed)?;
        return Ok((resolved, None));
    }
    let mut resolved = resolve_model(r.model, r.in_channels, None, r.input, r.seed)?;
    if let ModelSource::Onnx { path } = &resolved.source {
        if let Ok(full) = std::fs::canonicalize(path) {
            resolved.description = full.display().to_string();
        }
    }
    let mut batch = vec![1];
    batch.extend(&resolved.input);
    let out = resolved.module.output_shape(&batch)?;
    if out.last() == Some(&r.classes) {
        return Ok((resolved, None));
    }
    let replaced = replace_classifier(&mut *resolved.module, r.classes, r.seed)
        .map_err(|e| Error::Invalid(format!("{}: {e}", resolved.description)))?;
    Ok((resolved, Some(replaced)))
}

/// The [`REPLACED_CLASSIFIER`] metadata value for `r`.
pub fn replaced_meta(r: &Replacement) -> String {
    let c = &r.classifier;
    serde_json::json!({
        "layer": c.path,
        "in_features": c.in_features,
        "classes_before": r.old_classes,
        "classes": c.classes,
    })
    .to_string()
}

/// Loads the weights of checkpoint (or `state_dict` file) `path` into `model` to start a run
/// from them. Every tensor must fit, except that the classifier ([`find_classifier`]) may
/// score another number of classes over the same inputs (ImageNet weights for a 5-class
/// run): then it keeps its fresh initialization, everything else is loaded, and the
/// returned [`Replacement`] says so (`old_classes`: the file's). Any other missing,
/// unexpected or mis-shaped tensor is an error naming the file and the keys, and nothing is
/// loaded.
pub fn load_init(path: &Path, model: &dyn Module) -> Result<Option<Replacement>, Error> {
    let ck = checkpoint::load(path)?;
    let report = checkpoint::compare(model, &ck.tensors);
    if report.is_clean() {
        checkpoint::apply(model, &ck.tensors, true).map_err(|msg| format_error(path, msg))?;
        return Ok(None);
    }
    let head = find_classifier(model).ok();
    let fresh = head.as_ref().filter(|h| {
        report.missing.is_empty() && report.unexpected.is_empty() && only_classes_differ(h, model, &ck.tensors)
    });
    let Some(head) = fresh else {
        // Not a classifier of another size: the strict load's error lists the keys.
        let msg = checkpoint::apply(model, &ck.tensors, true).err().unwrap_or_default();
        return Err(format_error(path, msg));
    };
    let old_classes = ck.tensors.get(&format!("{}.weight", head.path)).map_or(head.classes, |w| w.dims()[0]);
    checkpoint::apply(model, &ck.tensors, false).map_err(|msg| format_error(path, msg))?;
    Ok(Some(Replacement { classifier: head.clone(), old_classes }))
}

/// Whether the tensors of `tensors` that do not fit `model` are exactly the classifier's, with
/// another first (output) dimension and the same others.
fn only_classes_differ(
    head: &Classifier,
    model: &dyn Module,
    tensors: &std::collections::BTreeMap<String, Tensor>,
) -> bool {
    let mut any = false;
    for (name, own, _) in model.named_tensors() {
        let Some(file) = tensors.get(&name) else { continue };
        if file.dims() == own.dims() {
            continue;
        }
        let (f, o) = (file.dims(), own.dims());
        let same_inputs = f.len() == o.len() && !f.is_empty() && f[1..] == o[1..];
        if !head.owns(&name) || !same_inputs {
            return false;
        }
        any = true;
    }
    any
}

fn format_error(path: &Path, msg: String) -> Error {
    Error::Format { path: path.display().to_string(), msg }
}

/// The parameters a run trains: all of them, or with `freeze_backbone` the classifier's
/// alone (an error when the model has none [`find_classifier`] accepts).
pub fn trainable_parameters(model: &dyn Module, freeze_backbone: bool) -> Result<Vec<(String, Tensor)>, Error> {
    let all = model.named_parameters();
    if !freeze_backbone {
        return Ok(all);
    }
    let head = find_classifier(model).map_err(|e| Error::Invalid(format!("freezing the backbone: {e}")))?;
    Ok(all.into_iter().filter(|(n, _)| head.owns(n)).collect())
}
