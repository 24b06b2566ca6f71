//! `convlab train`: trains a model (a zoo name, a spec, or an ONNX file, whose classifier is
//! replaced when it scores another number of classes) on a dataset, with a progress bar per
//! epoch, and
//! writes `config.json`, `metrics.jsonl`, `checkpoint.safetensors` (+ its optimizer state),
//! `best.safetensors` and `curves.png` to `--out`. Ctrl-C stops at the next step boundary
//! after saving; `--resume` continues exactly.
//!
//! Faults: every file is replaced atomically, so a run killed at any moment (even `kill -9`
//! in the middle of a checkpoint) leaves the last complete checkpoint, its optimizer state
//! and `metrics.jsonl` up to its last whole line; `--checkpoint-every N` bounds the steps a
//! crash loses. An output folder that cannot be written, or lacks the space for the
//! checkpoints, is reported before training starts. A loss (or gradient) that turns NaN or
//! infinite stops the run with an error naming the step and the last good checkpoint, or
//! with `--skip-nonfinite` skips that step (counted as `skipped_steps` in the metrics).
//!
//! ```text
//! convlab train --model lenet5 --dataset mnist --epochs 3 --optimizer adam --out runs/lenet
//! convlab train --resume runs/lenet/checkpoint.safetensors
//! convlab train --model lenet5 --dataset mnist --checkpoint-every 100 --skip-nonfinite --out runs/lenet
//! convlab train --model resnet18.onnx --dataset my_folder --classes 5 --freeze-backbone --out runs/ft
//! convlab train --model resnet18 --dataset my_folder --classes 5 --init resnet18.safetensors
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{bail, Context, Result};
use clap::Args;
use convlab::train::guard::probe_writable;
use convlab::train::metrics::{Observer, Progress, Record};
use convlab::train::state::read_resumable;
use convlab::train::{OptimizerKind, Outcome, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{BuiltinArgs, DatasetArgs, ModelArgs, OutArgs, QuietArgs};

/// The settings of `convlab train`. Each one left out keeps the resumed run's value with
/// `--resume`, else the default its help names (those of [`TrainConfig::default`]).
#[derive(Args, Debug, Default)]
#[command(mut_arg("out", |a| a.help(
    "Output folder (default: runs/<model>-<dataset>, or the resumed checkpoint's folder)"
)))]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Number of classes, checked against the dataset's (default: the dataset's). An ONNX
    /// model made for another number gets a new classifier; a zoo model is built for it.
    #[arg(long)]
    pub classes: Option<usize>,
    /// Train only the classifier (the last Linear or 1×1 convolution); the rest keeps its
    /// weights (batch norm still updates its running statistics, as in PyTorch).
    #[arg(long)]
    pub freeze_backbone: bool,
    /// Epochs to train (default: 1).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step (default: 64).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// sgd, adam, adamw or rmsprop (default: sgd).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate (default: 0.01 for SGD, 0.001 otherwise).
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD and RMSprop momentum (default: 0.9).
    #[arg(long)]
    pub momentum: Option<f32>,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay (default: 0).
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Label smoothing of the cross-entropy loss, 0 to 1 (default: 0).
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Learning-rate schedule: none, step:E[:GAMMA], multistep:E1,E2[:GAMMA], cosine, onecycle,
    /// warmup+cosine[:E] (default: none).
    #[arg(long)]
    pub schedule: Option<String>,
    /// Clip the gradients to this global L2 norm (default: no clipping).
    #[arg(long)]
    pub clip_grad_norm: Option<f32>,
    /// Seed of the initialization, data order, augmentation and dropout (default: 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for the computation, the rayon pool size (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub output: OutArgs,
    /// Continue the run saved in this checkpoint, with its settings unless given again
    /// (default: a new run).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from the weights of this checkpoint or state_dict file (same model; a classifier
    /// for another number of classes keeps its fresh initialization; default: a fresh
    /// initialization).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Stop after this many steps in total (default: when the epochs are done).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop after about this many seconds (default: no time limit).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Keep the dataset's order instead of shuffling it every epoch.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Write a metrics.jsonl line every this many steps (default: 50).
    #[arg(long)]
    pub log_every: Option<usize>,
    /// Also save the checkpoint every N steps, besides every epoch end (default: only at
    /// epoch ends).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Skip a step whose loss or gradient is NaN or infinite (no update) instead of stopping.
    #[arg(long)]
    pub skip_nonfinite: bool,
    /// Download a missing dataset.
    #[arg(long)]
    pub download: bool,
    #[command(flatten)]
    pub builtin: BuiltinArgs,
    /// Random-crop padding, an augmentation (default: 0, no cropping).
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Random horizontal flips (augmentation).
    #[arg(long)]
    pub hflip: bool,
    /// Evaluate on at most this many test images (default: all of them).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Data loader threads (default: 1).
    #[arg(long)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub progress: QuietArgs,
}

