//! Shape ops on computed values (Concat, Split, Slice, Flatten, Reshape, Squeeze, Unsqueeze,
//! Transpose, Pad, ReduceMean, Gather with constant indices); their constant forms are folded
//! in [`super::folding`].

use super::attrs::{sizes, Attrs};
use super::fold::{reshape_target, to_i64, Ints};
use super::{Importer, Val};
use crate::graph::{Op, PadSpec, SliceSpec, ValueId};
use crate::nn::Flatten;
use crate::onnx::proto::NodeProto;
use crate::ops::pad::PaddingMode;
use crate::Error;

/// Resolves a possibly negative axis against `rank`.
pub(super) fn axis(a: i64, rank: usize) -> Result<usize, Error> {
    let r = rank as i64;
    let i = if a < 0 { a + r } else { a };
    match (0..r).contains(&i) {
        true => Ok(i as usize),
        false => Err(Error::Invalid(format!("axis {a} is out of range for rank {rank}"))),
    }
}

/// The axes of Squeeze, Unsqueeze, ReduceMean, ...: an attribute before `input_from`, an
/// optional constant input from then on.
pub(super) fn axes_of(
    imp: &Importer,
    node: &NodeProto,
    input: usize,
    input_from: i64,
) -> Result<Option<Vec<i64>>, Error> {
    if imp.opset >= input_from {
        return match imp.constant_input(node, input, "axes")? {
            None => Ok(None),
            Some(c) => Ok(Some(c.ints("axes")?.values("axes")?.to_vec())),
        };
    }
    Attrs::of(node).ints("axes")
}

