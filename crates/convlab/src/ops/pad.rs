//! Padding of the last one or two dimensions: zeros/constant, reflect, replicate, circular.
//!
//! Every padded position reads one input position (or the constant), so the forward pass is
//! a gather through an index map and the backward pass scatters the gradient back through the
//! same map, adding where several padded positions read the same input (reflect, replicate,
//! circular).
//!
//! ```
//! use convlab::{ops::pad::PaddingMode, Tensor};
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [1, 3]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Reflect, 0.0).to_vec(), vec![3.0, 2.0, 1.0, 2.0, 3.0, 2.0]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Replicate, 0.0).to_vec(), vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
//! assert_eq!(x.pad1d(2, 1, PaddingMode::Circular, 0.0).to_vec(), vec![2.0, 3.0, 1.0, 2.0, 3.0, 1.0]);
//! assert_eq!(x.pad1d(1, 1, PaddingMode::Zeros, 9.0).to_vec(), vec![9.0, 1.0, 2.0, 3.0, 9.0]);
//! ```

use crate::{Error, Tensor};

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

impl std::fmt::Display for PaddingModeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let need = if self.mode == PaddingMode::Reflect { "smaller than" } else { "at most" };
        let PaddingModeError { before, after, size, dim, .. } = *self;
        write!(
            f,
            "{} padding of {before} and {after} along {dim} needs each amount {need} the size {size}",
            self.mode.name()
        )
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

impl Tensor {
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
        let (rows, cols) = (index_map(h, top, bottom, mode), index_map(w, left, right, mode));
        let (ho, wo) = (rows.len(), cols.len());
        let planes: usize = d[..d.len() - 2].iter().product();
        let x = self.storage();
        let mut out = vec![value; planes * ho * wo]; // [planes, Ho, Wo]
        for pl in 0..planes {
            let xp = &x[pl * h * w..(pl + 1) * h * w]; // [H, W]
            let op = &mut out[pl * ho * wo..(pl + 1) * ho * wo]; // [Ho, Wo]
            for (oy, r) in rows.iter().enumerate() {
                let Some(r) = r else { continue };
                for (ox, c) in cols.iter().enumerate() {
                    if let Some(c) = c {
                        op[oy * wo + ox] = xp[r * w + c];
                    }
                }
            }
        }
        let mut shape = d.to_vec();
        let rank = shape.len();
        shape[rank - 2] = ho;
        shape[rank - 1] = wo;
        let in_shape = self.shape().clone();
        Tensor::from_op(out, shape, "pad2d", &[self], move |g, _| {
            let g = g.storage(); // [planes, Ho, Wo]
            let mut gx = vec![0.0f32; planes * h * w]; // [planes, H, W]
            for pl in 0..planes {
                let gp = &g[pl * ho * wo..(pl + 1) * ho * wo];
                let gxp = &mut gx[pl * h * w..(pl + 1) * h * w];
                for (oy, r) in rows.iter().enumerate() {
                    let Some(r) = r else { continue };
                    for (ox, c) in cols.iter().enumerate() {
                        if let Some(c) = c {
                            gxp[r * w + c] += gp[oy * wo + ox];
                        }
                    }
                }
            }
            vec![Some(Tensor::from_vec(gx, in_shape.clone()))]
        })
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
