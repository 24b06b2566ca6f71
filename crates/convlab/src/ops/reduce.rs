//! Reductions: sum, mean, max/min and argmax over axes.
//!
//! Axes may be negative (`-1` is the last). With `keepdim` the reduced axes stay as size 1,
//! as in PyTorch.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 5.0, 3.0, 4.0, 2.0, 6.0], [2, 3]);
//! assert_eq!(x.sum(&[1], false).to_vec(), vec![9.0, 12.0]);
//! assert_eq!(x.mean(&[0], true).dims(), &[1, 3]);
//! assert_eq!(x.max(1, false).to_vec(), vec![5.0, 6.0]);
//! assert_eq!(x.argmax(1, false).to_vec(), vec![1.0, 2.0]);
//! ```

use crate::shape::for_each_broadcast;
use crate::{Shape, Tensor};

/// The shape with reduced axes set to 1 (keepdim form), and the final output shape.
fn reduced_shapes(shape: &Shape, axes: &[usize], keepdim: bool) -> (Shape, Shape) {
    let kept: Vec<usize> =
        shape.dims().iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect();
    let out: Vec<usize> = if keepdim {
        kept.clone()
    } else {
        shape.dims().iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
    };
    (Shape::from(kept), Shape::from(out))
}

fn resolve_axes(t: &Tensor, axes: &[isize]) -> Vec<usize> {
    let mut v: Vec<usize> = axes.iter().map(|&a| t.shape().axis(a)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Sums `x` (shape `from`) down to `to`, where `to` broadcasts to `from` (undoes broadcasting).
pub(crate) fn sum_to_shape(x: &[f32], from: &Shape, to: &Shape) -> Vec<f32> {
    let mut out = vec![0.0f32; to.numel()];
    let sx = from.strides();
    let st = to.broadcast_strides(from);
    for_each_broadcast(from, &sx, &st, |_, i, j| out[j] += x[i]);
    out
}

/// Repeats `x` (shape `from`, broadcastable to `to`) into a buffer of shape `to`.
pub(crate) fn broadcast_to_shape(x: &[f32], from: &Shape, to: &Shape) -> Vec<f32> {
    let mut out = vec![0.0f32; to.numel()];
    let sf = from.broadcast_strides(to);
    let so = to.strides();
    for_each_broadcast(to, &so, &sf, |o, _, j| out[o] = x[j]);
    out
}

impl Tensor {
    /// Sum over `axes`.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Tensor {
        let axes = resolve_axes(self, axes);
        let (kept, out_shape) = reduced_shapes(self.shape(), &axes, keepdim);
        let out = sum_to_shape(&self.storage(), self.shape(), &kept);
        let in_shape = self.shape().clone();
        Tensor::from_op(out, out_shape, "sum", &[self], move |g, _| {
            vec![Some(Tensor::from_vec(broadcast_to_shape(&g.storage(), &kept, &in_shape), in_shape.clone()))]
        })
    }

    /// Sum of all elements, as a scalar.
    pub fn sum_all(&self) -> Tensor {
        let axes: Vec<isize> = (0..self.rank() as isize).collect();
        self.sum(&axes, false)
    }

    /// Mean over `axes` (NaN over an empty axis, as in PyTorch).
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Tensor {
        let resolved = resolve_axes(self, axes);
        let count: usize = resolved.iter().filter_map(|&a| self.dims().get(a)).product();
        let s = self.sum(axes, keepdim);
        if count == 0 {
            return s.mul_scalar(f32::NAN);
        }
        s.mul_scalar(1.0 / count as f32)
    }

    /// Mean of all elements, as a scalar (NaN for an empty tensor).
    pub fn mean_all(&self) -> Tensor {
        let s = self.sum_all();
        if self.numel() == 0 {
            return s.mul_scalar(f32::NAN);
        }
        s.mul_scalar(1.0 / self.numel() as f32)
    }

    /// Maximum over one axis; the gradient goes to the first maximal element.
    pub fn max(&self, axis: isize, keepdim: bool) -> Tensor {
        self.extremum(axis, keepdim, "max", |a, b| a > b)
    }

    /// Minimum over one axis; the gradient goes to the first minimal element.
    pub fn min(&self, axis: isize, keepdim: bool) -> Tensor {
        self.extremum(axis, keepdim, "min", |a, b| a < b)
    }

    /// Index of the maximum over one axis (first on ties; NaN counts as largest), as f32.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Tensor {
        let axis = self.shape().axis(axis);
        let (_, idx, _, out_shape) = self.arg_extremum(axis, keepdim, |a, b| a > b);
        Tensor::from_vec(idx.iter().map(|&i| i as f32).collect(), out_shape)
    }

    /// Index of the minimum over one axis, as f32.
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Tensor {
        let axis = self.shape().axis(axis);
        let (_, idx, _, out_shape) = self.arg_extremum(axis, keepdim, |a, b| a < b);
        Tensor::from_vec(idx.iter().map(|&i| i as f32).collect(), out_shape)
    }

    /// Largest element as a plain number (NaN if any element is NaN).
    pub fn max_all(&self) -> f32 {
        let x = self.storage();
        if x.iter().any(|v| v.is_nan()) {
            return f32::NAN;
        }
        x.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    /// Smallest element as a plain number (NaN if any element is NaN).
    pub fn min_all(&self) -> f32 {
        let x = self.storage();
        if x.iter().any(|v| v.is_nan()) {
            return f32::NAN;
        }
        x.iter().copied().fold(f32::INFINITY, f32::min)
    }

    /// Returns (values, index along axis, outer size, output shape) for an arg-reduction.
    fn arg_extremum(
        &self,
        axis: usize,
        keepdim: bool,
        better: impl Fn(f32, f32) -> bool,
    ) -> (Vec<f32>, Vec<usize>, usize, Shape) {
        // A 0-dimensional tensor reduces over its single element, as in PyTorch.
        let dims: &[usize] = if self.rank() == 0 { &[1] } else { self.dims() };
        assert!(dims[axis] > 0, "cannot reduce over an empty axis {axis} of shape {}", self.shape());
        let (_, out_shape) = reduced_shapes(self.shape(), &[axis], keepdim);
        let outer: usize = dims[..axis].iter().product();
        let len = dims[axis];
        let inner: usize = dims[axis + 1..].iter().product();
        let x = self.storage();
        let mut vals = vec![0.0f32; outer * inner];
        let mut idx = vec![0usize; outer * inner];
        for o in 0..outer {
            for i in 0..inner {
                let base = o * len * inner + i;
                let (mut best, mut bi) = (x[base], 0);
                for k in 1..len {
                    let v = x[base + k * inner];
                    if !best.is_nan() && (better(v, best) || v.is_nan()) {
                        best = v;
                        bi = k;
                    }
                }
                vals[o * inner + i] = best;
                idx[o * inner + i] = bi;
            }
        }
        (vals, idx, inner, out_shape)
    }

    fn extremum(&self, axis: isize, keepdim: bool, op: &'static str, better: impl Fn(f32, f32) -> bool) -> Tensor {
        let axis = self.shape().axis(axis);
        let (vals, idx, inner, out_shape) = self.arg_extremum(axis, keepdim, better);
        let in_shape = self.shape().clone();
        let len = self.dims().get(axis).copied().unwrap_or(1);
        Tensor::from_op(vals, out_shape, op, &[self], move |g, _| {
            let g = g.storage();
            let mut gx = vec![0.0f32; in_shape.numel()];
            for (j, (&k, &gv)) in idx.iter().zip(g.iter()).enumerate() {
                let (o, i) = (j / inner, j % inner);
                gx[o * len * inner + k * inner + i] += gv;
            }
            vec![Some(Tensor::from_vec(gx, in_shape.clone()))]
        })
    }
}
