//! Activations and graph ops: each as its ONNX operator, written as the chosen opset wants
//! its settings (attributes, or constant inputs named `<node>.<setting>`).

use super::Builder;
use crate::graph::{Comparison, Node, Op, PadSpec};
use crate::onnx::{attr_float, attr_int, attr_ints, attr_string, DataType};
use crate::ops::activation::{Activation, Gelu, SELU_ALPHA, SELU_SCALE};
use crate::ops::pad::PaddingMode;
use crate::Error;

/// Writes `node` (any op that is not a layer with weights or a window).
pub(super) fn export(b: &mut Builder, node: &Node) -> Result<(), Error> {
    let name = node.name.as_str();
    let ins: Vec<String> = node.inputs.iter().map(|&v| b.name(v).to_string()).collect();
    let outs: Vec<String> = node.outputs.iter().map(|&v| b.name(v).to_string()).collect();
    let (x, y) = (ins.first().cloned().unwrap_or_default(), outs[0].clone());
    let rank = node.inputs.first().map_or(0, |&v| b.shape(v).len());
    match &node.op {
        Op::Act(a) => activation(b, name, &x, &y, a.0)?,
        Op::Softmax(s) => b.node("Softmax", name, &[&x], &[&y], vec![attr_int("axis", s.dim as i64)]),
        Op::LogSoftmax { axis } => b.node("LogSoftmax", name, &[&x], &[&y], vec![attr_int("axis", *axis as i64)]),
        Op::Flatten(f) => {
            let end = if f.end_dim < 0 { f.end_dim + rank as isize } else { f.end_dim };
            if f.start_dim == 1 && end == rank as isize - 1 {
                b.node("Flatten", name, &[&x], &[&y], vec![attr_int("axis", 1)]);
            } else {
                let shape: Vec<i64> = b.shapes[node.outputs[0].0].iter().map(|&d| d as i64).collect();
                reshape(b, node, &x, &y, shape)?;
            }
        }
        Op::Dropout(_) | Op::Identity => b.node("Identity", name, &[&x], &[&y], vec![]),
        Op::GlobalMaxPool => b.node("GlobalMaxPool", name, &[&x], &[&y], vec![]),
        Op::Clip { min, max } => clip(b, name, &x, &y, *min, *max)?,
        Op::Erf => b.node("Erf", name, &[&x], &[&y], vec![]),
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::MatMul => {
            b.node(node.op.kind(), name, &[&ins[0], &ins[1]], &[&y], vec![])
        }
        Op::Compare(c) => {
            // ONNX compares to booleans; the graph's value is 1.0 / 0.0.
            let op = match c {
                Comparison::Greater => "Greater",
                Comparison::GreaterOrEqual => "GreaterOrEqual",
                Comparison::Less => "Less",
                Comparison::LessOrEqual => "LessOrEqual",
                Comparison::Equal => "Equal",
            };
            let flag = format!("{y}:bool");
            b.node(op, name, &[&ins[0], &ins[1]], &[&flag], vec![]);
            b.node("Cast", &format!("{name}.cast"), &[&flag], &[&y], vec![attr_int("to", DataType::Float as i64)]);
            b.bools.insert(node.outputs[0].0, flag);
        }
        Op::Where => {
            let cond = match b.bools.get(&node.inputs[0].0) {
                Some(flag) => flag.clone(),
                None => {
                    let flag = format!("{}:bool", ins[0]);
                    let to = attr_int("to", DataType::Bool as i64);
                    b.node("Cast", &format!("{name}.cast"), &[&ins[0]], &[&flag], vec![to]);
                    flag
                }
            };
            b.node("Where", name, &[&cond, &ins[1], &ins[2]], &[&y], vec![]);
        }
        Op::Concat { axis } => {
            let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
            b.node("Concat", name, &refs, &[&y], vec![attr_int("axis", *axis as i64)]);
        }
        Op::Split { axis, sizes } => {
            let sizes: Vec<i64> = sizes.iter().map(|&s| s as i64).collect();
            let split = b.ints("split", &sizes)?;
            let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
            b.node("Split", name, &[&x, &split], &refs, vec![attr_int("axis", *axis as i64)]);
        }
        Op::Slice(s) => {
            let axes: Vec<i64> = s.axes.iter().map(|&a| a as i64).collect();
            let inputs = [
                x.clone(),
                b.ints("starts", &s.starts)?,
                b.ints("ends", &s.ends)?,
                b.ints("axes", &axes)?,
                b.ints("steps", &s.steps)?,
            ];
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            b.node("Slice", name, &refs, &[&y], vec![]);
        }
        Op::Reshape { shape } => reshape(b, node, &x, &y, shape.clone())?,
        Op::Transpose { perm } => {
            let perm: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
            b.node("Transpose", name, &[&x], &[&y], vec![attr_ints("perm", &perm)]);
        }
        Op::Pad(p) => pad(b, name, &x, &y, p)?,
        Op::GatherNd { indices, index_shape } => {
            let values: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
            let idx = b.ints_shaped("indices", &values, index_shape)?;
            b.node("GatherND", name, &[&x, &idx], &[&y], vec![]);
        }
        Op::ReduceMean { axes, keepdims } => {
            let axes: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
            let keep = attr_int("keepdims", *keepdims as i64);
            if b.opset >= 18 {
                let a = b.ints("axes", &axes)?;
                b.node("ReduceMean", name, &[&x, &a], &[&y], vec![keep]);
            } else {
                b.node("ReduceMean", name, &[&x], &[&y], vec![attr_ints("axes", &axes), keep]);
            }
        }
        Op::Constant(t) => {
            b.constant(&y, t)?;
        }
        _ => return Err(Error::Invalid(format!("ConvLab cannot export {} yet", node.op.kind()))),
    }
    Ok(())
}

