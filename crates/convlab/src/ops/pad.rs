//! Padding: any trailing dimensions ([`Tensor::pad`], ONNX `Pad`), or the last one or two
//! ([`Tensor::pad1d`], [`Tensor::pad2d`], as the convolutions use them); with a constant,
//! reflection, replication of the edge, or a circular wrap.
//!
//! Every padded position reads one input position (or the constant), so the forward pass is
//! a gather through an index map per axis and the backward pass scatters the gradient back
//! through the same maps, adding where several padded positions read the same input
//! (reflect, replicate, circular).
//!
//! ```
//! use convlab::{ops::pad::PaddingMode, Tensor};
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [1, 3]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Reflect, 0.0).to_vec(), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Replicate, 0.0).to_vec(), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Circular, 0.0).to_vec(), vec![2.0, 3.0, 1.0, 2.0, 3.0, 1.0]);
//! assert_eq!(x.pad1d(1, 1, PaddingMode::Zeros, 9.0).to_vec(), vec![9.0, 1.0, 2.0, 3.0, 9.0]);
//! // Both axes of the [1, 3] tensor: one row of the edge above it, one column before it.
//! let y = x.pad(&[(1, 0), (1, 0)], PaddingMode::Replicate, 0.0);
//! assert_eq!((y.dims(), y.to_vec()), (&[2, 4][..], vec![1.0, 1.0, 2.0, 3.0, 1.0, 1.0, 2.0, 3.0]));
//! ```

use crate::{Error, Shape, Tensor};

/// How positions outside the input are filled (PyTorch's `padding_mode` of `nn.Conv2d`,
/// and `mode` of `F.pad`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PaddingMode {
    /// A constant: zero for convolutions (`F.pad(mode="constant", value)` for [`Tensor::pad2d`]).
    #[default]
    Zeros,
    /// Mirror without repeating the edge: `[a b c] -> b | a b c | b`. Needs padding < size.
    Reflect,
    /// Repeat the edge value: `[a b c] -> a a | a b c | c c`. The lecture's "edge padding".
    Replicate,
    /// Wrap around: `[a b c] -> c | a b c | a`. Needs padding <= size.
    Circular,
}

impl PaddingMode {
    /// PyTorch's name for the mode (`"zeros"`, `"reflect"`, `"replicate"`, `"circular"`).
    pub fn name(self) -> &'static str {
        match self {
            PaddingMode::Zeros => "zeros",
            PaddingMode::Reflect => "reflect",
            PaddingMode::Replicate => "replicate",
            PaddingMode::Circular => "circular",
        }
    }

    /// Checks that padding `before`/`after` is possible along a dimension of `size` (named
    /// `dim` in the error).
    pub fn check(self, size: usize, before: usize, after: usize, dim: &'static str) -> Result<(), PaddingModeError> {
        let most = before.max(after);
        let bad = match self {
            PaddingMode::Zeros => false,
            PaddingMode::Reflect => most >= size,
            PaddingMode::Replicate => size == 0 && most > 0,
            PaddingMode::Circular => most > size,
        };
        match bad {
            true => Err(PaddingModeError { mode: self, before, after, size, dim }),
            false => Ok(()),
        }
    }
}

/// Padding that a [`PaddingMode`] cannot fill along one axis (reflection needs each amount
/// smaller than the size, a circular wrap at most the size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddingModeError {
    pub mode: PaddingMode,
    pub before: usize,
    pub after: usize,
    pub size: usize,
    /// `"height"`, `"width"` or `"length"`.
    pub dim: &'static str,
}

impl PaddingModeError {
    /// The message, naming the axis `along` instead of [`PaddingModeError::dim`].
    fn along(&self, along: impl std::fmt::Display) -> String {
        let need = if self.mode == PaddingMode::Reflect { "smaller than" } else { "at most" };
        let PaddingModeError { before, after, size, .. } = *self;
        format!(
            "{} padding of {before} and {after} along {along} needs each amount {need} the size {size}",
            self.mode.name()
        )
    }
}

impl std::fmt::Display for PaddingModeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.along(self.dim))
    }
}

impl std::error::Error for PaddingModeError {}

