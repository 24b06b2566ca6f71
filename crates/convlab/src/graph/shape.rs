//! Shape rules of the graph ops (layers use their module's [`Module::output_shape`]), and the
//! index arithmetic of Slice, Reshape and Pad shared by the rules and the ops.

use super::op::{Op, PadSpec, SliceSpec};
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

/// ONNX `Slice` along one axis of size `n`: `(first, count, step)` of the positions taken.
fn slice_range(n: usize, start: i64, end: i64, step: i64) -> Result<(usize, usize, i64), Error> {
    if step == 0 {
        return Err(Error::Invalid("slice: step must not be 0".into()));
    }
    let n = n as i64;
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let (s, e) = (norm(start), norm(end));
    let (s, e) = if step > 0 { (s.clamp(0, n), e.clamp(0, n)) } else { (s.clamp(-1, n - 1), e.clamp(-1, n - 1)) };
    let (span, by) = if step > 0 { ((e - s).max(0), step) } else { ((s - e).max(0), -step) };
    let count = (span as u64).div_ceil(by as u64);
    Ok((s.max(0) as usize, count as usize, step))
}

/// The shape of `x` sliced by `s`.
fn slice_shape(input: &[usize], s: &SliceSpec) -> Result<Vec<usize>, Error> {
    let mut out = input.to_vec();
    for (i, &a) in s.axes.iter().enumerate() {
        let a = axis(a, input, "slice")?;
        let step = s.steps.get(i).copied().unwrap_or(1);
        let (_, count, _) = slice_range(input[a], s.starts[i], s.ends[i], step)?;
        out[a] = count;
    }
    Ok(out)
}

/// Runs a [`SliceSpec`] on `x`.
pub(crate) fn slice(x: &Tensor, s: &SliceSpec) -> Tensor {
    let mut y = x.clone();
    for (i, &a) in s.axes.iter().enumerate() {
        let ax = axis(a, y.dims(), "slice").unwrap_or_else(|e| panic!("{e}"));
        let step = s.steps.get(i).copied().unwrap_or(1);
        let (first, count, step) =
            slice_range(y.dims()[ax], s.starts[i], s.ends[i], step).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(step, 1, "slice: steps other than 1 are not supported");
        y = y.narrow(ax as isize, first, count);
    }
    y
}

/// Runs a [`PadSpec`] on `x` (the last two axes; the others must not be padded).
pub(crate) fn pad(x: &Tensor, p: &PadSpec) -> Tensor {
    let r = x.rank();
    assert!(p.pads[..r.saturating_sub(2)].iter().all(|&(a, b)| a == 0 && b == 0), "pad: only the last two axes");
    let ((t, b), (l, rr)) = (p.pads[r - 2], p.pads[r - 1]);
    x.pad2d(t, b, l, rr, p.mode, p.value)
}

fn pad_shape(input: &[usize], p: &PadSpec) -> Result<Vec<usize>, Error> {
    if p.pads.len() != input.len() {
        return Err(Error::Shape(format!(
            "pad: {} (before, after) pairs for input {}",
            p.pads.len(),
            shape_text(input)
        )));
    }
    let r = input.len();
    if r < 2 || p.pads[..r - 2].iter().any(|&(a, b)| a != 0 || b != 0) {
        return Err(Error::Invalid(format!(
            "pad: padding {:?} of input {} pads other than the last two axes",
            p.pads,
            shape_text(input)
        )));
    }
    for (i, &(a, b)) in p.pads.iter().enumerate() {
        p.mode
            .check(input[i], a, b, if i + 2 == r { "height" } else { "width" })
            .map_err(|e| Error::Shape(format!("pad: input {}: {e}", shape_text(input))))?;
    }
    Ok(input.iter().zip(&p.pads).map(|(&d, &(a, b))| d + a + b).collect())
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
            Op::Clip { .. } | Op::Identity => one(x.to_vec()),
            Op::Add | Op::Sub | Op::Mul | Op::Div => one(broadcast(x, inputs[1])?),
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
