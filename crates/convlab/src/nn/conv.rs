//! Convolution layers: `Conv1d`, `Conv2d`, `ConvTranspose2d`, with PyTorch's parameter names
//! (`weight`, `bias`), shapes and default initialization.

use crate::nn::init::{default_bias, default_weight, ParamRng};
use crate::nn::module::{weight_and_bias, Forward, Module, TensorKind};
use crate::ops::conv::{
    conv1d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape, Conv1dParams, Conv2dParams,
    ConvTranspose2dParams, Padding1d, Padding2d,
};
use crate::ops::pad::PaddingMode;
use crate::window::Window2d;
use crate::{Error, Tensor};

/// The shape of a 2-D convolution layer; the settings of the convolution itself are in `conv`.
#[derive(Clone, Debug)]
pub struct Conv2dConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: [usize; 2],
    pub conv: Conv2dParams,
    pub bias: bool,
}

impl Conv2dConfig {
    /// A square `k×k` kernel with stride 1, no padding, with bias (torch's defaults).
    pub fn new(in_channels: usize, out_channels: usize, k: usize) -> Conv2dConfig {
        Conv2dConfig { in_channels, out_channels, kernel_size: [k, k], conv: Conv2dParams::default(), bias: true }
    }
}

/// `nn.Conv2d`: weight `[out, in/groups, kH, kW]`, bias `[out]`.
pub struct Conv2d {
    pub config: Conv2dConfig,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Conv2d {
    pub fn new(config: Conv2dConfig, rng: &mut ParamRng) -> Conv2d {
        let c = &config;
        assert!(
            c.conv.groups > 0
                && c.in_channels.is_multiple_of(c.conv.groups)
                && c.out_channels.is_multiple_of(c.conv.groups),
            "Conv2d: groups {} must divide in_channels {} and out_channels {}",
            c.conv.groups,
            c.in_channels,
            c.out_channels
        );
        let shape = [c.out_channels, c.in_channels / c.conv.groups, c.kernel_size[0], c.kernel_size[1]];
        let weight = default_weight(&shape, rng).requires_grad_();
        let bias = c.bias.then(|| default_bias(c.out_channels, &shape, rng).requires_grad_());
        Conv2d { config, weight, bias }
    }
}

/// `per_sample` with the batch dimension in front when `input` has one (its rank is one
/// more than `per_sample`'s).
fn batched_like(input: &[usize], per_sample: &[usize]) -> Vec<usize> {
    match input.len() > per_sample.len() {
        true => [&input[..1], per_sample].concat(),
        false => per_sample.to_vec(),
    }
}

fn padding2d_repr(p: &Padding2d) -> String {
    match p {
        Padding2d::Valid => "padding=valid".into(),
        Padding2d::Same => "padding=same".into(),
        Padding2d::Full => "padding=full".into(),
        Padding2d::Explicit { top, bottom, left, right } if top == bottom && left == right => {
            if *top == 0 && *left == 0 {
                String::new()
            } else {
                format!("padding=({top}, {left})")
            }
        }
        Padding2d::Explicit { top, bottom, left, right } => {
            format!("padding=(top {top}, bottom {bottom}, left {left}, right {right})")
        }
    }
}

fn conv_repr(cin: usize, cout: usize, k: [usize; 2], p: &Conv2dParams, bias: bool) -> String {
    let mut parts = vec![format!("{cin}, {cout}, kernel_size=({}, {})", k[0], k[1])];
    if p.stride != [1, 1] {
        parts.push(format!("stride=({}, {})", p.stride[0], p.stride[1]));
    }
    let pad = padding2d_repr(&p.padding);
    if !pad.is_empty() {
        parts.push(pad);
    }
    if p.dilation != [1, 1] {
        parts.push(format!("dilation=({}, {})", p.dilation[0], p.dilation[1]));
    }
    if p.groups != 1 {
        parts.push(format!("groups={}", p.groups));
    }
    if !bias {
        parts.push("bias=False".into());
    }
    if p.padding_mode != PaddingMode::Zeros {
        parts.push(format!("padding_mode={}", p.padding_mode.name()));
    }
    parts.join(", ")
}

impl Module for Conv2d {
    fn kind(&self) -> &'static str {
        "Conv2d"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.conv2d(&self.weight, self.bias.as_ref(), &self.config.conv)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let g = conv2d_output_shape(input, self.weight.dims(), &self.config.conv)?;
        Ok(batched_like(input, &[g.c_out(), g.ho(), g.wo()]))
    }

    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn describe(&self) -> String {
        let c = &self.config;
        conv_repr(c.in_channels, c.out_channels, c.kernel_size, &c.conv, c.bias)
    }

    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        conv2d_output_shape(input, self.weight.dims(), &self.config.conv).ok().map(|g| *g.window())
    }
}

/// The shape of a 1-D convolution layer.
#[derive(Clone, Debug)]
pub struct Conv1dConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub conv: Conv1dParams,
    pub bias: bool,
}

