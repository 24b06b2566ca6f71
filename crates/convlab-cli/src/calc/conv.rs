//! `convlab conv2d`: the convolution calculator.
//!
//! ```text
//! convlab conv2d --input '[[2,3,1,5,2,3],[7,4,5,2,3,1],...]' --kernel '[[1,0,1],[4,-3,2],[3,0,-1]]'
//! ```
//! prints the output matrix and the output-size arithmetic O = (I − F + P_start + P_end)/S + 1.
//! Inputs: 2-D (one channel) or 3-D C×H×W; kernels: 2-D (one kernel, one channel), 3-D
//! (one kernel over C channels) or 4-D Cout×Cin×kH×kW.

use anyhow::{bail, Result};
use clap::Args;
use convlab::ops::conv::{Conv2dParams, Padding2d, PaddingMode};
use convlab::{no_grad, Tensor};
use serde_json::json;

use crate::args::JsonArgs;

use super::matrix::{format_matrix, parse_tensor_arg, to_nested};
use super::options::{parse_list, parse_pair};

#[derive(Args, Debug)]
pub struct Conv2dArgs {
    /// Input: nested JSON list H×W or C×H×W, inline or @file.
    #[arg(long)]
    pub input: String,
    /// Kernel(s): kH×kW, C×kH×kW or Cout×Cin×kH×kW, inline or @file.
    #[arg(long)]
    pub kernel: String,
    /// Bias: a number, or one per kernel as a JSON list (default: none).
    #[arg(long)]
    pub bias: Option<String>,
    /// Stride: S or Sh,Sw.
    #[arg(long, default_value = "1")]
    pub stride: String,
    /// Padding: P, Ph,Pw, top,bottom,left,right, or one of valid, same, full.
    #[arg(long, default_value = "0")]
    pub padding: String,
    /// How padded values are made: zeros, reflect, replicate (alias edge) or circular.
    #[arg(long, default_value = "zeros")]
    pub padding_mode: String,
    /// Dilation: D or Dh,Dw.
    #[arg(long, default_value = "1")]
    pub dilation: String,
    /// Groups: input and output channels are split into this many independent groups.
    #[arg(long, default_value_t = 1)]
    pub groups: usize,
    /// True convolution: flip the kernel (rotate 180°) as in signal processing. Without it the
    /// calculator cross-correlates, as neural networks (and PyTorch) do.
    #[arg(long)]
    pub flip: bool,
    #[command(flatten)]
    pub format: JsonArgs,
}

pub fn parse_padding(s: &str) -> Result<Padding2d> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "valid" => Padding2d::Valid,
        "same" => Padding2d::Same,
        "full" => Padding2d::Full,
        _ => match parse_list("padding", s)?.as_slice() {
            [p] => Padding2d::uniform(*p),
            [h, w] => Padding2d::pair(*h, *w),
            [t, b, l, r] => Padding2d::per_side(*t, *b, *l, *r),
            _ => bail!("--padding: expected P, Ph,Pw, top,bottom,left,right, valid, same or full; got '{s}'"),
        },
    })
}

pub fn parse_padding_mode(s: &str) -> Result<PaddingMode> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "zeros" | "zero" => PaddingMode::Zeros,
        "reflect" => PaddingMode::Reflect,
        "replicate" | "edge" => PaddingMode::Replicate,
        "circular" => PaddingMode::Circular,
        _ => bail!("--padding-mode: unknown mode '{s}' (use zeros, reflect, replicate/edge or circular)"),
    })
}

/// The most values the calculator builds in one buffer (padded input, im2col columns or
/// output): far beyond any hand example, far below what would exhaust memory.
const MAX_VALUES: u128 = 1 << 24;

/// Rejects settings (huge padding or stride-1 outputs) whose buffers would not fit in memory.
fn check_size(g: &convlab::kernels::conv::Conv2dGeometry) -> Result<()> {
    let [pt, pb, pl, pr] = g.pad().map(|p| p as u128);
    let padded = g.c_in() as u128 * (g.h() as u128 + pt + pb) * (g.w() as u128 + pl + pr);
    let out = (g.ho() as u128) * (g.wo() as u128);
    let columns = out * (g.c_in() / g.groups().max(1)) as u128 * (g.kh() as u128) * (g.kw() as u128);
    let largest = padded.max(out * g.c_out() as u128).max(columns);
    if largest > MAX_VALUES {
        bail!("the computation needs {largest} values in one buffer, more than the calculator's limit of {MAX_VALUES} (padding {:?}, output {}x{})", g.pad(), g.ho(), g.wo());
    }
    Ok(())
}

