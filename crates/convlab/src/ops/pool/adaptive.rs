//! Adaptive pooling: the caller names the output size and each output `o` of an axis pools
//! the window `[floor(o·I/O), ceil((o+1)·I/O))` (PyTorch's rule; windows may overlap when
//! `I` is not a multiple of `O`). Global average pooling is the 1x1 case.

use super::max::max_result;
use super::{or_panic, split_input};
use crate::kernels::pool::{
    adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, adaptive_max_pool2d_forward, PoolPlanes,
};
use crate::{Error, Tensor};

/// Validates an adaptive pooling of `input` (`[N, C, H, W]`/`[C, H, W]` for a 2-element
/// `output_size`, `[N, C, L]`/`[C, L]` for a 1-element one) and returns the output shape.
pub fn adaptive_pool_output_shape(input: &[usize], output_size: &[usize]) -> Result<Vec<usize>, Error> {
    let rank = output_size.len();
    if rank != 1 && rank != 2 {
        return Err(Error::Invalid(format!("adaptive pooling: output size {output_size:?} must have 1 or 2 entries")));
    }
    let op = if rank == 2 { "adaptive_pool2d" } else { "adaptive_pool1d" };
    split_input(op, input, rank)?;
    let mut out = input[..input.len() - rank].to_vec();
    out.extend_from_slice(output_size);
    Ok(out)
}

/// The planes (input `[H, W]`, output `[OH, OW]`) and output shape of a validated adaptive
/// pooling.
fn adaptive_geometry(x: &Tensor, output_size: &[usize]) -> (PoolPlanes, Vec<usize>) {
    let out_shape = or_panic(adaptive_pool_output_shape(x.dims(), output_size));
    let (count, input) = or_panic(split_input("adaptive pooling", x.dims(), output_size.len()));
    let output = if output_size.len() == 2 { [output_size[0], output_size[1]] } else { [1, output_size[0]] };
    (PoolPlanes { count, input, output }, out_shape)
}

fn adaptive_avg(x: &Tensor, op: &'static str, output_size: &[usize]) -> Tensor {
    let (planes, out_shape) = adaptive_geometry(x, output_size);
    let mut out = vec![0.0f32; planes.count * planes.out_plane()]; // [planes, OH, OW]
    adaptive_avg_pool2d_forward(&planes, &x.storage(), &mut out);
    let in_shape = x.shape().clone();
    Tensor::from_op(out, out_shape, op, &[x], move |gy, _| {
        let mut dx = vec![0.0f32; in_shape.numel()]; // [planes, H, W]
        adaptive_avg_pool2d_backward(&planes, &gy.storage(), &mut dx);
        vec![Some(Tensor::from_vec(dx, in_shape.clone()))]
    })
}

fn adaptive_max(x: &Tensor, op: &'static str, output_size: &[usize]) -> (Tensor, Tensor) {
    let (planes, out_shape) = adaptive_geometry(x, output_size);
    let mut out = vec![0.0f32; planes.count * planes.out_plane()]; // [planes, OH, OW]
    let mut idx = vec![0usize; out.len()]; // [planes, OH, OW]
    adaptive_max_pool2d_forward(&planes, &x.storage(), &mut out, &mut idx);
    max_result(x, op, planes, (out, idx), out_shape)
}

impl Tensor {
    /// Adaptive average pooling of `[N, C, H, W]` or `[C, H, W]` to `[OH, OW]` (PyTorch's
    /// `F.adaptive_avg_pool2d`).
    pub fn adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Tensor {
        adaptive_avg(self, "adaptive_avg_pool2d", &output_size)
    }

    /// Adaptive average pooling of `[N, C, L]` or `[C, L]` to length `output_size`.
    pub fn adaptive_avg_pool1d(&self, output_size: usize) -> Tensor {
        adaptive_avg(self, "adaptive_avg_pool1d", &[output_size])
    }

    /// Global average pooling: `[N, C, H, W]` to `[N, C, 1, 1]` (or `[C, H, W]` to `[C, 1, 1]`).
    pub fn global_avg_pool2d(&self) -> Tensor {
        adaptive_avg(self, "global_avg_pool2d", &[1, 1])
    }

    /// Adaptive max pooling of `[N, C, H, W]` or `[C, H, W]` to `[OH, OW]` (PyTorch's
    /// `F.adaptive_max_pool2d`); the gradient goes to each window's first maximum.
    pub fn adaptive_max_pool2d(&self, output_size: [usize; 2]) -> Tensor {
        self.adaptive_max_pool2d_with_indices(output_size).0
    }

    /// [`Tensor::adaptive_max_pool2d`] with the flat position `h·W + w` of each maximum
    /// within its plane (as f32).
    pub fn adaptive_max_pool2d_with_indices(&self, output_size: [usize; 2]) -> (Tensor, Tensor) {
        adaptive_max(self, "adaptive_max_pool2d", &output_size)
    }

    /// Adaptive max pooling of `[N, C, L]` or `[C, L]` to length `output_size`.
    pub fn adaptive_max_pool1d(&self, output_size: usize) -> Tensor {
        self.adaptive_max_pool1d_with_indices(output_size).0
    }

    /// [`Tensor::adaptive_max_pool1d`] with the position of each maximum along `L` (as f32).
    pub fn adaptive_max_pool1d_with_indices(&self, output_size: usize) -> (Tensor, Tensor) {
        adaptive_max(self, "adaptive_max_pool1d", &[output_size])
    }
}
