//! Training: the loop (forward in [`Mode::Train`](crate::nn::Mode) with a per-step dropout
//! seed, cross-entropy, backward, optional gradient clipping, optimizer step, the learning
//! rate from a [`Schedule`](crate::optim::Schedule) at every step), evaluation on the test
//! split after every epoch, metrics, checkpoints and exact resuming.
//!
//! - [`TrainConfig`]: every setting, serializable (`config.json`).
//! - [`Trainer`]: `Trainer::from_config(config)` (datasets by name) or `Trainer::new(config,
//!   train, test, normalization)`; `set_output(dir)`, `resume_from(ckpt)`, `init_from(ckpt)`,
//!   `stop_flag()` (raise it, e.g. from Ctrl-C, to stop at the next step boundary after
//!   saving), `run(&mut observer)`.
//! - [`Record`] lines in `metrics.jsonl`; an [`Observer`] sees every step and record.
//! - [`state`]: the checkpoint files (`checkpoint.safetensors`, its
//!   `checkpoint.optimizer.safetensors`, `best.safetensors`) and what they hold.
//! - [`evaluate`]: loss, accuracy and predictions of a model over a loader.
//! - [`plot`]: `curves.png` and confusion-matrix PNGs; [`grid`]: image grids (both with the
//!   `plot` feature; without it a run writes no `curves.png`).
//! - [`state::load_model`]: a trained model back from its checkpoint, ready for inference;
//!   [`trained::open`]: that, or a model file with its own weights (ONNX), with class names
//!   and normalization.
//! - [`finetune`]: a network made for other classes (an ONNX file, torchvision weights) gets a
//!   new classifier; `freeze_backbone` trains that classifier alone.
//! - [`guard`]: the output-folder probe and the non-finite step check. A NaN or infinite
//!   loss (or gradient) stops the run with [`Error::Training`](crate::Error::Training)
//!   naming the step and the last good checkpoint, or with `skip_nonfinite` skips the step.
//!
//! Faults: files are replaced atomically and the model/optimizer pair carries a shared id
//! ([`state::save_training`]), so a process killed at any moment leaves the last complete
//! checkpoint resumable; `checkpoint_every` saves inside epochs too, and the state holds the
//! epoch's running sums, so a run resumed mid-epoch writes the same records and weights.
//!
//! A run is a pure function of its configuration (with one thread): the data order comes from
//! `(seed, epoch)`, dropout from `(seed, step)`, the learning rate from the step. Resuming
//! from a checkpoint therefore gives the same parameters as an uninterrupted run.
//!
//! ```
//! use std::sync::Arc;
//! use convlab::data::MemoryDataset;
//! use convlab::train::{metrics::Collect, OptimizerKind, TrainConfig, Trainer};
//!
//! // 64 images 1×28×28 of two classes: dark or bright.
//! let (n, hw) = (64, 28 * 28);
//! let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
//! let pixels: Vec<u8> = labels.iter().flat_map(|&l| vec![if l == 0 { 30 } else { 220 }; hw]).collect();
//! let ds = Arc::new(MemoryDataset::new("toy", [1, 28, 28], vec!["dark".into(), "bright".into()], pixels, labels));
//! let config = TrainConfig { model: "lenet5".into(), epochs: 3, batch_size: 16, optimizer: OptimizerKind::Adam, lr: 1e-2, workers: 0, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(config, ds.clone(), Some(ds), None).unwrap();
//! let mut seen = Collect::default();
//! let summary = trainer.run(&mut seen).unwrap();
//! assert_eq!(summary.state.step, 12);
//! assert!(summary.last_eval.unwrap().accuracy >= 0.9);
//! assert_eq!(seen.0.last().unwrap().kind, "epoch");
//! ```

pub mod collective;
pub mod config;
pub mod eval;
pub mod finetune;
#[cfg(feature = "plot")]
pub mod grid;
pub mod guard;
pub mod metrics;
mod model;
#[cfg(feature = "plot")]
pub mod plot;
mod sink;
pub mod state;
pub mod trained;
mod trainer;

pub use config::{OptimizerKind, TrainConfig};
pub use eval::{evaluate, Evaluation, Prediction};
pub use metrics::{Observer, Progress, Record};
pub use model::{build_model, build_run_model, data_options, BuiltModel};
pub use state::{ModelInfo, Sums, TrainState};
pub use trainer::{Outcome, Summary, Trainer};
