//! The options several commands share, as clap argument groups: each command flattens the
//! groups it takes (`#[command(flatten)]`), so a flag has one name, type and help wherever it
//! appears. Where a command gives a shared flag its own meaning (a required `--dataset`, what
//! its `--out` holds), it says so with `#[command(mut_arg(..))]` on its own arguments.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use convlab::checkpoint::Normalization;
use convlab::train::trained::{Trained, TrainedSource};

/// The trained model to load: a checkpoint, or an ONNX file with its own weights.
#[derive(Args, Debug, Clone, Default)]
pub struct TrainedArgs {
    /// A checkpoint written by `convlab train` (checkpoint.safetensors or best.safetensors); its
    /// metadata names the model, its classes, input shape and normalization (default: none,
    /// and then --model names an ONNX file).
    #[arg(long, required_unless_present = "model")]
    pub checkpoint: Option<PathBuf>,
    /// An ONNX file (its weights are the model's; its classes are 0..K-1 unless --classes-file
    /// names them); with --checkpoint, the model (zoo name, spec or file) to load its weights
    /// into (default: the model the checkpoint names).
    #[arg(long)]
    pub model: Option<String>,
    /// One class name per line, in the order of the model's outputs (default: the checkpoint's
    /// names; 0..K-1 for an ONNX file).
    #[arg(long, value_name = "FILE")]
    pub classes_file: Option<PathBuf>,
    /// Per-channel input means, `x' = (x - mean) / std` (with --std), e.g. 0.485,0.456,0.406
    /// for torchvision's ImageNet models (default: the checkpoint's, none for an ONNX file).
    #[arg(long, value_delimiter = ',', requires = "std", allow_hyphen_values = true)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel input standard deviations (with --mean), e.g. 0.229,0.224,0.225 (default:
    /// the checkpoint's, none for an ONNX file).
    #[arg(long, value_delimiter = ',', requires = "mean")]
    pub std: Option<Vec<f32>>,
}

impl TrainedArgs {
    /// What the arguments name, for [`convlab::train::trained::open`].
    pub fn source(&self) -> TrainedSource {
        TrainedSource {
            checkpoint: self.checkpoint.clone(),
            model: self.model.clone(),
            classes_file: self.classes_file.clone(),
            normalization: match (&self.mean, &self.std) {
                (Some(mean), Some(std)) => Some(Normalization { mean: mean.clone(), std: std.clone() }),
                _ => None,
            },
        }
    }

    /// Opens the model.
    pub fn open(&self) -> Result<Trained> {
        Ok(convlab::train::trained::open(&self.source())?)
    }

    /// The file the model comes from, for messages: the checkpoint, else the model file.
    pub fn file(&self) -> String {
        match (&self.checkpoint, &self.model) {
            (Some(c), _) => c.display().to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        }
    }
}

/// The model to build, by name or spec.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Zoo model name (lenet5, resnet18_cifar, ...), a spec string, or a .json/.toml spec file
    /// (default: the model the checkpoint records, that of `run --weights` or `train --resume`;
    /// needed otherwise).
    #[arg(long)]
    pub model: Option<String>,
}

/// How a zoo model or a spec is built: its classes, input channels and initial weights.
#[derive(Args, Debug, Clone)]
pub struct ModelConfigArgs {
    /// Number of classes of a zoo model; a spec's output is checked against it (default: the
    /// checkpoint's with `run --weights`, else the model's own).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Input channels of a zoo model; a spec's input is checked against it (default: the
    /// checkpoint's with `run --weights`, else the model's own).
    #[arg(long)]
    pub in_channels: Option<usize>,
    /// Seed of the initial weights (where none are loaded) and of a summary's random input.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The dataset to read, and where its files are.
#[derive(Args, Debug, Clone, Default)]
pub struct DatasetArgs {
    /// mnist, fashion-mnist, cifar10, builtin, or a folder of class subfolders (default: the
    /// dataset the checkpoint names, with `train --resume` and `explain`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// A folder that already holds the dataset's files; nothing is downloaded then (default:
    /// the cache folder: $CONVLAB_DATA, else ~/.cache/convlab on Linux).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DatasetArgs {
    /// The `--dataset` given (required by the commands that call this).
    pub fn name(&self) -> Result<&str> {
        self.dataset.as_deref().context("--dataset is required")
    }
}

/// The size of the built-in dataset.
#[derive(Args, Debug, Clone, Default)]
pub struct BuiltinArgs {
    /// Training images of the built-in dataset (default: 10000; its test split always has 2000).
    #[arg(long)]
    pub builtin_size: Option<usize>,
}

/// Where a command writes its files.
#[derive(Args, Debug, Clone, Default)]
pub struct OutArgs {
    /// Where to write the command's files (each command names its default, or requires it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl OutArgs {
    /// `--out`, for the commands where it is required or has a default value.
    pub fn path(&self) -> Result<&Path> {
        self.out.as_deref().context("--out is required")
    }

    /// `--out`, else `default`.
    pub fn or_else(&self, default: impl FnOnce() -> PathBuf) -> PathBuf {
        self.out.clone().unwrap_or_else(default)
    }
}

/// Machine-readable output.
#[derive(Args, Debug, Clone, Default)]
pub struct JsonArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Less output while working.
#[derive(Args, Debug, Clone, Default)]
pub struct QuietArgs {
    /// No progress bar and no per-epoch lines (the final result is still printed).
    #[arg(long)]
    pub quiet: bool,
}
