//! Layers with weights or windows: convolutions, batch normalization, linear layers and
//! pooling. Their weights become initializers named `<layer>.weight`, `<layer>.bias`,
//! `<layer>.running_mean`, ... as in the model's `state_dict`.

use super::ops;
use super::Builder;
use crate::graph::{Node, Op, PadSpec};
use crate::nn::{BatchNorm, Conv1d, Conv2d, ConvTranspose2d, Linear};
use crate::onnx::{attr_float, attr_int, attr_ints, AttributeProto};
use crate::ops::pad::PaddingMode;
use crate::ops::pool::Pool2dParams;
use crate::window::effective_kernel;
use crate::{Error, Tensor};

/// Writes `node` when it is one of these layers; `false` for the other ops.
pub(super) fn export(b: &mut Builder, node: &Node) -> Result<bool, Error> {
    match &node.op {
        Op::Conv2d(c) => conv2d(b, node, c)?,
        Op::Conv1d(c) => conv1d(b, node, c)?,
        Op::ConvTranspose2d(c) => conv_transpose(b, node, c)?,
        Op::BatchNorm(bn) => batch_norm(b, node, bn)?,
        Op::Linear(l) => linear(b, node, l)?,
        Op::MaxPool2d(p) => pool(b, node, &p.0, true)?,
        Op::AvgPool2d(p) => pool(b, node, &p.0, false)?,
        Op::AdaptiveAvgPool2d(p) => adaptive(b, node, p.output_size)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn ints(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// The input's name, after a Pad node `<layer>.pad` for a convolution that pads with
/// something other than zeros (`pads`: `(before, after)` per spatial axis).
fn padded_input(b: &mut Builder, node: &Node, mode: PaddingMode, pads: &[(usize, usize)]) -> Result<String, Error> {
    let x = b.name(node.inputs[0]).to_string();
    if mode == PaddingMode::Zeros || pads.iter().all(|&(s, e)| s == 0 && e == 0) {
        return Ok(x);
    }
    if mode == PaddingMode::Circular {
        return Err(Error::Invalid("circular padding has no ONNX form ConvLab writes".into()));
    }
    let name = format!("{}.pad", node.name);
    let spec = PadSpec { pads: [vec![(0, 0), (0, 0)], pads.to_vec()].concat(), mode, value: 0.0 };
    let layer = std::mem::replace(&mut b.current, name.clone());
    ops::pad(b, &name, &x, &name, &spec)?;
    b.current = layer;
    Ok(name)
}

/// The window attributes shared by Conv, ConvTranspose and the pools: `pads` as ONNX orders
/// them (every axis's begin, then every axis's end).
fn window(kernel: &[usize], strides: &[usize], pads: &[(usize, usize)], dilations: &[usize]) -> Vec<AttributeProto> {
    let begins = pads.iter().map(|p| p.0);
    let ends = pads.iter().map(|p| p.1);
    let mut attrs = vec![attr_ints("kernel_shape", &ints(kernel)), attr_ints("strides", &ints(strides))];
    attrs.push(attr_ints("pads", &begins.chain(ends).map(|p| p as i64).collect::<Vec<_>>()));
    if dilations.iter().any(|&d| d != 1) {
        attrs.push(attr_ints("dilations", &ints(dilations)));
    }
    attrs
}

fn conv2d(b: &mut Builder, node: &Node, c: &Conv2d) -> Result<(), Error> {
    let p = &c.config.conv;
    let (k, shape) = (c.config.kernel_size, b.shape(node.inputs[0]).to_vec());
    let eff = [effective_kernel(k[0], p.dilation[0]), effective_kernel(k[1], p.dilation[1])];
    let [t, bo, l, r] = p.padding.resolve([shape[2], shape[3]], eff, p.stride);
    let pads = [(t, bo), (l, r)];
    let x = padded_input(b, node, p.padding_mode, &pads)?;
    let pads = if x == b.name(node.inputs[0]) { pads } else { [(0, 0), (0, 0)] };
    let mut attrs = window(&k, &p.stride, &pads, &p.dilation);
    attrs.push(attr_int("group", p.groups as i64));
    conv_node(b, node, "Conv", &x, &c.weight, c.bias.as_ref(), attrs)
}

fn conv1d(b: &mut Builder, node: &Node, c: &Conv1d) -> Result<(), Error> {
    let p = &c.config.conv;
    let (k, shape) = (c.config.kernel_size, b.shape(node.inputs[0]).to_vec());
    let (s, e) = p.padding.resolve(shape[2], effective_kernel(k, p.dilation), p.stride);
    let x = padded_input(b, node, p.padding_mode, &[(s, e)])?;
    let pads = if x == b.name(node.inputs[0]) { [(s, e)] } else { [(0, 0)] };
    let mut attrs = window(&[k], &[p.stride], &pads, &[p.dilation]);
    attrs.push(attr_int("group", p.groups as i64));
    conv_node(b, node, "Conv", &x, &c.weight, c.bias.as_ref(), attrs)
}

fn conv_transpose(b: &mut Builder, node: &Node, c: &ConvTranspose2d) -> Result<(), Error> {
    let p = &c.config.conv;
    let pads = [(p.padding[0], p.padding[0]), (p.padding[1], p.padding[1])];
    let mut attrs = window(&c.config.kernel_size, &p.stride, &pads, &p.dilation);
    attrs.push(attr_int("group", p.groups as i64));
    if p.output_padding != [0, 0] {
        attrs.push(attr_ints("output_padding", &ints(&p.output_padding)));
    }
    let x = b.name(node.inputs[0]).to_string();
    conv_node(b, node, "ConvTranspose", &x, &c.weight, c.bias.as_ref(), attrs)
}

fn conv_node(
    b: &mut Builder,
    node: &Node,
    op: &str,
    x: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    attrs: Vec<AttributeProto>,
) -> Result<(), Error> {
    let mut inputs = vec![x.to_string(), b.weight("weight", weight)?];
    if let Some(bias) = bias {
        inputs.push(b.weight("bias", bias)?);
    }
    let out = b.name(node.outputs[0]).to_string();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    b.node(op, &node.name, &refs, &[&out], attrs);
    Ok(())
}

fn batch_norm(b: &mut Builder, node: &Node, bn: &BatchNorm) -> Result<(), Error> {
    let Some(running) = &bn.running else {
        return Err(Error::Invalid(
            "without running statistics it normalizes by each batch's own, which ONNX inference cannot".into(),
        ));
    };
    let c = bn.num_features;
    let scale = match &bn.weight {
        Some(w) => b.weight("weight", w)?,
        None => b.weight("weight", &Tensor::ones([c]))?,
    };
    let shift = match &bn.bias {
        Some(w) => b.weight("bias", w)?,
        None => b.weight("bias", &Tensor::zeros([c]))?,
    };
    let mean = b.weight("running_mean", &running.mean)?;
    let var = b.weight("running_var", &running.var)?;
    let x = b.name(node.inputs[0]).to_string();
    let out = b.name(node.outputs[0]).to_string();
    // ONNX's momentum weighs the running value, PyTorch's the new batch.
    let attrs =
        vec![attr_float("epsilon", bn.params.eps), attr_float("momentum", 1.0 - bn.params.momentum.unwrap_or(0.1))];
    b.node("BatchNormalization", &node.name, &[&x, &scale, &shift, &mean, &var], &[&out], attrs);
    Ok(())
}

/// A matrix input is a Gemm; any other rank a MatMul with the transposed weight, and an Add
/// `<layer>.bias_add` of the bias.
fn linear(b: &mut Builder, node: &Node, l: &Linear) -> Result<(), Error> {
    let x = b.name(node.inputs[0]).to_string();
    let out = b.name(node.outputs[0]).to_string();
    if b.shape(node.inputs[0]).len() == 2 {
        let mut inputs = vec![x, b.weight("weight", &l.weight)?];
        if let Some(bias) = &l.bias {
            inputs.push(b.weight("bias", bias)?);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        b.node("Gemm", &node.name, &refs, &[&out], vec![attr_int("transB", 1)]);
        return Ok(());
    }
    let w = b.weight("weight", &l.weight.transpose(0, 1))?;
    match &l.bias {
        None => b.node("MatMul", &node.name, &[&x, &w], &[&out], vec![]),
        Some(bias) => {
            let product = format!("{}:matmul", node.name);
            b.node("MatMul", &node.name, &[&x, &w], &[&product], vec![]);
            let bias = b.weight("bias", bias)?;
            b.node("Add", &format!("{}.bias_add", node.name), &[&product, &bias], &[&out], vec![]);
        }
    }
    Ok(())
}

fn pool(b: &mut Builder, node: &Node, p: &Pool2dParams, max: bool) -> Result<(), Error> {
    let pads = [(p.padding[0], p.padding[0]), (p.padding[1], p.padding[1])];
    let mut attrs = window(&p.kernel_size, &p.stride, &pads, &p.dilation);
    if p.ceil_mode {
        attrs.push(attr_int("ceil_mode", 1));
    }
    if !max {
        if p.dilation != [1, 1] && b.opset < 19 {
            return Err(Error::Invalid(format!(
                "an average pool with dilation {:?} needs opset 19 or later (AveragePool has no dilations before)",
                p.dilation
            )));
        }
        if let Some(d) = p.divisor_override {
            return Err(Error::Invalid(format!("divisor_override {d} has no ONNX form")));
        }
        attrs.push(attr_int("count_include_pad", p.count_include_pad as i64));
    }
    let x = b.name(node.inputs[0]).to_string();
    let out = b.name(node.outputs[0]).to_string();
    b.node(if max { "MaxPool" } else { "AveragePool" }, &node.name, &[&x], &[&out], attrs);
    Ok(())
}

/// An adaptive average pool: GlobalAveragePool for 1×1; an AveragePool when the output
/// sizes divide the input's; else `A_h · x · A_wᵀ` with the averaging matrices (a MatMul
/// `<layer>.cols` with the weight `<layer>.cols.weight`, then one with `<layer>.rows`).
fn adaptive(b: &mut Builder, node: &Node, out_size: [usize; 2]) -> Result<(), Error> {
    let x = b.name(node.inputs[0]).to_string();
    let out = b.name(node.outputs[0]).to_string();
    let shape = b.shape(node.inputs[0]).to_vec();
    let (h, w) = (shape[2], shape[3]);
    if out_size == [1, 1] {
        b.node("GlobalAveragePool", &node.name, &[&x], &[&out], vec![]);
        return Ok(());
    }
    if h % out_size[0] == 0 && w % out_size[1] == 0 {
        let k = [h / out_size[0], w / out_size[1]];
        let attrs = window(&k, &k, &[(0, 0), (0, 0)], &[1, 1]);
        b.node("AveragePool", &node.name, &[&x], &[&out], attrs);
        return Ok(());
    }
    let cols = format!("{}.cols", node.name);
    let layer = std::mem::replace(&mut b.current, cols.clone());
    let aw = b.weight("weight", &averaging(w, out_size[1]).transpose(0, 1))?;
    b.current = layer;
    b.node("MatMul", &cols, &[&x, &aw], &[&cols], vec![]);
    let ah = b.float("rows", &averaging(h, out_size[0]))?;
    b.node("MatMul", &node.name, &[&ah, &cols], &[&out], vec![]);
    Ok(())
}

/// `[out, n]`: row `i` averages the positions of adaptive window `i` over `n` positions
/// (`⌊i·n/out⌋` to `⌈(i+1)·n/out⌉`).
fn averaging(n: usize, out: usize) -> Tensor {
    let mut m = vec![0.0; out * n];
    for i in 0..out {
        let (s, e) = (i * n / out, ((i + 1) * n).div_ceil(out));
        for j in s..e {
            m[i * n + j] = 1.0 / (e - s) as f32;
        }
    }
    Tensor::from_vec(m, [out, n])
}