pub(super) fn import(imp: &mut Importer, node: &NodeProto) -> Result<bool, Error> {
    let a = Attrs::of(node);
    let op = node.op_type.as_str();
    let op = match op {
        "Concat" => {
            let inputs: Vec<ValueId> = (0..node.input.len()).map(|i| imp.value(node, i)).collect::<Result<_, _>>()?;
            let name = imp.node_name(node, None);
            return imp.emit(node, name, Op::Concat { axis: a.int("axis", 0)? as isize }, &inputs).map(|_| true);
        }
        "Split" => return split(imp, node).map(|_| true),
        "Slice" => {
            let x = imp.value(node, 0)?;
            Op::Slice(slice_spec(imp, node, imp.shape(x)[0].len())?)
        }
        "Flatten" => {
            let x = imp.value(node, 0)?;
            match a.int("axis", 1)? {
                1 => Op::Flatten(Flatten { start_dim: 1, end_dim: -1 }),
                0 => Op::Reshape { shape: vec![1, -1] },
                k => {
                    let rank = imp.shape(x)[0].len();
                    let k = axis(k, rank + 1)?;
                    let rest: usize = imp.shape(x)[0][k..].iter().product();
                    Op::Reshape { shape: vec![-1, rest as i64] }
                }
            }
        }
        "Reshape" => {
            let x = imp.value(node, 0)?;
            let target = imp
                .constant_input(node, 1, "the shape")?
                .ok_or_else(|| Error::Invalid("the shape is missing".into()))?;
            let target = target.ints("the shape")?;
            // With allowzero a 0 is a size of 0, which no image model has.
            if a.int("allowzero", 0)? != 0 && target.at.iter().any(|t| t.contains(&0)) {
                return Err(Error::Invalid("allowzero = 1 with a size of 0 in the shape is not supported".into()));
            }
            // `0` copies the input's size at the same position (ONNX's rule): resolve it at each
            // batch size first so that the batch-dependence test sees the real sizes.
            let [s1, s2] = imp.shape(x).clone();
            let resolve = |t: &[i64], s: &[usize]| -> Vec<i64> {
                t.iter().enumerate().map(|(i, &v)| if v == 0 { s.get(i).map_or(0, |&d| d as i64) } else { v }).collect()
            };
            let mut resolved =
                Ints { dims: target.dims.clone(), at: [resolve(&target.at[0], &s1), resolve(&target.at[1], &s2)] };
            // A file exported for a fixed batch writes that batch into its shapes: where it
            // leads the target of a value that has the batch first, it is the batch.
            let batch_first = s1.first() != s2.first();
            if resolved.is_fixed()
                && batch_first
                && imp.declared_batch.is_some_and(|b| resolved.at[0].first() == Some(&(b as i64)))
            {
                resolved.at[0][0] = s1[0] as i64;
                resolved.at[1][0] = s2[0] as i64;
            }
            Op::Reshape { shape: reshape_target(&resolved, true)? }
        }
        "Squeeze" | "Unsqueeze" => {
            let x = imp.value(node, 0)?;
            let axes = axes_of(imp, node, 1, 13)?;
            let [s1, s2] = imp.shape(x).clone();
            let d1 = squeeze_dims(&s1, op == "Unsqueeze", axes.clone())?;
            let d2 = squeeze_dims(&s2, op == "Unsqueeze", axes)?;
            Op::Reshape { shape: reshape_target(&Ints { dims: vec![d1.len()], at: [to_i64(&d1), to_i64(&d2)] }, true)? }
        }
        "Transpose" => {
            let x = imp.value(node, 0)?;
            let rank = imp.shape(x)[0].len();
            let perm = match a.ints("perm")? {
                Some(p) => sizes(&p, "perm")?,
                None => (0..rank).rev().collect(),
            };
            Op::Transpose { perm }
        }
        "Pad" => pad(imp, node)?,
        "GatherND" => {
            if a.int("batch_dims", 0)? != 0 {
                return Err(Error::Invalid("GatherND with batch_dims other than 0 is not supported".into()));
            }
            let idx = imp
                .constant_input(node, 1, "the indices")?
                .ok_or_else(|| Error::Invalid("indices are missing".into()))?;
            let idx = idx.ints("the indices")?;
            let x = imp.value(node, 0)?;
            let [s1, s2] = imp.shape(x).clone();
            let k = idx.dims.last().copied().unwrap_or(0);
            if k == 0 || k > s1.len() || s1[..k] != s2[..k] {
                return Err(Error::Invalid("GatherND indices that reach the batch are not supported".into()));
            }
            // Negative indices count from the end of their axis.
            let v = idx.values("the indices")?;
            let indices = v
                .iter()
                .enumerate()
                .map(|(j, &i)| {
                    let n = s1[j % k] as i64;
                    let i = if i < 0 { i + n } else { i };
                    usize::try_from(i)
                        .ok()
                        .filter(|&i| (i as i64) < n)
                        .ok_or_else(|| Error::Invalid(format!("index {i} is out of range")))
                })
                .collect::<Result<_, _>>()?;
            Op::GatherNd { indices, index_shape: idx.dims.clone() }
        }
        "ReduceMean" => {
            let axes = axes_of(imp, node, 1, 18)?.unwrap_or_default();
            let x = imp.value(node, 0)?;
            let rank = imp.shape(x)[0].len();
            let axes = axes.iter().map(|&v| axis(v, rank).map(|v| v as isize)).collect::<Result<_, _>>()?;
            Op::ReduceMean { axes, keepdims: a.int("keepdims", 1)? != 0 }
        }
        "Gather" => {
            // A constant index along an axis of a computed value: a slice (and a reshape that
            // drops the axis for a scalar index).
            let idx = imp
                .constant_input(node, 1, "the indices")?
                .ok_or_else(|| Error::Invalid("indices are missing".into()))?;
            let idx = idx.ints("the indices")?;
            let x = imp.value(node, 0)?;
            let [s1, s2] = imp.shape(x).clone();
            let ax = axis(a.int("axis", 0)?, s1.len())?;
            let v = idx.values("the indices")?;
            if v.len() != 1 {
                return Err(Error::Invalid(
                    "a Gather of several indices from a computed value is not supported".into(),
                ));
            }
            let n = s1[ax] as i64;
            let i = if v[0] < 0 { v[0] + n } else { v[0] };
            let spec = SliceSpec { axes: vec![ax as isize], starts: vec![i], ends: vec![i + 1], steps: vec![1] };
            let name = imp.node_name(node, None);
            let mut y = imp.push(&format!("{name}.slice"), Op::Slice(spec), &[x])?[0];
            if idx.dims.is_empty() {
                let drop = |s: &[usize]| -> Vec<i64> {
                    s.iter().enumerate().filter(|&(k, _)| k != ax).map(|(_, &d)| d as i64).collect()
                };
                let target = reshape_target(&Ints { dims: vec![s1.len() - 1], at: [drop(&s1), drop(&s2)] }, ax != 0)?;
                y = imp.push(&name, Op::Reshape { shape: target }, &[y])?[0];
            }
            imp.define(node, vec![Val::Dyn(y)])?;
            return Ok(true);
        }
        _ => return Ok(false),
    };
    let x = imp.value(node, 0)?;
    let name = imp.node_name(node, None);
    imp.emit(node, name, op, &[x])?;
    Ok(true)
}

