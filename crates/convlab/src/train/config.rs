//! [`TrainConfig`]: every setting of a training run, written to `config.json` and into the
//! checkpoint so that a run can be resumed and a model rebuilt; and the optimizer and
//! learning-rate schedule it describes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::optim::{
    Adam, AdamParams, AdamW, AdamWParams, CosineAnnealingLR, LinearLR, MultiStepLR, OneCycleLR, Optimizer, RMSprop,
    RMSpropParams, Schedule, SequentialLR, Sgd, SgdParams, StepLR,
};
use crate::{Error, Tensor};

/// The optimizer of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
    AdamW,
    RMSprop,
}

impl std::str::FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            "rmsprop" => Ok(OptimizerKind::RMSprop),
            _ => Err(Error::Invalid(format!("unknown optimizer '{s}'; available: sgd, adam, adamw, rmsprop"))),
        }
    }
}

/// Settings of a training run. `Default` is a small SGD run; see the field docs for units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// A zoo model name (`lenet5`, `resnet18_cifar`, ...), a spec string
    /// (`conv(6,5) relu maxpool(2) flatten linear(10)`) or a `.json`/`.toml` spec file.
    pub model: String,
    /// A dataset name (`mnist`, `fashion-mnist`, `cifar10`, `builtin`) or an image folder.
    pub dataset: String,
    /// Where the dataset's files are (default: the data layer's default).
    pub data_dir: Option<PathBuf>,
    /// Download a missing dataset.
    pub download: bool,
    /// Number of images per split of the `builtin` dataset.
    pub builtin_size: Option<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Batch size of the evaluation on the test split.
    pub eval_batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    /// SGD/RMSprop momentum (Adam's first beta stays 0.9).
    pub momentum: f32,
    /// Nesterov momentum (SGD only).
    pub nesterov: bool,
    pub weight_decay: f32,
    /// `none`, `step:E[:GAMMA]` (every E epochs), `multistep:E1,E2,..[:GAMMA]`, `cosine`,
    /// `onecycle`, `warmup+cosine[:E]` (linear warm-up over E epochs, default 1, at most a
    /// fifth of the run). Epochs may be fractional.
    pub schedule: String,
    /// Clip gradients to this global L2 norm.
    pub clip_grad_norm: Option<f32>,
    pub label_smoothing: f32,
    /// Seeds initialization, data order, augmentation and dropout.
    pub seed: u64,
    /// Size of the rayon pool (default: rayon's, the number of cores).
    pub threads: Option<usize>,
    /// Stop after this many optimizer steps in total (evaluating at the end).
    pub steps: Option<usize>,
    /// Stop at the first step boundary after this many seconds (evaluating at the end).
    pub time_limit_s: Option<f64>,
    pub shuffle: bool,
    /// Write a `metrics.jsonl` line every this many steps.
    pub log_every: usize,
    /// Also save `checkpoint.safetensors` every this many steps (besides every epoch end).
    pub checkpoint_every: Option<usize>,
    /// Skip a step whose loss or gradient is NaN or infinite (no optimizer update; counted in
    /// the metrics) instead of stopping the run with an error.
    pub skip_nonfinite: bool,
    /// Zero padding of the random crop (0: no crop).
    pub random_crop_padding: usize,
    pub horizontal_flip: bool,
    /// Use at most this many test images per evaluation.
    pub test_limit: Option<usize>,
    /// Loader threads.
    pub workers: usize,
    /// The number of classes the run is for, checked against the dataset's (None: the
    /// dataset's). A model built for another count gets a new classifier (an ONNX file's) or
    /// is built for this one (a zoo model); see [`super::finetune`].
    pub classes: Option<usize>,
    /// Train only the classifier ([`crate::nn::find_classifier`]): the optimizer receives its
    /// parameters alone and no gradient is computed for the rest (the backbone).
    ///
    /// NOTE: the backbone still runs in training mode, as in PyTorch after
    /// `backbone.requires_grad_(False)` with `model.train()`: dropout stays active and batch
    /// norm normalizes with each batch's statistics and updates its running averages, which
    /// adapts them to the new images. (PyTorch users who want the pretrained statistics
    /// kept call `.eval()` on the backbone; that is not an option here.)
    pub freeze_backbone: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "lenet5".into(),
            dataset: "mnist".into(),
            data_dir: None,
            download: false,
            builtin_size: None,
            epochs: 1,
            batch_size: 64,
            eval_batch_size: 500,
            optimizer: OptimizerKind::Sgd,
            lr: 0.01,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            schedule: "none".into(),
            clip_grad_norm: None,
            label_smoothing: 0.0,
            seed: 0,
            threads: None,
            steps: None,
            time_limit_s: None,
            shuffle: true,
            log_every: 50,
            checkpoint_every: None,
            skip_nonfinite: false,
            random_crop_padding: 0,
            horizontal_flip: false,
            test_limit: None,
            workers: 1,
            classes: None,
            freeze_backbone: false,
        }
    }
}

