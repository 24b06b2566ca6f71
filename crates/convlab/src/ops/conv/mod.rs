//! Convolution: `conv2d`, `conv1d`, `conv_transpose2d`, true convolution, and the output-size
//! arithmetic.
//!
//! **Cross-correlation vs. convolution.** Neural networks (and PyTorch's `conv2d`) slide the
//! kernel over the input without flipping it: `y[i, j] = Σ_{u,v} w[u, v] · x[i·s + u, j·s + v]`
//! — mathematically a cross-correlation. Signal processing (and the lecture's
//! `y_ij = Σ w_uv · x_{i-u+1, j-v+1}`) flips the kernel first: that is true convolution,
//! [`Tensor::convolve2d`] / [`Tensor::convolve1d`], equal to `conv2d` with the kernel rotated
//! by 180° ([`Tensor::flip`]). For a learned kernel the difference does not matter (the
//! network learns the flipped kernel), for a hand-written filter it does.
//!
//! **Padding.** [`Padding2d`] gives per-side amounts or one of the lecture's modes: `Valid`
//! (none), `Same` (output `⌈I/S⌉`, also for stride > 1), `Full` (`F - 1` on each side).
//! [`PaddingMode`] chooses what the padding holds: zeros, a reflection, the edge value
//! repeated ("edge padding" = [`PaddingMode::Replicate`]), or a circular wrap. The output
//! size along each dimension is `O = ⌊(I - F + P_start + P_end) / S⌋ + 1` with
//! `F = dilation·(k - 1) + 1`; [`conv2d_output_shape`] validates it and returns the
//! [`Conv2dGeometry`] (per-side padding, output size, [`Conv2dGeometry::arithmetic`]).
//!
//! ```
//! use convlab::ops::conv::{Conv2dParams, Padding2d};
//! use convlab::Tensor;
//! // The lecture's vertical edge detector on a 6×6 image, [1, 1, 6, 6] * [1, 1, 3, 3].
//! let row = [10.0, 10.0, 10.0, 0.0, 0.0, 0.0];
//! let x = Tensor::from_vec(row.repeat(6), [1, 1, 6, 6]);
//! let w = Tensor::from_vec([1.0, 0.0, -1.0].repeat(3), [1, 1, 3, 3]);
//! let y = x.conv2d(&w, None, &Conv2dParams::default());
//! assert_eq!(y.dims(), &[1, 1, 4, 4]);
//! assert_eq!(&y.to_vec()[..4], &[0.0, 30.0, 30.0, 0.0]);
//! // "Same" padding with stride 2: output ⌈6/2⌉ = 3.
//! let p = Conv2dParams { stride: [2, 2], padding: Padding2d::Same, ..Default::default() };
//! assert_eq!(x.conv2d(&w, None, &p).dims(), &[1, 1, 3, 3]);
//! ```

mod conv2d;
mod flip;
mod params;
mod transpose;

pub use crate::kernels::conv::Conv2dGeometry;
pub use crate::ops::pad::PaddingMode;
pub use params::{
    conv1d_output_shape, conv2d_output_shape, conv_output_size, conv_transpose2d_output_shape, same_padding,
    Conv1dParams, Conv2dParams, ConvTranspose2dParams, Padding1d, Padding2d,
};
