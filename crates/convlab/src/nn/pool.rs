//! Pooling layers: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, `MaxPool1d`, `AvgPool1d`.

use crate::kernels::pool::adaptive_window;
use crate::nn::module::{Forward, Module};
use crate::ops::pool::{
    adaptive_pool_output_shape, avg_pool1d_output_shape, avg_pool2d_output_shape, pool1d_output_shape,
    pool2d_output_shape, Pool1dParams, Pool2dParams,
};
use crate::window::{Window2d, WindowAxis};
use crate::{Error, Tensor};

fn pool_repr(p: &Pool2dParams, max: bool) -> String {
    let mut s = format!(
        "kernel_size=({}, {}), stride=({}, {}), padding=({}, {})",
        p.kernel_size[0], p.kernel_size[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1]
    );
    if max && p.dilation != [1, 1] {
        s += &format!(", dilation=({}, {})", p.dilation[0], p.dilation[1]);
    }
    if p.ceil_mode {
        s += ", ceil_mode=True";
    }
    if !max && !p.count_include_pad {
        s += ", count_include_pad=False";
    }
    s
}

/// `nn.MaxPool2d`.
pub struct MaxPool2d(pub Pool2dParams);

impl Module for MaxPool2d {
    fn kind(&self) -> &'static str {
        "MaxPool2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        Ok(pool2d_output_shape(input, &self.0)?.output)
    }
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        pool2d_output_shape(input, &self.0).ok().map(|s| *s.window())
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.max_pool2d(&self.0)
    }
    fn describe(&self) -> String {
        pool_repr(&self.0, true)
    }
}

/// `nn.AvgPool2d`.
pub struct AvgPool2d(pub Pool2dParams);

impl Module for AvgPool2d {
    fn kind(&self) -> &'static str {
        "AvgPool2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        Ok(avg_pool2d_output_shape(input, &self.0)?.output)
    }
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        avg_pool2d_output_shape(input, &self.0).ok().map(|s| *s.window())
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.avg_pool2d(&self.0)
    }
    fn describe(&self) -> String {
        pool_repr(&self.0, false)
    }
}

/// `nn.MaxPool1d`.
pub struct MaxPool1d(pub Pool1dParams);

impl Module for MaxPool1d {
    fn kind(&self) -> &'static str {
        "MaxPool1d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        Ok(pool1d_output_shape(input, &self.0)?.output)
    }
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        pool1d_output_shape(input, &self.0).ok().map(|s| *s.window())
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.max_pool1d(&self.0)
    }
    fn describe(&self) -> String {
        format!("kernel_size={}, stride={}, padding={}", self.0.kernel_size, self.0.stride, self.0.padding)
    }
}

/// `nn.AvgPool1d`.
pub struct AvgPool1d(pub Pool1dParams);

impl Module for AvgPool1d {
    fn kind(&self) -> &'static str {
        "AvgPool1d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        Ok(avg_pool1d_output_shape(input, &self.0)?.output)
    }
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        avg_pool1d_output_shape(input, &self.0).ok().map(|s| *s.window())
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.avg_pool1d(&self.0)
    }
    fn describe(&self) -> String {
        format!("kernel_size={}, stride={}, padding={}", self.0.kernel_size, self.0.stride, self.0.padding)
    }
}

/// `nn.AdaptiveAvgPool2d`: average over windows chosen so the output is `output_size`.
pub struct AdaptiveAvgPool2d {
    pub output_size: [usize; 2],
}

impl Module for AdaptiveAvgPool2d {
    fn kind(&self) -> &'static str {
        "AdaptiveAvgPool2d"
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        adaptive_pool_output_shape(input, &self.output_size)
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.adaptive_avg_pool2d(self.output_size)
    }
    fn describe(&self) -> String {
        format!("output_size=({}, {})", self.output_size[0], self.output_size[1])
    }
    /// Adaptive windows vary in size when the input is not a multiple of the output; this
    /// reports the widest window with the stride `⌊I/O⌋`, keeping the layer's output size
    /// (exact when `I` is a multiple of `O`). `None` for an output larger than the input.
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        let r = input.len();
        if r < 2 {
            return None;
        }
        let hw = [input[r - 2], input[r - 1]];
        let axis = |i: usize| {
            let (n, o) = (hw[i], self.output_size[i]);
            if o == 0 || o > n {
                return None;
            }
            let widest = (0..o).map(|j| adaptive_window(j, n, o)).map(|(s, e)| e - s).max().unwrap_or(1);
            let w = WindowAxis::new(n, widest, n / o, 1, [0, 0]).ok()?;
            (w.output() >= o).then(|| w.first(o))
        };
        Some(Window2d::from_axes(axis(0)?, axis(1)?))
    }
}
