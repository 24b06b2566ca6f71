//! The explainer's model side: everything `convlab explain` shows, as JSON values, computed by
//! the engine itself (the HTTP layer in the CLI only routes requests here).
//!
//! An [`Explainer`] holds a trained model (rebuilt from its checkpoint's metadata), its class
//! names and input normalization, and optionally the test split of its dataset. It answers:
//! - [`Explainer::structure`]: every layer in execution order, with kind, settings, input and
//!   output shapes, window geometry and parameter count, nested in blocks (ResNet, DenseNet);
//!   activation layers with their settings (`activation`), pooling layers with their window
//!   (`pool`), as the engine uses them ([`params`]);
//! - [`Explainer::run`]: every layer's activations for an input (the first maps of wide layers,
//!   more through [`Explainer::layer_maps`]), the logits and the probabilities;
//! - [`Explainer::detail`]: one neuron's arithmetic (a convolution's input channels, kernels,
//!   per-channel results, bias and output; a pool's or activation's input and output, with a
//!   pool's windows and an activation's curve; a dense unit's inputs, weights and bias);
//! - [`Explainer::attribution`]: saliency, guided backpropagation and Grad-CAM for a class;
//! - [`Explainer::filters`], [`Explainer::metrics`], [`Explainer::confusion`] and [`hyper`]
//!   (the hyperparameter playground's arithmetic, from the engine's own validation).
//!
//! Inputs come from the dataset ([`InputSource::Sample`]), a PNG/JPEG upload
//! ([`InputSource::Image`], size-checked before decoding) or raw pixels (a drawing).
//!
//! ```
//! use convlab::explain::{Explainer, InputSource};
//! use convlab::spec::resolve_model;
//!
//! let m = resolve_model("input(1,8,8) conv(2,3) relu maxpool(2) flatten linear(3)", None, None, None, 0).unwrap();
//! let ex = Explainer::new(m.module, &m.description, &m.input, Default::default(), None).unwrap();
//! let structure = ex.structure();
//! assert_eq!(structure["layers"].as_array().unwrap().len(), 5);
//! let run = ex.run(&InputSource::Pixels { data: vec![0.5; 64], shape: vec![1, 8, 8] }, 16).unwrap();
//! let probs: Vec<f64> = run["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
//! assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5);
//! let detail = ex.detail(&run["input_id"].as_str().unwrap(), "0", 1, 0, 16).unwrap();
//! assert_eq!(detail["kind"], "Conv2d");
//! ```

mod attribution;
#[cfg(feature = "image")]
mod decode;
mod detail;
mod hyper;
mod input;
mod params;
mod run;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::checkpoint::{self, CheckpointMeta, Normalization};
use crate::data::{self, DataOptions, Dataset, Split};
use crate::nn::{Forward, Mode, Module, Recorded};
use crate::{no_grad, Error, Tensor};

pub use hyper::{hyper, HyperQuery};
pub use input::{decode_image, InputSource, MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};

/// How many prepared inputs (uploads, drawings) the explainer remembers for follow-up
/// requests (detail views, attributions) before the oldest is forgotten.
const INPUT_CACHE: usize = 256;

/// A prepared input: the model's tensor (normalized, `1×C×H×W`), the picture as shown
/// (`C×H×W` in `[0, 1]`) and the label when it came from the dataset.
pub(crate) struct Prepared {
    pub x: Tensor,
    pub image: Vec<f32>,
    pub label: Option<usize>,
}

/// A trained model ready to be explained. See the [module documentation](self).
pub struct Explainer {
    pub model: Box<dyn Module>,
    /// The zoo name or canonical spec text.
    pub description: String,
    /// `[C, H, W]`.
    pub input_shape: Vec<usize>,
    pub meta: CheckpointMeta,
    pub class_names: Vec<String>,
    pub normalization: Option<Normalization>,
    pub dataset: Option<Arc<dyn Dataset>>,
    /// The training run's `metrics.jsonl`, when the checkpoint sits in a training output folder.
    pub metrics_path: Option<PathBuf>,
    /// What could not be set up but did not stop the explainer (a dataset that is gone), for
    /// the command to print and the page to show.
    pub warnings: Vec<String>,
    /// The model's recorded layers for a zero input, in the order they finished.
    layers: Vec<LayerInfo>,
    inputs: Mutex<Inputs>,
    confusion: Mutex<Option<Value>>,
}

