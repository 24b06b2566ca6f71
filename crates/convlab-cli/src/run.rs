//! `convlab run`: inference with a zoo or spec model on a raw input tensor.
//!
//! ```text
//! convlab run --model lenet5 --weights lenet5.safetensors --input x.safetensors --output y.safetensors
//! ```
//! reads the tensor `input` (N×C×H×W) from the input file, runs the model in evaluation mode
//! without gradients, and writes the logits as tensor `output` (atomically). Weights come from
//! a ConvLab checkpoint or a PyTorch `state_dict` saved with safetensors; without `--weights`
//! the model keeps its seeded initialization. `--model` may be a zoo name, a spec string or a
//! spec file; it may be left out when the checkpoint records its model. Every mistake (unknown model, missing key, a
//! shape the model cannot take, weights of another model) is one line naming the file, key or
//! shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use convlab::checkpoint::{self, CheckpointMeta};
use convlab::spec::{resolve_model, ModelSource};
use convlab::Tensor;

use crate::args::{ModelArgs, ModelConfigArgs};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub build: ModelConfigArgs,
    /// Weights: a ConvLab checkpoint or a PyTorch state_dict in safetensors (default: none,
    /// the model keeps its seeded initialization).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Safetensors file with the tensor `input`, N×C×H×W.
    #[arg(long)]
    pub input: PathBuf,
    /// Safetensors file to write, with the tensor `output` (the logits).
    #[arg(long)]
    pub output: PathBuf,
}

fn read_input(path: &Path) -> Result<Tensor> {
    let (mut tensors, _) = checkpoint::load_tensors(path)?;
    let keys: Vec<String> = tensors.keys().cloned().collect();
    let x = tensors.remove("input").ok_or_else(|| {
        anyhow!(
            "{}: no tensor 'input' (the file has: {})",
            path.display(),
            if keys.is_empty() { "nothing".into() } else { keys.join(", ") }
        )
    })?;
    if x.rank() != 4 || x.numel() == 0 {
        bail!("{}: tensor 'input' has shape {}, expected a non-empty N×C×H×W", path.display(), x.shape());
    }
    checkpoint::check_finite(path, "input", &x)?;
    Ok(x)
}

pub fn run(args: &RunArgs) -> Result<()> {
    let x = read_input(&args.input)?;
    let weights = args.weights.as_ref().map(|p| checkpoint::load(p).map(|ck| (p, ck))).transpose()?;
    let meta: Option<&CheckpointMeta> = weights.as_ref().map(|(_, ck)| &ck.meta).filter(|m| !m.model.is_empty());
    let model_arg = match (&args.model.model, meta) {
        (Some(m), _) => m.clone(),
        (None, Some(m)) => m.model.clone(),
        (None, None) => {
            bail!("--model is needed: name a zoo model or give a spec (the weights do not record their model)")
        }
    };
    // The configuration: flags first, then the checkpoint's, then the model's defaults. A spec
    // takes its spatial size from the input tensor.
    let saved = meta.and_then(|m| m.model_config());
    let in_channels = args.build.in_channels.or(saved.as_ref().map(|c| c.in_channels));
    let classes = args.build.classes.or(saved.as_ref().map(|c| c.num_classes));
    if in_channels == Some(0) || classes == Some(0) {
        bail!("--in-channels and --classes must be positive");
    }
    let is_zoo = convlab::models::names().iter().any(|n| n.eq_ignore_ascii_case(&model_arg));
    let d = x.dims();
    let spec_input = (!is_zoo).then(|| vec![in_channels.unwrap_or(d[1]), d[2], d[3]]);
    let resolved = resolve_model(&model_arg, in_channels, classes, spec_input.as_deref(), args.build.seed)
        .map_err(|e| anyhow!("{model_arg}: cannot build: {e}"))?;
    let name = resolved.description.clone();
    if let (Some(given), Some(m)) = (&args.model.model, meta) {
        let recorded =
            resolve_model(&m.model, None, None, None, 0).map(|r| r.description).unwrap_or_else(|_| m.model.clone());
        if recorded != name && m.model != *given {
            let path = weights.as_ref().map(|(p, _)| p.display().to_string()).unwrap_or_default();
            bail!("{path}: weights are for model '{}', not '{given}'", m.model);
        }
    }
    if let Some((path, ck)) = &weights {
        checkpoint::apply(&*resolved.module, &ck.tensors, true).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    let want_c = match &resolved.source {
        ModelSource::Zoo { config, .. } => config.in_channels,
        ModelSource::Spec(_) | ModelSource::Onnx { .. } => resolved.input[0],
    };
    if d[1] != want_c {
        bail!(
            "{}: tensor 'input' has shape {}, but {name} takes {want_c} input channel(s)",
            args.input.display(),
            x.shape()
        );
    }
    resolved.module.output_shape(d).map_err(|e| {
        anyhow!("{}: tensor 'input' of shape {} does not fit {name}: {e}", args.input.display(), x.shape())
    })?;
    // Compiled for inference (batch norms folded).
    let plan = convlab::infer::Plan::or_module(resolved.module, d);
    let y = plan.run(&x);
    convlab::nn::check_forward(plan.module(), d, y.dims())?;
    let mut out_meta = BTreeMap::new();
    out_meta.insert("model".to_string(), name.clone());
    checkpoint::save_tensors(&args.output, &[("output".to_string(), y.clone())].into(), &out_meta)?;
    println!("{name}: input {} -> output {} written to {}", x.shape(), y.shape(), args.output.display());
    Ok(())
}
