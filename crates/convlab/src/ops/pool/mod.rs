//! Pooling: max, average and adaptive pooling in 1-D and 2-D, with PyTorch's semantics
//! (`torch.nn.functional.max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`, ...).
//!
//! Inputs are `[N, C, H, W]` or unbatched `[C, H, W]` (1-D: `[N, C, L]` or `[C, L]`); every
//! channel plane is pooled independently. Settings live in [`Pool2dParams`] /
//! [`Pool1dParams`]; [`pool2d_output_shape`] validates them against an input shape and
//! returns the output size with its arithmetic, so a caller (the CLI) can reject bad input
//! without a panic. The Tensor methods panic with the same message on invalid settings.
//!
//! Output size along an axis (PyTorch's `pooling_output_shape`), with the effective kernel
//! `F = D·(K - 1) + 1`: `O = floor((I + 2P - F) / S) + 1`; with `ceil_mode` the division
//! rounds up, but the last window must start inside the input or the left padding.
//!
//! ```
//! use convlab::ops::pool::{pool2d_output_shape, Pool2dParams};
//! use convlab::Tensor;
//! // The lecture's example: 2x2 max pooling with stride 2.
//! let x = Tensor::from_vec(vec![1., 1., 2., 0., 0., 1., 1., 2., 0., 0., 1., 3., 0., 0., 1., 1.], [1, 1, 4, 4]);
//! let p = Pool2dParams::new([2, 2]);
//! assert_eq!(x.max_pool2d(&p).to_vec(), vec![1., 2., 0., 3.]);
//! assert_eq!(x.avg_pool2d(&p).to_vec(), vec![0.75, 1.25, 0.0, 1.5]);
//! // AlexNet's overlapping 3x3 / stride 2 pooling, validated first.
//! let p = Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) };
//! let shape = pool2d_output_shape(&[8, 96, 55, 55], &p).unwrap();
//! assert_eq!(shape.output, vec![8, 96, 27, 27]);
//! assert_eq!(shape.arithmetic()[0], "O = (I - F + P_start + P_end)/S + 1 = (55 - 3 + 0 + 0)/2 + 1 = 27");
//! assert!(pool2d_output_shape(&[1, 1, 2, 2], &p).is_err());
//! ```

mod adaptive;
mod avg;
mod max;

pub use adaptive::adaptive_pool_output_shape;
pub use avg::{avg_pool1d_output_shape, avg_pool2d_output_shape};

use crate::kernels::pool::Pool2dGeometry;
use crate::window::{effective_kernel, Window2d, WindowAxis};
use crate::Error;

/// Settings of 2-D max or average pooling, named and ordered as in PyTorch.
/// `Pool2dParams::new(kernel)` gives PyTorch's defaults (stride = kernel); adjust others with
/// struct update syntax: `Pool2dParams { padding: [1, 1], ..Pool2dParams::new([3, 3]) }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool2dParams {
    /// `[KH, KW]`.
    pub kernel_size: [usize; 2],
    /// `[SH, SW]`; PyTorch's default is the kernel size.
    pub stride: [usize; 2],
    /// Implicit padding on both sides: -inf for max pooling, zeros for average pooling.
    /// At most half the kernel size.
    pub padding: [usize; 2],
    /// Spacing between window taps. Max pooling only (average pooling rejects anything but 1).
    pub dilation: [usize; 2],
    /// Round the output size up instead of down (a window may then hang over the end).
    pub ceil_mode: bool,
    /// Average pooling: divide by the window area including padding (PyTorch's default).
    /// Ignored by max pooling.
    pub count_include_pad: bool,
    /// Average pooling: divide every window by this instead. Ignored by max pooling.
    pub divisor_override: Option<usize>,
}

