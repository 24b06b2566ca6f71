//! Shape rules of the graph ops (layers use their module's [`Module::output_shape`]), and the
//! index arithmetic of Slice, Reshape and Pad shared by the rules and the ops.

use super::op::{Op, PadSpec, SliceSpec};
use crate::ops::layout::slice_step_output_shape;
use crate::ops::pad::pad_output_shape;
use crate::{Error, Shape, Tensor};

fn shape_text(s: &[usize]) -> String {
    Shape::from(s).to_string()
}

/// Resolves a possibly negative axis against `rank`, or an error naming the shape.
fn axis(a: isize, shape: &[usize], what: &str) -> Result<usize, Error> {
    let r = shape.len() as isize;
    let i = if a < 0 { a + r } else { a };
    if (0..r).contains(&i) {
        Ok(i as usize)
    } else {
        Err(Error::Shape(format!("{what}: axis {a} is out of range for shape {}", shape_text(shape))))
    }
}

/// The broadcast of two shapes (NumPy rules).
fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, Error> {
    Ok(Shape::broadcast(&Shape::from(a), &Shape::from(b))?.dims().to_vec())
}

/// ONNX `Reshape`'s target for an input of shape `input`: `0` copies the input's size at that
/// position, one `-1` is inferred from the element count.
pub(crate) fn reshape(input: &[usize], target: &[i64]) -> Result<Vec<usize>, Error> {
    let numel: usize = input.iter().product();
    let bad = || {
        Error::Shape(format!("reshape: input {} ({numel} values) cannot take the shape {target:?}", shape_text(input)))
    };
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        out.push(match t {
            0 => *input.get(i).ok_or_else(bad)?,
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            t if t > 0 => t as usize,
            _ => return Err(bad()),
        });
    }
    let known: usize = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(bad)?;
    match infer {
        Some(i) if known > 0 && numel.is_multiple_of(known) => out[i] = numel / known,
        Some(_) => return Err(bad()),
        None if known != numel => return Err(bad()),
        None => {}
    }
    Ok(out)
}

/// ONNX's i64 bounds as the engine's (`i64::MAX`/`MIN` and anything beyond `isize` saturate).
fn bound(v: i64) -> isize {
    v.clamp(isize::MIN as i64, isize::MAX as i64) as isize
}

/// The shape of `x` sliced by `s`.
pub(crate) fn slice_shape(input: &[usize], s: &SliceSpec) -> Result<Vec<usize>, Error> {
    let mut out = input.to_vec();
    for (i, &a) in s.axes.iter().enumerate() {
        let step = s.steps.get(i).copied().unwrap_or(1);
        out = slice_step_output_shape(&out, a, bound(s.starts[i]), bound(s.ends[i]), bound(step))?;
    }
    Ok(out)
}

/// Runs a [`SliceSpec`] on `x`.
pub(crate) fn slice(x: &Tensor, s: &SliceSpec) -> Tensor {
    s.axes.iter().enumerate().fold(x.clone(), |y, (i, &a)| {
        let step = s.steps.get(i).copied().unwrap_or(1);
        y.slice_step(a, bound(s.starts[i]), bound(s.ends[i]), bound(step))
    })
}

/// Runs a [`PadSpec`] on `x`.
pub(crate) fn pad(x: &Tensor, p: &PadSpec) -> Tensor {
    x.pad(&p.pads, p.mode, p.value)
}

fn pad_shape(input: &[usize], p: &PadSpec) -> Result<Vec<usize>, Error> {
    if p.pads.len() != input.len() {
        return Err(Error::Shape(format!(
            "pad: {} (before, after) pairs for input {}",
            p.pads.len(),
            shape_text(input)
        )));
    }
    pad_output_shape(input, &p.pads, p.mode)
}