pub fn run(args: &Conv2dArgs) -> Result<()> {
    let input = parse_tensor_arg("input", &args.input, 2, 3)?;
    let kernel = parse_tensor_arg("kernel", &args.kernel, 2, 4)?;
    let input_rank = input.rank();
    // Batch of one: [1, C, H, W].
    let x = if input_rank == 2 { input.reshape([1, 1, input.dims()[0], input.dims()[1]]) } else { input.unsqueeze(0) };
    let w = match kernel.rank() {
        2 => kernel.reshape([1, 1, kernel.dims()[0], kernel.dims()[1]]),
        3 => kernel.unsqueeze(0),
        _ => kernel.clone(),
    };
    let cout = w.dims()[0];
    let bias = match &args.bias {
        None => None,
        Some(b) => {
            let t = match serde_json::from_str::<f64>(b.trim()) {
                Ok(v) if !(v as f32).is_finite() => {
                    bail!("--bias: {v} is outside the range of f32 values (about ±3.4e38)")
                }
                Ok(v) => Tensor::full([cout], v as f32),
                Err(_) => parse_tensor_arg("bias", b, 1, 1)?,
            };
            if t.dims() != [cout] {
                bail!("--bias: {} values given for {cout} kernel(s)", t.numel());
            }
            Some(t)
        }
    };
    let params = Conv2dParams {
        stride: parse_pair("stride", &args.stride, true)?,
        padding: parse_padding(&args.padding)?,
        dilation: parse_pair("dilation", &args.dilation, true)?,
        groups: args.groups,
        padding_mode: parse_padding_mode(&args.padding_mode)?,
    };
    if args.groups == 0 {
        bail!("--groups must be at least 1");
    }
    let geom = convlab::ops::conv::conv2d_output_shape(x.dims(), w.dims(), &params)?;
    check_size(&geom)?;
    let out = no_grad(|| {
        if args.flip {
            x.convolve2d(&w, bias.as_ref(), &params)
        } else {
            x.conv2d(&w, bias.as_ref(), &params)
        }
    });
    let (oh, ow) = (out.dims()[2], out.dims()[3]);
    // One kernel on a 2-D input prints a 2-D result, as in the lecture.
    let out_dims: Vec<usize> = if cout == 1 { vec![oh, ow] } else { vec![cout, oh, ow] };
    let data = out.to_vec();
    let [pt, pb, pl, pr] = geom.pad();
    let eff = geom.window().effective_kernel();
    let [sh, sw] = params.stride;
    let (ih, iw) = (x.dims()[2], x.dims()[3]);
    if args.format.json {
        let obj = json!({
            "output": to_nested(&data, &out_dims),
            "output_shape": out_dims,
            "operation": if args.flip { "convolution" } else { "cross-correlation" },
            "padding": { "top": pt, "bottom": pb, "left": pl, "right": pr },
            "stride": [sh, sw],
        "input_size": [ih, iw],
            "effective_kernel": eff,
        });
        println!("{obj}");
        return Ok(());
    }
    println!(
        "{} of a {}×{}×{} input with {} kernel(s) of {}×{}×{}{}",
        if args.flip { "True convolution (kernel flipped)" } else { "Cross-correlation" },
        x.dims()[1],
        ih,
        iw,
        cout,
        w.dims()[1],
        w.dims()[2],
        w.dims()[3],
        if bias.is_some() { " plus bias" } else { "" }
    );
    println!("Output size, O = (I - F + P_start + P_end) / S + 1 (rounded down):");
    for line in geom.arithmetic().lines() {
        println!("  {line}");
    }
    for c in 0..cout {
        if cout > 1 {
            println!("Output channel {c}:");
        } else {
            println!("Output:");
        }
        print!("{}", format_matrix(&data[c * oh * ow..(c + 1) * oh * ow], oh, ow));
    }
    Ok(())
}