impl Conv1dConfig {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Conv1dConfig {
        Conv1dConfig { in_channels, out_channels, kernel_size, conv: Conv1dParams::default(), bias: true }
    }
}

/// `nn.Conv1d`: weight `[out, in/groups, k]`, bias `[out]`.
pub struct Conv1d {
    pub config: Conv1dConfig,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Conv1d {
    pub fn new(config: Conv1dConfig, rng: &mut ParamRng) -> Conv1d {
        let c = &config;
        assert!(
            c.conv.groups > 0
                && c.in_channels.is_multiple_of(c.conv.groups)
                && c.out_channels.is_multiple_of(c.conv.groups),
            "Conv1d: groups {} must divide in_channels {} and out_channels {}",
            c.conv.groups,
            c.in_channels,
            c.out_channels
        );
        let shape = [c.out_channels, c.in_channels / c.conv.groups, c.kernel_size];
        let weight = default_weight(&shape, rng).requires_grad_();
        let bias = c.bias.then(|| default_bias(c.out_channels, &shape, rng).requires_grad_());
        Conv1d { config, weight, bias }
    }
}

impl Module for Conv1d {
    fn kind(&self) -> &'static str {
        "Conv1d"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.conv1d(&self.weight, self.bias.as_ref(), &self.config.conv)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let g = conv1d_output_shape(input, self.weight.dims(), &self.config.conv)?;
        Ok(batched_like(input, &[g.c_out(), g.wo()]))
    }

    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let p = &c.conv;
        let padding = match p.padding {
            Padding1d::Explicit { start, end } if start == end => Padding2d::pair(0, start),
            Padding1d::Explicit { start, end } => Padding2d::per_side(0, 0, start, end),
            Padding1d::Valid => Padding2d::Valid,
            Padding1d::Same => Padding2d::Same,
            Padding1d::Full => Padding2d::Full,
        };
        let as2d = Conv2dParams {
            stride: [1, p.stride],
            padding,
            dilation: [1, p.dilation],
            groups: p.groups,
            padding_mode: p.padding_mode,
        };
        conv_repr(c.in_channels, c.out_channels, [1, c.kernel_size], &as2d, c.bias)
    }

    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        conv1d_output_shape(input, self.weight.dims(), &self.config.conv).ok().map(|g| *g.window())
    }
}

/// The shape of a transposed 2-D convolution layer.
#[derive(Clone, Debug)]
pub struct ConvTranspose2dConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: [usize; 2],
    pub conv: ConvTranspose2dParams,
    pub bias: bool,
}

impl ConvTranspose2dConfig {
    pub fn new(in_channels: usize, out_channels: usize, k: usize) -> ConvTranspose2dConfig {
        ConvTranspose2dConfig {
            in_channels,
            out_channels,
            kernel_size: [k, k],
            conv: ConvTranspose2dParams::default(),
            bias: true,
        }
    }
}

/// `nn.ConvTranspose2d`: weight `[in, out/groups, kH, kW]`, bias `[out]`.
pub struct ConvTranspose2d {
    pub config: ConvTranspose2dConfig,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl ConvTranspose2d {
    pub fn new(config: ConvTranspose2dConfig, rng: &mut ParamRng) -> ConvTranspose2d {
        let c = &config;
        assert!(
            c.conv.groups > 0
                && c.in_channels.is_multiple_of(c.conv.groups)
                && c.out_channels.is_multiple_of(c.conv.groups),
            "ConvTranspose2d: groups {} must divide in_channels {} and out_channels {}",
            c.conv.groups,
            c.in_channels,
            c.out_channels
        );
        let shape = [c.in_channels, c.out_channels / c.conv.groups, c.kernel_size[0], c.kernel_size[1]];
        let weight = default_weight(&shape, rng).requires_grad_();
        let bias = c.bias.then(|| default_bias(c.out_channels, &shape, rng).requires_grad_());
        ConvTranspose2d { config, weight, bias }
    }
}

impl Module for ConvTranspose2d {
    fn kind(&self) -> &'static str {
        "ConvTranspose2d"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), &self.config.conv)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        // The geometry is that of the convolution from our output back to our input.
        let g = conv_transpose2d_output_shape(input, self.weight.dims(), &self.config.conv)?;
        Ok(batched_like(input, &[g.c_in(), g.h(), g.w()]))
    }

    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let p = &c.conv;
        let mut s = format!(
            "{}, {}, kernel_size=({}, {}), stride=({}, {})",
            c.in_channels, c.out_channels, c.kernel_size[0], c.kernel_size[1], p.stride[0], p.stride[1]
        );
        if p.padding != [0, 0] {
            s += &format!(", padding=({}, {})", p.padding[0], p.padding[1]);
        }
        if p.output_padding != [0, 0] {
            s += &format!(", output_padding=({}, {})", p.output_padding[0], p.output_padding[1]);
        }
        if p.groups != 1 {
            s += &format!(", groups={}", p.groups);
        }
        if !c.bias {
            s += ", bias=False";
        }
        s
    }
}