impl TrainConfig {
    /// Checks what can be checked without the data.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if self.epochs == 0 && self.steps.is_none() {
            return bad("epochs must be at least 1".into());
        }
        if self.steps == Some(0) {
            return bad("steps must be at least 1".into());
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(format!("invalid learning rate {}", self.lr));
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every must be at least 1".into());
        }
        if self.classes == Some(0) {
            return bad("classes must be at least 1".into());
        }
        if self.threads == Some(0) {
            return bad("threads must be at least 1".into());
        }
        if let Some(c) = self.clip_grad_norm {
            if c.is_nan() || c <= 0.0 {
                return bad(format!("clip_grad_norm must be positive, got {c}"));
            }
        }
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return bad(format!("label_smoothing must be between 0 and 1, got {}", self.label_smoothing));
        }
        if self.nesterov && (self.optimizer != OptimizerKind::Sgd || self.momentum <= 0.0) {
            return bad("nesterov needs the sgd optimizer and a positive momentum".into());
        }
        self.schedule(100, 1000)?;
        Ok(())
    }

    /// The number of optimizer steps of the whole run.
    pub fn total_steps(&self, batches_per_epoch: usize) -> usize {
        self.steps.unwrap_or(self.epochs * batches_per_epoch)
    }

    /// The learning-rate schedule over steps, for `batches_per_epoch` and `total_steps`.
    pub fn schedule(&self, batches_per_epoch: usize, total_steps: usize) -> Result<Schedule, Error> {
        let spec = self.schedule.trim().to_ascii_lowercase();
        let (name, args) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let args: Vec<&str> = if args.is_empty() { Vec::new() } else { args.split(':').collect() };
        let bad = |m: &str| Error::Invalid(format!("schedule '{}': {m}", self.schedule));
        let epochs = |s: &str| -> Result<usize, Error> {
            let e: f64 = s.trim().parse().map_err(|_| bad(&format!("'{s}' is not a number of epochs")))?;
            if !(e >= 0.0 && e.is_finite()) {
                return Err(bad(&format!("'{s}' is not a number of epochs")));
            }
            Ok(((e * batches_per_epoch as f64).round() as usize).max(1))
        };
        let gamma = |i: usize| -> Result<f32, Error> {
            args.get(i)
                .map(|g| g.parse::<f32>().map_err(|_| bad(&format!("gamma '{g}' is not a number"))))
                .transpose()
                .map(|g| g.unwrap_or(0.1))
        };
        let total = total_steps.max(1);
        let s: Schedule = match name {
            "none" | "constant" | "" => Schedule::Constant,
            "step" => {
                let e = args.first().ok_or_else(|| bad("expected step:EPOCHS[:GAMMA]"))?;
                StepLR { step_size: epochs(e)?, gamma: gamma(1)? }.into()
            }
            "multistep" => {
                let list = args.first().ok_or_else(|| bad("expected multistep:E1,E2,..[:GAMMA]"))?;
                let milestones = list.split(',').map(epochs).collect::<Result<Vec<_>, _>>()?;
                MultiStepLR { milestones, gamma: gamma(1)? }.into()
            }
            "cosine" => CosineAnnealingLR::new(total).into(),
            "onecycle" => OneCycleLR::new(self.lr, total).into(),
            "warmup+cosine" => {
                let warm = match args.first() {
                    Some(e) => epochs(e)?,
                    None => batches_per_epoch.max(1),
                }
                .min(total / 5)
                .max(1);
                SequentialLR {
                    schedules: vec![LinearLR { start_factor: 0.01, end_factor: 1.0, total_iters: warm }.into(), CosineAnnealingLR::new(total.saturating_sub(warm).max(1)).into()],
                    milestones: vec![warm],
                }
                .into()
            }
            _ => return Err(bad("unknown; available: none, step:E[:GAMMA], multistep:E1,E2[:GAMMA], cosine, onecycle, warmup+cosine[:E]")),
        };
        s.check()?;
        Ok(s)
    }

    /// The optimizer over `params` with this run's settings.
    pub fn optimizer(&self, params: Vec<(String, Tensor)>) -> Result<Box<dyn Optimizer + Send>, Error> {
        let (lr, wd) = (self.lr, self.weight_decay);
        Ok(match self.optimizer {
            OptimizerKind::Sgd => Box::new(Sgd::try_new(
                params,
                SgdParams {
                    lr,
                    momentum: self.momentum,
                    weight_decay: wd,
                    nesterov: self.nesterov,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Adam => {
                Box::new(Adam::try_new(params, AdamParams { lr, weight_decay: wd, ..Default::default() })?)
            }
            OptimizerKind::AdamW => {
                Box::new(AdamW::try_new(params, AdamWParams { lr, weight_decay: wd, ..Default::default() })?)
            }
            OptimizerKind::RMSprop => Box::new(RMSprop::try_new(
                params,
                RMSpropParams { lr, momentum: self.momentum, weight_decay: wd, ..Default::default() },
            )?),
        })
    }
}