/// What [`Explainer::structure`] reports per recorded module.
#[derive(Clone, Debug)]
pub(crate) struct LayerInfo {
    /// The state_dict path, with `#2`, `#3` appended when a module runs more than once.
    pub id: String,
    pub path: String,
    pub kind: &'static str,
    pub leaf: bool,
    pub describe: String,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub params: usize,
    pub geometry: Option<crate::window::Window2d>,
    /// An activation layer's function and settings.
    pub activation: Option<crate::Activation>,
    /// A 2-D pooling layer's window settings ([`params::PoolWindows::settings`]).
    pub pool: Option<Value>,
}

#[derive(Default)]
struct Inputs {
    next: u64,
    items: VecDeque<(String, Arc<Prepared>)>,
}

/// Finds a module by its dotted path.
pub(crate) fn module_at<'a>(root: &'a dyn Module, path: &str) -> Option<&'a dyn Module> {
    if path.is_empty() {
        return Some(root);
    }
    // A child's own name may hold dots (a graph's nodes named by `state_dict` paths).
    root.children().into_iter().find_map(|(name, m)| match path.strip_prefix(name.as_str()) {
        Some("") => Some(m),
        Some(rest) => rest.strip_prefix('.').and_then(|rest| module_at(m, rest)),
        None => None,
    })
}

/// Unique ids for recorded entries: the path, then `path#2`, ... for repeated runs.
pub(crate) fn entry_ids(rec: &[Recorded]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    rec.iter()
        .map(|r| {
            let n = seen.entry(r.path.as_str()).or_insert(0);
            *n += 1;
            if *n == 1 {
                r.path.clone()
            } else {
                format!("{}#{}", r.path, n)
            }
        })
        .collect()
}

impl Explainer {
    /// Wraps a model that takes `input_shape` (`[C, H, W]`). Checks that it takes such an
    /// input ([`Module::output_shape`]; every later request runs inputs of this shape only)
    /// and records its layers.
    pub fn new(
        model: Box<dyn Module>,
        description: &str,
        input_shape: &[usize],
        meta: CheckpointMeta,
        dataset: Option<Arc<dyn Dataset>>,
    ) -> Result<Explainer, Error> {
        if input_shape.len() != 3 || input_shape.contains(&0) {
            return Err(Error::Shape(format!("the explainer needs a C×H×W input, got {input_shape:?}")));
        }
        let batch = [1, input_shape[0], input_shape[1], input_shape[2]];
        let out_shape = model
            .output_shape(&batch)
            .map_err(|e| Error::Shape(format!("{description}: cannot run on an input of {input_shape:?}: {e}")))?;
        if out_shape.len() != 2 {
            return Err(Error::Shape(format!(
                "{description}: the explainer needs class scores [1, K], the model gives {out_shape:?}"
            )));
        }
        let zeros = Tensor::zeros(batch);
        let (y, rec) = no_grad(|| {
            let mut ctx = Forward::recording(Mode::Eval, 0);
            let y = model.forward(&zeros, &mut ctx);
            (y, ctx.take_recorded())
        });
        crate::nn::check_forward(model.as_ref(), &batch, y.dims())
            .map_err(|e| Error::Shape(format!("{description}: {e}")))?;
        let ids = entry_ids(&rec);
        let layers = rec
            .iter()
            .zip(ids)
            .map(|(r, id)| {
                let m = module_at(&*model, &r.path);
                let pool = m
                    .zip(params::plane(&r.input_shape))
                    .zip(params::plane(r.output.dims()))
                    .and_then(|((m, input), output)| params::pool_of(m, input, output).map(|p| p.settings()));
                LayerInfo {
                    id,
                    path: r.path.clone(),
                    kind: r.kind,
                    leaf: r.leaf,
                    describe: m.map(|m| m.describe()).unwrap_or_default(),
                    input_shape: r.input_shape[1..].to_vec(),
                    output_shape: r.output.dims()[1..].to_vec(),
                    params: m.map(|m| if r.leaf { m.num_parameters() } else { 0 }).unwrap_or(0),
                    geometry: r.geometry,
                    activation: m.and_then(params::activation_of),
                    pool,
                }
            })
            .collect();
        let classes = out_shape[1];
        let mut class_names = meta.class_names.clone();
        if class_names.len() != classes {
            class_names = match &dataset {
                Some(d) if d.classes().len() == classes => d.classes().to_vec(),
                _ => (0..classes).map(|i| format!("class {i}")).collect(),
            };
        }
        if let Some(d) = &dataset {
            if d.image_shape()[..] != input_shape[..] {
                return Err(Error::Shape(format!(
                    "dataset {} has images of {:?} but the model takes {input_shape:?}",
                    d.name(),
                    d.image_shape()
                )));
            }
        }
        let normalization = meta.normalization.clone().filter(|n| !n.mean.is_empty());
        Ok(Explainer {
            model,
            description: description.to_string(),
            input_shape: input_shape.to_vec(),
            meta,
            class_names,
            normalization,
            dataset,
            metrics_path: None,
            warnings: Vec::new(),
            layers,
            inputs: Mutex::new(Inputs::default()),
            confusion: Mutex::new(None),
        })
    }

