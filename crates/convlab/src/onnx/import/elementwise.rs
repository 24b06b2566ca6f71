//! Element-wise ops: arithmetic with broadcasting, the activations, Clip, Softmax and
//! LogSoftmax, Dropout and Identity.

use super::attrs::Attrs;
use super::{Importer, Val};
use crate::graph::{Comparison, Op};
use crate::nn::{Act, Dropout, Softmax};
use crate::onnx::proto::NodeProto;
use crate::ops::activation::{Activation, Gelu, SELU_ALPHA, SELU_SCALE};
use crate::Error;

pub(super) fn import(imp: &mut Importer, node: &NodeProto) -> Result<bool, Error> {
    let op = node.op_type.as_str();
    if let Some(binary) = binary(op) {
        let (x, y) = (imp.value(node, 0)?, imp.value(node, 1)?);
        let name = imp.node_name(node, None);
        imp.emit(node, name, binary, &[x, y])?;
        return Ok(true);
    }
    if let Some(act) = activation(node)? {
        let x = imp.value(node, 0)?;
        let name = imp.node_name(node, None);
        imp.emit(node, name, Op::Act(Act(act)), &[x])?;
        return Ok(true);
    }
    match op {
        "Clip" => clip(imp, node)?,
        "Erf" => {
            let x = imp.value(node, 0)?;
            let name = imp.node_name(node, None);
            imp.emit(node, name, Op::Erf, &[x])?;
        }
        "Where" => {
            let (c, x, y) = (imp.value(node, 0)?, imp.value(node, 1)?, imp.value(node, 2)?);
            let name = imp.node_name(node, None);
            imp.emit(node, name, Op::Where, &[c, x, y])?;
        }
        "Cast" => {
            // A cast of a computed value to a float type changes nothing the engine keeps.
            let to = Attrs::of(node).int("to", 1)?;
            if !matches!(to, 1 | 10 | 11 | 16) {
                return Err(Error::Invalid(format!("a Cast of a computed value to type {to} (only float types)")));
            }
            let v = imp.required(node, 0)?.clone();
            imp.define(node, vec![v])?;
        }
        "Softmax" | "LogSoftmax" => softmax(imp, node)?,
        "Dropout" => dropout(imp, node)?,
        "Identity" => {
            let v = imp.required(node, 0)?.clone();
            imp.define(node, vec![v])?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn binary(op: &str) -> Option<Op> {
    Some(match op {
        "Add" => Op::Add,
        "Sub" => Op::Sub,
        "Mul" => Op::Mul,
        "Div" => Op::Div,
        "Greater" => Op::Compare(Comparison::Greater),
        "GreaterOrEqual" => Op::Compare(Comparison::GreaterOrEqual),
        "Less" => Op::Compare(Comparison::Less),
        "LessOrEqual" => Op::Compare(Comparison::LessOrEqual),
        "Equal" => Op::Compare(Comparison::Equal),
        _ => return None,
    })
}

/// The activation an ONNX activation node computes, with its attributes.
fn activation(node: &NodeProto) -> Result<Option<Activation>, Error> {
    let a = Attrs::of(node);
    Ok(Some(match node.op_type.as_str() {
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu { negative_slope: a.float("alpha", 0.01)? },
        "Elu" => Activation::Elu { alpha: a.float("alpha", 1.0)? },
        "Sigmoid" => Activation::Sigmoid,
        "Tanh" => Activation::Tanh,
        // ONNX's Softplus is log(1 + exp(x)): PyTorch's with beta 1 (its threshold 20 switches
        // to x where the two differ by less than 2e-9).
        "Softplus" => Activation::Softplus { beta: 1.0, threshold: 20.0 },
        "HardSigmoid" => Activation::Hardsigmoid { alpha: a.float("alpha", 0.2)?, beta: a.float("beta", 0.5)? },
        "HardSwish" => Activation::Hardswish,
        "Selu" => {
            let (alpha, gamma) = (a.float("alpha", SELU_ALPHA)?, a.float("gamma", SELU_SCALE)?);
            if (alpha - SELU_ALPHA).abs() > 1e-6 || (gamma - SELU_SCALE).abs() > 1e-6 {
                return Err(Error::Invalid(format!(
                    "Selu with alpha {alpha} and gamma {gamma} (ConvLab's SELU has the standard ones)"
                )));
            }
            Activation::Selu
        }
        "Gelu" => Activation::Gelu {
            approximate: match a.string("approximate", "none")?.as_str() {
                "none" => Gelu::None,
                "tanh" => Gelu::Tanh,
                other => return Err(Error::Invalid(format!("Gelu approximate '{other}' is not none or tanh"))),
            },
        },
        _ => return Ok(None),
    }))
}

fn clip(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let bound = |i: usize, attr: &str| -> Result<Option<f32>, Error> {
        if imp.opset < 11 {
            return a.has(attr).then(|| a.float(attr, 0.0)).transpose();
        }
        match imp.constant_input(node, i, attr)? {
            None => Ok(None),
            Some(c) => {
                let t = c.float(attr)?;
                match t.numel() {
                    1 => Ok(Some(t.to_vec()[0])),
                    n => Err(Error::Shape(format!("{attr} holds {n} values, not one"))),
                }
            }
        }
    };
    let (min, max) = (bound(1, "min")?, bound(2, "max")?);
    let x = imp.value(node, 0)?;
    let name = imp.node_name(node, None);
    let op = match (min, max) {
        (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Op::Act(Act(Activation::Relu6)),
        _ => Op::Clip { min, max },
    };
    imp.emit(node, name, op, &[x])
}

fn softmax(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let x = imp.value(node, 0)?;
    let rank = imp.shape(x)[0].len() as i64;
    let axis = a.int("axis", if imp.opset >= 13 { -1 } else { 1 })?;
    // Before opset 13 the input is flattened to 2-D at `axis`: the same as a softmax along
    // the last axis only when `axis` is the last one.
    if imp.opset < 13 && !(axis == -1 || axis == rank - 1) {
        return Err(Error::Invalid(format!(
            "a softmax over the flattened axes from {axis} of a rank-{rank} input (opset < 13)"
        )));
    }
    let name = imp.node_name(node, None);
    let op = match node.op_type == "Softmax" {
        true => Op::Softmax(Softmax { dim: axis as isize }),
        false => Op::LogSoftmax { axis: axis as isize },
    };
    imp.emit(node, name, op, &[x])
}

fn dropout(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(Error::Invalid("the mask output is not supported".into()));
    }
    let a = Attrs::of(node);
    let p = match imp.opset >= 12 {
        true => match imp.constant_input(node, 1, "ratio")? {
            Some(c) => c.float("ratio")?.to_vec().first().copied().unwrap_or(0.5),
            None => 0.5,
        },
        false => a.float("ratio", 0.5)?,
    };
    if !(0.0..1.0).contains(&p) {
        return Err(Error::Invalid(format!("ratio {p} must be in [0, 1)")));
    }
    let x = match imp.required(node, 0)? {
        Val::Dyn(v) => *v,
        Val::Const(_) => imp.value(node, 0)?,
    };
    let name = imp.node_name(node, None);
    imp.emit(node, name, Op::Dropout(Dropout { p }), &[x])
}