fn split(imp: &mut Importer, node: &NodeProto) -> Result<(), Error> {
    let a = Attrs::of(node);
    let x = imp.value(node, 0)?;
    let shape = imp.shape(x)[0].clone();
    let ax = axis(a.int("axis", 0)?, shape.len())?;
    let n = node.output.len();
    let given = match imp.opset >= 13 {
        true => imp
            .constant_input(node, 1, "split")?
            .map(|c| c.ints("split")?.values("split").map(<[i64]>::to_vec))
            .transpose()?,
        false => a.ints("split")?,
    };
    let sizes_v = match given {
        Some(s) => sizes(&s, "split")?,
        None => {
            let parts = a.int("num_outputs", n as i64)?.max(1) as usize;
            let each = shape[ax].div_ceil(parts);
            (0..parts).map(|k| each.min(shape[ax].saturating_sub(k * each))).collect()
        }
    };
    let name = imp.node_name(node, None);
    let outs = imp.push(&name, Op::Split { axis: ax as isize, sizes: sizes_v }, &[x])?;
    imp.define(node, outs.into_iter().map(Val::Dyn).collect())
}

fn pad(imp: &Importer, node: &NodeProto) -> Result<Op, Error> {
    let a = Attrs::of(node);
    let x = match imp.required(node, 0)? {
        Val::Dyn(v) => *v,
        Val::Const(_) => return Err(Error::Invalid("padding a constant is not supported".into())),
    };
    let rank = imp.shape(x)[0].len();
    let pads = match imp.opset >= 11 {
        true => imp
            .constant_input(node, 1, "pads")?
            .ok_or_else(|| Error::Invalid("pads is missing".into()))?
            .ints("pads")?
            .values("pads")?
            .to_vec(),
        false => a.ints("pads")?.ok_or_else(|| Error::Invalid("pads is missing".into()))?,
    };
    let value = match imp.opset >= 11 {
        true => match imp.constant_input(node, 2, "constant_value")? {
            Some(c) => c.float("constant_value")?.to_vec().first().copied().unwrap_or(0.0),
            None => 0.0,
        },
        false => a.float("value", 0.0)?,
    };
    let axes: Vec<usize> = match imp.constant_input(node, 3, "axes")? {
        Some(c) => c.ints("axes")?.values("axes")?.iter().map(|&v| axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
        return Err(Error::Invalid(format!(
            "pads {pads:?} are not {} non-negative amounts (negative pads crop)",
            2 * axes.len()
        )));
    }
    let mut per_axis = vec![(0, 0); rank];
    for (k, &ax) in axes.iter().enumerate() {
        per_axis[ax] = (pads[k] as usize, pads[k + axes.len()] as usize);
    }
    let mode = match a.string("mode", "constant")?.as_str() {
        "constant" => PaddingMode::Zeros,
        "reflect" => PaddingMode::Reflect,
        "edge" => PaddingMode::Replicate,
        other => return Err(Error::Invalid(format!("pad mode '{other}' is not constant, reflect or edge"))),
    };
    Ok(Op::Pad(PadSpec { pads: per_axis, mode, value }))
}

/// The dims after Squeeze (`unsqueeze` false) or Unsqueeze of `axes`.
pub(super) fn squeeze_dims(d: &[usize], unsqueeze: bool, axes: Option<Vec<i64>>) -> Result<Vec<usize>, Error> {
    if unsqueeze {
        let axes = axes.ok_or_else(|| Error::Invalid("Unsqueeze needs axes".into()))?;
        let rank = d.len() + axes.len();
        let mut at: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?;
        at.sort_unstable();
        let mut out = d.to_vec();
        for a in at {
            out.insert(a, 1);
        }
        return Ok(out);
    }
    let drop: Vec<usize> = match axes {
        Some(axes) => axes.iter().map(|&a| axis(a, d.len())).collect::<Result<_, _>>()?,
        None => (0..d.len()).filter(|&i| d[i] == 1).collect(),
    };
    if let Some(&a) = drop.iter().find(|&&a| d[a] != 1) {
        return Err(Error::Shape(format!("squeeze: axis {a} of {d:?} is not 1")));
    }
    Ok((0..d.len()).filter(|i| !drop.contains(i)).map(|i| d[i]).collect())
}

/// Slice's settings from its inputs (opset 10+) or attributes.
pub(super) fn slice_spec(imp: &Importer, node: &NodeProto, rank: usize) -> Result<SliceSpec, Error> {
    let list = |i: usize, what: &str| -> Result<Option<Vec<i64>>, Error> {
        match imp.constant_input(node, i, what)? {
            None => Ok(None),
            Some(c) => Ok(Some(c.ints(what)?.values(what)?.to_vec())),
        }
    };
    let starts = list(1, "starts")?.ok_or_else(|| Error::Invalid("starts is missing".into()))?;
    let ends = list(2, "ends")?.ok_or_else(|| Error::Invalid("ends is missing".into()))?;
    let axes = list(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = list(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(Error::Invalid(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        )));
    }
    let axes = axes.iter().map(|&a| axis(a, rank).map(|a| a as isize)).collect::<Result<_, _>>()?;
    Ok(SliceSpec { axes, starts, ends, steps })
}