impl Op {
    /// The shapes of the op's outputs for inputs of these shapes, or an error naming them.
    pub fn output_shapes(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, Error> {
        if let Op::Constant(t) = self {
            return Ok(vec![t.dims().to_vec()]);
        }
        if let Some(m) = self.layer() {
            return Ok(vec![m.output_shape(inputs[0])?]);
        }
        let x = inputs[0];
        let one = |s: Vec<usize>| Ok(vec![s]);
        match self {
            Op::GlobalMaxPool => {
                if x.len() != 4 {
                    return Err(Error::Shape(format!("global max pool needs [N, C, H, W], got {}", shape_text(x))));
                }
                one(vec![x[0], x[1], 1, 1])
            }
            Op::LogSoftmax { axis: a } => {
                axis(*a, x, "log_softmax")?;
                one(x.to_vec())
            }
            Op::Clip { .. } | Op::Erf | Op::Identity => one(x.to_vec()),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Compare(_) => one(broadcast(x, inputs[1])?),
            Op::Where => one(broadcast(&broadcast(x, inputs[1])?, inputs[2])?),
            Op::MatMul => {
                let b = inputs[1];
                if x.len() < 2 || b.len() < 2 || x[x.len() - 1] != b[b.len() - 2] {
                    return Err(Error::Shape(format!("matmul: {} and {} do not fit", shape_text(x), shape_text(b))));
                }
                let mut out = broadcast(&x[..x.len() - 2], &b[..b.len() - 2])?;
                out.extend([x[x.len() - 2], b[b.len() - 1]]);
                one(out)
            }
            Op::Concat { axis: a } => {
                let ax = axis(*a, x, "concat")?;
                let mut out = x.to_vec();
                for s in &inputs[1..] {
                    let fits = s.len() == x.len() && (0..x.len()).all(|i| i == ax || s[i] == x[i]);
                    if !fits {
                        return Err(Error::Shape(format!(
                            "concat along axis {a}: {} and {} do not fit",
                            shape_text(x),
                            shape_text(s)
                        )));
                    }
                    out[ax] += s[ax];
                }
                one(out)
            }
            Op::Split { axis: a, sizes } => {
                let ax = axis(*a, x, "split")?;
                if sizes.iter().sum::<usize>() != x[ax] {
                    return Err(Error::Shape(format!(
                        "split: sizes {sizes:?} do not add up to axis {a} of {}",
                        shape_text(x)
                    )));
                }
                Ok(sizes
                    .iter()
                    .map(|&n| {
                        let mut s = x.to_vec();
                        s[ax] = n;
                        s
                    })
                    .collect())
            }
            Op::Slice(s) => one(slice_shape(x, s)?),
            Op::Reshape { shape } => one(reshape(x, shape)?),
            Op::Transpose { perm } => {
                let mut seen = vec![false; x.len()];
                if perm.len() != x.len() || perm.iter().any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true))
                {
                    return Err(Error::Shape(format!("transpose: {perm:?} is not a permutation of {}", shape_text(x))));
                }
                one(perm.iter().map(|&p| x[p]).collect())
            }
            Op::Pad(p) => one(pad_shape(x, p)?),
            Op::GatherNd { indices, index_shape } => {
                let k = index_shape.last().copied().unwrap_or(0);
                let fits = k >= 1 && k <= x.len() && indices.chunks(k).all(|t| t.iter().zip(x).all(|(&i, &n)| i < n));
                if !fits {
                    return Err(Error::Shape(format!(
                        "gather_nd: indices {index_shape:?} do not fit {}",
                        shape_text(x)
                    )));
                }
                let mut out = index_shape[..index_shape.len() - 1].to_vec();
                out.extend_from_slice(&x[k..]);
                one(out)
            }
            Op::ReduceMean { axes, keepdims } => {
                let all: Vec<usize> = if axes.is_empty() {
                    (0..x.len()).collect()
                } else {
                    axes.iter().map(|&a| axis(a, x, "reduce_mean")).collect::<Result<_, _>>()?
                };
                let out = (0..x.len())
                    .filter_map(|i| match (all.contains(&i), keepdims) {
                        (true, true) => Some(1),
                        (true, false) => None,
                        (false, _) => Some(x[i]),
                    })
                    .collect();
                one(out)
            }
            Op::Constant(_) => unreachable!("handled above"),
            _ => unreachable!("layers use their module's rule"),
        }
    }
}
