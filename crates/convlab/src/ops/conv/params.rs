//! Convolution settings and the output-size arithmetic, validated with errors that name the
//! shapes (the CLI checks user input with these before running anything).

use crate::kernels::conv::Conv2dGeometry;
use crate::ops::pad::PaddingMode;
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

/// The lecture's "same" padding along one dimension: `(P_start, P_end)` with
/// `P_start + P_end = max(0, S⌈I/S⌉ - I + F - S)`, the odd unit at the end.
///
/// ```
/// use convlab::ops::conv::same_padding;
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

/// `O = ⌊(I - F + P_start + P_end) / S⌋ + 1`, or an error when the (dilated) kernel `F` is
/// larger than the padded input or the stride is 0. `what` names the dimension in messages.
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
    if stride == 0 {
        return Err(Error::Invalid(format!("stride along {what} must be positive, got 0")));
    }
    let Some(padded) = input.checked_add(pad_start).and_then(|v| v.checked_add(pad_end)) else {
        return Err(Error::Invalid(format!("padding {pad_start} + {pad_end} along {what} is too large")));
    };
    if kernel == 0 || kernel > padded {
        return Err(Error::Shape(format!(
            "kernel of size {kernel} along {what} does not fit the padded input ({input} + {pad_start} + {pad_end} = {padded})"
        )));
    }
    Ok((padded - kernel) / stride + 1)
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
/// returns `(N, batched)`.
fn check_channels(
    op: &str,
    input: &[usize],
    weight: &[usize],
    spatial: usize,
    in_ch: impl Fn(&[usize], usize) -> usize,
    groups: usize,
) -> Result<(usize, bool), Error> {
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
    Ok((if batched { input[0] } else { 1 }, batched))
}

/// Validates a 2-D convolution of `input` (`[N, C, H, W]` or `[C, H, W]`) with `weight`
/// (`[Cout, C/groups, kH, kW]`) and returns its geometry: per-side padding (resolved from
/// valid/same/full) and output size. For an unbatched input `n` is 1.
///
/// ```
/// use convlab::ops::conv::{conv2d_output_shape, Conv2dParams, Padding2d};
/// let p = Conv2dParams { stride: [2, 2], padding: Padding2d::Same, ..Default::default() };
/// let g = conv2d_output_shape(&[1, 3, 5, 6], &[8, 3, 3, 3], &p).unwrap();
/// assert_eq!((g.ho, g.wo, g.pad), (3, 3, [1, 1, 0, 1]));
/// let e = conv2d_output_shape(&[1, 3, 5, 6], &[8, 4, 3, 3], &p).unwrap_err().to_string();
/// assert!(e.contains("[1, 3, 5, 6]") && e.contains("[8, 4, 3, 3]"), "{e}");
/// ```
pub fn conv2d_output_shape(input: &[usize], weight: &[usize], params: &Conv2dParams) -> Result<Conv2dGeometry, Error> {
    let op = "conv2d";
    let (n, _) = check_channels(op, input, weight, 2, |w, g| w[1] * g, params.groups)?;
    let r = input.len();
    let (c, h, w) = (input[r - 3], input[r - 2], input[r - 1]);
    let (cout, kh, kw) = (weight[0], weight[2], weight[3]);
    if cout % params.groups != 0 {
        return Err(Error::Shape(format!(
            "{op}: groups {} must divide the {cout} output channels of weight {}",
            params.groups,
            shape_str(weight)
        )));
    }
    let [sh, sw] = params.stride;
    let [dh, dw] = params.dilation;
    if sh == 0 || sw == 0 || dh == 0 || dw == 0 {
        return Err(Error::Invalid(format!(
            "{op}: stride {:?} and dilation {:?} must be positive",
            params.stride, params.dilation
        )));
    }
    if kh == 0 || kw == 0 {
        return Err(Error::Shape(format!("{op}: weight {} has an empty kernel", shape_str(weight))));
    }
    let effective = |d: usize, k: usize, what: &str| {
        d.checked_mul(k - 1).and_then(|v| v.checked_add(1)).ok_or_else(|| {
            Error::Invalid(format!(
                "{op}: kernel {k} dilated by {d} along {what} is too large (weight {})",
                shape_str(weight)
            ))
        })
    };
    let (fh, fw) = (effective(dh, kh, "height")?, effective(dw, kw, "width")?);
    let pad = params.padding.resolve([h, w], [fh, fw], params.stride);
    let ctx = |e: Error| {
        Error::Shape(format!(
            "{op}: input {}, weight {}: {}",
            shape_str(input),
            shape_str(weight),
            e.to_string().trim_start_matches("shape error: ").trim_start_matches("invalid argument: ")
        ))
    };
    params.padding_mode.check(h, pad[0], pad[1], "height").map_err(ctx)?;
    params.padding_mode.check(w, pad[2], pad[3], "width").map_err(ctx)?;
    conv_output_size(h, fh, pad[0], pad[1], sh, "height").map_err(ctx)?;
    conv_output_size(w, fw, pad[2], pad[3], sw, "width").map_err(ctx)?;
    Ok(Conv2dGeometry::new(
        [n, c, h, w],
        [cout, c / params.groups, kh, kw],
        params.stride,
        pad,
        params.dilation,
        params.groups,
    ))
}

