//! Average pooling (2-D and 1-D): each output is a window sum divided by the window's
//! divisor; the chain rule spreads each output gradient evenly (by the same divisor) over
//! the input taps of its window.

use super::{or_panic, pool_shape, show, Pool1dParams, Pool2dParams, PoolShape};
use crate::kernels::pool::{avg_pool2d_backward, avg_pool2d_forward, Divisor};
use crate::{Error, Tensor};

fn avg_shape(op: &str, input: &[usize], spatial_rank: usize, p: &Pool2dParams) -> Result<PoolShape, Error> {
    if p.dilation != [1, 1] {
        return Err(Error::Invalid(format!(
            "{op}: average pooling has no dilation, got dilation {} (input {input:?})",
            show(p.dilation, spatial_rank)
        )));
    }
    if p.divisor_override == Some(0) {
        return Err(Error::Invalid(format!("{op}: divisor_override must not be zero (input {input:?})")));
    }
    pool_shape(op, input, spatial_rank, p)
}

/// Validates 2-D average pooling settings against an input shape (`[N, C, H, W]` or
/// `[C, H, W]`): [`super::pool2d_output_shape`]'s checks, plus dilation must be 1 and a
/// divisor override must not be zero.
pub fn avg_pool2d_output_shape(input: &[usize], params: &Pool2dParams) -> Result<PoolShape, Error> {
    avg_shape("avg_pool2d", input, 2, params)
}

/// Validates 1-D average pooling settings against an input shape (`[N, C, L]` or `[C, L]`).
pub fn avg_pool1d_output_shape(input: &[usize], params: &Pool1dParams) -> Result<PoolShape, Error> {
    avg_shape("avg_pool1d", input, 1, &params.to_2d())
}

fn avg_pool(x: &Tensor, op: &'static str, shape: PoolShape, params: &Pool2dParams) -> Tensor {
    let g = shape.geometry;
    let divisor = Divisor::new(params.count_include_pad, params.divisor_override);
    let mut out = vec![0.0f32; g.planes() * g.out_plane()]; // [planes, OH, OW]
    avg_pool2d_forward(&g, divisor, &x.storage(), &mut out);
    let in_shape = x.shape().clone();
    Tensor::from_op(out, shape.output, op, &[x], move |gy, _| {
        let mut dx = vec![0.0f32; in_shape.numel()]; // [planes, H, W]
        avg_pool2d_backward(&g, divisor, &gy.storage(), &mut dx);
        vec![Some(Tensor::from_vec(dx, in_shape.clone()))]
    })
}

impl Tensor {
    /// 2-D average pooling of `[N, C, H, W]` or `[C, H, W]` (PyTorch's `F.avg_pool2d`):
    /// padding counts as zeros; the divisor follows `count_include_pad` and
    /// `divisor_override`. Panics (naming the shapes) on settings that do not fit the input,
    /// including a dilation other than 1; validate first with
    /// [`crate::ops::pool::avg_pool2d_output_shape`].
    pub fn avg_pool2d(&self, params: &Pool2dParams) -> Tensor {
        let shape = or_panic(avg_pool2d_output_shape(self.dims(), params));
        avg_pool(self, "avg_pool2d", shape, params)
    }

    /// 1-D average pooling of `[N, C, L]` or `[C, L]` (PyTorch's `F.avg_pool1d`).
    pub fn avg_pool1d(&self, params: &Pool1dParams) -> Tensor {
        let shape = or_panic(avg_pool1d_output_shape(self.dims(), params));
        avg_pool(self, "avg_pool1d", shape, &params.to_2d())
    }
}
