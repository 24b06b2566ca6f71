//! Layout: reshape, flatten, permute/transpose, slicing, concatenation, broadcasting.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::arange(6).reshape([2, 3]);
//! assert_eq!(x.transpose(0, 1).to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
//! assert_eq!(x.narrow(1, 1, 2).to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
//! let y = Tensor::cat(&[&x, &x], 0);
//! assert_eq!(y.dims(), &[4, 3]);
//! assert_eq!(x.flatten(0, -1).dims(), &[6]);
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
