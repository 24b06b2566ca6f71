//! `convlab run`: inference with a zoo model on a raw input tensor.
//!
//! ```text
//! convlab run --model lenet5 --weights lenet5.safetensors --input x.safetensors --output y.safetensors
//! ```
//! reads the tensor `input` (N×C×H×W) from the input file, runs the model in evaluation mode
//! without gradients, and writes the logits as tensor `output` (atomically). Weights come from
//! a ConvLab checkpoint or a PyTorch `state_dict` saved with safetensors; without `--weights`
//! the model keeps its seeded initialization. Every mistake (unknown model, missing key, a
//! shape the model cannot take, weights of another model) is one line naming the file, key or
//! shape.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use convlab::checkpoint::{self, CheckpointMeta};
use convlab::models::{self, ModelConfig};
use convlab::nn::{Mode, Module};
use convlab::{no_grad, Tensor};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Zoo model name (lenet5, resnet18, ...).
    #[arg(long)]
    pub model: String,
    /// Number of classes (default: the checkpoint's, else the model's default).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Input channels (default: the checkpoint's, else the model's default).
    #[arg(long)]
    pub in_channels: Option<usize>,
    /// Weights: a ConvLab checkpoint or a PyTorch state_dict in safetensors.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Seed of the initialization when no weights are given.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Safetensors file with the tensor `input`, N×C×H×W.
    #[arg(long)]
    pub input: PathBuf,
    /// Safetensors file to write, with the tensor `output` (the logits).
    #[arg(long)]
    pub output: PathBuf,
}

/// The model's configuration: flags first, then the checkpoint's, then the input's channels
/// (and the zoo's default number of classes).
fn config(args: &RunArgs, meta: Option<&CheckpointMeta>, x: &Tensor) -> Result<ModelConfig> {
    let saved = meta.and_then(|m| m.model_config());
    let num_classes = args
        .classes
        .or(saved.as_ref().map(|c| c.num_classes))
        .ok_or_else(|| anyhow!("--classes is needed: {} has no default and no checkpoint gives one", args.model))?;
    Ok(ModelConfig { in_channels: args.in_channels.or(saved.as_ref().map(|c| c.in_channels)).unwrap_or(x.dims()[1]), num_classes })
}

fn read_input(path: &Path) -> Result<Tensor> {
    let (mut tensors, _) = checkpoint::load_tensors(path)?;
    let keys: Vec<String> = tensors.keys().cloned().collect();
    let x = tensors
        .remove("input")
        .ok_or_else(|| anyhow!("{}: no tensor 'input' (the file has: {})", path.display(), if keys.is_empty() { "nothing".into() } else { keys.join(", ") }))?;
    if x.rank() != 4 || x.numel() == 0 {
        bail!("{}: tensor 'input' has shape {}, expected a non-empty N×C×H×W", path.display(), x.shape());
    }
    Ok(x)
}

/// Runs `f`, turning a panic (a shape the model cannot take) into its message.
fn catch<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(hook);
    r.map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        msg.lines().next().unwrap_or("").to_string()
    })
}

pub fn run(args: &RunArgs) -> Result<()> {
    if !models::names().contains(&args.model.as_str()) {
        bail!("unknown model '{}'; available: {}", args.model, models::names().join(", "));
    }
    let x = read_input(&args.input)?;
    let weights = args.weights.as_ref().map(|p| checkpoint::load(p).map(|ck| (p, ck))).transpose()?;
    if let Some((path, ck)) = &weights {
        if !ck.meta.model.is_empty() && ck.meta.model != args.model {
            bail!("{}: weights are for model '{}', not '{}'", path.display(), ck.meta.model, args.model);
        }
    }
    let config = config(args, weights.as_ref().map(|(_, ck)| &ck.meta), &x)?;
    if config.in_channels == 0 || config.num_classes == 0 {
        bail!("--in-channels and --classes must be positive (got {} and {})", config.in_channels, config.num_classes);
    }
    let net: Box<dyn Module> = catch(|| models::build(&args.model, &config, args.seed))
        .map_err(|e| anyhow!("{}: cannot build with {config:?}: {e}", args.model))??;
    if let Some((path, ck)) = &weights {
        checkpoint::apply(&*net, &ck.tensors, true).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    if x.dims()[1] != config.in_channels {
        bail!("{}: tensor 'input' has shape {}, but {} takes {} input channel(s)", args.input.display(), x.shape(), args.model, config.in_channels);
    }
    let y = catch(|| no_grad(|| net.run(&x, Mode::Eval)))
        .map_err(|e| anyhow!("{}: tensor 'input' of shape {} does not fit {}: {e}", args.input.display(), x.shape(), args.model))?;
    let mut meta = BTreeMap::new();
    meta.insert("model".to_string(), args.model.clone());
    checkpoint::save_tensors(&args.output, &[("output".to_string(), y.clone())].into(), &meta)?;
    println!("{}: input {} -> output {} written to {}", args.model, x.shape(), y.shape(), args.output.display());
    Ok(())
}
