//! The sliding window of convolution and pooling, and the lecture's output-size arithmetic.
//!
//! A window slides along each spatial axis of an input: `kernel` taps `dilation` apart (so it
//! spans the effective kernel `F = D·(K−1)+1` input positions), moved `stride` positions at a
//! time over the input padded with `pad_start` and `pad_end`. The number of positions is
//!
//! ```text
//! O = ⌊(I − F + P_start + P_end) / S⌋ + 1
//! ```
//!
//! [`WindowAxis`] is one axis, [`Window2d`] the two axes of an image (a 1-D signal is an image
//! of height 1). Convolution, transposed convolution and pooling all describe their windows
//! with these types: the kernels read them, the layers report them to the summary (receptive
//! fields), and the calculator and the explainer print their arithmetic. A window is checked
//! when it is built and never changed afterwards (its fields are private).
//!
//! ```
//! use convlab::window::{Window2d, WindowAxis};
//! // The lecture's 6×6 input, 3×3 kernel, stride 1, no padding: a 4×4 output.
//! let w = WindowAxis::new(6, 3, 1, 1, [0, 0]).unwrap();
//! assert_eq!(w.output(), 4);
//! assert_eq!(w.arithmetic(), "O = (I - F + P_start + P_end)/S + 1 = (6 - 3 + 0 + 0)/1 + 1 = 4");
//! // 224×224, 7×7 kernel, stride 2, padding 3: ResNet's stem gives 112×112.
//! let stem = Window2d::new([224, 224], [7, 7], [2, 2], [1, 1], [3, 3, 3, 3]).unwrap();
//! assert_eq!(stem.output(), [112, 112]);
//! // A kernel larger than the padded input is an error that names the sizes.
//! let e = WindowAxis::new(2, 3, 1, 1, [0, 0]).unwrap_err();
//! assert_eq!(e.to_string(), "kernel of size 3 does not fit the padded input (2 + 0 + 0 = 2)");
//! ```

use std::fmt;

/// Why a window does not exist. The message names the sizes of one axis; the operation that
/// builds the window adds its own name and the shapes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// A stride of 0.
    ZeroStride,
    /// A dilation of 0.
    ZeroDilation,
    /// A kernel with no taps.
    EmptyKernel,
    /// `D·(K−1)+1` or the padded input does not fit in `usize`.
    TooLarge { kernel: usize, dilation: usize },
    /// The effective kernel is larger than the padded input.
    DoesNotFit { effective_kernel: usize, input: usize, pad_start: usize, pad_end: usize },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WindowError::ZeroStride => write!(f, "stride must be positive, got 0"),
            WindowError::ZeroDilation => write!(f, "dilation must be positive, got 0"),
            WindowError::EmptyKernel => write!(f, "kernel size must be positive, got 0"),
            WindowError::TooLarge { kernel, dilation } => {
                write!(f, "kernel {kernel} dilated by {dilation} (or its padded input) is too large")
            }
            WindowError::DoesNotFit { effective_kernel, input, pad_start, pad_end } => write!(
                f,
                "kernel of size {effective_kernel} does not fit the padded input ({input} + {pad_start} + {pad_end} = {})",
                input + pad_start + pad_end
            ),
        }
    }
}

impl std::error::Error for WindowError {}

/// The window along one axis. Built by [`WindowAxis::new`] (PyTorch's floor rounding),
/// [`WindowAxis::ceil`] (pooling's `ceil_mode`) or [`WindowAxis::first`] (fewer positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowAxis {
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_start: usize,
    pad_end: usize,
    output: usize,
}

impl WindowAxis {
    /// The window over `input` positions padded by `[start, end]`:
    /// `O = ⌊(I − F + P_start + P_end)/S⌋ + 1`.
    pub fn new(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        pad: [usize; 2],
    ) -> Result<Self, WindowError> {
        let [pad_start, pad_end] = pad;
        let f = effective_kernel_checked(kernel, stride, dilation)?;
        let padded = input
            .checked_add(pad_start)
            .and_then(|v| v.checked_add(pad_end))
            .ok_or(WindowError::TooLarge { kernel, dilation })?;
        if f > padded {
            return Err(WindowError::DoesNotFit { effective_kernel: f, input, pad_start, pad_end });
        }
        Ok(WindowAxis { input, kernel, stride, dilation, pad_start, pad_end, output: (padded - f) / stride + 1 })
    }

