//! [`Trainer`]: the training loop.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use self::epoch::{Clock, Counters, Run};
use super::collective::{average_buffers, Collective, Shard};
use super::eval::Evaluation;
use super::finetune::{load_init, replaced_meta, trainable_parameters, REPLACED_CLASSIFIER};
use super::guard::probe_writable;
use super::metrics::{Curves, JsonlWriter, Observer};
use super::model::build_run_model;
use super::sink::{add_point, Sink};
use super::state::{load_optimizer, read_resumable, save_training, ModelInfo, TrainState, OPTIMIZER_ID};
use super::TrainConfig;
use crate::checkpoint::{self, remove_stale_temp_files, write_atomic, CheckpointMeta};
use crate::data::{self, Augment, DataLoader, Dataset, LoaderConfig, Split};
use crate::nn::{Module, Replacement};
use crate::optim::{Optimizer, Schedule};
use crate::{CrossEntropyParams, Error, Tensor};

mod epoch;

/// The training checkpoint's file name in the output folder.
const CHECKPOINT: &str = "checkpoint.safetensors";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs (or `steps`) done.
    Finished,
    /// `time_limit_s` reached (evaluated and saved).
    TimeLimit,
    /// The stop flag was raised (Ctrl-C): saved at the step boundary, not evaluated.
    Stopped,
}

/// The end of a run.
#[derive(Clone, Debug)]
pub struct Summary {
    pub outcome: Outcome,
    pub state: TrainState,
    /// The last evaluation, if any.
    pub last_eval: Option<Evaluation>,
    /// Time this process spent in gradient all-reduces (0 without ranks).
    pub allreduce_seconds: f64,
}

/// A training run: model, optimizer, schedule, loaders and where it stands.
pub struct Trainer {
    pub config: TrainConfig,
    pub model: Box<dyn Module>,
    pub info: ModelInfo,
    /// The classifier replaced to fit the dataset's classes (an ONNX model's), if one was.
    pub replaced: Option<Replacement>,
    pub state: TrainState,
    opt: Box<dyn Optimizer + Send>,
    schedule: Schedule,
    train: DataLoader,
    test: Option<DataLoader>,
    out: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    resumed: bool,
    /// The last checkpoint written or resumed from, and its step.
    last_saved: Option<(PathBuf, usize)>,
    /// The ranks of a data-parallel run (see [`super::collective`]).
    collective: Option<Box<dyn Collective>>,
    /// Time spent in all-reduces so far.
    comm_time: Duration,
}

impl Trainer {
    /// Opens the datasets named by `config` and builds the run.
    pub fn from_config(config: TrainConfig) -> Result<Trainer, Error> {
        config.check()?;
        let opts = super::data_options(&config);
        let train = data::open(&config.dataset, Split::Train, &opts)?;
        let test = data::open(&config.dataset, Split::Test, &opts)?;
        let norm = data::normalization(&config.dataset);
        Trainer::new(config, train, Some(test), norm)
    }

    /// A run over the given datasets, normalizing inputs with `normalization`.
    pub fn new(
        config: TrainConfig,
        train: Arc<dyn Dataset>,
        test: Option<Arc<dyn Dataset>>,
        normalization: Option<checkpoint::Normalization>,
    ) -> Result<Trainer, Error> {
        config.check()?;
        if train.is_empty() {
            return Err(Error::Invalid(format!("dataset '{}' has no training images", train.name())));
        }
        let shape = train.image_shape();
        let classes: Vec<String> = train.classes().to_vec();
        if let Some(n) = config.classes.filter(|&n| n != classes.len()) {
            return Err(Error::Invalid(format!("dataset '{}' has {} classes, not {n}", train.name(), classes.len())));
        }
        let built = build_run_model(&config.model, shape, classes.len(), config.seed)?;
        let model = built.module;
        let info = ModelInfo {
            model: built.description,
            input_shape: shape,
            class_names: classes,
            normalization: normalization.clone(),
        };
        let loader = |ds: Arc<dyn Dataset>, batch: usize, train: bool| {
            DataLoader::try_new(
                ds,
                LoaderConfig {
                    batch_size: batch,
                    shuffle: train && config.shuffle,
                    drop_last: false,
                    seed: config.seed,
                    normalize: normalization.clone(),
                    augment: if train {
                        Augment {
                            random_crop_padding: config.random_crop_padding,
                            horizontal_flip: config.horizontal_flip,
                        }
                    } else {
                        Augment::default()
                    },
                    workers: config.workers,
                    prefetch: 2 * config.workers.max(1),
                    shard: None,
                },
            )
        };
        let train = loader(train, config.batch_size, true)?;
        let test = test.map(|t| loader(t, config.eval_batch_size, false)).transpose()?;
        let total = config.total_steps(train.batches_per_epoch());
        let schedule = config.schedule(train.batches_per_epoch(), total)?;
        let opt = config.optimizer(trainable_parameters(&*model, config.freeze_backbone)?)?;
        Ok(Trainer {
            config,
            model,
            info,
            replaced: built.replaced,
            state: TrainState::default(),
            opt,
            schedule,
            train,
            test,
            out: None,
            stop: Arc::new(AtomicBool::new(false)),
            resumed: false,
            last_saved: None,
            collective: None,
            comm_time: Duration::ZERO,
        })
    }

