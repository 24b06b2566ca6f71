//! Convolution settings and the output-size arithmetic, validated with errors that name the
//! shapes (the CLI checks user input with these before running anything).

use crate::kernels::conv::Conv2dGeometry;
use crate::ops::pad::PaddingMode;
use crate::window::{axis_name, effective_kernel, Window2d, WindowAxis, WindowError};
use crate::Error;

/// Padding of a 2-D convolution (`padding=` of `torch.nn.functional.conv2d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding2d {
    /// Given amounts per side.
    Explicit { top: usize, bottom: usize, left: usize, right: usize },
    /// No padding (`P = 0`): the last windows that do not fit are dropped.
    Valid,
    /// The lecture's "same" padding, `P_start = ⌊(S⌈I/S⌉ - I + F - S)/2⌋`, `P_end = ⌈…⌉`
    /// with `F` the dilated kernel size: the output has `⌈I/S⌉` positions. For stride 1 this is
    /// PyTorch's `padding="same"` (extra padding at the end); NOTE: PyTorch refuses "same" with
    /// stride > 1, we follow the lecture (and TensorFlow).
    Same,
    /// `P_start = P_end = F - 1`: every window that overlaps the input at all.
    Full,
}

impl Padding2d {
    /// The same amount on all four sides (PyTorch's `padding=p`).
    pub fn uniform(p: usize) -> Padding2d {
        Padding2d::Explicit { top: p, bottom: p, left: p, right: p }
    }

    /// `ph` above and below, `pw` left and right (PyTorch's `padding=(ph, pw)`).
    pub fn pair(ph: usize, pw: usize) -> Padding2d {
        Padding2d::Explicit { top: ph, bottom: ph, left: pw, right: pw }
    }

    pub fn per_side(top: usize, bottom: usize, left: usize, right: usize) -> Padding2d {
        Padding2d::Explicit { top, bottom, left, right }
    }

    /// `[top, bottom, left, right]` for an input of `[H, W]`, dilated kernel `[F_h, F_w]`, stride.
    pub fn resolve(&self, input: [usize; 2], kernel: [usize; 2], stride: [usize; 2]) -> [usize; 4] {
        match *self {
            Padding2d::Explicit { top, bottom, left, right } => [top, bottom, left, right],
            Padding2d::Valid => [0; 4],
            Padding2d::Same => {
                let (t, b) = same_padding(input[0], kernel[0], stride[0]);
                let (l, r) = same_padding(input[1], kernel[1], stride[1]);
                [t, b, l, r]
            }
            Padding2d::Full => [kernel[0] - 1, kernel[0] - 1, kernel[1] - 1, kernel[1] - 1],
        }
    }
}

impl Default for Padding2d {
    fn default() -> Self {
        Padding2d::uniform(0)
    }
}

impl From<usize> for Padding2d {
    fn from(p: usize) -> Self {
        Padding2d::uniform(p)
    }
}

impl From<[usize; 2]> for Padding2d {
    fn from(p: [usize; 2]) -> Self {
        Padding2d::pair(p[0], p[1])
    }
}

/// Padding of a 1-D convolution; see [`Padding2d`] for the meaning of each variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding1d {
    Explicit { start: usize, end: usize },
    Valid,
    Same,
    Full,
}

impl Padding1d {
    /// `p` at both ends.
    pub fn uniform(p: usize) -> Padding1d {
        Padding1d::Explicit { start: p, end: p }
    }

    /// `(start, end)` for an input of length `input`, dilated kernel size `kernel`, stride.
    pub fn resolve(&self, input: usize, kernel: usize, stride: usize) -> (usize, usize) {
        match *self {
            Padding1d::Explicit { start, end } => (start, end),
            Padding1d::Valid => (0, 0),
            Padding1d::Same => same_padding(input, kernel, stride),
            Padding1d::Full => (kernel - 1, kernel - 1),
        }
    }
}

