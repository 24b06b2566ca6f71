//! Layout: reshape, flatten, permute/transpose, slicing (with a step), splitting,
//! concatenation, broadcasting.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::arange(6).reshape([2, 3]);
//! assert_eq!(x.transpose(0, 1).to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
//! assert_eq!(x.narrow(1, 1, 2).to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
//! let y = Tensor::cat(&[&x, &x], 0);
//! assert_eq!(y.dims(), &[4, 3]);
//! assert_eq!(x.flatten(0, -1).dims(), &[6]);
//! // x[:, ::-1] and x[:, ::2] (ONNX Slice), and torch.split(x, [1, 2], 1).
//! assert_eq!(x.slice_step(1, -1, isize::MIN, -1).to_vec(), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
//! assert_eq!(x.slice_step(1, 0, isize::MAX, 2).to_vec(), vec![0.0, 2.0, 3.0, 5.0]);
//! let parts = x.split(1, &[1, 2]);
//! assert_eq!((parts[0].dims(), parts[1].dims()), (&[2, 1][..], &[2, 2][..]));
//! ```

use crate::ops::reduce::{broadcast_to_shape, sum_to_shape};
use crate::{Error, Shape, Tensor};

/// The shape of [`Tensor::flatten`]`(start, end)` on `input`: dimensions `start..=end` merged
/// (negative axes count from the end; a scalar becomes `[1]`), or an error naming the shape.
///
/// ```
/// use convlab::ops::layout::flatten_output_shape;
/// assert_eq!(flatten_output_shape(&[2, 16, 5, 5], 1, -1).unwrap(), vec![2, 400]);
/// assert!(flatten_output_shape(&[2, 16], 1, 0).is_err());
/// ```
pub fn flatten_output_shape(input: &[usize], start: isize, end: isize) -> Result<Vec<usize>, Error> {
    if input.is_empty() {
        return Ok(vec![1]);
    }
    let shape = Shape::from(input);
    let axis = |a: isize| {
        let r = input.len() as isize;
        let i = if a < 0 { a + r } else { a };
        if (0..r).contains(&i) {
            Ok(i as usize)
        } else {
            Err(Error::Shape(format!("flatten: axis {a} is out of range for shape {shape}")))
        }
    };
    let (s, e) = (axis(start)?, axis(end)?);
    if s > e {
        return Err(Error::Shape(format!("flatten: start axis {start} is after end axis {end} for shape {shape}")));
    }
    let merged = input[s..=e].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let merged = merged.ok_or_else(|| Error::Shape(format!("flatten: shape {shape} has too many elements")))?;
    let mut out: Vec<usize> = input[..s].to_vec();
    out.push(merged);
    out.extend_from_slice(&input[e + 1..]);
    Ok(out)
}

/// The positions a slice with a step picks along one axis: `count` indices `first`,
/// `first + step`, `first + 2·step`, ... (all within the axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceRange {
    pub first: usize,
    pub step: isize,
    pub count: usize,
}

