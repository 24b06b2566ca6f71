//! `convlab summary MODEL`: a model's layers, with output shapes, parameters, multiply-adds
//! and receptive fields, and its totals (like torchinfo).
//!
//! ```text
//! convlab summary lenet5
//! convlab summary "conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)"
//! convlab summary net.json --input 3x32x32 --json
//! convlab summary lenet5 --spec
//! ```
//! MODEL is a zoo name, a spec string or a `.json`/`.toml` spec file (see `convlab::spec`);
//! the computation is `convlab::summary`, this file only formats it.

use anyhow::{bail, Result};
use clap::Args;
use convlab::spec::{resolve_model, ModelSource, Spec};
use convlab::summary::{summarize, Summary};
use serde_json::json;

use crate::args::{JsonArgs, ModelConfigArgs};

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// A zoo model name, a spec ("conv(6,5) relu maxpool(2) flatten linear(10)") or a .json/.toml spec file.
    pub model: String,
    /// Input shape without the batch: C×H×W (also CxHxW, C,H,W or [C,H,W]); C×L for 1-D specs.
    /// Default: the model's own (1×28×28 for LeNet-5 and specs, 3×32×32 for CIFAR models,
    /// 3×64×64 for TinyVGG, 3×224×224 for ImageNet models).
    #[arg(long)]
    pub input: Option<String>,
    #[command(flatten)]
    pub build: ModelConfigArgs,
    #[command(flatten)]
    pub format: JsonArgs,
    /// Print the model as a spec string instead (sequential models only).
    #[arg(long)]
    pub spec: bool,
}

/// `3x32x32`, `3×32×32`, `3,32,32` or `[3, 32, 32]`.
pub fn parse_shape(s: &str) -> Result<Vec<usize>> {
    let cleaned: String =
        s.chars().map(|c| if matches!(c, '×' | 'x' | 'X' | ',' | '[' | ']' | '(' | ')') { ' ' } else { c }).collect();
    let dims: Result<Vec<usize>, _> = cleaned.split_whitespace().map(str::parse::<usize>).collect();
    match dims {
        Ok(d) if (d.len() == 2 || d.len() == 3) && !d.contains(&0) => Ok(d),
        _ => bail!("--input '{s}': expected a shape like 3x32x32 (C×H×W) or 2x100 (C×L) with positive sizes"),
    }
}

/// `61706` -> `61,706`.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    let human = if n >= 1 << 20 {
        format!(" ({:.2} MiB)", n as f64 / (1 << 20) as f64)
    } else if n >= 1 << 10 {
        format!(" ({:.1} KiB)", n as f64 / 1024.0)
    } else {
        String::new()
    };
    format!("{} bytes{human}", grouped(n as u64))
}

fn shape(d: &[usize]) -> String {
    format!("[{}]", d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", "))
}

const MACS_NOTE: &str = "Multiply-adds count convolutions (Cout·Ho·Wo·Cin/groups·kH·kW) and fully connected layers (in·out); activations, pooling and normalization count 0.";
const RF_NOTE: &str = "RF: receptive field of one output value, in input pixels; Jump: input pixels between neighbouring outputs; all: the whole input.";
const BRANCH_NOTE: &str = "Not a plain chain: receptive fields follow the data, and where branches join (residual sums, concatenations) the larger field, the main path's, is shown.";

pub fn run(args: &SummaryArgs) -> Result<()> {
    let input = args.input.as_deref().map(parse_shape).transpose()?;
    let model =
        resolve_model(&args.model, args.build.in_channels, args.build.classes, input.as_deref(), args.build.seed)?;
    if args.spec {
        // A Sequential by its structure; anything else by tracing one forward pass.
        let spec = Spec::from_module(model.module.as_ref())
            .or_else(|_| Spec::from_module_traced(model.module.as_ref(), &model.input));
        let spec = spec.map_err(|e| anyhow::anyhow!("{}: {e}", model.description))?;
        let text = Spec { input: Some(model.input.clone()), ..spec }.to_string();
        if args.format.json {
            println!("{}", json!({ "model": model.description, "spec": text }));
        } else {
            println!("{text}");
        }
        return Ok(());
    }
    let summary = summarize(model.module.as_ref(), &model.input, args.build.seed)?;
    let source = match &model.source {
        ModelSource::Zoo { .. } => "zoo",
        ModelSource::Spec(_) => "spec",
        ModelSource::Onnx { .. } => "onnx",
    };
    if args.format.json {
        let mut v = serde_json::to_value(&summary)?;
        v["model"] = json!(model.description);
        v["source"] = json!(source);
        v["notes"] = json!([MACS_NOTE, RF_NOTE]);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", text(&model.description, &summary));
    }
    Ok(())
}

/// The table and totals as text.
pub fn text(model: &str, s: &Summary) -> String {
    let header = ["Layer", "Type", "Output shape", "Params", "Mult-adds", "RF", "Jump"];
    let rows: Vec<[String; 7]> = s
        .rows
        .iter()
        .map(|r| {
            [
                if r.repeated { format!("{} (again)", r.path) } else { r.path.clone() },
                r.kind.to_string(),
                shape(&r.output_shape),
                grouped(r.params as u64),
                grouped(r.macs),
                r.receptive_field.size_text(),
                r.receptive_field.jump_text(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Text columns left-aligned, numbers right-aligned.
            if i < 3 {
                out += &format!("{c}{}  ", " ".repeat(pad));
            } else {
                out += &format!("{}{c}  ", " ".repeat(pad));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)) + "\n";
    let mut out = format!("Model: {model}\nInput: {} (batch 1)\n\n", shape(&s.input_shape));
    out += &line(&header.map(String::from));
    out += &rule;
    for r in &rows {
        out += &line(r);
    }
    out += &rule;
    let non_trainable = s.total_params - s.trainable_params;
    out += &format!("Total params: {}\n", grouped(s.total_params as u64));
    out += &format!("Trainable params: {}\n", grouped(s.trainable_params as u64));
    out += &format!("Non-trainable params: {}\n", grouped(non_trainable as u64));
    if s.buffer_values > 0 {
        out += &format!("Buffers (running statistics): {} values\n", grouped(s.buffer_values as u64));
    }
    out += &format!("Multiply-adds (per input): {}\n", grouped(s.total_macs));
    out += &format!("Output: {}\n\n", shape(&s.output_shape));
    out += &format!("Weights (f32): {}\n", bytes(s.param_bytes + s.buffer_bytes));
    out += &format!("Activations (forward pass, per input): {}\n", bytes(s.activation_bytes));
    out += &format!("Input: {}\n", bytes(s.input_bytes));
    out +=
        &format!("Estimated total: {}\n\n", bytes(s.param_bytes + s.buffer_bytes + s.activation_bytes + s.input_bytes));
    out += &format!("{MACS_NOTE}\n{RF_NOTE}\n");
    if !s.chain {
        out += &format!("{BRANCH_NOTE}\n");
    }
    out
}