impl Default for Padding1d {
    fn default() -> Self {
        Padding1d::uniform(0)
    }
}

impl From<usize> for Padding1d {
    fn from(p: usize) -> Self {
        Padding1d::uniform(p)
    }
}

pub use crate::window::same_padding;

/// `O = ⌊(I - F + P_start + P_end) / S⌋ + 1` for an effective (dilated) kernel `F`, or an
/// error when `F` is larger than the padded input or the stride is 0; `what` names the
/// dimension in messages. The same as [`WindowAxis::new`]`(I, F, S, 1, [P_start, P_end])`.
///
/// ```
/// use convlab::ops::conv::conv_output_size;
/// assert_eq!(conv_output_size(5, 3, 0, 0, 1, "width").unwrap(), 3); // valid
/// assert_eq!(conv_output_size(5, 3, 1, 1, 2, "width").unwrap(), 3); // same, stride 2
/// assert_eq!(conv_output_size(5, 3, 2, 2, 1, "width").unwrap(), 7); // full
/// assert!(conv_output_size(2, 3, 0, 0, 1, "width").is_err());
/// ```
pub fn conv_output_size(
    input: usize,
    kernel: usize,
    pad_start: usize,
    pad_end: usize,
    stride: usize,
    what: &str,
) -> Result<usize, Error> {
    WindowAxis::new(input, kernel, stride, 1, [pad_start, pad_end])
        .map(|w| w.output())
        .map_err(|e| window_error(e, format!("{e} along {what}")))
}

/// The [`Error`] kind of a window that does not exist: settings that can never work are
/// invalid arguments, a kernel that does not fit this input is a shape error.
fn window_error(e: WindowError, msg: String) -> Error {
    match e {
        WindowError::DoesNotFit { .. } => Error::Shape(msg),
        _ => Error::Invalid(msg),
    }
}

/// Settings of a 2-D convolution (PyTorch's `nn.Conv2d` arguments after the channel counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// `[sH, sW]`.
    pub stride: [usize; 2],
    pub padding: Padding2d,
    /// `[dH, dW]`: spacing between kernel taps; the effective kernel is `d·(k-1)+1`.
    pub dilation: [usize; 2],
    /// Input and output channels split into `groups` independent convolutions.
    pub groups: usize,
    /// How the padding is filled; anything but zeros pads the input first.
    pub padding_mode: PaddingMode,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: Padding2d::uniform(0),
            dilation: [1, 1],
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        }
    }
}

/// Settings of a 1-D convolution (PyTorch's `nn.Conv1d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dParams {
    pub stride: usize,
    pub padding: Padding1d,
    pub dilation: usize,
    pub groups: usize,
    pub padding_mode: PaddingMode,
}

impl Default for Conv1dParams {
    fn default() -> Self {
        Conv1dParams {
            stride: 1,
            padding: Padding1d::uniform(0),
            dilation: 1,
            groups: 1,
            padding_mode: PaddingMode::Zeros,
        }
    }
}

/// Settings of a transposed 2-D convolution (PyTorch's `nn.ConvTranspose2d`): `padding` is
/// removed from both sides of the full output, `output_padding` adds rows/columns at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub output_padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        ConvTranspose2dParams { stride: [1, 1], padding: [0, 0], output_padding: [0, 0], dilation: [1, 1], groups: 1 }
    }
}

fn shape_str(d: &[usize]) -> String {
    crate::Shape::from(d).to_string()
}