    /// Pooling's `ceil_mode` (PyTorch's rule; pooling pads both ends alike by `padding`): the
    /// output rounds up, `⌈(I − F + 2P)/S⌉ + 1`,
    /// except that the last window must start inside the input or the left padding. The
    /// padding at the end grows to what the last window really covers, so that
    /// [`WindowAxis::arithmetic`] adds up.
    pub fn ceil(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        padding: usize,
    ) -> Result<Self, WindowError> {
        let floor = WindowAxis::new(input, kernel, stride, dilation, [padding, padding])?;
        let span = floor.input + 2 * padding - floor.effective_kernel();
        let mut output = span.div_ceil(stride) + 1;
        if (output - 1) * stride >= input + padding {
            output -= 1;
        }
        let reach = (output - 1) * stride + floor.effective_kernel();
        let pad_end = padding.max(reach.saturating_sub(input + padding));
        Ok(WindowAxis { pad_end, output, ..floor })
    }

    /// The same window keeping only its first `output` positions (at most [`Self::output`];
    /// panics otherwise): a transposed convolution with `output_padding` is the gradient of a
    /// convolution whose last input rows no window reads. [`WindowAxis::arithmetic`] then
    /// shows the full window's numbers with the kept output size.
    pub fn first(self, output: usize) -> WindowAxis {
        assert!(output >= 1 && output <= self.output, "window of {} positions cannot keep {output}", self.output);
        WindowAxis { output, ..self }
    }

    /// A window that leaves its single position alone: the height axis of a 1-D signal.
    pub fn unit() -> WindowAxis {
        WindowAxis { input: 1, kernel: 1, stride: 1, dilation: 1, pad_start: 0, pad_end: 0, output: 1 }
    }

    /// Input positions `I` (without padding).
    pub fn input(&self) -> usize {
        self.input
    }

    /// Taps `K` (before dilation).
    pub fn kernel(&self) -> usize {
        self.kernel
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn dilation(&self) -> usize {
        self.dilation
    }

    /// Padding before the first input position.
    pub fn pad_start(&self) -> usize {
        self.pad_start
    }

    /// Padding after the last input position (with `ceil_mode`, what the last window covers).
    pub fn pad_end(&self) -> usize {
        self.pad_end
    }

    /// Output positions `O`.
    pub fn output(&self) -> usize {
        self.output
    }

    /// `F = D·(K−1)+1`: the input positions one window spans.
    pub fn effective_kernel(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }

    /// The first input position of window `o` (negative inside the start padding).
    pub fn window_start(&self, o: usize) -> isize {
        (o * self.stride) as isize - self.pad_start as isize
    }

    /// The input positions window `o` reads that lie inside the input (its taps are
    /// `window_start(o) + t·D` for `t < K`; those in the padding are left out).
    pub fn taps(&self, o: usize) -> impl Iterator<Item = usize> + '_ {
        let start = self.window_start(o);
        (0..self.kernel)
            .map(move |t| start + (t * self.dilation) as isize)
            .filter(|&i| i >= 0 && (i as usize) < self.input)
            .map(|i| i as usize)
    }

    /// The length of window `o` counted with its padding, as average pooling's
    /// `count_include_pad` divides: PyTorch clips the window at `I + P_start` (the padding
    /// setting, also where `ceil_mode` lets the last window hang further).
    pub fn padded_len(&self, o: usize) -> usize {
        let start = self.window_start(o);
        let end = (start + self.effective_kernel() as isize).min((self.input + self.pad_start) as isize);
        (end - start).max(0) as usize
    }

    /// The lecture's arithmetic with this axis's numbers, e.g.
    /// `O = (I - F + P_start + P_end)/S + 1 = (28 - 5 + 2 + 2)/1 + 1 = 28` (with `floor(…)`
    /// when the division is not exact).
    pub fn arithmetic(&self) -> String {
        let f = self.effective_kernel();
        let s = self.stride;
        let num = self.input + self.pad_start + self.pad_end - f;
        let (open, close) = if num.is_multiple_of(s) { ("", "") } else { ("floor(", ")") };
        format!(
            "O = {open}(I - F + P_start + P_end)/S{close} + 1 = {open}({} - {f} + {} + {})/{s}{close} + 1 = {}",
            self.input, self.pad_start, self.pad_end, self.output
        )
    }