impl std::str::FromStr for PaddingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "zeros" | "zero" | "constant" => Ok(PaddingMode::Zeros),
            "reflect" => Ok(PaddingMode::Reflect),
            "replicate" | "edge" => Ok(PaddingMode::Replicate),
            "circular" => Ok(PaddingMode::Circular),
            _ => Err(Error::Invalid(format!("unknown padding mode {s:?} (zeros, reflect, replicate, circular)"))),
        }
    }
}

/// For each padded position along a dimension of `size`, the input index it reads (`None`:
/// the constant).
fn index_map(size: usize, before: usize, after: usize, mode: PaddingMode) -> Vec<Option<usize>> {
    let n = size as isize;
    (0..size + before + after)
        .map(|o| {
            let i = o as isize - before as isize;
            if (0..n).contains(&i) {
                return Some(i as usize);
            }
            match mode {
                PaddingMode::Zeros => None,
                PaddingMode::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
                PaddingMode::Replicate => Some(i.clamp(0, n - 1) as usize),
                PaddingMode::Circular => Some(i.rem_euclid(n) as usize),
            }
        })
        .collect()
}

/// The shape of [`Tensor::pad`]`(pads, mode, _)` on `input`: `pads[i]` is the `(before,
/// after)` amount of axis `rank − pads.len() + i`. An error names the shape when there are
/// more pairs than axes or the mode cannot pad an axis that much (reflection needs each amount
/// smaller than the size, a circular wrap at most the size, the edge a non-empty axis).
///
/// ```
/// use convlab::ops::pad::{pad_output_shape, PaddingMode};
/// assert_eq!(pad_output_shape(&[2, 3, 4], &[(1, 1), (0, 2)], PaddingMode::Zeros).unwrap(), vec![2, 5, 6]);
/// assert_eq!(pad_output_shape(&[2, 3, 4], &[(1, 2), (3, 3)], PaddingMode::Reflect).unwrap(), vec![2, 6, 10]);
/// let e = pad_output_shape(&[2, 3, 4], &[(0, 3), (0, 0)], PaddingMode::Reflect).unwrap_err();
/// let want = "pad: input shape [2, 3, 4]: reflect padding of 0 and 3 along axis 1 needs each amount smaller \
///             than the size 3";
/// assert_eq!(e.to_string(), want);
/// ```
pub fn pad_output_shape(input: &[usize], pads: &[(usize, usize)], mode: PaddingMode) -> Result<Vec<usize>, Error> {
    let shape = Shape::from(input);
    let Some(first) = input.len().checked_sub(pads.len()) else {
        return Err(Error::Shape(format!(
            "pad: {} (before, after) pairs for input shape {shape}, which has {} dimensions",
            pads.len(),
            input.len()
        )));
    };
    let mut out = input.to_vec();
    for (i, &(before, after)) in pads.iter().enumerate() {
        let axis = first + i;
        mode.check(input[axis], before, after, "axis")
            .map_err(|e| Error::Shape(format!("pad: input shape {shape}: {}", e.along(format_args!("axis {axis}")))))?;
        out[axis] += before + after;
    }
    Ok(out)
}

/// For each axis, the offset into the input (index × stride) that each padded position reads;
/// `None`: the constant. `pads` holds one pair per axis and must suit `mode`.
fn offset_maps(dims: &[usize], pads: &[(usize, usize)], mode: PaddingMode) -> Vec<Vec<Option<usize>>> {
    let strides = Shape::from(dims).strides();
    dims.iter()
        .zip(pads)
        .zip(strides)
        .map(|((&size, &(before, after)), stride)| {
            index_map(size, before, after, mode).into_iter().map(|i| i.map(|i| i * stride)).collect()
        })
        .collect()
}

/// Calls `f(output index, input index)` for every padded position that reads the input, in
/// row-major order of the output (`maps` from [`offset_maps`]; none for a 0-dimensional
/// tensor, whose one element reads the one input).
fn for_each_read(maps: &[Vec<Option<usize>>], mut f: impl FnMut(usize, usize)) {
    /// `out`: the output index where the block `maps` spans starts; `base`: the input offset
    /// of the axes before it.
    fn block<F: FnMut(usize, usize)>(maps: &[Vec<Option<usize>>], base: usize, out: &mut usize, f: &mut F) {
        let (map, rest) = maps.split_first().expect("at least one axis");
        if rest.is_empty() {
            for (o, off) in map.iter().enumerate() {
                if let Some(off) = off {
                    f(*out + o, base + off);
                }
            }
            *out += map.len();
            return;
        }
        let len: usize = rest.iter().map(Vec::len).product();
        for off in map {
            match off {
                Some(off) => block(rest, base + off, out, f),
                None => *out += len,
            }
        }
    }
    if maps.is_empty() {
        f(0, 0);
    } else {
        block(maps, 0, &mut 0, &mut f);
    }
}