/// Checks ranks, groups and that the input has the `in_ch` channels the weight expects:
/// returns `N` (1 for an unbatched input).
fn check_channels(
    op: &str,
    input: &[usize],
    weight: &[usize],
    spatial: usize,
    in_ch: impl Fn(&[usize], usize) -> usize,
    groups: usize,
) -> Result<usize, Error> {
    let (is, ws) = (shape_str(input), shape_str(weight));
    if input.len() != spatial + 1 && input.len() != spatial + 2 {
        return Err(Error::Shape(format!(
            "{op}: input {is} must have {} (batched) or {} dimensions",
            spatial + 2,
            spatial + 1
        )));
    }
    if weight.len() != spatial + 2 {
        return Err(Error::Shape(format!("{op}: weight {ws} must have {} dimensions", spatial + 2)));
    }
    if groups == 0 {
        return Err(Error::Invalid(format!("{op}: groups must be positive, got 0")));
    }
    let batched = input.len() == spatial + 2;
    let c = input[input.len() - spatial - 1];
    if !c.is_multiple_of(groups) {
        return Err(Error::Shape(format!("{op}: groups {groups} must divide the {c} channels of input {is}")));
    }
    let want = in_ch(weight, groups);
    if c != want {
        return Err(Error::Shape(format!(
            "{op}: input {is} has {c} channels but weight {ws} expects {want} (groups {groups})"
        )));
    }
    Ok(if batched { input[0] } else { 1 })
}

/// The shapes a convolution was given, lifted to 2-D (a 1-D signal is an image of height
/// 1), with what its messages name: the operation and the shapes as the caller wrote them.
struct ConvCall<'a> {
    op: &'static str,
    input: &'a [usize],
    weight: &'a [usize],
    /// 1 or 2.
    spatial: usize,
}

impl ConvCall<'_> {
    /// `(H, W)` of the input and `(kH, kW)` of the weight (height 1 in 1-D).
    fn spatial_sizes(&self) -> ([usize; 2], [usize; 2]) {
        let (i, w) = (self.input, self.weight);
        let (r, k) = (i.len(), w.len());
        match self.spatial {
            1 => ([1, i[r - 1]], [1, w[k - 1]]),
            _ => ([i[r - 2], i[r - 1]], [w[k - 2], w[k - 1]]),
        }
    }

    /// `"conv2d: input [..], weight [..]: "` before what went wrong.
    fn context(&self) -> String {
        format!("{}: input {}, weight {}", self.op, shape_str(self.input), shape_str(self.weight))
    }

    fn axis_name(&self, axis: usize) -> &'static str {
        axis_name(axis, self.spatial)
    }

    /// The window of a convolution with 2-D settings `params`, checked: dilation, the
    /// padding mode against the input, and the kernel against the padded input.
    fn window(&self, params: &Conv2dParams) -> Result<Window2d, Error> {
        let (hw, k) = self.spatial_sizes();
        if k.contains(&0) {
            return Err(Error::Shape(format!("{}: weight {} has an empty kernel", self.op, shape_str(self.weight))));
        }
        // Saturating for the padding rules; the window itself checks that nothing overflows.
        let f = [0, 1].map(|a| effective_kernel(k[a], params.dilation[a]));
        let pad = params.padding.resolve(hw, f, params.stride);
        for a in 0..2 {
            params
                .padding_mode
                .check(hw[a], pad[2 * a], pad[2 * a + 1], self.axis_name(a))
                .map_err(|e| Error::Shape(format!("{}: {e}", self.context())))?;
        }
        Window2d::new(hw, k, params.stride, params.dilation, pad).map_err(|e| {
            let msg = format!("{}: {} along {}", self.context(), e.error, e.axis_name(self.spatial));
            window_error(e.error, msg)
        })
    }
}