/// The run's settings: the resumed run's (or the defaults), then every flag given.
pub fn config(args: &TrainArgs, base: Option<TrainConfig>) -> Result<TrainConfig> {
    let resuming = base.is_some();
    let mut c = base.unwrap_or_default();
    if !resuming {
        c.model = args.model.model.clone().context("--model is required (or --resume)")?;
        c.dataset = args.data.dataset.clone().context("--dataset is required (or --resume)")?;
    } else {
        if let Some(m) = args.model.model.as_ref().filter(|m| **m != c.model) {
            bail!("--model {m} differs from the resumed run's model {}", c.model);
        }
        if let Some(d) = &args.data.dataset {
            c.dataset = d.clone();
        }
    }
    if let Some(o) = &args.optimizer {
        c.optimizer = o.parse::<OptimizerKind>()?;
        if args.lr.is_none() && !resuming {
            c.lr = if c.optimizer == OptimizerKind::Sgd { 0.01 } else { 1e-3 };
        }
    }
    c.epochs = args.epochs.unwrap_or(c.epochs);
    c.batch_size = args.batch_size.unwrap_or(c.batch_size);
    c.lr = args.lr.unwrap_or(c.lr);
    c.momentum = args.momentum.unwrap_or(c.momentum);
    c.weight_decay = args.weight_decay.unwrap_or(c.weight_decay);
    c.schedule = args.schedule.clone().unwrap_or(c.schedule.clone());
    c.seed = args.seed.unwrap_or(c.seed);
    c.log_every = args.log_every.unwrap_or(c.log_every);
    c.checkpoint_every = args.checkpoint_every.or(c.checkpoint_every);
    c.skip_nonfinite |= args.skip_nonfinite;
    c.random_crop_padding = args.crop_padding.unwrap_or(c.random_crop_padding);
    c.workers = args.workers.unwrap_or(c.workers);
    if args.epochs.is_some() && args.steps.is_none() {
        c.steps = None;
    }
    c.steps = args.steps.or(c.steps);
    c.time_limit_s = args.time_limit.or(c.time_limit_s);
    c.clip_grad_norm = args.clip_grad_norm.or(c.clip_grad_norm);
    c.threads = args.threads.or(c.threads);
    c.data_dir = args.data.data_dir.clone().or(c.data_dir);
    c.builtin_size = args.builtin.builtin_size.or(c.builtin_size);
    c.test_limit = args.test_limit.or(c.test_limit);
    c.shuffle = c.shuffle && !args.no_shuffle;
    c.download |= args.download;
    c.horizontal_flip |= args.hflip;
    c.nesterov |= args.nesterov;
    c.label_smoothing = args.label_smoothing.unwrap_or(c.label_smoothing);
    c.classes = args.classes.or(c.classes);
    c.freeze_backbone |= args.freeze_backbone;
    c.check()?;
    Ok(c)
}

