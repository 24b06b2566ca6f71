//! # ConvLab
//!
//! Convolutional neural networks in Rust: f32 tensors, reverse-mode autograd, and every
//! operation of a CNN (convolution, pooling, activations, normalization, losses), each with
//! its backward pass, checked against finite differences and against PyTorch.
//!
//! ```
//! use convlab::Tensor;
//! // A weight that learns, an input that does not.
//! let w = Tensor::from_vec(vec![0.5, -1.0, 2.0], [3]).requires_grad_();
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [3]);
//! let loss = (&w * &x).sum_all();
//! let grads = loss.backward();
//! assert_eq!(grads.get(&w).unwrap().to_vec(), x.to_vec());
//! ```
//!
//! Layout: [`tensor`] (the handle), [`autograd`] (the graph walk), [`ops`] (operations, with
//! their chain rules), [`kernels`] (the plain-slice compute boundary), [`gradcheck`]
//! (finite-difference checking), [`nn`] (the `Module` trait and PyTorch's layers), [`optim`]
//! (optimizers and schedules), [`models`] (the zoo), [`spec`] (networks written as text),
//! [`summary`] (per-layer shapes, parameters, multiply-adds, receptive fields),
//! [`checkpoint`] (safetensors weights under PyTorch's names) and [`onnx`] (ONNX files:
//! the protobuf messages, a hostile-file-safe reader and a writer).
//!
//! # Cargo features
//!
//! The I/O around the engine is optional; every feature is on by default.
//!
//! | feature    | dependencies           | what it adds                                                        |
//! |------------|------------------------|---------------------------------------------------------------------|
//! | `download` | `ureq`, `sha2`, `dirs` | [`data::download`]: fetching named datasets, SHA-256 checks, the platform cache folder |
//! | `archive`  | `flate2`, `tar`        | gzipped IDX files (MNIST's `.gz`), the CIFAR-10 `tar.gz`             |
//! | `image`    | `image`                | `data::folder` (image-folder datasets), [`explain::decode_image`]    |
//! | `plot`     | `plotters` (+ `image`) | `train::plot` (`curves.png`, confusion matrices), `train::grid`      |
//! | `progress` | `indicatif`            | a progress bar while downloading                                    |
//!
//! With `default-features = false` the crate is the engine alone: tensors, autograd, ops,
//! kernels, `nn`, models, optimizers, checkpoints, specs, summaries and the training loop
//! (datasets in memory, the built-in one, raw IDX and CIFAR-10 binary files; no
//! `curves.png`). What a left-out feature would provide is compiled out or returns
//! [`Error::MissingFeature`] naming the feature (a dataset to download, a gzipped file, an
//! image folder, an uploaded image), never a panic. Without `download` the cache folder is
//! `$CONVLAB_DATA`, else `./convlab-data`.

pub mod autograd;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod explain;
pub mod gradcheck;
pub mod graph;
pub mod infer;
pub mod kernels;
pub mod models;
pub mod nn;
pub mod onnx;
pub mod ops;
pub mod optim;
pub mod shape;
pub mod spec;
pub mod summary;
pub mod tensor;
pub mod train;
pub mod window;

#[cfg(test)]
mod missing_features;

// The README's Rust examples run as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use autograd::{is_grad_enabled, no_grad, Gradients, NoGradGuard};
pub use checkpoint::{Checkpoint, CheckpointMeta};
pub use error::{Error, Result};
pub use ops::activation::{Activation, Gelu};
pub use ops::batchnorm::{BatchNormParams, RunningStats};
pub use ops::conv::{Conv1dParams, Conv2dParams, ConvTranspose2dParams, Padding1d, Padding2d, PaddingMode};
pub use ops::loss::{CrossEntropyParams, NllLossParams, Reduction};
pub use ops::pool::{Pool1dParams, Pool2dParams, PoolShape};
pub use optim::{Adam, AdamParams, AdamW, AdamWParams, Optimizer, RMSprop, RMSpropParams, Schedule, Sgd, SgdParams};
pub use shape::Shape;
pub use tensor::{Tensor, TensorId};
