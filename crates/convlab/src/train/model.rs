//! The model and data options of a run: [`build_run_model`] (a zoo name, spec string, spec
//! file or ONNX file, checked against the images' shape) and [`data_options`].

use super::finetune::{resolve_for_classes, ModelRequest};
use super::TrainConfig;
use crate::data::DataOptions;
use crate::nn::{Module, Replacement};
use crate::Error;

/// A run's model: the module, its description for checkpoints (the zoo name, the canonical
/// spec text, or an ONNX file's absolute path: what rebuilds it) and the classifier replaced
/// to fit the classes, if one was ([`super::finetune`]).
pub struct BuiltModel {
    pub module: Box<dyn Module>,
    pub description: String,
    pub replaced: Option<Replacement>,
}

/// The model `name` (a zoo name, a spec string or file, or an ONNX file, as [`resolve_model`]
/// reads them) for images of `shape` and `classes` classes, checked with
/// [`Module::output_shape`]. An ONNX model that scores another number of classes gets a new
/// classifier, initialized from `seed` ([`resolve_for_classes`]).
///
/// [`resolve_model`]: crate::spec::resolve_model
pub fn build_run_model(name: &str, shape: [usize; 3], classes: usize, seed: u64) -> Result<BuiltModel, Error> {
    let request = ModelRequest { model: name, in_channels: Some(shape[0]), input: Some(&shape), classes, seed };
    let (resolved, replaced) = resolve_for_classes(&request).map_err(|e| {
        Error::Invalid(format!("model '{name}' cannot be built for {shape:?} images and {classes} classes: {e}"))
    })?;
    let net = resolved.module;
    let dims = net
        .output_shape(&[1, shape[0], shape[1], shape[2]])
        .map_err(|e| Error::Invalid(format!("model '{name}' cannot take {shape:?} images: {e}")))?;
    if dims != [1, classes] {
        return Err(Error::Invalid(format!(
            "model '{name}' gives outputs of shape {dims:?} for one {shape:?} image, expected [1, {classes}]"
        )));
    }
    Ok(BuiltModel { module: net, description: resolved.description, replaced })
}

/// [`build_run_model`]'s module and description.
pub fn build_model(
    name: &str,
    shape: [usize; 3],
    classes: usize,
    seed: u64,
) -> Result<(Box<dyn Module>, String), Error> {
    build_run_model(name, shape, classes, seed).map(|b| (b.module, b.description))
}

/// The data options of a run (folder images at an ONNX model's input size).
pub fn data_options(config: &TrainConfig) -> DataOptions {
    let onnx = onnx_image_options(&config.model);
    DataOptions {
        data_dir: config.data_dir.clone(),
        download: config.download,
        progress: false,
        seed: config.seed,
        builtin_size: config.builtin_size,
        image_size: crate::models::spec(&config.model).ok().map(|s| s.input_size).or(onnx.1),
        grayscale: onnx.0,
        ..DataOptions::default()
    }
}

/// For an ONNX model, folder images are read at the size and in the channels its file
/// declares: `(grayscale, [H, W])` (both `None` for other models, or a file that cannot be
/// read; building the model reports that).
fn onnx_image_options(model: &str) -> (Option<bool>, Option<[usize; 2]>) {
    if !model.trim().to_ascii_lowercase().ends_with(".onnx") {
        return (None, None);
    }
    match crate::onnx::load(model.trim(), None).map(|m| m.graph().input_shape.clone()).as_deref() {
        Ok(&[_, c, h, w]) => (Some(c == 1), Some([h, w])),
        _ => (None, None),
    }
}