/// Validates a 2-D convolution of `input` (`[N, C, H, W]` or `[C, H, W]`) with `weight`
/// (`[Cout, C/groups, kH, kW]`) and returns its geometry: per-side padding (resolved from
/// valid/same/full) and output size. For an unbatched input `n` is 1.
///
/// ```
/// use convlab::ops::conv::{conv2d_output_shape, Conv2dParams, Padding2d};
/// let p = Conv2dParams { stride: [2, 2], padding: Padding2d::Same, ..Default::default() };
/// let g = conv2d_output_shape(&[1, 3, 5, 6], &[8, 3, 3, 3], &p).unwrap();
/// assert_eq!((g.ho(), g.wo(), g.pad()), (3, 3, [1, 1, 0, 1]));
/// let e = conv2d_output_shape(&[1, 3, 5, 6], &[8, 4, 3, 3], &p).unwrap_err().to_string();
/// assert!(e.contains("[1, 3, 5, 6]") && e.contains("[8, 4, 3, 3]"), "{e}");
/// ```
pub fn conv2d_output_shape(input: &[usize], weight: &[usize], params: &Conv2dParams) -> Result<Conv2dGeometry, Error> {
    conv_geometry(&ConvCall { op: "conv2d", input, weight, spatial: 2 }, params)
}

/// Validates a 1-D convolution of `input` (`[N, C, L]` or `[C, L]`) with `weight`
/// (`[Cout, C/groups, K]`); the geometry is that of the equivalent 2-D convolution of height 1
/// (`g.w()`, `g.wo()`, `g.pad()[2]`, `g.pad()[3]` are the 1-D sizes).
pub fn conv1d_output_shape(input: &[usize], weight: &[usize], params: &Conv1dParams) -> Result<Conv2dGeometry, Error> {
    let call = ConvCall { op: "conv1d", input, weight, spatial: 1 };
    if !(input.len() == 2 || input.len() == 3) || weight.len() != 3 {
        return Err(Error::Shape(format!(
            "conv1d: input {} must be [N, C, L] or [C, L] and weight {} [Cout, C/groups, K]",
            shape_str(input),
            shape_str(weight)
        )));
    }
    conv_geometry(&call, &to_2d(params, input[input.len() - 1], weight[2]))
}

/// The shared validation of `conv1d` and `conv2d` (2-D settings; height 1 in 1-D).
fn conv_geometry(call: &ConvCall, params: &Conv2dParams) -> Result<Conv2dGeometry, Error> {
    let (op, input, weight) = (call.op, call.input, call.weight);
    let n = check_channels(op, input, weight, call.spatial, |w, g| w[1] * g, params.groups)?;
    let (cout, c) = (weight[0], input[input.len() - call.spatial - 1]);
    if cout % params.groups != 0 {
        return Err(Error::Shape(format!(
            "{op}: groups {} must divide the {cout} output channels of weight {}",
            params.groups,
            shape_str(weight)
        )));
    }
    if params.stride.contains(&0) || params.dilation.contains(&0) {
        let (s, d) = (params.stride, params.dilation);
        let (s, d) = if call.spatial == 1 {
            (format!("{}", s[1]), format!("{}", d[1]))
        } else {
            (format!("{s:?}"), format!("{d:?}"))
        };
        return Err(Error::Invalid(format!("{op}: stride {s} and dilation {d} must be positive")));
    }
    let window = call.window(params)?;
    let [h, w] = window.input();
    let [kh, kw] = window.kernel();
    Ok(Conv2dGeometry::new([n, c, h, w], [cout, c / params.groups, kh, kw], window, params.groups))
}

/// The 2-D settings (height 1) that compute a 1-D convolution of length `len`, kernel `k`.
pub(crate) fn to_2d(p: &Conv1dParams, len: usize, k: usize) -> Conv2dParams {
    let (start, end) = p.padding.resolve(len, effective_kernel(k, p.dilation), p.stride);
    Conv2dParams {
        stride: [1, p.stride],
        padding: Padding2d::per_side(0, 0, start, end),
        dilation: [1, p.dilation],
        groups: p.groups,
        padding_mode: p.padding_mode,
    }
}

