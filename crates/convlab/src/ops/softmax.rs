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

use crate::kernels::softmax::{self as kernels, SoftmaxShape};
use crate::Tensor;

/// `(outer, len, inner)` of a row-major shape split at `axis`: element `(o, k, i)` sits at
/// `(o·len + k)·inner + i`.
pub(crate) fn split_at_axis(dims: &[usize], axis: usize) -> SoftmaxShape {
    if dims.is_empty() {
        return SoftmaxShape { outer: 1, len: 1, inner: 1 }; // a 0-dimensional tensor: one lane of one element
    }
    SoftmaxShape { outer: dims[..axis].iter().product(), len: dims[axis], inner: dims[axis + 1..].iter().product() }
}

impl Tensor {
    /// `exp(x) / Σ exp(x)` along `axis` (negative counts from the end).
    pub fn softmax(&self, axis: isize) -> Tensor {
        let axis = self.shape().axis(axis);
        let shape = split_at_axis(self.dims(), axis);
        let x = self.storage();
        let mut y = vec![0.0f32; x.len()];
        kernels::softmax_forward(&shape, &x, &mut y);
        Tensor::from_op(y, self.shape().clone(), "softmax", &[self], move |g, y| {
            let mut dx = vec![0.0f32; y.numel()];
            kernels::softmax_backward(&shape, &g.storage(), &y.storage(), &mut dx);
            vec![Some(Tensor::from_vec(dx, g.shape().clone()))]
        })
    }

    /// `x − log Σ exp(x)` along `axis`; more accurate than `softmax(axis).log()`.
    pub fn log_softmax(&self, axis: isize) -> Tensor {
        let axis = self.shape().axis(axis);
        let shape = split_at_axis(self.dims(), axis);
        let x = self.storage();
        let mut y = vec![0.0f32; x.len()];
        kernels::log_softmax_forward(&shape, &x, &mut y);
        Tensor::from_op(y, self.shape().clone(), "log_softmax", &[self], move |g, y| {
            let mut dx = vec![0.0f32; y.numel()];
            kernels::log_softmax_backward(&shape, &g.storage(), &y.storage(), &mut dx);
            vec![Some(Tensor::from_vec(dx, g.shape().clone()))]
        })
    }
}