/// An activation; what the opset lacks is written with other operators, the last one named
/// as the layer and the others `<layer>.<op>`.
fn activation(b: &mut Builder, name: &str, x: &str, y: &str, a: Activation) -> Result<(), Error> {
    let one = |b: &mut Builder, op: &str, attrs| b.node(op, name, &[x], &[y], attrs);
    match a {
        Activation::Relu => one(b, "Relu", vec![]),
        Activation::LeakyRelu { negative_slope } => one(b, "LeakyRelu", vec![attr_float("alpha", negative_slope)]),
        Activation::Elu { alpha } => one(b, "Elu", vec![attr_float("alpha", alpha)]),
        Activation::Sigmoid => one(b, "Sigmoid", vec![]),
        Activation::Tanh => one(b, "Tanh", vec![]),
        Activation::Identity => one(b, "Identity", vec![]),
        Activation::Softplus { beta, threshold } if beta == 1.0 && threshold >= 20.0 => one(b, "Softplus", vec![]),
        Activation::Softplus { beta, threshold } => {
            return Err(Error::Invalid(format!(
                "Softplus with beta {beta} and threshold {threshold} (ONNX's Softplus has beta 1 and no threshold)"
            )))
        }
        Activation::Selu => {
            one(b, "Selu", vec![attr_float("alpha", SELU_ALPHA), attr_float("gamma", SELU_SCALE)]);
        }
        Activation::Hardsigmoid { alpha, beta } => {
            one(b, "HardSigmoid", vec![attr_float("alpha", alpha), attr_float("beta", beta)])
        }
        Activation::Relu6 => clip(b, name, x, y, Some(0.0), Some(6.0))?,
        Activation::Hardswish if b.opset >= 14 => one(b, "HardSwish", vec![]),
        Activation::Hardswish => {
            // x · hardsigmoid(x) with alpha 1/6 and beta 1/2.
            let h = format!("{name}.hardsigmoid");
            let attrs = vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)];
            b.node("HardSigmoid", &h, &[x], &[&h], attrs);
            b.node("Mul", name, &[x, &h], &[y], vec![]);
        }
        Activation::Silu => {
            let s = format!("{name}.sigmoid");
            b.node("Sigmoid", &s, &[x], &[&s], vec![]);
            b.node("Mul", name, &[x, &s], &[y], vec![]);
        }
        Activation::Gelu { approximate } if b.opset >= 20 => {
            let mode = if approximate == Gelu::Tanh { "tanh" } else { "none" };
            one(b, "Gelu", vec![attr_string("approximate", mode)]);
        }
        Activation::Gelu { approximate: Gelu::None } => {
            // x · (1 + erf(x / √2)) · ½.
            let (d, e, s, m) =
                (format!("{name}.div"), format!("{name}.erf"), format!("{name}.add"), format!("{name}.mul"));
            let sqrt2 = b.scalar("sqrt2", std::f32::consts::SQRT_2)?;
            let one_c = b.scalar("one", 1.0)?;
            let half = b.scalar("half", 0.5)?;
            b.node("Div", &d, &[x, &sqrt2], &[&d], vec![]);
            b.node("Erf", &e, &[&d], &[&e], vec![]);
            b.node("Add", &s, &[&e, &one_c], &[&s], vec![]);
            b.node("Mul", &m, &[x, &s], &[&m], vec![]);
            b.node("Mul", name, &[&m, &half], &[y], vec![]);
        }
        Activation::Gelu { .. } => {
            return Err(Error::Invalid(format!(
                "GELU with the tanh approximation needs opset 20 or later (asked for {})",
                b.opset
            )))
        }
    }
    Ok(())
}

