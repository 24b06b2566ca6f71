//! The model a command runs: a checkpoint written by `convlab train`, or a model file that
//! holds its own weights (an ONNX file), with the class names and input normalization that go
//! with it.
//!
//! A checkpoint names its model, classes and normalization in its metadata. An ONNX file
//! names none of them: its classes are `0..K-1` unless a classes file (one name per line, in
//! logit order) says otherwise, and its inputs are used as given unless a normalization is
//! named (torchvision's ImageNet models expect `mean 0.485,0.456,0.406`, `std
//! 0.229,0.224,0.225`).
//!
//! ```
//! use convlab::train::trained::{open, TrainedSource};
//! // A missing file is an error naming it.
//! let source = TrainedSource { model: Some("no_such_model.onnx".into()), ..Default::default() };
//! assert!(open(&source).err().unwrap().to_string().contains("no_such_model.onnx"));
//! // A zoo model has no trained weights of its own.
//! let source = TrainedSource { model: Some("lenet5".into()), ..Default::default() };
//! assert!(open(&source).err().unwrap().to_string().contains("--checkpoint"));
//! ```

use std::path::{Path, PathBuf};

use super::state::{model_of, ModelInfo};
use crate::checkpoint::{CheckpointMeta, Normalization};
use crate::nn::Module;
use crate::spec::resolve_model;
use crate::Error;

/// Where a trained model comes from, and what goes with a model file.
#[derive(Clone, Debug, Default)]
pub struct TrainedSource {
    /// A checkpoint written by `convlab train` (or one with the same metadata).
    pub checkpoint: Option<PathBuf>,
    /// A model file that holds its weights (`.onnx`); with a checkpoint, the model to build
    /// for its weights instead of the one it names.
    pub model: Option<String>,
    /// One class name per line, in logit order (overrides a checkpoint's names).
    pub classes_file: Option<PathBuf>,
    /// The input normalization (overrides a checkpoint's).
    pub normalization: Option<Normalization>,
}

/// A trained model ready for inference, with what describes it.
pub struct Trained {
    pub module: Box<dyn Module>,
    pub info: ModelInfo,
    /// The checkpoint's metadata, or metadata describing the model file.
    pub meta: CheckpointMeta,
}

/// The most bytes a classes file may have.
const MAX_CLASSES_FILE: u64 = 1 << 20;

/// Opens the model `source` names (see the module doc).
pub fn open(source: &TrainedSource) -> Result<Trained, Error> {
    let mut trained = match (&source.checkpoint, &source.model) {
        (Some(ck), None) => from_checkpoint(ck)?,
        (Some(ck), Some(model)) => with_weights(model, ck)?,
        (None, Some(model)) => from_file(model)?,
        (None, None) => {
            return Err(Error::Invalid(
                "no model: give --checkpoint (a file written by convlab train) or --model FILE.onnx".into(),
            ))
        }
    };
    if let Some(path) = &source.classes_file {
        let names = read_class_names(path)?;
        let k = trained.info.class_names.len();
        if names.len() != k {
            return Err(Error::Format {
                path: path.display().to_string(),
                msg: format!("names {} classes, the model has {k}", names.len()),
            });
        }
        trained.info.class_names = names.clone();
        trained.meta.class_names = names;
    }
    if let Some(n) = &source.normalization {
        let c = trained.info.input_shape[0];
        n.check().map_err(|e| Error::Invalid(format!("normalization: {e}")))?;
        if n.mean.len() != c || n.std.len() != c {
            return Err(Error::Invalid(format!(
                "normalization: {} means and {} standard deviations for a model of {c} input channels",
                n.mean.len(),
                n.std.len()
            )));
        }
        trained.info.normalization = Some(n.clone());
        trained.meta.normalization = Some(n.clone());
    }
    Ok(trained)
}

fn from_checkpoint(path: &Path) -> Result<Trained, Error> {
    let ck = crate::checkpoint::load(path)?;
    let (module, info) = model_of(path, &ck)?;
    Ok(Trained { module, info, meta: ck.meta })
}

/// `model` built for the checkpoint's input and classes, with its weights.
fn with_weights(model: &str, path: &Path) -> Result<Trained, Error> {
    let ck = crate::checkpoint::load(path)?;
    let info = ModelInfo::from_meta(path, &ck.meta)?;
    let (module, _) = super::build_model(model, info.input_shape, info.class_names.len(), 0)?;
    crate::checkpoint::apply(&*module, &ck.tensors, true).map_err(|m| Error::Format {
        path: path.display().to_string(),
        msg: format!("weights do not fit model '{model}': {m}"),
    })?;
    let info = ModelInfo { model: model.to_string(), ..info };
    Ok(Trained { module, meta: CheckpointMeta { model: model.to_string(), ..ck.meta }, info })
}

/// A model file with its own weights: classes `0..K-1`, no normalization.
fn from_file(model: &str) -> Result<Trained, Error> {
    if !model.to_ascii_lowercase().ends_with(".onnx") {
        return Err(Error::Invalid(format!(
            "model '{model}' has no trained weights: give --checkpoint, or --model FILE.onnx (a file with its weights)"
        )));
    }
    let resolved = resolve_model(model, None, None, None, 0)?;
    let input: [usize; 3] = resolved.input.as_slice().try_into().map_err(|_| {
        Error::Shape(format!("{model}: the model takes inputs of shape {:?}, not [C, H, W] images", resolved.input))
    })?;
    let [c, h, w] = input;
    let out = resolved.module.output_shape(&[1, c, h, w])?;
    let classes = match out.as_slice() {
        [1, k] => *k,
        _ => return Err(Error::Shape(format!("{model}: the model gives outputs of shape {out:?}, not class scores"))),
    };
    let class_names: Vec<String> = (0..classes).map(|i| i.to_string()).collect();
    let config = serde_json::json!({ "in_channels": c, "num_classes": classes, "input_shape": input });
    // The metadata names no classes: a reader may take a dataset's names instead.
    let meta = CheckpointMeta::new(model, config);
    let info = ModelInfo { model: model.to_string(), input_shape: input, class_names, normalization: None };
    Ok(Trained { module: resolved.module, info, meta })
}

/// The class names in `path`: one per line (surrounding spaces and a trailing empty line
/// ignored). An empty name, or a file larger than 1 MiB, is an error naming the file.
pub fn read_class_names(path: &Path) -> Result<Vec<String>, Error> {
    let bad = |msg: String| Error::Format { path: path.display().to_string(), msg };
    let len = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.len();
    if len > MAX_CLASSES_FILE {
        return Err(bad(format!("is {len} bytes; a classes file has at most {MAX_CLASSES_FILE}")));
    }
    // Read at most the limit (a FIFO or a device reports no length).
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(|e| bad(e.to_string()))?, MAX_CLASSES_FILE + 1),
        &mut text,
    )
    .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_CLASSES_FILE {
        return Err(bad(format!("holds more than {MAX_CLASSES_FILE} bytes; a classes file has at most that")));
    }
    let names: Vec<String> = text.trim_end().lines().map(|l| l.trim().to_string()).collect();
    if let Some(i) = names.iter().position(String::is_empty) {
        return Err(bad(format!("line {} is empty (one class name per line)", i + 1)));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_one_per_line() {
        let dir = std::env::temp_dir().join(format!("convlab-classes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.txt");
        std::fs::write(&p, " cat \r\ndog\n\n").unwrap();
        assert_eq!(read_class_names(&p).unwrap(), ["cat", "dog"]);
        std::fs::write(&p, "cat\n\ndog\n").unwrap();
        assert!(read_class_names(&p).unwrap_err().to_string().contains("line 2 is empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