    /// The same arithmetic in numbers only, as the calculator prints it:
    /// `(28 - 5 + 2 + 2) / 1 + 1 = 28`, with `(kernel 3 dilated by 2)` after a dilated kernel.
    pub fn numbers(&self) -> String {
        let (f, d) = (self.effective_kernel(), self.dilation);
        let dilated = if d > 1 { format!(" (kernel {} dilated by {d})", self.kernel) } else { String::new() };
        format!(
            "({} - {f} + {} + {}) / {} + 1 = {}{dilated}",
            self.input, self.pad_start, self.pad_end, self.stride, self.output
        )
    }
}

/// `D·(K−1)+1`, checking the settings of one axis.
fn effective_kernel_checked(kernel: usize, stride: usize, dilation: usize) -> Result<usize, WindowError> {
    if stride == 0 {
        return Err(WindowError::ZeroStride);
    }
    if dilation == 0 {
        return Err(WindowError::ZeroDilation);
    }
    if kernel == 0 {
        return Err(WindowError::EmptyKernel);
    }
    dilation.checked_mul(kernel - 1).and_then(|v| v.checked_add(1)).ok_or(WindowError::TooLarge { kernel, dilation })
}

/// The effective kernel `D·(K−1)+1` of settings that may not be valid yet (saturating), for
/// padding rules that need it before a window exists ("same", "full").
pub fn effective_kernel(kernel: usize, dilation: usize) -> usize {
    dilation.max(1).saturating_mul(kernel.max(1) - 1).saturating_add(1)
}

/// The lecture's "same" padding along one axis: `(P_start, P_end)` with
/// `P_start + P_end = max(0, S⌈I/S⌉ − I + F − S)`, the odd unit at the end, so that the output
/// has `⌈I/S⌉` positions. `kernel` is the effective kernel `F`.
///
/// ```
/// use convlab::window::same_padding;
/// assert_eq!(same_padding(5, 3, 1), (1, 1));
/// assert_eq!(same_padding(5, 3, 2), (1, 1)); // output ⌈5/2⌉ = 3
/// assert_eq!(same_padding(6, 3, 2), (0, 1)); // output 3
/// assert_eq!(same_padding(4, 4, 1), (1, 2));
/// ```
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let s = stride.max(1);
    // Saturating: absurd user sizes must give an error later, not wrap around.
    let total = s.saturating_mul(input.div_ceil(s)).saturating_add(kernel).saturating_sub(input.saturating_add(s));
    (total / 2, total - total / 2)
}

/// The window of an image: height and width. A 1-D window is a 2-D one whose height is
/// [`WindowAxis::unit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    axes: [WindowAxis; 2],
}

impl Window2d {
    /// Checks and builds the window over an `[H, W]` input with padding
    /// `[top, bottom, left, right]`; the error names the axis.
    pub fn new(
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: [usize; 4],
    ) -> Result<Window2d, AxisError> {
        let axis = |a: usize| {
            WindowAxis::new(input[a], kernel[a], stride[a], dilation[a], [padding[2 * a], padding[2 * a + 1]])
                .map_err(|error| AxisError { axis: a, error })
        };
        Ok(Window2d { axes: [axis(0)?, axis(1)?] })
    }

    /// A window from its two axes.
    pub fn from_axes(height: WindowAxis, width: WindowAxis) -> Window2d {
        Window2d { axes: [height, width] }
    }

    /// The window of a 1-D signal: height 1, `length` along the width.
    pub fn one_d(length: WindowAxis) -> Window2d {
        Window2d { axes: [WindowAxis::unit(), length] }
    }

    /// `[height, width]`.
    pub fn axes(&self) -> [WindowAxis; 2] {
        self.axes
    }

    pub fn height(&self) -> &WindowAxis {
        &self.axes[0]
    }

    pub fn width(&self) -> &WindowAxis {
        &self.axes[1]
    }

    /// `[H, W]`.
    pub fn input(&self) -> [usize; 2] {
        self.axes.map(|a| a.input)
    }

