//! `convlab pool2d`: the pooling calculator.
//!
//! ```text
//! convlab pool2d --input '[[1,1,2,0],[0,1,1,2],[0,0,1,3],[0,0,1,1]]' --kernel-size 2
//! ```
//! prints the pooled matrix ([[1,2],[0,3]]) and the output-size arithmetic.

use anyhow::{bail, Result};
use clap::Args;
use convlab::no_grad;
use convlab::ops::pool::Pool2dParams;
use serde_json::json;

use crate::args::JsonArgs;

use super::matrix::{format_matrix, parse_tensor_arg, to_nested};
use super::options::parse_pair;

#[derive(Args, Debug)]
pub struct Pool2dArgs {
    /// Input: nested JSON list H×W or C×H×W, inline or @file.
    #[arg(long)]
    pub input: String,
    /// Window size: K or Kh,Kw.
    #[arg(long)]
    pub kernel_size: String,
    /// max or avg.
    #[arg(long, default_value = "max")]
    pub op: String,
    /// Stride: S or Sh,Sw (default: the window size).
    #[arg(long)]
    pub stride: Option<String>,
    /// Padding on each side: P or Ph,Pw (at most half the window).
    #[arg(long, default_value = "0")]
    pub padding: String,
    /// Dilation (max pooling only): D or Dh,Dw; the window spans D·(K − 1) + 1 positions.
    #[arg(long, default_value = "1")]
    pub dilation: String,
    /// Round the output size up instead of down.
    #[arg(long)]
    pub ceil_mode: bool,
    /// For avg: whether padded zeros count in the divisor (PyTorch's default: true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub count_include_pad: bool,
    #[command(flatten)]
    pub format: JsonArgs,
}

pub fn run(args: &Pool2dArgs) -> Result<()> {
    let input = parse_tensor_arg("input", &args.input, 2, 3)?;
    let x = if input.rank() == 2 { input.unsqueeze(0) } else { input.clone() };
    let kernel = parse_pair("kernel-size", &args.kernel_size, true)?;
    let mut params = Pool2dParams::new(kernel);
    if let Some(s) = &args.stride {
        params.stride = parse_pair("stride", s, true)?;
    }
    params.padding = parse_pair("padding", &args.padding, false)?;
    params.dilation = parse_pair("dilation", &args.dilation, true)?;
    params.ceil_mode = args.ceil_mode;
    params.count_include_pad = args.count_include_pad;
    let is_max = match args.op.to_ascii_lowercase().as_str() {
        "max" => true,
        "avg" | "average" | "mean" => false,
        other => bail!("--op: unknown pooling '{other}' (use max or avg)"),
    };
    let geom = if is_max {
        convlab::ops::pool::pool2d_output_shape(x.dims(), &params)?
    } else {
        convlab::ops::pool::avg_pool2d_output_shape(x.dims(), &params)?
    };
    let out = no_grad(|| if is_max { x.max_pool2d(&params) } else { x.avg_pool2d(&params) });
    let c = x.dims()[0];
    let (oh, ow) = (out.dims()[1], out.dims()[2]);
    let out_dims: Vec<usize> = if input.rank() == 2 { vec![oh, ow] } else { vec![c, oh, ow] };
    let data = out.to_vec();
    if args.format.json {
        let obj = json!({
            "output": to_nested(&data, &out_dims),
            "output_shape": out_dims,
            "op": if is_max { "max" } else { "avg" },
            "arithmetic": geom.arithmetic(),
        });
        println!("{obj}");
        return Ok(());
    }
    let [kh, kw] = params.kernel_size;
    let [sh, sw] = params.stride;
    let [ph, pw] = params.padding;
    let [dh, dw] = params.dilation;
    let dil = if dh > 1 || dw > 1 { format!(", dilation {dh}×{dw}") } else { String::new() };
    println!(
        "{} pooling, window {kh}×{kw}, stride {sh}×{sw}, padding {ph}×{pw}{dil}",
        if is_max { "Max" } else { "Average" }
    );
    println!(
        "Output size{}:",
        if params.ceil_mode { " (ceil mode: the last window may hang over the end)" } else { "" }
    );
    for (axis, line) in ["height", "width "].iter().zip(geom.arithmetic()) {
        println!("  {axis}: {line}");
    }
    let channels = if input.rank() == 2 { 1 } else { c };
    for ch in 0..channels {
        if input.rank() == 3 {
            println!("Channel {ch}:");
        } else {
            println!("Output:");
        }
        print!("{}", format_matrix(&data[ch * oh * ow..(ch + 1) * oh * ow], oh, ow));
    }
    Ok(())
}
