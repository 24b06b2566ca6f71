//! `convlab export`: a model as an ONNX file.
//!
//! ```text
//! convlab export --model resnet18_cifar --output resnet18.onnx
//! convlab export --checkpoint runs/mnist/best.safetensors --output mnist.onnx --dynamic-batch
//! convlab export --model "conv(6,5) relu maxpool(2) flatten linear(10)" --input 1,28,28 --output net.onnx --opset 13
//! ```
//! MODEL is a zoo name, a spec, a spec file or an ONNX file; `--checkpoint` applies a
//! checkpoint's (or PyTorch `state_dict`'s) weights, and without `--model` the model is the
//! one the checkpoint records. The file's batch is 1, or symbolic with `--dynamic-batch`;
//! the work is `convlab::onnx::export`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use convlab::nn::Module;
use convlab::onnx::{self, ExportOptions};
use convlab::spec::resolve_model;

use crate::args::{ModelArgs, ModelConfigArgs};
use crate::summary::parse_shape;

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub build: ModelConfigArgs,
    /// Weights to export: a ConvLab checkpoint or a PyTorch state_dict in safetensors
    /// (default: none, the model keeps its seeded initialization).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The ONNX file to write (weights over 1 GiB go to <output>.data beside it).
    #[arg(long)]
    pub output: PathBuf,
    /// Standard operator set, 13 to 21.
    #[arg(long, default_value_t = 17)]
    pub opset: i64,
    /// Make the batch dimension symbolic ("N") instead of 1.
    #[arg(long)]
    pub dynamic_batch: bool,
    /// Input shape without the batch: C,H,W (also CxHxW; C,L for 1-D specs). Default: the
    /// model's own (the checkpoint's with --checkpoint).
    #[arg(long)]
    pub input: Option<String>,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let input = args.input.as_deref().map(parse_shape).transpose()?;
    let (module, name, shape): (Box<dyn Module>, String, Vec<usize>) = match (&args.model.model, &args.checkpoint) {
        (None, None) => bail!("--model or --checkpoint is needed: name the model to export"),
        (None, Some(path)) => {
            let (module, info) = convlab::train::state::load_model(path)?;
            let shape = input.unwrap_or_else(|| info.input_shape.to_vec());
            (module, info.model, shape)
        }
        (Some(m), checkpoint) => {
            let ck = checkpoint.as_ref().map(|p| convlab::checkpoint::load(p).map(|ck| (p, ck))).transpose()?;
            let saved = ck.as_ref().and_then(|(_, ck)| ck.meta.model_config());
            let in_channels = args.build.in_channels.or(saved.as_ref().map(|c| c.in_channels));
            let classes = args.build.classes.or(saved.as_ref().map(|c| c.num_classes));
            let resolved = resolve_model(m, in_channels, classes, input.as_deref(), args.build.seed)
                .map_err(|e| anyhow!("{m}: cannot build: {e}"))?;
            if let Some((path, ck)) = &ck {
                convlab::checkpoint::apply(&*resolved.module, &ck.tensors, true)
                    .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            }
            (resolved.module, resolved.description, resolved.input)
        }
    };
    let shape = [&[1][..], &shape].concat();
    let options = ExportOptions { opset: args.opset, dynamic_batch: args.dynamic_batch };
    let proto = onnx::to_model(module.as_ref(), &shape, &options).map_err(|e| anyhow!("{name}: {e}"))?;
    let data = onnx::write_model_with(&args.output, &proto, &onnx::WriteOptions::default())?;
    let g = proto.graph.as_ref().map(|g| (g.node.len(), g.initializer.len())).unwrap_or_default();
    let batch = if args.dynamic_batch { "N".to_string() } else { "1".to_string() };
    let dims: Vec<String> = shape[1..].iter().map(|d| d.to_string()).collect();
    print!(
        "{name}: written to {} (opset {}, input [{batch}, {}], {} nodes, {} initializers",
        args.output.display(),
        args.opset,
        dims.join(", "),
        g.0,
        g.1
    );
    match data {
        Some(d) => println!(", weights in {})", d.display()),
        None => println!(")"),
    }
    Ok(())
}
