//! Max pooling (2-D and 1-D): the forward pass records each window's argmax, and the chain
//! rule sends each output gradient back to that position (accumulating where windows overlap).

use super::{or_panic, pool_shape, Pool1dParams, Pool2dParams};
use crate::kernels::pool::{max_pool2d_backward, max_pool2d_forward, PoolPlanes};
use crate::Tensor;

/// Builds the result of a max-type pooling of `x` over `planes` from its values and argmax
/// positions (`values`, `indices`: `[planes, out_plane]`, positions within an input plane).
/// Returns the values (recorded in the graph) and the indices as an f32 tensor.
pub(super) fn max_result(
    x: &Tensor,
    op: &'static str,
    planes: PoolPlanes,
    (values, indices): (Vec<f32>, Vec<usize>),
    out_shape: Vec<usize>,
) -> (Tensor, Tensor) {
    let idx = Tensor::from_vec(indices.iter().map(|&i| i as f32).collect(), out_shape.clone());
    let in_shape = x.shape().clone();
    let y = Tensor::from_op(values, out_shape, op, &[x], move |gy, _| {
        let mut dx = vec![0.0f32; in_shape.numel()]; // [planes, in_plane]
        max_pool2d_backward(&planes, &gy.storage(), &indices, &mut dx);
        vec![Some(Tensor::from_vec(dx, in_shape.clone()))]
    });
    (y, idx)
}

fn max_pool(x: &Tensor, op: &'static str, spatial_rank: usize, params: &Pool2dParams) -> (Tensor, Tensor) {
    let shape = or_panic(pool_shape(op, x.dims(), spatial_rank, params));
    let g = shape.geometry;
    let mut out = vec![0.0f32; g.planes() * g.out_plane()]; // [planes, OH, OW]
    let mut idx = vec![0usize; out.len()]; // [planes, OH, OW]
    max_pool2d_forward(&g, &x.storage(), &mut out, &mut idx);
    max_result(x, op, g.planes_and_sizes(), (out, idx), shape.output)
}

impl Tensor {
    /// 2-D max pooling of `[N, C, H, W]` or `[C, H, W]` (PyTorch's `F.max_pool2d`). Padding
    /// counts as -inf; the gradient goes to the first maximum of each window in row-major
    /// order. Panics with a message naming the shapes if the settings do not fit the input
    /// (validate first with [`crate::ops::pool::pool2d_output_shape`]).
    pub fn max_pool2d(&self, params: &Pool2dParams) -> Tensor {
        self.max_pool2d_with_indices(params).0
    }

    /// [`Tensor::max_pool2d`] that also returns, for every output, the flat position
    /// `h·W + w` of its maximum within the input plane (PyTorch's `return_indices=True`).
    /// NOTE: the indices are an f32 tensor (PyTorch: int64), as [`Tensor::argmax`]'s are.
    pub fn max_pool2d_with_indices(&self, params: &Pool2dParams) -> (Tensor, Tensor) {
        max_pool(self, "max_pool2d", 2, params)
    }

    /// 1-D max pooling of `[N, C, L]` or `[C, L]` (PyTorch's `F.max_pool1d`).
    pub fn max_pool1d(&self, params: &Pool1dParams) -> Tensor {
        self.max_pool1d_with_indices(params).0
    }

    /// [`Tensor::max_pool1d`] with the position of each maximum along `L` (as f32).
    pub fn max_pool1d_with_indices(&self, params: &Pool1dParams) -> (Tensor, Tensor) {
        max_pool(self, "max_pool1d", 1, &params.to_2d())
    }
}
