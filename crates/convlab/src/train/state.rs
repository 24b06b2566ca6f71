//! Training checkpoints. A run writes, in its output folder:
//!
//! - `checkpoint.safetensors`: the model's `state_dict` (an ordinary ConvLab checkpoint that
//!   `checkpoint::load_into`, `convlab run` and PyTorch read) whose metadata holds the model
//!   name, `config` (`in_channels`, `num_classes`, `input_shape` `[C, H, W]`), completed
//!   epochs, class names and normalization, plus two extra entries: `train_config` (the
//!   [`TrainConfig`] as JSON) and `train_state` (the [`TrainState`]: epoch, step within it,
//!   global step, best test accuracy, wall time); for an ONNX model given a new classifier,
//!   `replaced_classifier` ([`super::finetune::REPLACED_CLASSIFIER`]).
//! - `checkpoint.optimizer.safetensors` (for `X.safetensors`, `X.optimizer.safetensors`): the
//!   optimizer's state dict (`"<param>.<state>"` keys, e.g. `fc1.weight.exp_avg`) with
//!   metadata `optimizer`, `step` and `id`; the model file's metadata names the same `id`
//!   (`optimizer_id`), so weights are never paired with another save's optimizer state.
//! - `best.safetensors`: the model (same metadata) at the best test accuracy so far.
//!
//! Every file is replaced atomically (temporary file, fsync, rename, fsync of the folder).
//! The pair is replaced in an order that a crash at any moment cannot break
//! ([`save_training`]): the previous optimizer state moves to `X.optimizer.prev.safetensors`,
//! the new one is written, then the model file, then the previous state is removed. A
//! reader ([`load_optimizer`]) takes whichever of the two optimizer files carries the model
//! file's `id`.

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
    /// Steps skipped because their loss or gradient was not finite (`skip_nonfinite`).
    pub skipped_steps: usize,
    /// Running sums of the current epoch, so that a run resumed inside an epoch reports the
    /// same epoch record as an uninterrupted one.
    pub epoch_sums: Sums,
    /// Running sums since the last `step` record.
    pub window_sums: Sums,
}

/// Running sums over training steps: loss × images, correct predictions, images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sums {
    /// Written as a decimal string: JSON readers may round a number's last bit.
    #[serde(with = "exact_f64")]
    pub loss: f64,
    pub correct: usize,
    pub images: usize,
}

impl Sums {
    pub fn add(&mut self, loss: f64, correct: usize, images: usize) {
        self.loss += loss;
        self.correct += correct;
        self.images += images;
    }
}

/// An f64 as its shortest round-tripping decimal string (`"NaN"`, `"inf"` included).
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(f64),
        }
        match Either::deserialize(d)? {
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Either::Number(n) => Ok(n),
        }
    }
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
                // A zoo model's own size, else the size a spec's `input(...)` names.
                let spec_hw = || {
                    let input = meta.model.parse::<crate::spec::Spec>().ok()?.input?;
                    (input.len() == 3).then(|| [input[1], input[2]])
                };
                let hw = crate::models::spec(&meta.model).map(|s| s.input_size).ok().or_else(spec_hw);
                let hw = hw.unwrap_or([28, 28]);
                [c.in_channels, hw[0], hw[1]]
            }
            (None, None) => return Err(bad("the checkpoint metadata has no input shape or model configuration")),
        };
        let mut class_names = meta.class_names.clone();
        if class_names.is_empty() {
            let n = meta
                .model_config()
                .map(|c| c.num_classes)
                .ok_or_else(|| bad("the checkpoint metadata names no classes"))?;
            class_names = (0..n).map(|i| i.to_string()).collect();
        }
        Ok(ModelInfo {
            model: meta.model.clone(),
            input_shape: shape,
            class_names,
            normalization: meta.normalization.clone(),
        })
    }
}

/// The optimizer file next to checkpoint `path`: `X.safetensors` → `X.optimizer.safetensors`.
pub fn optimizer_path(path: &Path) -> PathBuf {
    sibling(path, "optimizer")
}

/// The previous optimizer state, kept while a new pair is being written:
/// `X.optimizer.prev.safetensors`.
pub fn previous_optimizer_path(path: &Path) -> PathBuf {
    sibling(path, "optimizer.prev")
}

fn sibling(path: &Path, what: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "checkpoint".into());
    path.with_file_name(format!("{stem}.{what}.safetensors"))
}

/// The metadata key of the model file naming its optimizer state.
pub const OPTIMIZER_ID: &str = "optimizer_id";

