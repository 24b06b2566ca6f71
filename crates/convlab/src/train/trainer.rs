//! [`Trainer`]: the training loop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::collective::{average_buffers, reduce_step, Collective, Shard, StepTotals};
use super::eval::{argmax_rows, evaluate, Evaluation};
use super::guard::{nonfinite, probe_writable};
use super::metrics::{Curves, JsonlWriter, Observer, Progress, Record};
use super::model::build_model;
use super::sink::{add_point, write_curves, Sink};
use super::state::{load_optimizer, read_resumable, save_training, ModelInfo, Sums, TrainState, OPTIMIZER_ID};
use super::TrainConfig;
use crate::autograd::Gradients;
use crate::checkpoint::{self, remove_stale_temp_files, write_atomic};
use crate::data::{self, Augment, DataLoader, Dataset, LoaderConfig, Split};
use crate::nn::{Forward, Module};
use crate::ops::loss::cross_entropy;
use crate::optim::{clip_grad_norm, Optimizer, Schedule};
use crate::{CrossEntropyParams, Error, Tensor};

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

/// A seed for step `step`'s dropout masks (splitmix64 of the run seed and the step).
fn step_seed(seed: u64, step: usize) -> u64 {
    let mut z = seed.wrapping_add((step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A training run: model, optimizer, schedule, loaders and where it stands.
pub struct Trainer {
    pub config: TrainConfig,
    pub model: Box<dyn Module>,
    pub info: ModelInfo,
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
        let (model, description) = build_model(&config.model, shape, classes.len(), config.seed)?;
        let info = ModelInfo {
            model: description,
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
        let opt = config.optimizer(model.named_parameters())?;
        Ok(Trainer {
            config,
            model,
            info,
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

    /// Starts from the weights of a checkpoint (strict; the model's architecture must match).
    pub fn init_from(&mut self, path: &Path) -> Result<(), Error> {
        checkpoint::load_into(path, &*self.model).map(|_| ())
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

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.out.as_ref().map(|d| d.join(name))
    }

    /// Saves the model/optimizer pair (after flushing the metrics lines up to this step).
    fn save(&mut self, name: &str, sink: &mut Sink) -> Result<(), Error> {
        if let Some(p) = self.path(name) {
            sink.sync()?;
            let meta = self.info.meta(&self.config, &self.state);
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

    fn run_inner(&mut self, observer: &mut (dyn Observer + Send)) -> Result<Summary, Error> {
        let bpe = self.train.batches_per_epoch();
        let total = self.total_steps();
        let epochs = total.div_ceil(bpe.max(1));
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
        let started = Instant::now();
        let wall0 = self.state.wall_time;
        let wall = || wall0 + started.elapsed().as_secs_f64();
        let ce = CrossEntropyParams { label_smoothing: self.config.label_smoothing, ..Default::default() };
        let named: Vec<(String, Tensor)> = self.model.named_parameters();
        let params: Vec<Tensor> = named.iter().map(|(_, p)| p.clone()).collect();
        let mut last_eval = None;
        while self.state.epoch < epochs && self.state.step < total {
            let epoch = self.state.epoch;
            observer.epoch_start(epoch, bpe);
            // Throughput counters of this process (the sums of the records live in the state,
            // so that a resumed run reports what an uninterrupted one does).
            let (mut w_images, mut w_t) = (0usize, Instant::now());
            let (mut e_images, e_t) = (0usize, Instant::now());
            // All-reduce time and steps at the start of the log window and of the epoch.
            let (mut w_comm, e_comm) = ((self.comm_time, self.state.step), (self.comm_time, self.state.step));
            let mut end = None;
            let skip = self.state.step_in_epoch;
            if skip < bpe {
                for batch in self.train.epoch(epoch).skip(skip) {
                    let batch = batch?;
                    let lr = self.schedule.lr(self.config.lr, self.state.step);
                    self.opt.set_lr(lr);
                    let n_local = batch.labels.len();
                    // A rank's shard of a short last batch may be empty: it adds nothing.
                    let (mut grads, loss_local, correct_local) = if n_local == 0 {
                        (Gradients::default(), 0.0, 0)
                    } else {
                        let mut fwd = Forward::train(step_seed(self.config.seed, self.state.step));
                        let logits = self.model.forward(&batch.images, &mut fwd);
                        let loss = cross_entropy(&logits, &batch.labels, &ce);
                        let classes = logits.dims()[1];
                        let correct = argmax_rows(&logits.to_vec(), classes)
                            .iter()
                            .zip(&batch.labels)
                            .filter(|((p, _), y)| p == *y)
                            .count();
                        (loss.backward(), loss.item() as f64 * n_local as f64, correct)
                    };
                    let local = StepTotals {
                        images: n_local,
                        loss_sum: loss_local,
                        correct: correct_local,
                        stop: self.stop.load(Ordering::SeqCst),
                        time_up: self.config.time_limit_s.is_some_and(|t| wall() >= t),
                    };
                    // With ranks: the global batch's totals, flags and mean gradient.
                    let StepTotals { images: n, loss_sum, correct, stop: stop_now, time_up } =
                        match self.collective.as_mut() {
                            Some(c) => {
                                let (total, comm) = reduce_step(&mut **c, &mut grads, &params, local)?;
                                self.comm_time += comm;
                                total
                            }
                            None => local,
                        };
                    let loss_value = (loss_sum / n.max(1) as f64) as f32;
                    match nonfinite(loss_value, &grads, &named) {
                        Some(what) if self.config.skip_nonfinite => {
                            // No update: the weights and the optimizer state stay as they were.
                            self.state.skipped_steps += 1;
                            match self.state.skipped_steps {
                                ..=10 => observer
                                    .message(&format!("step {}: {what}; skipped (no update)", self.state.step + 1)),
                                11 => observer.message("more steps skipped: see skipped_steps in metrics.jsonl"),
                                _ => {}
                            }
                        }
                        Some(what) => return Err(self.diverged(&what, lr)),
                        None => {
                            if let Some(c) = self.config.clip_grad_norm {
                                clip_grad_norm(&mut grads, &params, c, 2.0);
                            }
                            self.opt.step(&grads);
                            self.state.window_sums.add(loss_sum, correct, n);
                            self.state.epoch_sums.add(loss_sum, correct, n);
                        }
                    }
                    drop(grads);
                    (w_images, e_images) = (w_images + n, e_images + n);
                    self.state.step += 1;
                    self.state.step_in_epoch += 1;
                    self.state.wall_time = wall();
                    let secs = e_t.elapsed().as_secs_f64().max(1e-9);
                    let es = self.state.epoch_sums;
                    observer.step(&Progress {
                        epoch,
                        step_in_epoch: self.state.step_in_epoch,
                        batches_per_epoch: bpe,
                        step: self.state.step,
                        total_steps: total,
                        loss: es.loss / es.images as f64,
                        train_acc: es.correct as f64 / es.images as f64,
                        images_per_sec: e_images as f64 / secs,
                    });
                    if self.state.step.is_multiple_of(self.config.log_every) {
                        let secs = w_t.elapsed().as_secs_f64().max(1e-9);
                        let ws = std::mem::take(&mut self.state.window_sums);
                        let r = Record {
                            kind: "step".into(),
                            step: self.state.step,
                            epoch,
                            loss: ws.loss / ws.images as f64,
                            lr: lr as f64,
                            train_acc: ws.correct as f64 / ws.images as f64,
                            test_acc: None,
                            test_loss: None,
                            images_per_sec: w_images as f64 / secs,
                            wall_time: self.state.wall_time,
                            skipped_steps: self.state.skipped_steps,
                            allreduce_ms: self.comm_ms_since(w_comm),
                        };
                        sink.emit(r, observer)?;
                        (w_images, w_t, w_comm) = (0, Instant::now(), (self.comm_time, self.state.step));
                    }
                    // One process looks at the flag now; ranks use what they agreed on above.
                    let single = self.collective.is_none();
                    if stop_now || (single && self.stop.load(Ordering::SeqCst)) {
                        self.sync_buffers()?;
                        self.save("checkpoint.safetensors", &mut sink)?;
                        observer.message(&format!("stopped at step {}; checkpoint saved", self.state.step));
                        return Ok(Summary {
                            outcome: Outcome::Stopped,
                            state: self.state.clone(),
                            last_eval,
                            allreduce_seconds: self.comm_time.as_secs_f64(),
                        });
                    }
                    if self.state.step >= total {
                        end = Some(Outcome::Finished);
                        break;
                    }
                    if time_up || (single && self.config.time_limit_s.is_some_and(|t| self.state.wall_time >= t)) {
                        end = Some(Outcome::TimeLimit);
                        break;
                    }
                    // Periodic checkpoints inside the epoch (its end saves one anyway).
                    if self.config.checkpoint_every.is_some_and(|k| self.state.step.is_multiple_of(k))
                        && self.state.step_in_epoch < bpe
                    {
                        self.sync_buffers()?;
                        self.save("checkpoint.safetensors", &mut sink)?;
                    }
                }
            }
            // End of the epoch (or of the run): evaluate, record, save.
            self.sync_buffers()?;
            let ev = match &self.test {
                Some(t) => Some(evaluate(&*self.model, t, self.config.test_limit, false)?),
                None => None,
            };
            let epoch_done = self.state.step_in_epoch >= bpe;
            if epoch_done {
                self.state.epoch += 1;
                self.state.step_in_epoch = 0;
                // A log window does not reach over an epoch end.
                self.state.window_sums = Sums::default();
            }
            if let Some(acc) = ev.as_ref().map(|e| e.accuracy) {
                if self.state.best_test_acc.is_none_or(|b| acc > b) {
                    self.state.best_test_acc = Some(acc);
                    self.state.best_step = Some(self.state.step);
                    if let Some(p) = self.path("best.safetensors") {
                        checkpoint::save(&p, &*self.model, &self.info.meta(&self.config, &self.state))?;
                    }
                }
            }
            self.state.wall_time = wall();
            let secs = e_t.elapsed().as_secs_f64().max(1e-9);
            let es = std::mem::take(&mut self.state.epoch_sums);
            let r = Record {
                kind: "epoch".into(),
                step: self.state.step,
                epoch,
                loss: es.loss / es.images as f64,
                lr: self.opt.lr() as f64,
                train_acc: es.correct as f64 / es.images as f64,
                test_acc: ev.as_ref().map(|e| e.accuracy),
                test_loss: ev.as_ref().map(|e| e.loss),
                images_per_sec: e_images as f64 / secs,
                wall_time: self.state.wall_time,
                skipped_steps: self.state.skipped_steps,
                allreduce_ms: self.comm_ms_since(e_comm),
            };
            if !epoch_done {
                // A run that ends inside an epoch: a resumed one goes on from these sums.
                self.state.epoch_sums = es;
            }
            sink.emit(r, observer)?;
            last_eval = ev;
            self.save("checkpoint.safetensors", &mut sink)?;
            if let Some(p) = self.path("curves.png") {
                write_curves(&p, &sink.curves)?;
            }
            if let Some(outcome) = end {
                return Ok(Summary {
                    outcome,
                    state: self.state.clone(),
                    last_eval,
                    allreduce_seconds: self.comm_time.as_secs_f64(),
                });
            }
        }
        Ok(Summary {
            outcome: Outcome::Finished,
            state: self.state.clone(),
            last_eval,
            allreduce_seconds: self.comm_time.as_secs_f64(),
        })
    }
}

fn kind_name(config: &TrainConfig) -> String {
    serde_json::to_value(config.optimizer).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}