/// Validates a transposed convolution of `input` (`[N, Cin, H, W]` or `[Cin, H, W]`) with
/// `weight` (`[Cin, Cout/groups, kH, kW]`). Returns the geometry of the convolution whose
/// input gradient it is: that convolution's input is our output `[N, Cout, Hout, Wout]` with
/// `Hout = (H-1)·S - 2P + D·(k-1) + output_padding + 1`, its output (`ho`, `wo`) is our input.
///
/// ```
/// use convlab::ops::conv::{conv_transpose2d_output_shape, ConvTranspose2dParams};
/// let p = ConvTranspose2dParams { stride: [2, 2], padding: [1, 1], output_padding: [1, 1], ..Default::default() };
/// let g = conv_transpose2d_output_shape(&[2, 4, 5, 5], &[4, 3, 3, 3], &p).unwrap();
/// assert_eq!((g.c_in(), g.h(), g.w(), g.c_out(), g.ho()), (3, 10, 10, 4, 5));
/// ```
pub fn conv_transpose2d_output_shape(
    input: &[usize],
    weight: &[usize],
    params: &ConvTranspose2dParams,
) -> Result<Conv2dGeometry, Error> {
    let op = "conv_transpose2d";
    let (is, ws) = (shape_str(input), shape_str(weight));
    let n = check_channels(op, input, weight, 2, |w, _| w[0], params.groups)?;
    let r = input.len();
    let (cin, hw) = (input[r - 3], [input[r - 2], input[r - 1]]);
    let (cout, k) = (weight[1] * params.groups, [weight[2], weight[3]]);
    if cin % params.groups != 0 {
        return Err(Error::Shape(format!(
            "{op}: groups {} must divide the {cin} input channels of weight {ws}",
            params.groups
        )));
    }
    let (s, p, op_, d) = (params.stride, params.padding, params.output_padding, params.dilation);
    if s.contains(&0) || d.contains(&0) || k.contains(&0) {
        return Err(Error::Invalid(format!(
            "{op}: stride {s:?}, dilation {d:?} and the kernel of weight {ws} must be positive"
        )));
    }
    for i in 0..2 {
        if op_[i] >= s[i].max(d[i]) {
            return Err(Error::Invalid(format!(
                "{op}: output_padding {op_:?} must be smaller than stride {s:?} or dilation {d:?}"
            )));
        }
    }
    let empty = || Error::Shape(format!("{op}: input {is} and weight {ws} with padding {p:?} give an empty output"));
    // Along each axis, the window of the convolution from our output back to our input.
    let axis = |a: usize| -> Result<WindowAxis, Error> {
        if hw[a] == 0 {
            return Err(empty());
        }
        let full = (hw[a] - 1)
            .checked_mul(s[a])
            .and_then(|v| v.checked_add(d[a].checked_mul(k[a] - 1)?))
            .and_then(|v| v.checked_add(op_[a] + 1))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{op}: input {is}, weight {ws}, stride {s:?} and dilation {d:?} give an output too large to index"
                ))
            })?;
        if full <= p[a].saturating_mul(2) {
            return Err(empty());
        }
        // With output_padding the convolution would see a few more positions; only the
        // first H (W) of its outputs correspond to our input.
        let window = WindowAxis::new(full - 2 * p[a], k[a], s[a], d[a], [p[a], p[a]])
            .map_err(|e| window_error(e, format!("{op}: input {is}, weight {ws}: {e}")))?;
        Ok(window.first(hw[a]))
    };
    let window = Window2d::from_axes(axis(0)?, axis(1)?);
    let [ho, wo] = window.input();
    Ok(Conv2dGeometry::new([n, cout, ho, wo], [cin, weight[1], k[0], k[1]], window, params.groups))
}

impl Conv2dGeometry {
    /// The output-size arithmetic as text, one line per spatial dimension, e.g.
    /// `height: (28 - 5 + 2 + 2) / 1 + 1 = 28`.
    pub fn arithmetic(&self) -> String {
        let [h, w] = self.window().axes();
        format!("height: {}\nwidth: {}", h.numbers(), w.numbers())
    }
}