impl SliceRange {
    /// The slice `start:end:step` of an axis of `size`, as ONNX `Slice` and NumPy take it: a
    /// negative `start` or `end` counts from the end (`+ size`); then, for a positive step,
    /// both are clamped into `[0, size]`, for a negative one `start` into `[0, size − 1]` and
    /// `end` into `[−1, size − 1]`. `isize::MAX` / `isize::MIN` slice to either end. The
    /// indices run from `start` towards `end`, `end` excluded. A zero step is an error.
    ///
    /// NOTE: ONNX's clamp and NumPy's part in one case: a negative step with `start` before
    /// the beginning (`start < −size`). ONNX clamps it to 0 and picks index 0; NumPy (and
    /// Python's `slice.indices`) pick nothing. We follow ONNX, for imported graphs.
    ///
    /// ```
    /// use convlab::ops::layout::SliceRange;
    /// let r = SliceRange::new(10, -2, 1, -3).unwrap(); // 8, 5, 2
    /// assert_eq!((r.first, r.count, r.index(2)), (8, 3, 2));
    /// assert_eq!(SliceRange::new(10, 100, -100, -4).unwrap().count, 3); // 9, 5, 1
    /// assert_eq!(SliceRange::new(10, 7, 3, 1).unwrap().count, 0);
    /// assert!(SliceRange::new(10, 0, 5, 0).is_err());
    /// assert_eq!(SliceRange::new(10, -20, isize::MIN, -1).unwrap().count, 1); // ONNX: index 0
    /// ```
    pub fn new(size: usize, start: isize, end: isize, step: isize) -> Result<SliceRange, Error> {
        if step == 0 {
            return Err(Error::Invalid("slice: the step must not be 0".into()));
        }
        let n = size as isize;
        let from_end = |v: isize| if v < 0 { v.saturating_add(n) } else { v };
        let (s, e) = (from_end(start), from_end(end));
        let (first, count) = if step > 0 {
            let (s, e) = (s.clamp(0, n), e.clamp(0, n));
            (s, if e > s { (e - s - 1) as usize / step as usize + 1 } else { 0 })
        } else if n == 0 {
            (0, 0)
        } else {
            let (s, e) = (s.clamp(0, n - 1), e.clamp(-1, n - 1));
            (s, if s > e { (s - e - 1) as usize / step.unsigned_abs() + 1 } else { 0 })
        };
        Ok(SliceRange { first: if count == 0 { 0 } else { first as usize }, step, count })
    }

    /// The `k`-th picked index (`k < count`).
    pub fn index(&self, k: usize) -> usize {
        (self.first as isize + k as isize * self.step) as usize
    }
}

/// The shape of [`Tensor::slice_step`]`(axis, start, end, step)` on `input` (see
/// [`SliceRange::new`]), or an error naming the shape (an axis out of range, a zero step).
///
/// ```
/// use convlab::ops::layout::slice_step_output_shape;
/// assert_eq!(slice_step_output_shape(&[2, 9], -1, 8, 0, -3).unwrap(), vec![2, 3]);
/// assert!(slice_step_output_shape(&[2, 9], 2, 0, 1, 1).unwrap_err().to_string().contains("[2, 9]"));
/// ```
pub fn slice_step_output_shape(
    input: &[usize],
    axis: isize,
    start: isize,
    end: isize,
    step: isize,
) -> Result<Vec<usize>, Error> {
    let shape = Shape::from(input);
    let r = input.len() as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&a) {
        return Err(Error::Shape(format!("slice_step: axis {axis} is out of range for shape {shape}")));
    }
    let range = SliceRange::new(input[a as usize], start, end, step)
        .map_err(|e| Error::Shape(format!("slice_step of shape {shape} along axis {axis}: {e}")))?;
    let mut out = input.to_vec();
    out[a as usize] = range.count;
    Ok(out)
}