    /// `[kH, kW]`.
    pub fn kernel(&self) -> [usize; 2] {
        self.axes.map(|a| a.kernel)
    }

    /// `[sH, sW]`.
    pub fn stride(&self) -> [usize; 2] {
        self.axes.map(|a| a.stride)
    }

    /// `[dH, dW]`.
    pub fn dilation(&self) -> [usize; 2] {
        self.axes.map(|a| a.dilation)
    }

    /// `[top, bottom, left, right]`.
    pub fn padding(&self) -> [usize; 4] {
        let [h, w] = self.axes;
        [h.pad_start, h.pad_end, w.pad_start, w.pad_end]
    }

    /// `[Ho, Wo]`.
    pub fn output(&self) -> [usize; 2] {
        self.axes.map(|a| a.output)
    }

    /// `[F_h, F_w]`.
    pub fn effective_kernel(&self) -> [usize; 2] {
        self.axes.map(|a| a.effective_kernel())
    }

    /// The same window over an input that already holds its padding (a convolution whose
    /// padding is not zeros pads first, then slides without padding).
    pub fn prepadded(&self) -> Window2d {
        Window2d {
            axes: self.axes.map(|a| WindowAxis {
                input: a.input + a.pad_start + a.pad_end,
                pad_start: 0,
                pad_end: 0,
                ..a
            }),
        }
    }

    /// The arithmetic of each axis, `"height: O = … = 28"` and `"width: …"`; `spatial_rank`
    /// 1 gives only the width, named `"length"`.
    pub fn arithmetic(&self, spatial_rank: usize) -> Vec<String> {
        match spatial_rank {
            1 => vec![format!("length: {}", self.axes[1].arithmetic())],
            _ => {
                vec![format!("height: {}", self.axes[0].arithmetic()), format!("width: {}", self.axes[1].arithmetic())]
            }
        }
    }
}

/// As JSON: `{"input", "kernel", "stride", "dilation", "padding" ([top, bottom, left, right]),
/// "effective_kernel", "output"}`, each `[height, width]` but the padding.
impl serde::Serialize for Window2d {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Window2d", 7)?;
        m.serialize_field("input", &self.input())?;
        m.serialize_field("kernel", &self.kernel())?;
        m.serialize_field("stride", &self.stride())?;
        m.serialize_field("dilation", &self.dilation())?;
        m.serialize_field("padding", &self.padding())?;
        m.serialize_field("effective_kernel", &self.effective_kernel())?;
        m.serialize_field("output", &self.output())?;
        m.end()
    }
}

/// A [`WindowError`] of one axis of a [`Window2d`] (0: height, 1: width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisError {
    pub axis: usize,
    pub error: WindowError,
}

/// The name of axis `axis` (0: height, 1: width) of a window; `"length"` for a 1-D window
/// (`spatial_rank` 1).
pub fn axis_name(axis: usize, spatial_rank: usize) -> &'static str {
    match (spatial_rank, axis) {
        (1, _) => "length",
        (_, 0) => "height",
        _ => "width",
    }
}

impl AxisError {
    /// `"height"` or `"width"`; `"length"` for a 1-D window (`spatial_rank` 1).
    pub fn axis_name(&self, spatial_rank: usize) -> &'static str {
        axis_name(self.axis, spatial_rank)
    }
}

impl fmt::Display for AxisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} along {}", self.error, self.axis_name(2))
    }
}