    /// Loads a checkpoint written by `convlab train` (or [`checkpoint::save`] with the model's
    /// zoo name or spec text in its metadata), opens `dataset` (else the one its configuration
    /// names, if any) and finds `metrics.jsonl` beside it. A dataset the checkpoint names that
    /// cannot be opened any more (its folder deleted) is a warning in [`Explainer::warnings`]:
    /// the explainer starts without test samples. One given as `dataset` must open.
    pub fn from_checkpoint(path: &Path, dataset: Option<&str>, data_options: &DataOptions) -> Result<Explainer, Error> {
        let ck = checkpoint::load(path)?;
        let meta = ck.meta.clone();
        if meta.model.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the checkpoint does not name its model (metadata 'model' is empty)",
                path.display()
            )));
        }
        let cfg = meta.model_config();
        let input = ["input_shape", "input"]
            .iter()
            .find_map(|k| meta.config.get(*k).and_then(|v| serde_json::from_value::<Vec<usize>>(v.clone()).ok()));
        // `convlab train` records its settings (the dataset among them) as JSON text.
        let train: Option<Value> = meta.extra.get("train_config").and_then(|t| serde_json::from_str(t).ok());
        // An ONNX model trained for other classes gets its replaced classifier back first.
        let resolved = match cfg.as_ref() {
            Some(c) => crate::train::finetune::resolve_for_classes(&crate::train::finetune::ModelRequest {
                model: &meta.model,
                in_channels: Some(c.in_channels),
                input: input.as_deref(),
                classes: c.num_classes,
                seed: 0,
            })
            .map(|(r, _)| r),
            None => crate::spec::resolve_model(&meta.model, None, None, input.as_deref(), 0),
        }
        .map_err(|e| Error::Invalid(format!("{}: cannot rebuild model '{}': {e}", path.display(), meta.model)))?;
        checkpoint::apply(&*resolved.module, &ck.tensors, true)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let recorded = |k: &str| {
            meta.config
                .get(k)
                .or_else(|| train.as_ref().and_then(|t| t.get(k)))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let name = dataset.map(str::to_string).or_else(|| recorded("dataset"));
        let mut opts = data_options.clone();
        if opts.data_dir.is_none() && dataset.is_none() {
            opts.data_dir = recorded("data_dir").map(PathBuf::from);
        }
        let mut warnings = Vec::new();
        let ds = match name {
            Some(n) => match data::open(&n, Split::Test, &opts) {
                Ok(d) => Some(d),
                Err(e) if dataset.is_none() => {
                    warnings.push(format!(
                        "the dataset '{n}' the checkpoint was trained on cannot be opened ({e}); starting without its test images: upload or draw inputs, or give --dataset"
                    ));
                    None
                }
                Err(e) => return Err(Error::Invalid(format!("dataset '{n}' for the explainer: {e}"))),
            },
            None => None,
        };
        let mut ex = Explainer::new(resolved.module, &resolved.description, &resolved.input, meta, ds)?;
        ex.warnings = warnings;
        let metrics = path.parent().map(|d| d.join("metrics.jsonl")).filter(|p| p.is_file());
        ex.metrics_path = metrics;
        Ok(ex)
    }

    pub(crate) fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The model's layers as a tree in execution order (`layers`: top level, each block with
    /// `children`), the input shape, class names, normalization and what else is available.
    pub fn structure(&self) -> Value {
        // Entries finish children-first: a container claims the entries before it under its path.
        let mut pending: Vec<Value> = Vec::new();
        for l in &self.layers {
            let prefix = format!("{}.", l.path);
            let mut start = pending.len();
            while start > 0 && pending[start - 1]["path"].as_str().is_some_and(|p| p.starts_with(&prefix)) {
                start -= 1;
            }
            let children: Vec<Value> = pending.drain(start..).collect();
            let g = l.geometry;
            let mut v = json!({
                "id": l.id, "path": l.path, "kind": l.kind, "leaf": l.leaf, "describe": l.describe,
                "input_shape": l.input_shape, "output_shape": l.output_shape, "params": l.params, "geometry": g,
            });
            if let Some(a) = &l.activation {
                v["activation"] = params::activation_json(a);
            }
            if let Some(p) = &l.pool {
                v["pool"] = p.clone();
            }
            if !l.leaf {
                v["children"] = Value::Array(children);
            }
            pending.push(v);
        }
        let ds = self.dataset.as_ref().map(|d| json!({ "name": d.name(), "len": d.len(), "classes": d.classes() }));
        json!({
            "model": self.description,
            "input_shape": self.input_shape,
            "classes": self.class_names,
            "normalization": self.normalization,
            "epoch": self.meta.epoch,
            "dataset": ds,
            "metrics": self.metrics_path.is_some(),
            "params": self.model.num_parameters(),
            "warnings": self.warnings,
            "layers": pending,
        })
    }

    /// Remembers a prepared input and returns its id.
    pub(crate) fn remember(&self, p: Prepared) -> (String, Arc<Prepared>) {
        let mut inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
        inputs.next += 1;
        let id = format!("u{}", inputs.next);
        let p = Arc::new(p);
        inputs.items.push_back((id.clone(), p.clone()));
        while inputs.items.len() > INPUT_CACHE {
            inputs.items.pop_front();
        }
        (id, p)
    }

    /// The input named by `id`: `sample:N` (a dataset sample) or an id [`Explainer::run`] gave.
    pub(crate) fn lookup(&self, id: &str) -> Result<Arc<Prepared>, Error> {
        if let Some(n) = id.strip_prefix("sample:") {
            let i: usize = n.parse().map_err(|_| Error::Invalid(format!("input '{id}': not a sample index")))?;
            return Ok(Arc::new(self.prepare(&InputSource::Sample(i))?));
        }
        let inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
        inputs.items.iter().find(|(k, _)| k == id).map(|(_, p)| p.clone()).ok_or_else(|| {
            Error::Invalid(format!("unknown input '{id}' (forgotten or never run): run the input again"))
        })
    }

    /// A recorded forward pass (evaluation mode, no gradients) on a prepared input (which has
    /// the shape [`Explainer::new`] checked).
    pub(crate) fn record(&self, x: &Tensor) -> (Tensor, Vec<Recorded>) {
        no_grad(|| {
            let mut ctx = Forward::recording(Mode::Eval, 0);
            let y = self.model.forward(x, &mut ctx);
            (y, ctx.take_recorded())
        })
    }

    /// The layer with this id, or an error listing none of the internals.
    pub(crate) fn layer(&self, id: &str) -> Result<(usize, &LayerInfo), Error> {
        self.layers
            .iter()
            .enumerate()
            .find(|(_, l)| l.id == id)
            .ok_or_else(|| Error::Invalid(format!("unknown layer '{id}'")))
    }

    /// The training run's `metrics.jsonl` as an array of its JSON lines (lines that are not
    /// JSON are skipped); `null` when there is none.
    pub fn metrics(&self) -> Result<Value, Error> {
        let Some(p) = &self.metrics_path else { return Ok(Value::Null) };
        let text = std::fs::read_to_string(p).map_err(|source| Error::Io { path: p.display().to_string(), source })?;
        let rows: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok()).collect();
        Ok(Value::Array(rows))
    }
}