/// Validates a 1-D convolution of `input` (`[N, C, L]` or `[C, L]`) with `weight`
/// (`[Cout, C/groups, K]`); the geometry is that of the equivalent 2-D convolution of height 1
/// (`g.w`, `g.wo`, `g.pad[2]`, `g.pad[3]` are the 1-D sizes).
pub fn conv1d_output_shape(input: &[usize], weight: &[usize], params: &Conv1dParams) -> Result<Conv2dGeometry, Error> {
    if !(input.len() == 2 || input.len() == 3) || weight.len() != 3 {
        return Err(Error::Shape(format!(
            "conv1d: input {} must be [N, C, L] or [C, L] and weight {} [Cout, C/groups, K]",
            shape_str(input),
            shape_str(weight)
        )));
    }
    let mut in2 = input.to_vec();
    in2.insert(input.len() - 1, 1);
    let w2 = [weight[0], weight[1], 1, weight[2]];
    let p2 = to_2d(params, input[input.len() - 1], weight[2]);
    conv2d_output_shape(&in2, &w2, &p2)
        .map_err(|e| Error::Shape(e.to_string().replace("conv2d", "conv1d").replace("shape error: ", "")))
}

/// The 2-D settings (height 1) that compute a 1-D convolution of length `len`, kernel `k`.
pub(crate) fn to_2d(p: &Conv1dParams, len: usize, k: usize) -> Conv2dParams {
    let f = p.dilation.max(1).saturating_mul(k.max(1) - 1).saturating_add(1);
    let (start, end) = p.padding.resolve(len, f, p.stride);
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
/// assert_eq!((g.c_in, g.h, g.w, g.c_out, g.ho), (3, 10, 10, 4, 5));
/// ```
pub fn conv_transpose2d_output_shape(
    input: &[usize],
    weight: &[usize],
    params: &ConvTranspose2dParams,
) -> Result<Conv2dGeometry, Error> {
    let op = "conv_transpose2d";
    let (is, ws) = (shape_str(input), shape_str(weight));
    let (n, _) = check_channels(op, input, weight, 2, |w, _| w[0], params.groups)?;
    let r = input.len();
    let (cin, h, w) = (input[r - 3], input[r - 2], input[r - 1]);
    let (cout, kh, kw) = (weight[1] * params.groups, weight[2], weight[3]);
    if cin % params.groups != 0 {
        return Err(Error::Shape(format!(
            "{op}: groups {} must divide the {cin} input channels of weight {ws}",
            params.groups
        )));
    }
    let (s, p, op_, d) = (params.stride, params.padding, params.output_padding, params.dilation);
    if s.contains(&0) || d.contains(&0) || kh == 0 || kw == 0 {
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
    let size = |i: usize, k: usize, dim: usize| -> Result<usize, Error> {
        if i == 0 {
            return Err(Error::Shape(format!(
                "{op}: input {is} and weight {ws} with padding {p:?} give an empty output"
            )));
        }
        let full = (i - 1)
            .checked_mul(s[dim])
            .and_then(|v| v.checked_add(d[dim].checked_mul(k - 1)?))
            .and_then(|v| v.checked_add(op_[dim] + 1))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{op}: input {is}, weight {ws}, stride {s:?} and dilation {d:?} give an output too large to index"
                ))
            })?;
        if full <= p[dim].saturating_mul(2) {
            return Err(Error::Shape(format!(
                "{op}: input {is} and weight {ws} with padding {p:?} give an empty output"
            )));
        }
        Ok(full - 2 * p[dim])
    };
    let (ho, wo) = (size(h, kh, 0)?, size(w, kw, 1)?);
    let mut g =
        Conv2dGeometry::new([n, cout, ho, wo], [cin, weight[1], kh, kw], s, [p[0], p[0], p[1], p[1]], d, params.groups);
    // With output_padding the forward convolution would see a few more rows; only the first
    // H x W outputs correspond to our input (the kernels read pad[0], pad[2], ho, wo only).
    g.ho = h;
    g.wo = w;
    Ok(g)
}

impl Conv2dGeometry {
    /// The output-size arithmetic as text, one line per spatial dimension, e.g.
    /// `height: (28 - 5 + 2 + 2) / 1 + 1 = 28`.
    pub fn arithmetic(&self) -> String {
        let f = |name: &str, i: usize, k: usize, d: usize, p0: usize, p1: usize, s: usize, o: usize| {
            let fe = d * (k - 1) + 1;
            let dil = if d > 1 { format!(" (kernel {k} dilated by {d})") } else { String::new() };
            format!("{name}: ({i} - {fe} + {p0} + {p1}) / {s} + 1 = {o}{dil}")
        };
        format!(
            "{}\n{}",
            f("height", self.h, self.kh, self.dilation[0], self.pad[0], self.pad[1], self.stride[0], self.ho),
            f("width", self.w, self.kw, self.dilation[1], self.pad[2], self.pad[3], self.stride[1], self.wo)
        )
    }
}
