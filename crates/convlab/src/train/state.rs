//! Training checkpoints. A run writes, in its output folder:
//!
//! - `checkpoint.safetensors`: the model's `state_dict` (an ordinary ConvLab checkpoint that
//!   `checkpoint::load_into`, `convlab run` and PyTorch read) whose metadata holds the model
//!   name, `config` (`in_channels`, `num_classes`, `input_shape` `[C, H, W]`), completed
//!   epochs, class names and normalization, plus two extra entries: `train_config` (the
//!   [`TrainConfig`] as JSON) and `train_state` (the [`TrainState`]: epoch, step within it,
//!   global step, best test accuracy, wall time).
//! - `checkpoint.optimizer.safetensors` (for `X.safetensors`, `X.optimizer.safetensors`): the
//!   optimizer's state dict (`"<param>.<state>"` keys, e.g. `fc1.weight.exp_avg`) with
//!   metadata `optimizer` and `step`. It is written before the model file; on resuming, its
//!   `step` must equal the checkpoint's.
//! - `best.safetensors`: the model (same metadata) at the best test accuracy so far.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::checkpoint::{self, CheckpointMeta, Normalization};
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::{Error, Tensor};

/// Where a run stands: enough, with the step counter, to continue exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainState {
    /// The current epoch (0-based); equals the number of completed epochs at an epoch end.
    pub epoch: usize,
    /// Steps already done in `epoch`.
    pub step_in_epoch: usize,
    /// Optimizer steps in the whole run.
    pub step: usize,
    pub best_test_acc: Option<f64>,
    pub best_step: Option<usize>,
    /// Seconds of training so far (over all parts of a resumed run).
    pub wall_time: f64,
}

/// What describes the model in a checkpoint.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub model: String,
    pub input_shape: [usize; 3],
    pub class_names: Vec<String>,
    pub normalization: Option<Normalization>,
}

impl ModelInfo {
    /// The checkpoint metadata for this model after `state`.
    pub fn meta(&self, config: &TrainConfig, state: &TrainState) -> CheckpointMeta {
        let [c, _, _] = self.input_shape;
        let mut meta = CheckpointMeta::new(
            &self.model,
            serde_json::json!({ "in_channels": c, "num_classes": self.class_names.len(), "input_shape": self.input_shape }),
        );
        meta.epoch = Some(state.epoch as u64);
        meta.class_names = self.class_names.clone();
        meta.normalization = self.normalization.clone();
        meta.extra.insert("train_config".into(), serde_json::to_string(config).expect("config serializes"));
        meta.extra.insert("train_state".into(), serde_json::to_string(state).expect("state serializes"));
        meta
    }

    /// Reads the model description from checkpoint metadata.
    pub fn from_meta(path: &Path, meta: &CheckpointMeta) -> Result<ModelInfo, Error> {
        let bad = |m: &str| Error::Format { path: path.display().to_string(), msg: m.to_string() };
        if meta.model.is_empty() {
            return Err(bad("not a ConvLab training checkpoint (no model name in its metadata)"));
        }
        let shape = meta.config.get("input_shape").and_then(|v| serde_json::from_value::<[usize; 3]>(v.clone()).ok());
        let shape = match (shape, meta.model_config()) {
            (Some(s), _) => s,
            (None, Some(c)) => {
                let hw = crate::models::spec(&meta.model).map(|s| s.input_size).unwrap_or([28, 28]);
                [c.in_channels, hw[0], hw[1]]
            }
            (None, None) => return Err(bad("the checkpoint metadata has no input shape or model configuration")),
        };
        let mut class_names = meta.class_names.clone();
        if class_names.is_empty() {
            let n = meta.model_config().map(|c| c.num_classes).ok_or_else(|| bad("the checkpoint metadata names no classes"))?;
            class_names = (0..n).map(|i| i.to_string()).collect();
        }
        Ok(ModelInfo { model: meta.model.clone(), input_shape: shape, class_names, normalization: meta.normalization.clone() })
    }
}

