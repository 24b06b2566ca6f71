//! Layers with weights: Conv (1-D and 2-D), ConvTranspose, BatchNormalization, Gemm, and
//! MatMul with a constant right operand. Their weights become the layer's parameters.

use super::attrs::{sizes, Attrs};
use super::{Importer, Val};
use crate::graph::Op;
use crate::nn::{
    BatchNorm, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Linear,
};
use crate::onnx::proto::NodeProto;
use crate::ops::batchnorm::{BatchNormParams, RunningStats};
use crate::ops::conv::{Conv1dParams, Conv2dParams, ConvTranspose2dParams, Padding1d, Padding2d, PaddingMode};
use crate::window::{effective_kernel, same_padding};
use crate::{Error, Tensor};

pub(super) fn import(imp: &mut Importer, node: &NodeProto) -> Result<bool, Error> {
    match node.op_type.as_str() {
        "Conv" => conv(imp, node)?,
        "ConvTranspose" => conv_transpose(imp, node)?,
        "BatchNormalization" => batch_norm(imp, node)?,
        "Gemm" => gemm(imp, node)?,
        "MatMul" => matmul(imp, node)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A constant float input that becomes a parameter (or buffer) of the layer.
fn weight(imp: &Importer, node: &NodeProto, i: usize, what: &str) -> Result<Option<Tensor>, Error> {
    imp.constant_input(node, i, what)?.map(|c| c.float(what)).transpose()
}

/// Per-axis settings of a convolution or pooling window with `k` spatial axes: strides,
/// dilations and `[begin..., end...]` pads (auto_pad resolved for an input of `input`).
pub(super) struct Window {
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
}

/// Reads strides, dilations, pads and auto_pad for `kernel` over `input` (spatial sizes).
pub(super) fn window(a: &Attrs, kernel: &[usize], input: &[usize]) -> Result<Window, Error> {
    let k = kernel.len();
    let per_axis = |name: &str| -> Result<Vec<usize>, Error> {
        match a.ints(name)? {
            None => Ok(vec![1; k]),
            Some(v) if v.len() == k => sizes(&v, name),
            Some(v) => Err(Error::Invalid(format!("{name} {v:?} should have {k} entries"))),
        }
    };
    let (strides, dilations) = (per_axis("strides")?, per_axis("dilations")?);
    let auto = a.string("auto_pad", "NOTSET")?;
    let (pads_begin, pads_end) = match auto.as_str() {
        "NOTSET" => match a.ints("pads")? {
            None => (vec![0; k], vec![0; k]),
            Some(p) if p.len() == 2 * k => {
                let p = sizes(&p, "pads")?;
                (p[..k].to_vec(), p[k..].to_vec())
            }
            Some(p) => return Err(Error::Invalid(format!("pads {p:?} should have {} entries", 2 * k))),
        },
        "VALID" => (vec![0; k], vec![0; k]),
        // The output has ⌈I/S⌉ positions; the odd unit of padding goes at the end (UPPER,
        // the lecture's and PyTorch's rule) or the beginning (LOWER).
        "SAME_UPPER" | "SAME_LOWER" => {
            let (mut b, mut e) = (vec![0; k], vec![0; k]);
            for i in 0..k {
                let (lo, hi) = same_padding(input[i], effective_kernel(kernel[i], dilations[i]), strides[i]);
                (b[i], e[i]) = if auto == "SAME_UPPER" { (lo, hi) } else { (hi, lo) };
            }
            (b, e)
        }
        other => {
            return Err(Error::Invalid(format!("auto_pad '{other}' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")))
        }
    };
    Ok(Window { strides, dilations, pads_begin, pads_end })
}

fn conv(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let x = imp.value(node, 0)?;
    let w =
        weight(imp, node, 1, "the weight")?.ok_or_else(|| Error::Invalid("the weight must be a constant".into()))?;
    let b = weight(imp, node, 2, "the bias")?;
    let groups = usize::try_from(a.int("group", 1)?).map_err(|_| Error::Invalid("group must be positive".into()))?;
    let wd = w.dims().to_vec();
    let input = imp.shape(x)[0].clone();
    if wd.len() != input.len() || !(3..=4).contains(&wd.len()) {
        return Err(Error::Shape(format!(
            "a weight of shape {wd:?} on an input of shape {input:?} is not a 1-D or 2-D convolution"
        )));
    }
    let kernel = wd[2..].to_vec();
    if let Some(k) = a.ints("kernel_shape")? {
        if sizes(&k, "kernel_shape")? != kernel {
            return Err(Error::Shape(format!("kernel_shape {k:?} does not match the weight {wd:?}")));
        }
    }
    let win = window(&a, &kernel, &input[2..])?;
    let (in_channels, out_channels) = (wd[1] * groups, wd[0]);
    let name = imp.node_name(node, Some(1));
    let weight = w.requires_grad_();
    let bias = bias_of(b, out_channels)?;
    let op = if kernel.len() == 2 {
        let conv = Conv2dParams {
            stride: [win.strides[0], win.strides[1]],
            padding: Padding2d::per_side(win.pads_begin[0], win.pads_end[0], win.pads_begin[1], win.pads_end[1]),
            dilation: [win.dilations[0], win.dilations[1]],
            groups,
            padding_mode: PaddingMode::Zeros,
        };
        let config =
            Conv2dConfig { in_channels, out_channels, kernel_size: [kernel[0], kernel[1]], conv, bias: bias.is_some() };
        Op::Conv2d(Conv2d { config, weight, bias })
    } else {
        let conv = Conv1dParams {
            stride: win.strides[0],
            padding: Padding1d::Explicit { start: win.pads_begin[0], end: win.pads_end[0] },
            dilation: win.dilations[0],
            groups,
            padding_mode: PaddingMode::Zeros,
        };
        let config = Conv1dConfig { in_channels, out_channels, kernel_size: kernel[0], conv, bias: bias.is_some() };
        Op::Conv1d(Conv1d { config, weight, bias })
    };
    imp.emit(node, name, op, &[x])
}

fn conv_transpose(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let x = imp.value(node, 0)?;
    let w =
        weight(imp, node, 1, "the weight")?.ok_or_else(|| Error::Invalid("the weight must be a constant".into()))?;
    let b = weight(imp, node, 2, "the bias")?;
    let groups = usize::try_from(a.int("group", 1)?).map_err(|_| Error::Invalid("group must be positive".into()))?;
    let wd = w.dims().to_vec();
    if wd.len() != 4 {
        return Err(Error::Shape(format!("only 2-D transposed convolutions are supported, the weight is {wd:?}")));
    }
    if a.has("output_shape") || a.string("auto_pad", "NOTSET")? != "NOTSET" {
        return Err(Error::Invalid("output_shape and auto_pad are not supported: give pads and output_padding".into()));
    }
    let kernel = [wd[2], wd[3]];
    let input = imp.shape(x)[0].clone();
    let win = window(&a, &kernel, &input[2..])?;
    if win.pads_begin != win.pads_end {
        return Err(Error::Invalid(format!(
            "pads begin {:?} and end {:?} differ; a transposed convolution pads both sides alike",
            win.pads_begin, win.pads_end
        )));
    }
    let op_pad = match a.ints("output_padding")? {
        None => [0, 0],
        Some(v) if v.len() == 2 => {
            let v = sizes(&v, "output_padding")?;
            [v[0], v[1]]
        }
        Some(v) => return Err(Error::Invalid(format!("output_padding {v:?} should have 2 entries"))),
    };
    let conv = ConvTranspose2dParams {
        stride: [win.strides[0], win.strides[1]],
        padding: [win.pads_begin[0], win.pads_begin[1]],
        output_padding: op_pad,
        dilation: [win.dilations[0], win.dilations[1]],
        groups,
    };
    let (in_channels, out_channels) = (wd[0], wd[1] * groups);
    let name = imp.node_name(node, Some(1));
    let bias = bias_of(b, out_channels)?;
    let config = ConvTranspose2dConfig { in_channels, out_channels, kernel_size: kernel, conv, bias: bias.is_some() };
    imp.emit(node, name, Op::ConvTranspose2d(ConvTranspose2d { config, weight: w.requires_grad_(), bias }), &[x])
}

fn batch_norm(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    if a.int("training_mode", 0)? != 0 || node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(Error::Invalid("only inference-mode batch normalization (one output) is supported".into()));
    }
    let x = imp.value(node, 0)?;
    let input = imp.shape(x)[0].clone();
    let c = *input.get(1).ok_or_else(|| Error::Shape(format!("input {input:?} has no channel dimension")))?;
    let get = |i: usize, what: &str| -> Result<Tensor, Error> {
        let t = weight(imp, node, i, what)?.ok_or_else(|| Error::Invalid(format!("{what} must be a constant")))?;
        match t.numel() == c {
            true => Ok(t.reshape([c])),
            false => {
                Err(Error::Shape(format!("{what} has shape {:?}, the input {input:?} has {c} channels", t.dims())))
            }
        }
    };
    let (scale, shift, mean, var) = (get(1, "scale")?, get(2, "B")?, get(3, "input_mean")?, get(4, "input_var")?);
    // ONNX's momentum weighs the running value (0.9), PyTorch's the new batch (0.1).
    let params = BatchNormParams { momentum: Some(1.0 - a.float("momentum", 0.9)?), eps: a.float("epsilon", 1e-5)? };
    let spatial = input.len() == 4;
    if !(2..=4).contains(&input.len()) {
        return Err(Error::Shape(format!("batch normalization of an input of shape {input:?}")));
    }
    let mut bn = BatchNorm::with(c, params, true, true, spatial);
    bn.weight = Some(scale.requires_grad_());
    bn.bias = Some(shift.requires_grad_());
    bn.running = Some(RunningStats { mean, var, num_batches_tracked: Tensor::zeros([1]) });
    let name = imp.node_name(node, Some(1));
    imp.emit(node, name, Op::BatchNorm(bn), &[x])
}

/// `y = alpha·A·B + beta·C` with a constant `B`: a linear layer (weights scaled by alpha).
fn gemm(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let (alpha, beta) = (a.float("alpha", 1.0)?, a.float("beta", 1.0)?);
    if a.int("transA", 0)? != 0 {
        return Err(Error::Invalid("transA = 1 is not supported".into()));
    }
    let x = imp.value(node, 0)?;
    let w = weight(imp, node, 1, "B")?.ok_or_else(|| Error::Invalid("B must be a constant (the weight)".into()))?;
    if w.rank() != 2 {
        return Err(Error::Shape(format!("B has shape {:?}, not a matrix", w.dims())));
    }
    let w = if a.int("transB", 0)? != 0 { w } else { w.transpose(0, 1) };
    let (out_f, in_f) = (w.dims()[0], w.dims()[1]);
    let w = if alpha == 1.0 { w } else { w.mul_scalar(alpha) };
    let bias = match weight(imp, node, 2, "C")? {
        None => None,
        Some(c) if c.numel() == out_f => Some(c.reshape([out_f])),
        Some(c) if c.numel() == 1 => Some(Tensor::full([out_f], c.to_vec()[0])),
        Some(c) => return Err(Error::Shape(format!("C has shape {:?}, not [{out_f}]", c.dims()))),
    };
    let bias = bias.map(|b| if beta == 1.0 { b } else { b.mul_scalar(beta) });
    let name = imp.node_name(node, Some(1));
    let lin = Linear {
        in_features: in_f,
        out_features: out_f,
        weight: contiguous(&w).requires_grad_(),
        bias: bias.map(|b| b.requires_grad_()),
    };
    imp.emit(node, name, Op::Linear(lin), &[x])
}

/// A product with a constant matrix on the right is a linear layer without bias; any other
/// product stays a product.
fn matmul(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    if let (Val::Dyn(x), Val::Const(c)) = (imp.required(node, 0)?.clone(), imp.required(node, 1)?.clone()) {
        let w = c.float("the right operand")?;
        if w.rank() == 2 && imp.shape(x)[0].len() >= 2 {
            let (in_f, out_f) = (w.dims()[0], w.dims()[1]);
            let name = imp.node_name(node, Some(1));
            let weight = contiguous(&w.transpose(0, 1)).requires_grad_();
            let lin = Linear { in_features: in_f, out_features: out_f, weight, bias: None };
            return imp.emit(node, name, Op::Linear(lin), &[x]);
        }
    }
    let (x, y) = (imp.value(node, 0)?, imp.value(node, 1)?);
    let name = imp.node_name(node, None);
    imp.emit(node, name, Op::MatMul, &[x, y])
}

/// A convolution's bias as a `[out_channels]` parameter, checked.
fn bias_of(b: Option<Tensor>, out_channels: usize) -> Result<Option<Tensor>, Error> {
    match b {
        Some(b) if b.numel() == out_channels => Ok(Some(b.reshape([out_channels]).requires_grad_())),
        Some(b) => Err(Error::Shape(format!("the bias has shape {:?}, not [{out_channels}]", b.dims()))),
        None => Ok(None),
    }
}

/// A detached copy in row-major order (a transposed view becomes its own tensor).
fn contiguous(t: &Tensor) -> Tensor {
    Tensor::from_vec(t.to_vec(), t.dims().to_vec())
}
