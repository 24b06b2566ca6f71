//! The model and data options of a run: [`build_model`] (a zoo name, spec string or spec
//! file, checked against the images' shape) and [`data_options`].

use super::TrainConfig;
use crate::data::DataOptions;
use crate::nn::Module;
use crate::spec::resolve_model;
use crate::Error;

/// The model `name` (a zoo name, a spec string or a spec file, as [`resolve_model`] reads
/// them) for images of `shape` and `classes` classes, checked with [`Module::output_shape`];
/// and its description for checkpoints (the zoo name, or the canonical spec text, which
/// rebuilds it).
pub fn build_model(
    name: &str,
    shape: [usize; 3],
    classes: usize,
    seed: u64,
) -> Result<(Box<dyn Module>, String), Error> {
    let resolved = resolve_model(name, Some(shape[0]), Some(classes), Some(&shape), seed).map_err(|e| {
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
    Ok((net, resolved.description))
}

/// The data options of a run.
pub fn data_options(config: &TrainConfig) -> DataOptions {
    DataOptions {
        data_dir: config.data_dir.clone(),
        download: config.download,
        progress: false,
        seed: config.seed,
        builtin_size: config.builtin_size,
        image_size: crate::models::spec(&config.model).ok().map(|s| s.input_size),
        ..DataOptions::default()
    }
}