/// The padding op: `pads` holds one `(before, after)` pair per axis, already checked against
/// `mode` (the constant `value` fills [`PaddingMode::Zeros`]).
fn pad_checked(x: &Tensor, pads: &[(usize, usize)], mode: PaddingMode, value: f32, op: &'static str) -> Tensor {
    let dims = x.dims();
    let out_shape: Vec<usize> = dims.iter().zip(pads).map(|(&d, &(b, a))| d + b + a).collect();
    let maps = offset_maps(dims, pads, mode);
    let xs = x.storage();
    let mut out = vec![value; out_shape.iter().product()];
    for_each_read(&maps, |o, i| out[o] = xs[i]);
    let in_shape = x.shape().clone();
    Tensor::from_op(out, out_shape, op, &[x], move |g, _| {
        let g = g.storage();
        let mut gx = vec![0.0f32; in_shape.numel()];
        for_each_read(&maps, |o, i| gx[i] += g[o]);
        vec![Some(Tensor::from_vec(gx, in_shape.clone()))]
    })
}

impl Tensor {
    /// Pads the last `pads.len()` dimensions (all of them when `pads` has one pair per
    /// dimension): `pads[i] = (before, after)` for axis `rank − pads.len() + i`, filled by
    /// `mode` (`value` is the constant of [`PaddingMode::Zeros`]). ONNX `Pad`'s modes are
    /// `constant` (`Zeros` with `value`), `reflect`, `edge` (`Replicate`) and `wrap`
    /// (`Circular`). Panics with the message of [`pad_output_shape`].
    ///
    /// NOTE: the pairs go in axis order, outermost first (as ONNX's `pads` and NumPy's
    /// `pad_width`), not last axis first as in `F.pad`; and the amounts are non-negative:
    /// cropping (ONNX's negative pads) is [`Tensor::narrow`] or [`Tensor::slice_step`].
    pub fn pad(&self, pads: &[(usize, usize)], mode: PaddingMode, value: f32) -> Tensor {
        pad_output_shape(self.dims(), pads, mode).unwrap_or_else(|e| panic!("{e}"));
        let mut all = vec![(0, 0); self.rank() - pads.len()];
        all.extend_from_slice(pads);
        pad_checked(self, &all, mode, value, "pad")
    }

    /// Pads the last two dimensions (`[.., H, W] -> [.., top+H+bottom, left+W+right]`), like
    /// `F.pad(x, (left, right, top, bottom), mode, value)`; `value` is used by
    /// [`PaddingMode::Zeros`] only. Panics (naming the shape) if the mode cannot pad that much.
    pub fn pad2d(&self, top: usize, bottom: usize, left: usize, right: usize, mode: PaddingMode, value: f32) -> Tensor {
        assert!(self.rank() >= 2, "pad2d: needs at least 2 dimensions, got shape {}", self.shape());
        let d = self.dims();
        let (h, w) = (d[d.len() - 2], d[d.len() - 1]);
        if let Err(e) = mode.check(h, top, bottom, "height").and_then(|_| mode.check(w, left, right, "width")) {
            panic!("pad2d: input shape {}: {e}", self.shape());
        }
        let mut pads = vec![(0, 0); d.len() - 2];
        pads.extend([(top, bottom), (left, right)]);
        pad_checked(self, &pads, mode, value, "pad2d")
    }

    /// Pads the last dimension (`[.., L] -> [.., start+L+end]`), like
    /// `F.pad(x, (start, end), mode, value)`.
    pub fn pad1d(&self, start: usize, end: usize, mode: PaddingMode, value: f32) -> Tensor {
        assert!(self.rank() >= 1, "pad1d: needs at least 1 dimension, got a scalar");
        let d = self.dims().to_vec();
        let mut as2d = d.clone();
        as2d.insert(d.len() - 1, 1);
        let out = self.reshape(as2d).pad2d(0, 0, start, end, mode, value);
        let mut shape = d;
        *shape.last_mut().unwrap() += start + end;
        out.reshape(shape)
    }
}