impl Tensor {
    /// Same data, new shape with the same number of elements (see [`Tensor::reshape_infer`]
    /// for PyTorch's `-1`).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        assert_eq!(
            shape.numel(),
            self.numel(),
            "reshape: cannot view shape {} ({} elements) as {} ({} elements)",
            self.shape(),
            self.numel(),
            shape,
            shape.numel()
        );
        let in_shape = self.shape().clone();
        // The result shares the input's data: a reshape copies nothing.
        Tensor::from_op_shared(self.storage(), shape, "reshape", &[self], move |g, _| {
            vec![Some(g.reshape(in_shape.clone()))]
        })
    }

    /// Reshape where one entry of `dims` may be -1 (inferred), as in PyTorch's `view`.
    pub fn reshape_infer(&self, dims: &[isize]) -> Tensor {
        let known: usize = dims.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
        let unknown = dims.iter().filter(|&&d| d < 0).count();
        assert!(unknown <= 1, "reshape: at most one dimension may be -1, got {dims:?}");
        let shape: Vec<usize> = dims
            .iter()
            .map(|&d| {
                if d >= 0 {
                    d as usize
                } else {
                    assert!(
                        known > 0 && self.numel().is_multiple_of(known),
                        "reshape: shape {} cannot be viewed as {dims:?}",
                        self.shape()
                    );
                    self.numel() / known
                }
            })
            .collect();
        self.reshape(shape)
    }

    /// Merges dimensions `start..=end` into one (PyTorch's `flatten`).
    pub fn flatten(&self, start: isize, end: isize) -> Tensor {
        self.reshape(flatten_output_shape(self.dims(), start, end).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Inserts a dimension of size 1 at `axis` (0..=rank).
    pub fn unsqueeze(&self, axis: usize) -> Tensor {
        assert!(axis <= self.rank(), "unsqueeze: axis {axis} out of range for shape {}", self.shape());
        let mut d = self.dims().to_vec();
        d.insert(axis, 1);
        self.reshape(d)
    }

    /// Removes a dimension of size 1.
    pub fn squeeze(&self, axis: isize) -> Tensor {
        let a = self.shape().axis(axis);
        assert_eq!(self.dims()[a], 1, "squeeze: dimension {a} of shape {} is not 1", self.shape());
        let mut d = self.dims().to_vec();
        d.remove(a);
        self.reshape(d)
    }

    /// Reorders dimensions: output dimension `i` is input dimension `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Tensor {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        assert!(
            perm.len() == rank && perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true)),
            "permute: {perm:?} is not a permutation of the {rank} dimensions of shape {}",
            self.shape()
        );
        let out_shape = Shape::from(perm.iter().map(|&p| self.dims()[p]).collect::<Vec<_>>());
        let out = permute_data(&self.storage(), self.shape(), perm);
        let mut inverse = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Tensor::from_op(out, out_shape, "permute", &[self], move |g, _| vec![Some(g.permute(&inverse))])
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, a: isize, b: isize) -> Tensor {
        let (a, b) = (self.shape().axis(a), self.shape().axis(b));
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// ONNX `GatherND` (with `batch_dims` 0): `indices` holds `count` tuples of `k` indices
    /// into the first `k` axes of `self` (row-major, `index_shape` = `[.., k]`); each picks the
    /// block `self[i0, .., ik-1, ...]`. The result is `index_shape[..-1] + dims[k..]`; the
    /// gradient adds each output block back where it was taken from.
    pub fn gather_nd(&self, indices: &[usize], index_shape: &[usize]) -> Tensor {
        let d = self.dims().to_vec();
        let k = *index_shape.last().expect("gather_nd: indices need a last axis");
        assert!(
            k <= d.len() && indices.len() == index_shape.iter().product::<usize>(),
            "gather_nd: indices {index_shape:?} do not fit {}",
            self.shape()
        );
        let block: usize = d[k..].iter().product();
        let count = indices.len() / k.max(1);
        let starts: Vec<usize> = (0..count)
            .map(|t| {
                let tuple = &indices[t * k..(t + 1) * k];
                assert!(
                    tuple.iter().zip(&d).all(|(&i, &n)| i < n),
                    "gather_nd: index {tuple:?} is out of range for {}",
                    self.shape()
                );
                tuple.iter().zip(&d).fold(0, |acc, (&i, &n)| acc * n + i) * block
            })
            .collect();
        let x = self.storage();
        let mut out = Vec::with_capacity(count * block); // [count, block]
        for &s in &starts {
            out.extend_from_slice(&x[s..s + block]);
        }
        let mut shape = index_shape[..index_shape.len() - 1].to_vec();
        shape.extend_from_slice(&d[k..]);
        let in_shape = self.shape().clone();
        Tensor::from_op(out, shape, "gather_nd", &[self], move |g, _| {
            let gs = g.storage();
            let mut dx = vec![0.0f32; in_shape.numel()]; // [dims]
            for (t, &s) in starts.iter().enumerate() {
                for (o, &v) in dx[s..s + block].iter_mut().zip(&gs[t * block..(t + 1) * block]) {
                    *o += v;
                }
            }
            vec![Some(Tensor::from_vec(dx, in_shape.clone()))]
        })
    }

    /// `len` elements of `axis` starting at `start` (PyTorch's `narrow`; `x[.., start:start+len]`).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor {
        let a = self.shape().axis(axis);
        let d = self.dims();
        assert!(
            start + len <= d[a],
            "narrow: {start}..{} is out of range for dimension {a} of shape {}",
            start + len,
            self.shape()
        );
        let outer: usize = d[..a].iter().product();
        let inner: usize = d[a + 1..].iter().product();
        let n = d[a];
        let x = self.storage();
        let mut out = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            out.extend_from_slice(&x[(o * n + start) * inner..(o * n + start + len) * inner]);
        }
        let mut shape = d.to_vec();
        shape[a] = len;
        let in_shape = self.shape().clone();
        Tensor::from_op(out, shape, "narrow", &[self], move |g, _| {
            let g = g.storage();
            let mut gx = vec![0.0f32; in_shape.numel()];
            for o in 0..outer {
                gx[(o * n + start) * inner..(o * n + start + len) * inner]
                    .copy_from_slice(&g[o * len * inner..(o + 1) * len * inner]);
            }
            vec![Some(Tensor::from_vec(gx, in_shape.clone()))]
        })
    }

    /// Python-style slice `start..end` (clamped) along `axis`.
    pub fn slice(&self, axis: isize, start: usize, end: usize) -> Tensor {
        let n = self.dim(axis);
        let (s, e) = (start.min(n), end.min(n).max(start.min(n)));
        self.narrow(axis, s, e - s)
    }

    /// Every `step`-th element of `axis` from `start` towards `end` (excluded): `x[.., start:end:step]`
    /// in NumPy, ONNX `Slice` on one axis. A negative step walks backwards (`step = -1`,
    /// `start = -1`, `end = isize::MIN` reverses the axis); negative `start`/`end` count from
    /// the end, and out-of-range ones are clamped, as [`SliceRange::new`] describes. The
    /// gradient goes back to the picked positions. Panics with the message of
    /// [`slice_step_output_shape`].
    pub fn slice_step(&self, axis: isize, start: isize, end: isize, step: isize) -> Tensor {
        let shape = slice_step_output_shape(self.dims(), axis, start, end, step).unwrap_or_else(|e| panic!("{e}"));
        let a = self.shape().axis(axis);
        let d = self.dims();
        let range = SliceRange::new(d[a], start, end, step).expect("checked by slice_step_output_shape");
        let outer: usize = d[..a].iter().product();
        let inner: usize = d[a + 1..].iter().product();
        let (n, count) = (d[a], range.count);
        let x = self.storage();
        let mut out = Vec::with_capacity(outer * count * inner);
        for o in 0..outer {
            for k in 0..count {
                let src = (o * n + range.index(k)) * inner;
                out.extend_from_slice(&x[src..src + inner]);
            }
        }
        let in_shape = self.shape().clone();
        Tensor::from_op(out, shape, "slice_step", &[self], move |g, _| {
            let g = g.storage();
            let mut gx = vec![0.0f32; in_shape.numel()];
            for o in 0..outer {
                for k in 0..count {
                    let (src, dst) = ((o * count + k) * inner, (o * n + range.index(k)) * inner);
                    gx[dst..dst + inner].copy_from_slice(&g[src..src + inner]);
                }
            }
            vec![Some(Tensor::from_vec(gx, in_shape.clone()))]
        })
    }

    /// Cuts `axis` into consecutive parts of the given sizes, which must add up to its size
    /// (`torch.split(x, sizes, axis)`, ONNX `Split`); a size may be 0. Each part is a
    /// [`Tensor::narrow`] of `self`, so gradients flow back through each part on its own.
    pub fn split(&self, axis: isize, sizes: &[usize]) -> Vec<Tensor> {
        let a = self.shape().axis(axis);
        let total: usize = sizes.iter().sum();
        assert_eq!(
            total,
            self.dims()[a],
            "split: sizes {sizes:?} add up to {total}, not to the size of dimension {a} of shape {}",
            self.shape()
        );
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                start += len;
                self.narrow(axis, start - len, len)
            })
            .collect()
    }

    /// Joins tensors along `axis`; all other dimensions must match.
    pub fn cat(tensors: &[&Tensor], axis: isize) -> Tensor {
        assert!(!tensors.is_empty(), "cat: no tensors given");
        let first = tensors[0];
        assert!(
            first.rank() > 0,
            "cat: zero-dimensional tensors (shape {}) cannot be concatenated; use stack",
            first.shape()
        );
        let a = first.shape().axis(axis);
        for t in tensors {
            let ok = t.rank() == first.rank()
                && t.dims().iter().zip(first.dims()).enumerate().all(|(i, (x, y))| i == a || x == y);
            assert!(ok, "cat: shapes {} and {} differ outside dimension {a}", first.shape(), t.shape());
        }
        let d = first.dims();
        let outer: usize = d[..a].iter().product();
        let inner: usize = d[a + 1..].iter().product();
        let lens: Vec<usize> = tensors.iter().map(|t| t.dims()[a]).collect();
        let total: usize = lens.iter().sum();
        let datas: Vec<_> = tensors.iter().map(|t| t.storage()).collect();
        let mut out = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for (x, &l) in datas.iter().zip(&lens) {
                out.extend_from_slice(&x[o * l * inner..(o + 1) * l * inner]);
            }
        }
        let mut shape = d.to_vec();
        shape[a] = total;
        let shapes: Vec<Shape> = tensors.iter().map(|t| t.shape().clone()).collect();
        Tensor::from_op(out, shape, "cat", tensors, move |g, _| {
            let g = g.storage();
            let mut grads: Vec<Vec<f32>> = lens.iter().map(|&l| Vec::with_capacity(outer * l * inner)).collect();
            let mut off = 0;
            for _ in 0..outer {
                for (gi, &l) in grads.iter_mut().zip(&lens) {
                    gi.extend_from_slice(&g[off..off + l * inner]);
                    off += l * inner;
                }
            }
            grads.into_iter().zip(&shapes).map(|(v, s)| Some(Tensor::from_vec(v, s.clone()))).collect()
        })
    }

    /// Stacks equal-shaped tensors along a new axis.
    pub fn stack(tensors: &[&Tensor], axis: usize) -> Tensor {
        let expanded: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(axis)).collect();
        let refs: Vec<&Tensor> = expanded.iter().collect();
        Tensor::cat(&refs, axis as isize)
    }

    /// Repeats the data to `shape` (PyTorch's `expand`, materialized).
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        let b = Shape::broadcast(self.shape(), &shape).unwrap_or_else(|e| panic!("broadcast_to: {e}"));
        assert_eq!(b, shape, "broadcast_to: shape {} cannot be expanded to {shape}", self.shape());
        let out = broadcast_to_shape(&self.storage(), self.shape(), &shape);
        let in_shape = self.shape().clone();
        let out_shape = shape.clone();
        Tensor::from_op(out, shape, "broadcast_to", &[self], move |g, _| {
            vec![Some(Tensor::from_vec(sum_to_shape(&g.storage(), &out_shape, &in_shape), in_shape.clone()))]
        })
    }
}

/// Copies `x` (row-major, `shape`) into the layout of `shape` permuted by `perm`.
pub(crate) fn permute_data(x: &[f32], shape: &Shape, perm: &[usize]) -> Vec<f32> {
    let rank = shape.rank();
    let n = shape.numel();
    let mut out = vec![0.0f32; n];
    if n == 0 {
        return out;
    }
    if rank == 0 {
        out[0] = x[0];
        return out;
    }
    let in_strides = shape.strides();
    let out_dims: Vec<usize> = perm.iter().map(|&p| shape.dims()[p]).collect();
    // Strides into `x` for each output dimension.
    let src: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut idx = vec![0usize; rank];
    let mut off = 0usize;
    let last = rank - 1;
    let mut o = 0;
    while o < n {
        for j in 0..out_dims[last] {
            out[o + j] = x[off + j * src[last]];
        }
        o += out_dims[last];
        let mut d = last;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            off += src[d];
            if idx[d] < out_dims[d] {
                break;
            }
            off -= src[d] * out_dims[d];
            idx[d] = 0;
        }
    }
    out
}