/// A progress bar per epoch and a line per epoch record.
pub struct Bars {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars { bar: None, quiet }
    }
    fn println(&self, line: String) {
        match &self.bar {
            Some(b) if !b.is_hidden() => b.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

impl Observer for Bars {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        if self.quiet {
            return;
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix((epoch + 1).to_string());
        self.bar = Some(bar);
    }
    fn step(&mut self, p: &Progress) {
        if let Some(b) = &self.bar {
            b.set_position(p.step_in_epoch as u64);
            b.set_message(format!("loss {:.4} acc {:.1}% {:.0} img/s", p.loss, 100.0 * p.train_acc, p.images_per_sec));
        }
    }
    fn record(&mut self, r: &Record) {
        if r.kind == "epoch" && !self.quiet {
            let test = match (r.test_acc, r.test_loss) {
                (Some(a), Some(l)) => format!(", test loss {l:.4} acc {:.2}%", 100.0 * a),
                _ => String::new(),
            };
            self.println(format!(
                "epoch {} step {}: train loss {:.4} acc {:.2}%{test}, lr {:.3e}, {:.0} img/s, {:.1} s",
                r.epoch + 1,
                r.step,
                r.loss,
                100.0 * r.train_acc,
                r.lr,
                r.images_per_sec,
                r.wall_time
            ));
        }
    }
    fn message(&mut self, msg: &str) {
        self.println(msg.to_string());
    }
}

/// Trains with `config` into `out`, from `resume` or `init` when given; Ctrl-C stops cleanly.
/// Started by `mpirun` with several ranks, trains data-parallel (see [`crate::distributed`]).
pub fn train(
    config: TrainConfig,
    out: PathBuf,
    resume: Option<PathBuf>,
    init: Option<PathBuf>,
    quiet: bool,
) -> Result<(Outcome, PathBuf)> {
    // Declared first, so that MPI is finalized last (after the trainer is gone).
    let ranks = crate::distributed::start()?;
    let Some(r) = &ranks else { return train_on(None, config, out, resume, init, quiet) };
    match train_on(Some(r), config, out, resume, init, quiet) {
        Ok(done) => Ok(done),
        Err(e) => {
            // The other ranks wait in an all-reduce: end the whole job.
            eprintln!("error (rank {} of {}): {e:#}", r.rank(), r.size());
            r.abort(2)
        }
    }
}

fn train_on(
    ranks: Option<&crate::distributed::Ranks>,
    mut config: TrainConfig,
    out: PathBuf,
    resume: Option<PathBuf>,
    init: Option<PathBuf>,
    quiet: bool,
) -> Result<(Outcome, PathBuf)> {
    let lead = ranks.is_none_or(|r| r.rank() == 0);
    let quiet = quiet || !lead;
    if ranks.is_some() && config.threads.is_none() {
        // The cores of this machine, shared by the ranks on it.
        let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.parse::<usize>().ok())
            .unwrap_or(1);
        config.threads = Some((std::thread::available_parallelism().map_or(1, |n| n.get()) / local.max(1)).max(1));
    }
    if lead {
        // Before the data is read: can the output folder be written at all?
        std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create the output folder", out.display()))?;
        probe_writable(&out)?;
    }
    let mut trainer = Trainer::from_config(config)?;
    if let Some(r) = ranks {
        trainer.set_collective(r.collective())?;
    }
    if let (Some(r), true) = (&trainer.replaced, lead) {
        eprintln!("{r}");
    }
    if let Some(p) = &resume {
        trainer.resume_from(p)?;
    } else if let Some(p) = &init {
        let kept = trainer.init_from(p)?;
        if let (Some(r), true) = (kept, lead) {
            eprintln!("{}: {r} (freshly initialized; every other tensor loaded)", p.display());
        }
    }
    if lead && trainer.config.freeze_backbone && !quiet {
        let trained: usize =
            convlab::train::finetune::trainable_parameters(&*trainer.model, true)?.iter().map(|(_, t)| t.numel()).sum();
        eprintln!("backbone frozen: training the classifier's {trained} parameters alone");
    }
    if lead {
        check_free_space(&out, &trainer)?;
        trainer.set_output(&out);
    }
    let flag = trainer.stop_flag();
    // A second Ctrl-C exits at once. Only one handler per process: ignore a failure to
    // install it again (the demo after a train in the same process).
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next step (Ctrl-C again to quit now)...");
    });
    if !quiet {
        eprintln!(
            "training {} ({} parameters) on {}: {} steps per epoch, {} steps in all{}",
            trainer.info.model,
            convlab::nn::Module::num_parameters(&*trainer.model),
            trainer.config.dataset,
            trainer.batches_per_epoch(),
            trainer.total_steps(),
            ranks.map(|r| format!(", on {} ranks", r.size())).unwrap_or_default()
        );
    }
    let mut bars = Bars::new(quiet);
    let summary = match trainer.run(&mut bars) {
        Ok(s) => s,
        Err(e @ convlab::Error::Training(_)) => {
            if let Some(b) = bars.bar.take() {
                b.finish_and_clear();
            }
            bail!("{e}; lower --lr (or --clip-grad-norm), or pass --skip-nonfinite to skip such steps");
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(b) = bars.bar.take() {
        b.finish_and_clear();
    }
    let ckpt = out.join("checkpoint.safetensors");
    match summary.outcome {
        Outcome::Stopped if !lead => {}
        Outcome::Stopped => {
            println!("stopped at step {}; resume with: convlab train --resume {}", summary.state.step, ckpt.display())
        }
        _ => {
            let acc = summary
                .last_eval
                .as_ref()
                .map(|e| format!(", test accuracy {:.2}%", 100.0 * e.accuracy))
                .unwrap_or_default();
            if lead {
                let comm = if ranks.is_some() {
                    format!(" ({:.1} s in all-reduces)", summary.allreduce_seconds)
                } else {
                    String::new()
                };
                println!(
                    "done: {} steps in {:.1} s{comm}{acc}; checkpoint {}",
                    summary.state.step,
                    summary.state.wall_time,
                    ckpt.display()
                );
            }
        }
    }
    Ok((summary.outcome, ckpt))
}

/// Bytes free for an unprivileged user in the file system of `dir` (None where unknown).
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a plain struct statvfs fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Refuses to start when the output folder's file system lacks the room for the run's
/// checkpoints: the model file, `best`, the optimizer state (up to twice the parameters) and
/// the previous optimizer state kept during a save, each also as a temporary copy.
fn check_free_space(dir: &Path, trainer: &Trainer) -> Result<()> {
    let Some(free) = free_bytes(dir) else { return Ok(()) };
    let model: u64 = trainer.model.named_tensors().iter().map(|(_, t, _)| t.numel() as u64 * 4).sum();
    let need = 10 * model + (1 << 20);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    if free < need {
        bail!(
            "{}: only {:.1} MiB free, the checkpoints of this run need about {:.1} MiB",
            dir.display(),
            mib(free),
            mib(need)
        );
    }
    Ok(())
}

pub fn run(args: &TrainArgs) -> Result<()> {
    if args.resume.is_some() && args.init.is_some() {
        bail!("--resume and --init exclude each other");
    }
    let base = args.resume.as_ref().map(|p| read_resumable(p)).transpose()?;
    let config = config(args, base.map(|r| r.config))?;
    let out = match (&args.output.out, &args.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
        (None, None) => {
            PathBuf::from("runs").join(format!("{}-{}", config.model, config.dataset.replace(['/', '\\'], "_")))
        }
    };
    train(config, out, args.resume.clone(), args.init.clone(), args.progress.quiet).map(|_| ())
}
