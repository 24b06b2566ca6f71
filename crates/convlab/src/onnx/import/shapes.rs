//! Shape ops on computed values (Concat, Split, Slice, Flatten, Reshape, Squeeze, Unsqueeze,
//! Transpose, Pad, ReduceMean, Gather with constant indices), and the folding of nodes whose
//! inputs are all known at import (the shape arithmetic: Shape, Gather, Cast, Concat,
//! ConstantOfShape, Range, ...).

use super::attrs::{sizes, Attrs};
use super::fold::{reshape_target, Const, Ints};
use super::{Importer, Val};
use crate::graph::{Op, PadSpec, SliceSpec, ValueId};
use crate::nn::Flatten;
use crate::onnx::proto::NodeProto;
use crate::ops::pad::PaddingMode;
use crate::{Error, Tensor};

/// Resolves a possibly negative axis against `rank`.
fn axis(a: i64, rank: usize) -> Result<usize, Error> {
    let r = rank as i64;
    let i = if a < 0 { a + r } else { a };
    match (0..r).contains(&i) {
        true => Ok(i as usize),
        false => Err(Error::Invalid(format!("axis {a} is out of range for rank {rank}"))),
    }
}

/// The axes of Squeeze, Unsqueeze, ReduceMean, ...: an attribute before `input_from`, an
/// optional constant input from then on.
fn axes_of(imp: &Importer, node: &NodeProto, input: usize, input_from: i64) -> Result<Option<Vec<i64>>, Error> {
    if imp.opset >= input_from {
        return match imp.constant_input(node, input, "axes")? {
            None => Ok(None),
            Some(c) => Ok(Some(c.ints("axes")?.values("axes")?.to_vec())),
        };
    }
    Attrs::of(node).ints("axes")
}

// ----- folding -------------------------------------------------------------------------------

/// Folds `node` when its inputs are all constants (or it is a Shape): returns whether it did.
pub(super) fn fold(imp: &mut Importer, node: &NodeProto) -> Result<bool, Error> {
    let op = node.op_type.as_str();
    if op == "Constant" {
        let c = constant_node(imp, node)?;
        imp.define(node, vec![Val::Const(c)])?;
        return Ok(true);
    }
    if op == "Shape" {
        let dims = match imp.required(node, 0)?.clone() {
            Val::Dyn(v) => {
                let [a, b] = imp.shape(v).clone();
                Ints { dims: vec![a.len()], at: [to_i64(&a), to_i64(&b)] }
            }
            Val::Const(c) => Ints::vector(to_i64(&c.dims())),
        };
        let a = Attrs::of(node);
        let n = dims.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
        let (s, e) = (clamp(a.int("start", 0)?), clamp(a.int("end", n)?));
        let part = dims.map(vec![e.saturating_sub(s)], |v| Ok(v[s..e.max(s)].to_vec()))?;
        imp.define(node, vec![Val::Const(Const::Int(part))])?;
        return Ok(true);
    }
    if node.input.is_empty() || !imp.all_constant(node)? {
        return Ok(false);
    }
    let arg = |i: usize| -> Result<Const, Error> {
        match imp.required(node, i)? {
            Val::Const(c) => Ok(c.clone()),
            Val::Dyn(_) => unreachable!("all inputs are constants"),
        }
    };
    let folded = match op {
        "Identity" => arg(0)?,
        "Cast" => {
            // TensorProto.DataType: FLOAT, FLOAT16, DOUBLE, BFLOAT16 are floats.
            let to = Attrs::of(node).int("to", 1)?;
            match (to, arg(0)?) {
                (1 | 10 | 11 | 16, c) => Const::Float(c.float("the cast value")?),
                (_, c) => Const::Int(c.ints("the cast value")?),
            }
        }
        "Gather" => gather(&arg(0)?, &arg(1)?, Attrs::of(node).int("axis", 0)?)?,
        "Concat" => {
            let parts: Vec<Const> = (0..node.input.len()).map(arg).collect::<Result<_, _>>()?;
            concat(&parts, Attrs::of(node).int("axis", 0)?)?
        }
        "Unsqueeze" | "Squeeze" | "Reshape" | "Flatten" => {
            let c = arg(0)?;
            let out = match op {
                "Reshape" => {
                    let t = reshape_target(&arg(1)?.ints("the shape")?, false)?;
                    crate::graph::reshape_dims(&c.dims(), &t)?
                }
                "Flatten" => {
                    let d = c.dims();
                    let k = axis(Attrs::of(node).int("axis", 1)?, d.len() + 1)?;
                    vec![d[..k].iter().product(), d[k..].iter().product()]
                }
                _ => squeeze_dims(&c.dims(), op == "Unsqueeze", axes_of(imp, node, 1, 13)?)?,
            };
            reshaped(c, out)
        }
        "Slice" => slice_const(imp, node, &arg(0)?)?,
        "Transpose" => {
            let c = arg(0)?;
            let rank = c.dims().len();
            let perm = match Attrs::of(node).ints("perm")? {
                Some(p) => sizes(&p, "perm")?,
                None => (0..rank).rev().collect(),
            };
            match c {
                Const::Float(t) => Const::Float(t.permute(&perm)),
                Const::Int(i) => {
                    // Integers move as floats would (shape arithmetic stays far below 2^24).
                    let move_ints = |v: &[i64]| -> Vec<i64> {
                        let t = Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), i.dims.clone());
                        t.permute(&perm).to_vec().iter().map(|&x| x as i64).collect()
                    };
                    let dims = perm.iter().map(|&p| i.dims[p]).collect();
                    Const::Int(Ints { dims, at: [move_ints(&i.at[0]), move_ints(&i.at[1])] })
                }
            }
        }
        "Add" | "Sub" | "Mul" | "Div" => arithmetic(op, &arg(0)?, &arg(1)?)?,
        "ConstantOfShape" => {
            let dims = arg(0)?.ints("the shape")?;
            let dims = folded_size(sizes(dims.values("the shape")?, "the shape")?)?;
            let value = match Attrs::of(node).tensor("value")? {
                Some(t) => imp.constant(t)?,
                None => Const::Float(Tensor::zeros([1])),
            };
            let n: usize = dims.iter().product();
            match value {
                Const::Float(t) => Const::Float(Tensor::full(dims, t.to_vec().first().copied().unwrap_or(0.0))),
                Const::Int(i) => Const::Int(Ints::fixed(dims, vec![i.at[0].first().copied().unwrap_or(0); n])),
            }
        }
        "Range" => {
            let (s, l, d) = (arg(0)?, arg(1)?, arg(2)?);
            match (&s, &l, &d) {
                (Const::Int(_), Const::Int(_), Const::Int(_)) => {
                    let one = |c: &Const, w: &str| -> Result<i64, Error> { Ok(c.ints(w)?.values(w)?[0]) };
                    let (s, l, d) = (one(&s, "start")?, one(&l, "limit")?, one(&d, "delta")?);
                    if d == 0 || (l - s) / d > MAX_FOLDED as i64 {
                        return Err(Error::Invalid(format!("range {s}..{l} by {d} is empty-stepped or too long")));
                    }
                    let v: Vec<i64> =
                        (0..).map(|k| s + k * d).take_while(|&x| if d > 0 { x < l } else { x > l }).collect();
                    Const::Int(Ints::vector(v))
                }
                _ => return Err(Error::Invalid("a floating-point Range is not supported".into())),
            }
        }
        "Expand" => {
            let (c, shape) = (arg(0)?, arg(1)?.ints("the shape")?);
            let target = folded_size(sizes(shape.values("the shape")?, "the shape")?)?;
            Const::Float(c.float("the expanded value")?.broadcast_to(target))
        }
        _ => return Ok(false),
    };
    imp.define(node, vec![Val::Const(folded)])?;
    Ok(true)
}

