//! Softmax and log-softmax along one axis. Every buffer is row-major `[outer, len, inner]`:
//! element `(o, k, i)` sits at `(o·len + k)·inner + i`, and each `(o, i)` lane along `k` is
//! normalised independently. The maximum is subtracted before exponentiating.

/// A buffer viewed as `[outer, len, inner]` around the axis (of size `len`) being normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxShape {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
}

/// Calls `f(base, stride)` once per lane: the lane's elements are `base + k·stride`, `k < len`.
fn for_each_lane(s: &SoftmaxShape, mut f: impl FnMut(usize, usize)) {
    let SoftmaxShape { outer, len, inner } = *s;
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

/// `y = exp(x − m) / Σ exp(x − m)` per lane. `y`, `x`: `[outer, len, inner]`.
pub fn softmax_forward(shape: &SoftmaxShape, x: &[f32], y: &mut [f32]) {
    let len = shape.len;
    for_each_lane(shape, |base, s| {
        let (max, sum) = lane_max_sumexp(x, base, s, len);
        let inv = 1.0 / sum;
        for k in 0..len {
            y[base + k * s] = (x[base + k * s] - max).exp() * inv;
        }
    });
}

/// `dx = y ⊙ (g − Σ g⊙y)` per lane. `dx`, `g` (gradient of `y`), `y` (the forward output):
/// `[outer, len, inner]`.
pub fn softmax_backward(shape: &SoftmaxShape, g: &[f32], y: &[f32], dx: &mut [f32]) {
    let len = shape.len;
    for_each_lane(shape, |base, s| {
        let dot: f32 = (0..len).map(|k| g[base + k * s] * y[base + k * s]).sum();
        for k in 0..len {
            let j = base + k * s;
            dx[j] = y[j] * (g[j] - dot);
        }
    });
}

/// `y = (x − m) − log Σ exp(x − m)` per lane. `y`, `x`: `[outer, len, inner]`.
pub fn log_softmax_forward(shape: &SoftmaxShape, x: &[f32], y: &mut [f32]) {
    let len = shape.len;
    for_each_lane(shape, |base, s| {
        let (max, sum) = lane_max_sumexp(x, base, s, len);
        let lse = sum.ln();
        for k in 0..len {
            y[base + k * s] = (x[base + k * s] - max) - lse;
        }
    });
}

/// `dx = g − exp(y) ⊙ Σ g` per lane. `dx`, `g` (gradient of `y`), `y` (the forward output):
/// `[outer, len, inner]`.
pub fn log_softmax_backward(shape: &SoftmaxShape, g: &[f32], y: &[f32], dx: &mut [f32]) {
    let len = shape.len;
    for_each_lane(shape, |base, s| {
        let total: f32 = (0..len).map(|k| g[base + k * s]).sum();
        for k in 0..len {
            let j = base + k * s;
            dx[j] = g[j] - y[j].exp() * total;
        }
    });
}
