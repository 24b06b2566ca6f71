//! Pooling: MaxPool (with ceil_mode and dilations), AveragePool, GlobalAveragePool and
//! GlobalMaxPool. Padding that differs between the two ends of an axis (TensorFlow's SAME)
//! becomes an explicit Pad before a pooling without padding.

use super::attrs::{sizes, Attrs};
use super::layers::window;
use super::Importer;
use crate::graph::{Op, PadSpec};
use crate::nn::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
use crate::onnx::proto::NodeProto;
use crate::ops::pad::PaddingMode;
use crate::ops::pool::Pool2dParams;
use crate::Error;

pub(super) fn import(imp: &mut Importer, node: &NodeProto) -> Result<bool, Error> {
    match node.op_type.as_str() {
        "MaxPool" | "AveragePool" => pool(imp, node)?,
        "GlobalAveragePool" => {
            let x = imp.value(node, 0)?;
            let name = imp.node_name(node, None);
            imp.emit(node, name, Op::AdaptiveAvgPool2d(AdaptiveAvgPool2d { output_size: [1, 1] }), &[x])?
        }
        "GlobalMaxPool" => {
            let x = imp.value(node, 0)?;
            let name = imp.node_name(node, None);
            imp.emit(node, name, Op::GlobalMaxPool, &[x])?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn pool(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let max = node.op_type == "MaxPool";
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(Error::Invalid("the Indices output is not supported".into()));
    }
    if max && a.int("storage_order", 0)? != 0 {
        return Err(Error::Invalid("storage_order = 1 is not supported".into()));
    }
    let kernel = sizes(
        &a.ints("kernel_shape")?.ok_or_else(|| Error::Invalid("kernel_shape is missing".into()))?,
        "kernel_shape",
    )?;
    let x = imp.value(node, 0)?;
    let input = imp.shape(x)[0].clone();
    if kernel.len() != 2 || input.len() != 4 {
        return Err(Error::Shape(format!(
            "only 2-D pooling of [N, C, H, W] is supported (kernel {kernel:?}, input {input:?})"
        )));
    }
    let win = window(&a, &kernel, &input[2..])?;
    let ceil_mode = a.int("ceil_mode", 0)? != 0;
    // ONNX's default counts only the taps inside the input (PyTorch's counts the padding).
    let count_include_pad = a.int("count_include_pad", 0)? != 0;
    let name = imp.node_name(node, None);
    let mut x = x;
    let mut padding = [win.pads_begin[0], win.pads_begin[1]];
    if win.pads_begin != win.pads_end || (0..2).any(|i| padding[i] > kernel[i] / 2) {
        if !max && !count_include_pad {
            return Err(Error::Invalid(format!(
                "pads {:?}/{:?} differ between the ends or exceed half the kernel, which average pooling without count_include_pad cannot express",
                win.pads_begin, win.pads_end
            )));
        }
        // Pad explicitly (-inf for max, zeros counted by the average), then pool unpadded.
        let value = if max { f32::NEG_INFINITY } else { 0.0 };
        let pads = vec![(0, 0), (0, 0), (win.pads_begin[0], win.pads_end[0]), (win.pads_begin[1], win.pads_end[1])];
        let pad_name = imp.unique(&format!("{name}.pad"));
        x = imp.push(&pad_name, Op::Pad(PadSpec { pads, mode: PaddingMode::Zeros, value }), &[x])?[0];
        padding = [0, 0];
    }
    let params = Pool2dParams {
        kernel_size: [kernel[0], kernel[1]],
        stride: [win.strides[0], win.strides[1]],
        padding,
        dilation: [win.dilations[0], win.dilations[1]],
        ceil_mode,
        count_include_pad,
        divisor_override: None,
    };
    let op = if max { Op::MaxPool2d(MaxPool2d(params)) } else { Op::AvgPool2d(AvgPool2d(params)) };
    imp.emit(node, name, op, &[x])
}