/// The most values a folded constant may hold: shape arithmetic needs a handful, and a file
/// may not make the importer allocate beyond what its own bytes hold by much.
const MAX_FOLDED: usize = 1 << 24;

/// `dims`, checked against [`MAX_FOLDED`].
fn folded_size(dims: Vec<usize>) -> Result<Vec<usize>, Error> {
    match dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_FOLDED => Ok(dims),
        _ => Err(Error::Invalid(format!(
            "a constant of shape {dims:?} is too large to compute at import (at most {MAX_FOLDED} values)"
        ))),
    }
}

fn to_i64(d: &[usize]) -> Vec<i64> {
    d.iter().map(|&x| x as i64).collect()
}

/// The value of a Constant node (`value`, or one of `value_float(s)`, `value_int(s)`).
fn constant_node(imp: &Importer, node: &NodeProto) -> Result<Const, Error> {
    let a = Attrs::of(node);
    if let Some(t) = a.tensor("value")? {
        return imp.constant(t);
    }
    if a.has("value_float") {
        return Ok(Const::Float(Tensor::from_vec(vec![a.float("value_float", 0.0)?], Vec::<usize>::new())));
    }
    if let Some(v) = a.floats("value_floats")? {
        let n = v.len();
        return Ok(Const::Float(Tensor::from_vec(v, [n])));
    }
    if a.has("value_int") {
        return Ok(Const::Int(Ints::fixed(vec![], vec![a.int("value_int", 0)?])));
    }
    if let Some(v) = a.ints("value_ints")? {
        return Ok(Const::Int(Ints::vector(v)));
    }
    Err(Error::Invalid(format!("a Constant with attributes {:?} is not supported", a.names())))
}

/// `c` with new dims (same values).
fn reshaped(c: Const, dims: Vec<usize>) -> Const {
    match c {
        Const::Float(t) => Const::Float(t.reshape(dims)),
        Const::Int(i) => Const::Int(Ints { dims, at: i.at }),
    }
}

