//! Folding: a node whose inputs are all known at import (the shape arithmetic exporters
//! emit: Shape, Gather, Cast, Concat, ConstantOfShape, Range, ...) becomes a constant.
//!
//! Every value here comes from a file, so each step checks its operands before it computes
//! (ranks, lengths, broadcasting, a permutation, the size of what it would allocate).

use super::attrs::{sizes, Attrs};
use super::fold::{reshape_target, to_i64, Const, Ints};
use super::shapes::{axes_of, axis, slice_spec, squeeze_dims};
use super::{Importer, Val};
use crate::onnx::proto::NodeProto;
use crate::{Error, Shape, Tensor};

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
        "Gather" => {
            let (data, indices) = (arg(0)?, arg(1)?);
            let ax = axis(Attrs::of(node).int("axis", 0)?, data.dims().len())?;
            let mut out = data.dims();
            out.splice(ax..=ax, indices.dims());
            folded_size_in(imp, out)?;
            gather(&data, &indices, ax as i64)?
        }
        "Concat" => {
            let parts: Vec<Const> = (0..node.input.len()).map(arg).collect::<Result<_, _>>()?;
            let n = parts.iter().map(|p| p.dims().iter().product::<usize>()).fold(0usize, usize::saturating_add);
            folded_size_in(imp, vec![n])?;
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
            reshaped(c, out)?
        }
        "Slice" => slice_const(imp, node, &arg(0)?)?,
        "Transpose" => {
            let c = arg(0)?;
            let rank = c.dims().len();
            let perm = match Attrs::of(node).ints("perm")? {
                Some(p) => sizes(&p, "perm")?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..rank).collect::<Vec<_>>() {
                return Err(Error::Invalid(format!("perm {perm:?} is not a permutation of the {rank} axes")));
            }
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
        "Add" | "Sub" | "Mul" | "Div" => {
            let (x, y) = (arg(0)?, arg(1)?);
            let out = Shape::broadcast(&Shape::from(x.dims().as_slice()), &Shape::from(y.dims().as_slice()))?;
            folded_size_in(imp, out.dims().to_vec())?;
            arithmetic(op, &x, &y)?
        }
        "ConstantOfShape" => {
            let dims = arg(0)?.ints("the shape")?;
            let dims = folded_size_in(imp, sizes(dims.values("the shape")?, "the shape")?)?;
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
                    let one = |c: &Const, w: &str| -> Result<i64, Error> {
                        match c.ints(w)?.values(w)? {
                            [v] => Ok(*v),
                            v => Err(Error::Invalid(format!("{w} must be one value, got {v:?}"))),
                        }
                    };
                    let (s, l, d) = (one(&s, "start")?, one(&l, "limit")?, one(&d, "delta")?);
                    if d == 0 {
                        return Err(Error::Invalid(format!("range {s}..{l} has a step of 0")));
                    }
                    // ONNX: max(ceil((limit - start) / delta), 0) values, computed without overflow.
                    let (s, l, d) = (s as i128, l as i128, d as i128);
                    let n = ((l - s + d - d.signum()) / d).clamp(0, usize::MAX as i128) as usize;
                    folded_size_in(imp, vec![n])?;
                    let v: Vec<i64> = (0..n as i128).map(|k| (s + k * d) as i64).collect();
                    Const::Int(Ints::vector(v))
                }
                _ => return Err(Error::Invalid("a floating-point Range is not supported".into())),
            }
        }
        "Expand" => {
            let (c, shape) = (arg(0)?, arg(1)?.ints("the shape")?);
            // Expand broadcasts both ways: a size 1 in the target keeps the input's size.
            let target = sizes(shape.values("the shape")?, "the shape")?;
            let x = c.float("the expanded value")?;
            let out = Shape::broadcast(x.shape(), &Shape::from(target.as_slice()))?;
            Const::Float(x.broadcast_to(folded_size_in(imp, out.dims().to_vec())?))
        }
        _ => return Ok(false),
    };
    // Every folded constant is kept: the budget counts them all (a size-preserving op on a
    // large initializer, such as Identity or Transpose of a weight, fits the budget that the
    // initializers add; only the ops above that make data are held to MAX_FOLDED).
    let n: usize = within_budget(imp, folded.dims(), usize::MAX)?.iter().product();
    imp.folded.set(imp.folded.get() + n);
    imp.define(node, vec![Val::Const(folded)])?;
    Ok(true)
}

/// The most values one folded constant may hold: shape arithmetic needs a handful.
const MAX_FOLDED: usize = 1 << 24;

/// How many values all the constants folded from `model` may hold together: 2^20, and 4 more
/// per byte of the model's message, so that a small file cannot make the importer allocate
/// much more than it holds (each step checks its result before it allocates it). The
/// initializers add twice their values (see the importer).
pub(super) fn fold_limit(model: &crate::onnx::Model) -> usize {
    use prost::Message;
    (1usize << 20).saturating_add(model.proto().encoded_len().saturating_mul(4))
}

/// `dims`, checked against [`MAX_FOLDED`] and what is left of the importer's budget (for the
/// ops that make data).
fn folded_size_in(imp: &Importer, dims: Vec<usize>) -> Result<Vec<usize>, Error> {
    within_budget(imp, dims, MAX_FOLDED)
}

/// `dims`, checked to hold at most `cap` values and what is left of the importer's budget.
fn within_budget(imp: &Importer, dims: Vec<usize>, cap: usize) -> Result<Vec<usize>, Error> {
    let left = imp.fold_limit.saturating_sub(imp.folded.get()).min(cap);
    match dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= left => Ok(dims),
        _ => Err(Error::Invalid(format!(
            "a constant of shape {dims:?} is too large to compute at import ({left} more values allowed for this file)"
        ))),
    }
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

/// `c` with new dims (same values), checked to hold as many.
fn reshaped(c: Const, dims: Vec<usize>) -> Result<Const, Error> {
    let n: usize = c.dims().iter().product();
    if dims.iter().product::<usize>() != n {
        return Err(Error::Shape(format!("a constant of shape {:?} cannot become {dims:?}", c.dims())));
    }
    Ok(match c {
        Const::Float(t) => Const::Float(t.reshape(dims)),
        Const::Int(i) => Const::Int(Ints { dims, at: i.at }),
    })
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
    for p in parts {
        let d = p.dims();
        let agree = d.len() == d0.len() && (0..d.len()).all(|i| i == ax || d[i] == d0[i]);
        if !agree || d.is_empty() {
            return Err(Error::Shape(format!("concat along axis {ax} of constants of shapes {d0:?} and {d:?}")));
        }
    }
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
    Shape::broadcast(a.shape(), b.shape())?;
    Ok(Const::Float(match op {
        "Add" => a.add(&b),
        "Sub" => a.sub(&b),
        "Mul" => a.mul(&b),
        _ => a.div(&b),
    }))
}

fn slice_const(imp: &Importer, node: &NodeProto, data: &Const) -> Result<Const, Error> {
    let dims = data.dims();
    let spec = slice_spec(imp, node, dims.len())?;
    crate::graph::slice_shape(&dims, &spec)?;
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