    /// Write `config.json`, `metrics.jsonl`, checkpoints and (with the `plot` feature)
    /// `curves.png` into `dir`.
    pub fn set_output(&mut self, dir: impl Into<PathBuf>) {
        self.out = Some(dir.into());
    }

    /// Makes this process one rank of a data-parallel run (see [`super::collective`]): it
    /// trains on its shard of every batch, and only rank 0 evaluates. Give only rank 0 an
    /// output folder.
    pub fn set_collective(&mut self, c: Box<dyn Collective>) -> Result<(), Error> {
        let (rank, size) = (c.rank(), c.size());
        if rank >= size {
            return Err(Error::Invalid(format!("rank {rank} of {size}")));
        }
        let config = LoaderConfig { shard: Some(Shard { rank, size }), ..self.train.config().clone() };
        self.train = DataLoader::try_new(self.train.dataset().clone(), config)?;
        if rank != 0 {
            self.test = None;
        }
        self.collective = Some(c);
        Ok(())
    }

    /// Averages the batch-norm running statistics over the ranks (see [`average_buffers`]).
    fn sync_buffers(&mut self) -> Result<(), Error> {
        match self.collective.as_mut() {
            Some(c) => average_buffers(&mut **c, &*self.model),
            None => Ok(()),
        }
    }

    /// Milliseconds per step in all-reduces since `(time, step)` (None without ranks).
    fn comm_ms_since(&self, (t0, s0): (Duration, usize)) -> Option<f64> {
        self.collective.as_ref()?;
        Some((self.comm_time - t0).as_secs_f64() * 1e3 / (self.state.step - s0).max(1) as f64)
    }