/// The dims after Squeeze (`unsqueeze` false) or Unsqueeze of `axes`.
fn squeeze_dims(d: &[usize], unsqueeze: bool, axes: Option<Vec<i64>>) -> Result<Vec<usize>, Error> {
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

/// Gathers `indices` along `axis` of a constant.
fn gather(data: &Const, indices: &Const, axis_attr: i64) -> Result<Const, Error> {
    let dims = data.dims();
    let ax = axis(axis_attr, dims.len())?;
    let idx = indices.ints("the indices")?;
    let idx_v = idx.values("the indices")?;
    let n = dims[ax] as i64;
    let picks: Vec<usize> = idx_v
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            match (0..n).contains(&j) {
                true => Ok(j as usize),
                false => Err(Error::Invalid(format!("index {i} is out of range for size {n}"))),
            }
        })
        .collect::<Result<_, _>>()?;
    let (outer, inner): (usize, usize) = (dims[..ax].iter().product(), dims[ax + 1..].iter().product());
    let mut out_dims = dims[..ax].to_vec();
    out_dims.extend(&idx.dims);
    out_dims.extend(&dims[ax + 1..]);
    let take = |v: &[i64]| -> Vec<i64> {
        let mut out = Vec::with_capacity(outer * picks.len() * inner);
        for o in 0..outer {
            for &p in &picks {
                out.extend_from_slice(&v[(o * dims[ax] + p) * inner..(o * dims[ax] + p + 1) * inner]);
            }
        }
        out
    };
    Ok(match data {
        Const::Int(i) => Const::Int(Ints { dims: out_dims, at: [take(&i.at[0]), take(&i.at[1])] }),
        Const::Float(t) => {
            let v: Vec<i64> = t.to_vec().iter().map(|x| x.to_bits() as i64).collect();
            let g: Vec<f32> = take(&v).iter().map(|&b| f32::from_bits(b as u32)).collect();
            Const::Float(Tensor::from_vec(g, out_dims))
        }
    })
}

/// Concatenates constants along `axis`.
fn concat(parts: &[Const], axis_attr: i64) -> Result<Const, Error> {
    let d0 = parts[0].dims();
    let ax = axis(axis_attr, d0.len().max(1))?;
    if parts.iter().all(|p| matches!(p, Const::Int(_))) && d0.len() == 1 {
        let ints: Vec<Ints> = parts.iter().map(|p| p.ints("a part")).collect::<Result<_, _>>()?;
        let at = [0, 1].map(|b| ints.iter().flat_map(|i| i.at[b].clone()).collect::<Vec<i64>>());
        return Ok(Const::Int(Ints { dims: vec![at[0].len()], at }));
    }
    let ts: Vec<Tensor> = parts.iter().map(|p| p.float("a part")).collect::<Result<_, _>>()?;
    let refs: Vec<&Tensor> = ts.iter().collect();
    Ok(Const::Float(Tensor::cat(&refs, ax as isize)))
}

/// Element-wise arithmetic on constants: integers for shape arithmetic (with a scalar or an
/// equal-length operand), floats through the tensor ops.
fn arithmetic(op: &str, x: &Const, y: &Const) -> Result<Const, Error> {
    if let (Const::Int(a), Const::Int(b)) = (x, y) {
        let f = |p: i64, q: i64| -> Result<i64, Error> {
            match op {
                "Add" => p.checked_add(q),
                "Sub" => p.checked_sub(q),
                "Mul" => p.checked_mul(q),
                _ => (q != 0).then(|| p.div_euclid(q)),
            }
            .ok_or_else(|| Error::Invalid(format!("{op} of {p} and {q} overflows or divides by 0")))
        };
        let (la, lb) = (a.len(), b.len());
        if !(la == lb || la == 1 || lb == 1) {
            return Err(Error::Shape(format!("{op} of constants of {la} and {lb} values")));
        }
        let dims = if la >= lb { a.dims.clone() } else { b.dims.clone() };
        let n = la.max(lb);
        let at =
            [0, 1].map(|k| (0..n).map(|i| f(a.at[k][i % la], b.at[k][i % lb])).collect::<Result<Vec<i64>, Error>>());
        let [p, q] = at;
        return Ok(Const::Int(Ints { dims, at: [p?, q?] }));
    }
    let (a, b) = (x.float("an operand")?, y.float("an operand")?);
    Ok(Const::Float(match op {
        "Add" => a.add(&b),
        "Sub" => a.sub(&b),
        "Mul" => a.mul(&b),
        _ => a.div(&b),
    }))
}

/// Slice's settings from its inputs (opset 10+) or attributes.
fn slice_spec(imp: &Importer, node: &NodeProto, rank: usize) -> Result<SliceSpec, Error> {
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

fn slice_const(imp: &Importer, node: &NodeProto, data: &Const) -> Result<Const, Error> {
    let dims = data.dims();
    let spec = slice_spec(imp, node, dims.len())?;
    if let Const::Int(i) = data {
        if dims.len() == 1 {
            let one = |v: &[i64]| -> Result<Vec<i64>, Error> {
                let t = Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), [v.len()]);
                Ok(crate::graph::slice(&t, &spec).to_vec().iter().map(|&x| x as i64).collect())
            };
            let at = [one(&i.at[0])?, one(&i.at[1])?];
            return Ok(Const::Int(Ints { dims: vec![at[0].len()], at }));
        }
    }
    Ok(Const::Float(crate::graph::slice(&data.float("the sliced value")?, &spec)))
}

// ----- shape ops on computed values ----------------------------------------------------------

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
