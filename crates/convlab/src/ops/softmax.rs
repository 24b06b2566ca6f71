//! Softmax and log-softmax along one axis, numerically stable (the maximum is subtracted
//! before exponentiating), with their closed-form backward passes.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![1000.0, 1001.0, 0.0, 0.0], [2, 2]);
//! let p = x.softmax(1).to_vec();
//! assert!((p[0] - 0.268_941_4).abs() < 1e-6 && (p[1] - 0.731_058_6).abs() < 1e-6);
//! assert_eq!(&p[2..], &[0.5, 0.5]);
//! let lp = x.log_softmax(-1).to_vec();
//! assert!((lp[2] + std::f32::consts::LN_2).abs() < 1e-6);
//! ```

use crate::Tensor;

/// `(outer, len, inner)` of a row-major shape split at `axis`: element `(o, k, i)` sits at
/// `(o·len + k)·inner + i`.
pub(crate) fn split_at_axis(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    if dims.is_empty() {
        return (1, 1, 1); // a 0-dimensional tensor: one lane of one element
    }
    (dims[..axis].iter().product(), dims[axis], dims[axis + 1..].iter().product())
}

/// Calls `f(base, stride)` once per lane along the axis: the lane's elements are
/// `base + k·stride` for `k < len`.
fn for_each_lane(outer: usize, len: usize, inner: usize, mut f: impl FnMut(usize, usize)) {
    for o in 0..outer {
        for i in 0..inner {
            f(o * len * inner + i, inner);
        }
    }
}

/// The maximum `m` of one lane and `Σ exp(x − m)` over it.
fn lane_max_sumexp(x: &[f32], base: usize, stride: usize, len: usize) -> (f32, f32) {
    let mut max = f32::NEG_INFINITY;
    for k in 0..len {
        max = max.max(x[base + k * stride]);
    }
    if max == f32::NEG_INFINITY {
        // All -inf (or empty): keep the result -inf/NaN as PyTorch does, without inf - inf.
        return (max, 0.0);
    }
    let mut sum = 0.0f32;
    for k in 0..len {
        sum += (x[base + k * stride] - max).exp();
    }
    (max, sum)
}

impl Tensor {
    /// `exp(x) / Σ exp(x)` along `axis` (negative counts from the end).
    pub fn softmax(&self, axis: isize) -> Tensor {
        let axis = self.shape().axis(axis);
        let (outer, len, inner) = split_at_axis(self.dims(), axis);
        let x = self.storage();
        let mut y = vec![0.0f32; x.len()];
        for_each_lane(outer, len, inner, |base, s| {
            let (max, sum) = lane_max_sumexp(&x, base, s, len);
            let inv = 1.0 / sum;
            for k in 0..len {
                y[base + k * s] = (x[base + k * s] - max).exp() * inv;
            }
        });
        Tensor::from_op(y, self.shape().clone(), "softmax", &[self], move |g, y| {
            // dx = y ⊙ (g − Σ g⊙y) along the axis
            let shape = g.shape().clone();
            let (g, y) = (g.storage(), y.storage());
            let mut dx = vec![0.0f32; y.len()];
            for_each_lane(outer, len, inner, |base, s| {
                let dot: f32 = (0..len).map(|k| g[base + k * s] * y[base + k * s]).sum();
                for k in 0..len {
                    let j = base + k * s;
                    dx[j] = y[j] * (g[j] - dot);
                }
            });
            vec![Some(Tensor::from_vec(dx, shape))]
        })
    }

    /// `x − log Σ exp(x)` along `axis`; more accurate than `softmax(axis).log()`.
    pub fn log_softmax(&self, axis: isize) -> Tensor {
        let axis = self.shape().axis(axis);
        let (outer, len, inner) = split_at_axis(self.dims(), axis);
        let x = self.storage();
        let mut y = vec![0.0f32; x.len()];
        for_each_lane(outer, len, inner, |base, s| {
            let (max, sum) = lane_max_sumexp(&x, base, s, len);
            let lse = sum.ln();
            for k in 0..len {
                y[base + k * s] = (x[base + k * s] - max) - lse;
            }
        });
        Tensor::from_op(y, self.shape().clone(), "log_softmax", &[self], move |g, y| {
            // dx = g − softmax ⊙ Σ g along the axis, with softmax = exp(y)
            let shape = g.shape().clone();
            let (g, y) = (g.storage(), y.storage());
            let mut dx = vec![0.0f32; y.len()];
            for_each_lane(outer, len, inner, |base, s| {
                let total: f32 = (0..len).map(|k| g[base + k * s]).sum();
                for k in 0..len {
                    let j = base + k * s;
                    dx[j] = g[j] - y[j].exp() * total;
                }
            });
            vec![Some(Tensor::from_vec(dx, shape))]
        })
    }
}