/// Clip with its bounds as inputs `<node>.min` / `<node>.max` (an absent one is `""`).
fn clip(b: &mut Builder, name: &str, x: &str, y: &str, min: Option<f32>, max: Option<f32>) -> Result<(), Error> {
    let mut inputs = vec![x.to_string()];
    inputs.push(match min {
        Some(v) => b.scalar("min", v)?,
        None => String::new(),
    });
    if let Some(v) = max {
        inputs.push(b.scalar("max", v)?);
    }
    while inputs.last().is_some_and(String::is_empty) {
        inputs.pop();
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    b.node("Clip", name, &refs, &[y], vec![]);
    Ok(())
}

/// Pad with its amounts as the input `<node>.pads` and its value as `<node>.value`.
pub(super) fn pad(b: &mut Builder, name: &str, x: &str, y: &str, p: &PadSpec) -> Result<(), Error> {
    let mode = match p.mode {
        PaddingMode::Zeros => "constant",
        PaddingMode::Reflect => "reflect",
        PaddingMode::Replicate => "edge",
        PaddingMode::Circular if b.opset >= 19 => "wrap",
        PaddingMode::Circular => {
            return Err(Error::Invalid(format!("circular padding needs opset 19 or later (asked for {})", b.opset)))
        }
    };
    let begins = p.pads.iter().map(|q| q.0 as i64);
    let amounts: Vec<i64> = begins.chain(p.pads.iter().map(|q| q.1 as i64)).collect();
    let mut inputs = vec![x.to_string(), b.ints("pads", &amounts)?];
    if p.mode == PaddingMode::Zeros {
        inputs.push(b.scalar("value", p.value)?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    b.node("Pad", name, &refs, &[y], vec![attr_string("mode", mode)]);
    Ok(())
}

/// Reshape to `shape` (ONNX's rules: `0` copies, `-1` is inferred) as the input
/// `<node>.shape`. With a dynamic batch, a size that follows the batch becomes `0` (where the
/// input has it at the same place) or `-1`.
fn reshape(b: &mut Builder, node: &Node, x: &str, y: &str, mut shape: Vec<i64>) -> Result<(), Error> {
    if let Some(next) = &b.shapes_next {
        let (i1, i2) = (&b.shapes[node.inputs[0].0], &next[node.inputs[0].0]);
        let (o1, o2) = (&b.shapes[node.outputs[0].0], &next[node.outputs[0].0]);
        let mut inferred = shape.contains(&-1);
        for (k, size) in shape.iter_mut().enumerate() {
            if *size <= 0 || o1.get(k) == o2.get(k) {
                continue;
            }
            if i1.get(k) == o1.get(k) && i2.get(k) == o2.get(k) {
                *size = 0;
            } else if !inferred {
                *size = -1;
                inferred = true;
            } else {
                return Err(Error::Invalid(format!(
                    "the reshape to {o1:?} has two sizes that follow the batch; it cannot be written with a symbolic batch"
                )));
            }
        }
    }
    let s = b.ints("shape", &shape)?;
    b.node("Reshape", &node.name, &[x, &s], &[y], vec![]);
    Ok(())
}