impl std::error::Error for AxisError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output size by brute force: the windows that fit inside the padded input.
    fn count_windows(input: usize, kernel: usize, stride: usize, dilation: usize, pad: [usize; 2]) -> usize {
        let padded = input + pad[0] + pad[1];
        let f = dilation * (kernel - 1) + 1;
        (0..).take_while(|o| o * stride + f <= padded).count()
    }

    #[test]
    fn floor_output_counts_the_windows_that_fit() {
        for input in 1..12 {
            for kernel in 1..5 {
                for stride in 1..4 {
                    for dilation in 1..3 {
                        for pad in [[0, 0], [1, 1], [0, 2], [2, 1]] {
                            let want = count_windows(input, kernel, stride, dilation, pad);
                            match WindowAxis::new(input, kernel, stride, dilation, pad) {
                                Ok(w) => assert_eq!(w.output(), want, "{w:?}"),
                                Err(e) => assert_eq!(want, 0, "{e}"),
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ceil_mode_follows_pytorch() {
        // torch.nn.MaxPool2d(2, 2, ceil_mode=True) on 5 positions: 3 (the last window hangs over).
        let w = WindowAxis::ceil(5, 2, 2, 1, 0).unwrap();
        assert_eq!((w.output(), w.pad_end()), (3, 1));
        assert_eq!(w.arithmetic(), "O = (I - F + P_start + P_end)/S + 1 = (5 - 2 + 0 + 1)/2 + 1 = 3");
        // A window that would start in the end padding is dropped: 5 positions, k 2, s 2, p 1
        // round up to 4 windows, but the fourth would start at 6 = I + P.
        let w = WindowAxis::ceil(5, 2, 2, 1, 1).unwrap();
        assert_eq!((w.output(), w.pad_end()), (3, 1));
        // Exact divisions round the same both ways.
        assert_eq!(WindowAxis::ceil(6, 2, 2, 1, 0).unwrap(), WindowAxis::new(6, 2, 2, 1, [0, 0]).unwrap());
    }

    #[test]
    fn errors_name_the_sizes() {
        assert_eq!(WindowAxis::new(5, 3, 0, 1, [0, 0]), Err(WindowError::ZeroStride));
        assert_eq!(WindowAxis::new(5, 0, 1, 1, [0, 0]), Err(WindowError::EmptyKernel));
        assert_eq!(WindowAxis::new(5, 3, 1, 0, [0, 0]), Err(WindowError::ZeroDilation));
        assert!(matches!(WindowAxis::new(5, 3, 1, usize::MAX, [0, 0]), Err(WindowError::TooLarge { .. })));
        assert!(matches!(WindowAxis::new(usize::MAX, 3, 1, 1, [1, 0]), Err(WindowError::TooLarge { .. })));
        let e = Window2d::new([8, 2], [3, 3], [1, 1], [1, 1], [0; 4]).unwrap_err();
        assert_eq!(e.to_string(), "kernel of size 3 does not fit the padded input (2 + 0 + 0 = 2) along width");
    }

    #[test]
    fn a_window_reports_its_arithmetic_per_axis() {
        let w = Window2d::new([28, 28], [5, 5], [1, 1], [1, 1], [2, 2, 2, 2]).unwrap();
        assert_eq!(w.arithmetic(2)[0], "height: O = (I - F + P_start + P_end)/S + 1 = (28 - 5 + 2 + 2)/1 + 1 = 28");
        let d = Window2d::new([7, 7], [3, 3], [2, 2], [2, 2], [0; 4]).unwrap();
        assert_eq!(d.effective_kernel(), [5, 5]);
        assert_eq!(d.width().arithmetic(), "O = (I - F + P_start + P_end)/S + 1 = (7 - 5 + 0 + 0)/2 + 1 = 2");
        let odd = WindowAxis::new(6, 3, 2, 1, [0, 0]).unwrap();
        assert_eq!(odd.arithmetic(), "O = floor((I - F + P_start + P_end)/S) + 1 = floor((6 - 3 + 0 + 0)/2) + 1 = 2");
        let one = Window2d::one_d(WindowAxis::new(10, 3, 1, 1, [0, 0]).unwrap());
        assert_eq!((one.input(), one.output()), ([1, 10], [1, 8]));
        assert_eq!(one.arithmetic(1), vec!["length: O = (I - F + P_start + P_end)/S + 1 = (10 - 3 + 0 + 0)/1 + 1 = 8"]);
    }

    #[test]
    fn first_keeps_fewer_positions_and_prepadded_moves_the_padding_inside() {
        let w = WindowAxis::new(9, 3, 2, 1, [1, 1]).unwrap();
        assert_eq!(w.output(), 5);
        assert_eq!(w.first(4).output(), 4);
        let p = Window2d::new([4, 4], [3, 3], [1, 1], [1, 1], [1, 1, 2, 0]).unwrap().prepadded();
        assert_eq!((p.input(), p.padding(), p.output()), ([6, 6], [0; 4], [4, 4]));
    }
}