/// The optimizer file next to checkpoint `path`: `X.safetensors` → `X.optimizer.safetensors`.
pub fn optimizer_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "checkpoint".into());
    path.with_file_name(format!("{stem}.optimizer.safetensors"))
}

/// Writes the optimizer state and then the model checkpoint (both atomically).
pub fn save_training(path: &Path, model: &dyn Module, opt: &dyn Optimizer, kind: &str, meta: &CheckpointMeta, step: usize) -> Result<(), Error> {
    let tensors: BTreeMap<String, Tensor> = opt.state_dict().into_iter().collect();
    let mut m = BTreeMap::new();
    m.insert("optimizer".to_string(), kind.to_string());
    m.insert("step".to_string(), step.to_string());
    checkpoint::save_tensors(optimizer_path(path), &tensors, &m)?;
    checkpoint::save(path, model, meta)
}

/// A training checkpoint read back: model tensors, metadata, and the run's config and state.
pub struct Resumable {
    pub checkpoint: checkpoint::Checkpoint,
    pub info: ModelInfo,
    pub config: TrainConfig,
    pub state: TrainState,
}

/// Reads a checkpoint written by a training run (with `train_config` and `train_state`).
pub fn read_resumable(path: &Path) -> Result<Resumable, Error> {
    let ck = checkpoint::load(path)?;
    let bad = |m: String| Error::Format { path: path.display().to_string(), msg: m };
    let info = ModelInfo::from_meta(path, &ck.meta)?;
    let config_text = ck.meta.extra.get("train_config").ok_or_else(|| bad("no training state in this checkpoint (use --init to start from its weights)".into()))?;
    let config: TrainConfig = serde_json::from_str(config_text).map_err(|e| bad(format!("train_config: {e}")))?;
    let state_text = ck.meta.extra.get("train_state").ok_or_else(|| bad("no train_state in this checkpoint".into()))?;
    let state: TrainState = serde_json::from_str(state_text).map_err(|e| bad(format!("train_state: {e}")))?;
    Ok(Resumable { checkpoint: ck, info, config, state })
}

/// Loads the optimizer state saved next to checkpoint `path`, checking its step.
pub fn load_optimizer(path: &Path, opt: &mut dyn Optimizer, kind: &str, step: usize) -> Result<(), Error> {
    let opath = optimizer_path(path);
    let bad = |m: String| Error::Format { path: opath.display().to_string(), msg: m };
    if !opath.exists() {
        return Err(bad(format!("missing: resuming needs the optimizer state saved with {} (use --init to start from its weights only)", path.display())));
    }
    let (tensors, meta) = checkpoint::load_tensors(&opath)?;
    if meta.get("optimizer").map(String::as_str) != Some(kind) {
        return Err(bad(format!("holds {} state, this run uses {kind}", meta.get("optimizer").map(String::as_str).unwrap_or("unknown"))));
    }
    if meta.get("step").and_then(|s| s.parse::<usize>().ok()) != Some(step) {
        return Err(bad(format!("is from step {}, the checkpoint from step {step}", meta.get("step").map(String::as_str).unwrap_or("?"))));
    }
    let state: Vec<(String, Tensor)> = tensors.into_iter().collect();
    opt.load_state_dict(&state).map_err(|e| bad(e.to_string()))
}

/// The model saved in checkpoint `path`, rebuilt from its metadata (zoo name, input shape,
/// classes) with the saved weights, and its description. Errors name the file: not a
/// ConvLab checkpoint, an unknown model, weights that do not fit the named model.
pub fn load_model(path: &Path) -> Result<(Box<dyn Module>, ModelInfo), Error> {
    let ck = checkpoint::load(path)?;
    let info = ModelInfo::from_meta(path, &ck.meta)?;
    let bad = |m: String| Error::Format { path: path.display().to_string(), msg: m };
    let (model, _) = super::build_model(&info.model, info.input_shape, info.class_names.len(), 0).map_err(|e| bad(e.to_string()))?;
    checkpoint::apply(&*model, &ck.tensors, true).map_err(|m| bad(format!("weights do not fit model '{}': {m}", info.model)))?;
    Ok((model, info))
}