    /// The flag that stops the run at the next step boundary (after saving a checkpoint).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.train.batches_per_epoch()
    }

    pub fn total_steps(&self) -> usize {
        self.config.total_steps(self.batches_per_epoch())
    }

    /// Starts from the weights of a checkpoint or `state_dict` file: every tensor must fit,
    /// except a classifier for another number of classes, which keeps its fresh
    /// initialization (returned; see [`load_init`]).
    pub fn init_from(&mut self, path: &Path) -> Result<Option<Replacement>, Error> {
        load_init(path, &*self.model)
    }

    /// Continues the run saved in training checkpoint `path`: model, optimizer state, step
    /// counters (the data order follows from the seed and the epoch).
    pub fn resume_from(&mut self, path: &Path) -> Result<(), Error> {
        let r = read_resumable(path)?;
        if r.info.model != self.info.model {
            return Err(Error::Format {
                path: path.display().to_string(),
                msg: format!("checkpoint is for model '{}', not '{}'", r.info.model, self.info.model),
            });
        }
        checkpoint::apply(&*self.model, &r.checkpoint.tensors, true)
            .map_err(|msg| Error::Format { path: path.display().to_string(), msg })?;
        let id = r.checkpoint.meta.extra.get(OPTIMIZER_ID).map(String::as_str);
        load_optimizer(path, &mut *self.opt, &kind_name(&self.config), r.state.step, id)?;
        self.last_saved = Some((path.to_path_buf(), r.state.step));
        self.state = r.state;
        self.resumed = true;
        Ok(())
    }

    /// The checkpoint metadata now: the model's, the run's settings and state, and the
    /// replaced classifier.
    fn meta(&self) -> CheckpointMeta {
        let mut meta = self.info.meta(&self.config, &self.state);
        if let Some(r) = &self.replaced {
            meta.extra.insert(REPLACED_CLASSIFIER.into(), replaced_meta(r));
        }
        meta
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.out.as_ref().map(|d| d.join(name))
    }

    /// Saves the model/optimizer pair (after flushing the metrics lines up to this step).
    fn save(&mut self, name: &str, sink: &mut Sink) -> Result<(), Error> {
        if let Some(p) = self.path(name) {
            sink.sync()?;
            let meta = self.meta();
            save_training(&p, &*self.model, &*self.opt, &kind_name(&self.config), &meta, self.state.step)?;
            self.last_saved = Some((p, self.state.step));
        }
        Ok(())
    }

    /// The error that stops a run at a non-finite step.
    fn diverged(&self, what: &str, lr: f32) -> Error {
        let last = match (&self.last_saved, &self.out) {
            (Some((p, step)), _) => format!("the last good checkpoint is {} (step {step})", p.display()),
            (None, Some(_)) => "no checkpoint was saved yet".into(),
            (None, None) => "no checkpoints are written (no output folder)".into(),
        };
        Error::Training(format!(
            "training diverged at step {}: {what} (learning rate {lr}); {last}",
            self.state.step + 1
        ))
    }

    /// Runs until the epochs (or `steps`, or the time limit) are done or the stop flag is
    /// raised; reports to `observer`. With `threads` set, runs on a pool of that size.
    pub fn run(&mut self, observer: &mut (dyn Observer + Send)) -> Result<Summary, Error> {
        match self.config.threads {
            Some(n) => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| Error::Invalid(format!("cannot start {n} threads: {e}")))?;
                pool.install(|| self.run_inner(observer))
            }
            None => self.run_inner(observer),
        }
    }

    /// The run: epochs of steps, each epoch ending with an evaluation, a record and a
    /// checkpoint, until the last step, the time limit or the stop flag.
    fn run_inner(&mut self, observer: &mut (dyn Observer + Send)) -> Result<Summary, Error> {
        let mut run = self.begin()?;
        let epochs = run.total_steps.div_ceil(run.batches_per_epoch.max(1));
        while self.state.epoch < epochs && self.state.step < run.total_steps {
            let epoch = self.state.epoch;
            observer.epoch_start(epoch, run.batches_per_epoch);
            let mut counters = Counters::start(self);
            let end = self.train_epoch(&mut run, &mut counters, observer)?;
            if end == Some(Outcome::Stopped) {
                return self.stopped(run, observer);
            }
            self.end_epoch(epoch, &mut run, &counters.epoch, observer)?;
            if let Some(outcome) = end {
                return Ok(self.summary(outcome, run.last_eval));
            }
        }
        Ok(self.summary(Outcome::Finished, run.last_eval))
    }

    /// Opens the output folder (`config.json`, `metrics.jsonl` continued after the resumed
    /// step) and starts the clock.
    fn begin(&self) -> Result<Run, Error> {
        let mut sink = Sink { metrics: None, curves: Curves::default() };
        if let Some(dir) = &self.out {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
            probe_writable(dir)?;
            remove_stale_temp_files(dir);
            let text = serde_json::to_string_pretty(&self.config).expect("config serializes");
            write_atomic(dir.join("config.json"), |w| w.write_all(text.as_bytes()))?;
            let (w, kept) = JsonlWriter::open(&dir.join("metrics.jsonl"), self.resumed.then_some(self.state.step))?;
            for r in &kept {
                add_point(&mut sink.curves, r);
            }
            sink.metrics = Some(w);
        }
        let named: Vec<(String, Tensor)> = trainable_parameters(&*self.model, self.config.freeze_backbone)?;
        Ok(Run {
            batches_per_epoch: self.train.batches_per_epoch(),
            total_steps: self.total_steps(),
            sink,
            clock: Clock::start(self.state.wall_time),
            ce: CrossEntropyParams { label_smoothing: self.config.label_smoothing, ..Default::default() },
            params: named.iter().map(|(_, p)| p.clone()).collect(),
            named,
            last_eval: None,
        })
    }

    /// The stop flag was raised: save at this step boundary (without evaluating).
    fn stopped(&mut self, mut run: Run, observer: &mut dyn Observer) -> Result<Summary, Error> {
        self.sync_buffers()?;
        self.save(CHECKPOINT, &mut run.sink)?;
        observer.message(&format!("stopped at step {}; checkpoint saved", self.state.step));
        Ok(self.summary(Outcome::Stopped, run.last_eval))
    }

    fn summary(&self, outcome: Outcome, last_eval: Option<Evaluation>) -> Summary {
        Summary { outcome, state: self.state.clone(), last_eval, allreduce_seconds: self.comm_time.as_secs_f64() }
    }
}

fn kind_name(config: &TrainConfig) -> String {
    serde_json::to_value(config.optimizer).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}