impl Pool2dParams {
    /// PyTorch's defaults for a kernel: stride = kernel, no padding, dilation 1, floor mode,
    /// `count_include_pad`, no divisor override.
    pub fn new(kernel_size: [usize; 2]) -> Pool2dParams {
        Pool2dParams {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

impl Default for Pool2dParams {
    /// NOTE: PyTorch has no default kernel; ours is the common 2x2 window with stride 2.
    fn default() -> Self {
        Pool2dParams::new([2, 2])
    }
}

/// Settings of 1-D pooling; the fields mean what [`Pool2dParams`]'s do, for one axis.
/// NOTE: PyTorch's `avg_pool1d` has no `divisor_override`; we keep it for symmetry (it is
/// `avg_pool2d`'s, which `avg_pool1d` is built on in both libraries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool1dParams {
    pub kernel_size: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

impl Pool1dParams {
    /// PyTorch's defaults for a kernel (stride = kernel).
    pub fn new(kernel_size: usize) -> Pool1dParams {
        Pool1dParams {
            kernel_size,
            stride: kernel_size,
            padding: 0,
            dilation: 1,
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    /// The same pooling as a 2-D one over planes of height 1.
    pub fn to_2d(&self) -> Pool2dParams {
        Pool2dParams {
            kernel_size: [1, self.kernel_size],
            stride: [1, self.stride],
            padding: [0, self.padding],
            dilation: [1, self.dilation],
            ceil_mode: self.ceil_mode,
            count_include_pad: self.count_include_pad,
            divisor_override: self.divisor_override,
        }
    }
}

impl Default for Pool1dParams {
    /// NOTE: PyTorch has no default kernel; ours is 2 with stride 2.
    fn default() -> Self {
        Pool1dParams::new(2)
    }
}

/// A validated pooling: the full input and output shapes and the kernel-level geometry.
/// A 1-D pooling is a 2-D one over planes of height 1 (`geometry.input()[0] == 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub geometry: Pool2dGeometry,
    /// 1 or 2.
    pub spatial_rank: usize,
}

impl PoolShape {
    /// The sliding window (kernel, stride, padding per side, dilation, output size).
    pub fn window(&self) -> &Window2d {
        self.geometry.window()
    }

    /// Padding the last window effectively uses at the end of each axis: `padding`, or more
    /// when `ceil_mode` adds a window that hangs over the end.
    pub fn pad_end(&self) -> [usize; 2] {
        self.window().axes().map(|a| a.pad_end())
    }

    /// The output-size arithmetic of each spatial axis (H then W; one line in 1-D), e.g.
    /// `O = (I - F + P_start + P_end)/S + 1 = (224 - 2 + 0 + 0)/2 + 1 = 112`, with
    /// `F = D·(K - 1) + 1` the effective kernel size.
    pub fn arithmetic(&self) -> Vec<String> {
        let axes = self.window().axes();
        axes[2 - self.spatial_rank..].iter().map(|a| a.arithmetic()).collect()
    }
}

/// Shows the last `rank` entries of a per-axis setting: `3` in 1-D, `[3, 3]` in 2-D.
pub(crate) fn show(v: [usize; 2], rank: usize) -> String {
    if rank == 1 {
        v[1].to_string()
    } else {
        format!("[{}, {}]", v[0], v[1])
    }
}

/// Splits an input shape into (planes, spatial sizes as `[H, W]`), checking its rank and that
/// no channel or spatial size is zero (the batch may be empty).
pub(crate) fn split_input(op: &str, input: &[usize], spatial_rank: usize) -> Result<(usize, [usize; 2]), Error> {
    let want = if spatial_rank == 2 { "[N, C, H, W] or [C, H, W]" } else { "[N, C, L] or [C, L]" };
    let r = input.len();
    if r != spatial_rank + 1 && r != spatial_rank + 2 {
        return Err(Error::Shape(format!("{op}: expected an input {want}, got {input:?}")));
    }
    let non_batch = if r == spatial_rank + 2 { &input[1..] } else { input };
    if non_batch.contains(&0) {
        return Err(Error::Shape(format!("{op}: input {input:?} has a zero-sized channel or spatial dimension")));
    }
    let planes = input[..r - spatial_rank].iter().product();
    let hw = if spatial_rank == 2 { [input[r - 2], input[r - 1]] } else { [1, input[r - 1]] };
    Ok((planes, hw))
}

/// The shared validation of fixed-window pooling (`op` names the operation in messages).
pub(crate) fn pool_shape(op: &str, input: &[usize], spatial_rank: usize, p: &Pool2dParams) -> Result<PoolShape, Error> {
    let (planes, hw) = split_input(op, input, spatial_rank)?;
    let sh = |v| show(v, spatial_rank);
    if p.kernel_size.contains(&0) {
        return Err(Error::Invalid(format!(
            "{op}: kernel size should be greater than zero, got {}",
            sh(p.kernel_size)
        )));
    }
    if p.stride.contains(&0) {
        return Err(Error::Invalid(format!("{op}: stride should not be zero, got {}", sh(p.stride))));
    }
    if p.dilation.contains(&0) {
        return Err(Error::Invalid(format!("{op}: dilation should be greater than zero, got {}", sh(p.dilation))));
    }
    if (0..2).any(|a| p.padding[a] > p.kernel_size[a] / 2) {
        return Err(Error::Invalid(format!(
            "{op}: padding {} should be at most half of the kernel size {} (input {input:?})",
            sh(p.padding),
            sh(p.kernel_size)
        )));
    }
    let axis = |a: usize| match p.ceil_mode {
        true => WindowAxis::ceil(hw[a], p.kernel_size[a], p.stride[a], p.dilation[a], p.padding[a]),
        false => WindowAxis::new(hw[a], p.kernel_size[a], p.stride[a], p.dilation[a], [p.padding[a]; 2]),
    };
    let (height, width) = match (axis(0), axis(1)) {
        (Ok(h), Ok(w)) => (h, w),
        _ => {
            // A kernel larger than the padded input (or sizes too large to add up).
            let f = |a: usize| effective_kernel(p.kernel_size[a], p.dilation[a]);
            let padded = |a: usize| hw[a].saturating_add(p.padding[a].saturating_mul(2));
            let out = |a: usize| axis(a).map_or(0, |w| w.output());
            return Err(Error::Shape(format!(
                "{op}: input {input:?} is too small: the padded input {} is smaller than the (effective) kernel {} (kernel {}, padding {}, dilation {}), so the output size would be {}",
                sh([padded(0), padded(1)]),
                sh([f(0), f(1)]),
                sh(p.kernel_size),
                sh(p.padding),
                sh(p.dilation),
                sh([out(0), out(1)])
            )));
        }
    };
    let window = Window2d::from_axes(height, width);
    let r = input.len();
    let mut out_shape = input[..r - spatial_rank].to_vec();
    out_shape.extend_from_slice(&window.output()[2 - spatial_rank..]);
    let geometry = Pool2dGeometry::new(planes, window);
    Ok(PoolShape { input: input.to_vec(), output: out_shape, geometry, spatial_rank })
}

/// Validates 2-D max pooling settings against an input shape (`[N, C, H, W]` or `[C, H, W]`)
/// and computes the output. Errors name the input shape and the offending setting. For
/// average pooling use [`avg_pool2d_output_shape`], which also rejects dilation.
pub fn pool2d_output_shape(input: &[usize], params: &Pool2dParams) -> Result<PoolShape, Error> {
    pool_shape("max_pool2d", input, 2, params)
}

/// Validates 1-D max pooling settings against an input shape (`[N, C, L]` or `[C, L]`).
pub fn pool1d_output_shape(input: &[usize], params: &Pool1dParams) -> Result<PoolShape, Error> {
    pool_shape("max_pool1d", input, 1, &params.to_2d())
}

/// Unwraps a validation result in a Tensor method, panicking with its message.
pub(crate) fn or_panic<T>(r: Result<T, Error>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}