/// A fresh id for one save of a model/optimizer pair: the step and a nonce.
fn pair_id(step: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut z = nanos
        ^ ((std::process::id() as u64) << 32)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    format!("{step}-{:016x}", z ^ (z >> 29))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Writes the optimizer state and the model checkpoint as one consistent pair.
///
/// Order: (1) the current optimizer file (which matches the current model file) is renamed
/// to [`previous_optimizer_path`]; (2) the new optimizer state is written atomically; (3) the
/// model file is written atomically, naming the new state's id; (4) the previous state is
/// removed. Killed at any moment, the folder holds a model file and, in one of the two
/// optimizer files, the state with its id. A failed write leaves the previous pair loadable;
/// the error names the file.
pub fn save_training(
    path: &Path,
    model: &dyn Module,
    opt: &dyn Optimizer,
    kind: &str,
    meta: &CheckpointMeta,
    step: usize,
) -> Result<(), Error> {
    let id = pair_id(step);
    let tensors: BTreeMap<String, Tensor> = opt.state_dict().into_iter().collect();
    let mut m = BTreeMap::new();
    m.insert("optimizer".to_string(), kind.to_string());
    m.insert("step".to_string(), step.to_string());
    m.insert("id".to_string(), id.clone());
    let (current, previous) = (optimizer_path(path), previous_optimizer_path(path));
    if current.exists() {
        std::fs::rename(&current, &previous).map_err(|e| io_error(&previous, e))?;
        sync_dir(path);
    }
    checkpoint::save_tensors(&current, &tensors, &m)?;
    let mut meta = meta.clone();
    meta.extra.insert(OPTIMIZER_ID.into(), id);
    checkpoint::save(path, model, &meta)?;
    if previous.exists() {
        std::fs::remove_file(&previous).map_err(|e| io_error(&previous, e))?;
        sync_dir(path);
    }
    Ok(())
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
    let config_text = ck
        .meta
        .extra
        .get("train_config")
        .ok_or_else(|| bad("no training state in this checkpoint (use --init to start from its weights)".into()))?;
    let config: TrainConfig = serde_json::from_str(config_text).map_err(|e| bad(format!("train_config: {e}")))?;
    let state_text = ck.meta.extra.get("train_state").ok_or_else(|| bad("no train_state in this checkpoint".into()))?;
    let state: TrainState = serde_json::from_str(state_text).map_err(|e| bad(format!("train_state: {e}")))?;
    Ok(Resumable { checkpoint: ck, info, config, state })
}

/// Loads the optimizer state saved next to checkpoint `path`: from whichever of
/// [`optimizer_path`] and [`previous_optimizer_path`] carries the checkpoint's
/// `optimizer_id` (`id`: its metadata; `None` for files written before ids existed, which
/// are matched by `step`). When that is the previous file (a save was cut short), it is
/// moved back in place of the other, so the next save keeps it.
pub fn load_optimizer(
    path: &Path,
    opt: &mut dyn Optimizer,
    kind: &str,
    step: usize,
    id: Option<&str>,
) -> Result<(), Error> {
    let opath = optimizer_path(path);
    let prev = previous_optimizer_path(path);
    let bad = |p: &Path, m: String| Error::Format { path: p.display().to_string(), msg: m };
    if !opath.exists() && !prev.exists() {
        return Err(bad(
            &opath,
            format!(
                "missing: resuming needs the optimizer state saved with {} (use --init to start from its weights only)",
                path.display()
            ),
        ));
    }
    let matches = |meta: &BTreeMap<String, String>| match id {
        Some(id) => meta.get("id").map(String::as_str) == Some(id),
        None => meta.get("step").and_then(|s| s.parse::<usize>().ok()) == Some(step),
    };
    // The current file first; its error is the one reported when neither file fits.
    let mut first_error = None;
    for (i, p) in [&opath, &prev].into_iter().enumerate() {
        if !p.exists() {
            continue;
        }
        let (tensors, meta) = match checkpoint::load_tensors(p) {
            Ok(x) => x,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        if !matches(&meta) {
            first_error.get_or_insert_with(|| {
                bad(
                    p,
                    format!(
                        "is from step {}, the checkpoint from step {step} (not saved together)",
                        meta.get("step").map(String::as_str).unwrap_or("?")
                    ),
                )
            });
            continue;
        }
        if meta.get("optimizer").map(String::as_str) != Some(kind) {
            return Err(bad(
                p,
                format!(
                    "holds {} state, this run uses {kind}",
                    meta.get("optimizer").map(String::as_str).unwrap_or("unknown")
                ),
            ));
        }
        let state: Vec<(String, Tensor)> = tensors.into_iter().collect();
        opt.load_state_dict(&state).map_err(|e| bad(p, e.to_string()))?;
        if i == 1 && std::fs::rename(&prev, &opath).is_ok() {
            // Best effort: a read-only folder can still be resumed from (elsewhere).
            sync_dir(path);
        }
        return Ok(());
    }
    Err(first_error.expect("one of the files exists"))
}

/// The model saved in checkpoint `path`, rebuilt from its metadata (zoo name, input shape,
/// classes) with the saved weights, and its description. Errors name the file: not a
/// ConvLab checkpoint, an unknown model, weights that do not fit the named model.
pub fn load_model(path: &Path) -> Result<(Box<dyn Module>, ModelInfo), Error> {
    model_of(path, &checkpoint::load(path)?)
}

/// The model in checkpoint `ck`, read from `path` (see [`load_model`]).
pub(crate) fn model_of(path: &Path, ck: &checkpoint::Checkpoint) -> Result<(Box<dyn Module>, ModelInfo), Error> {
    let info = ModelInfo::from_meta(path, &ck.meta)?;
    let bad = |m: String| Error::Format { path: path.display().to_string(), msg: m };
    let (model, _) =
        super::build_model(&info.model, info.input_shape, info.class_names.len(), 0).map_err(|e| bad(e.to_string()))?;
    checkpoint::apply(&*model, &ck.tensors, true)
        .map_err(|m| bad(format!("weights do not fit model '{}': {m}", info.model)))?;
    Ok((model, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_sums_survive_json_exactly() {
        let mut state = TrainState::default();
        state.epoch_sums.add(0.1f32 as f64 * 16.0 + 1e-17, 3, 16);
        state.epoch_sums.add(std::f64::consts::LN_10, 1, 16);
        let back: TrainState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        assert_eq!(back.epoch_sums.loss.to_bits(), state.epoch_sums.loss.to_bits());
        assert_eq!(back, state);
        // Checkpoints written before the sums existed still read.
        let old: TrainState = serde_json::from_str(
            r#"{"epoch":1,"step_in_epoch":0,"step":8,"best_test_acc":0.5,"best_step":8,"wall_time":1.0}"#,
        )
        .unwrap();
        assert_eq!((old.step, old.epoch_sums), (8, Sums::default()));
    }
}
