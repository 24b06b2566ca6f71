//! The operations a [`super::Graph`] node runs, and how each runs on tensors.

use crate::nn::{
    Act, AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv1d, Conv2d, ConvTranspose2d, Dropout, Flatten, Forward, Linear,
    MaxPool2d, Module, Softmax,
};
use crate::ops::pad::PaddingMode;
use crate::Tensor;

/// ONNX `Slice`: along each of `axes`, the positions `start, start + step, ...` before `end`
/// (negative `start`/`end` count from the end; they are clamped as ONNX clamps them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceSpec {
    pub axes: Vec<isize>,
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub steps: Vec<i64>,
}

/// ONNX `Pad`: `(before, after)` for every axis (outermost first), what the padding holds
/// and, for [`PaddingMode::Zeros`], the constant `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct PadSpec {
    pub pads: Vec<(usize, usize)>,
    pub mode: PaddingMode,
    pub value: f32,
}

/// The comparisons of [`Op::Compare`] (ONNX `Greater`, `Less`, `Equal`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

/// What a node computes. Layer ops hold the `nn` layer (settings and weights) and take one
/// data input; graph ops hold their settings.
pub enum Op {
    Conv2d(Conv2d),
    Conv1d(Conv1d),
    ConvTranspose2d(ConvTranspose2d),
    BatchNorm(BatchNorm),
    Linear(Linear),
    MaxPool2d(MaxPool2d),
    AvgPool2d(AvgPool2d),
    /// Also ONNX `GlobalAveragePool` (output size 1×1).
    AdaptiveAvgPool2d(AdaptiveAvgPool2d),
    Act(Act),
    Softmax(Softmax),
    Flatten(Flatten),
    Dropout(Dropout),
    /// ONNX `GlobalMaxPool`: the maximum of every plane, `[N, C, 1, 1]`.
    GlobalMaxPool,
    LogSoftmax {
        axis: isize,
    },
    /// `min(max(x, min), max)` with either bound optional (ONNX `Clip`).
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    /// The error function, element-wise (exporters write exact GELU with it).
    Erf,
    /// Element-wise with NumPy broadcasting.
    Add,
    Sub,
    Mul,
    Div,
    /// 1 where the comparison holds, else 0 (with broadcasting; no gradient).
    Compare(Comparison),
    /// The second input where the first is non-zero, else the third (ONNX `Where`).
    Where,
    /// Matrix product of two computed values (a product with a constant weight is a
    /// [`Op::Linear`]).
    MatMul,
    /// Joins its inputs along `axis`.
    Concat {
        axis: isize,
    },
    /// Cuts its input along `axis` into pieces of `sizes`; one output per piece.
    Split {
        axis: isize,
        sizes: Vec<usize>,
    },
    Slice(SliceSpec),
    /// ONNX semantics: `0` copies the input's size at that position, `-1` is inferred.
    Reshape {
        shape: Vec<i64>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Pad(PadSpec),
    /// ONNX `GatherND` with constant indices (`index_shape` = `[.., k]`) into the first `k`
    /// axes.
    GatherNd {
        indices: Vec<usize>,
        index_shape: Vec<usize>,
    },
    ReduceMean {
        axes: Vec<isize>,
        keepdims: bool,
    },
    Identity,
    /// A value fixed in the graph (no inputs): a buffer of the model, not a parameter.
    Constant(Tensor),
}

impl Op {
    /// The layer this op is, for ops that are one (their name in the summary, the
    /// explainer's views and the `state_dict` come from it).
    pub fn layer(&self) -> Option<&dyn Module> {
        Some(match self {
            Op::Conv2d(m) => m,
            Op::Conv1d(m) => m,
            Op::ConvTranspose2d(m) => m,
            Op::BatchNorm(m) => m,
            Op::Linear(m) => m,
            Op::MaxPool2d(m) => m,
            Op::AvgPool2d(m) => m,
            Op::AdaptiveAvgPool2d(m) => m,
            Op::Act(m) => m,
            Op::Softmax(m) => m,
            Op::Flatten(m) => m,
            Op::Dropout(m) => m,
            _ => return None,
        })
    }

    /// [`Op::layer`], mutably (to replace the layer's settings and weights in place).
    pub fn layer_mut(&mut self) -> Option<&mut dyn Module> {
        Some(match self {
            Op::Conv2d(m) => m,
            Op::Conv1d(m) => m,
            Op::ConvTranspose2d(m) => m,
            Op::BatchNorm(m) => m,
            Op::Linear(m) => m,
            Op::MaxPool2d(m) => m,
            Op::AvgPool2d(m) => m,
            Op::AdaptiveAvgPool2d(m) => m,
            Op::Act(m) => m,
            Op::Softmax(m) => m,
            Op::Flatten(m) => m,
            Op::Dropout(m) => m,
            _ => return None,
        })
    }

    /// The layer's class name (`"Conv2d"`), or the graph op's ONNX name (`"Add"`).
    pub fn kind(&self) -> &'static str {
        if let Some(m) = self.layer() {
            return m.kind();
        }
        match self {
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::LogSoftmax { .. } => "LogSoftmax",
            Op::Clip { .. } => "Clip",
            Op::Erf => "Erf",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::MatMul => "MatMul",
            Op::Compare(Comparison::Greater) => "Greater",
            Op::Compare(Comparison::GreaterOrEqual) => "GreaterOrEqual",
            Op::Compare(Comparison::Less) => "Less",
            Op::Compare(Comparison::LessOrEqual) => "LessOrEqual",
            Op::Compare(Comparison::Equal) => "Equal",
            Op::Where => "Where",
            Op::Concat { .. } => "Concat",
            Op::Split { .. } => "Split",
            Op::Slice(_) => "Slice",
            Op::Reshape { .. } => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Pad(_) => "Pad",
            Op::GatherNd { .. } => "GatherND",
            Op::ReduceMean { .. } => "ReduceMean",
            Op::Identity => "Identity",
            Op::Constant(_) => "Constant",
            _ => unreachable!("layers are named by their module"),
        }
    }

    /// The fewest and most inputs the op takes.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            Op::Constant(_) => (0, 0),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::MatMul | Op::Compare(_) => (2, 2),
            Op::Where => (3, 3),
            Op::Concat { .. } => (1, usize::MAX),
            _ => (1, 1),
        }
    }

    /// How many values the op makes.
    pub fn output_count(&self) -> usize {
        match self {
            Op::Split { sizes, .. } => sizes.len(),
            _ => 1,
        }
    }

    /// Runs the op on `inputs` (of the shapes [`Op::output_shapes`] accepts). Layers run as
    /// their module (in `ctx`'s mode); the others through the ordinary tensor ops, so the
    /// result carries their gradients.
    pub fn apply(&self, inputs: &[&Tensor], ctx: &mut Forward) -> Vec<Tensor> {
        if let Some(m) = self.layer() {
            return vec![m.forward(inputs[0], ctx)];
        }
        if let Op::Constant(t) = self {
            return vec![t.clone()];
        }
        let x = inputs[0];
        let one = |t: Tensor| vec![t];
        match self {
            Op::GlobalMaxPool => one(x.adaptive_max_pool2d([1, 1])),
            Op::LogSoftmax { axis } => one(x.log_softmax(*axis)),
            Op::Clip { min, max } => one(match (min, max) {
                (Some(lo), Some(hi)) if lo <= hi => x.clamp(*lo, *hi),
                // ONNX: min > max gives max everywhere.
                (Some(_), Some(hi)) => x.clamp_max(*hi).clamp_min(*hi),
                (Some(lo), None) => x.clamp_min(*lo),
                (None, Some(hi)) => x.clamp_max(*hi),
                (None, None) => x.clone(),
            }),
            Op::Erf => one(x.erf()),
            Op::Add => one(x.add(inputs[1])),
            Op::Sub => one(x.sub(inputs[1])),
            Op::Mul => one(x.mul(inputs[1])),
            Op::Div => one(x.div(inputs[1])),
            Op::MatMul => one(x.matmul(inputs[1])),
            Op::Compare(c) => one(match c {
                Comparison::Greater => x.gt(inputs[1]),
                Comparison::GreaterOrEqual => x.ge(inputs[1]),
                Comparison::Less => x.lt(inputs[1]),
                Comparison::LessOrEqual => x.le(inputs[1]),
                Comparison::Equal => x.eq(inputs[1]),
            }),
            Op::Where => one(Tensor::where_cond(x, inputs[1], inputs[2])),
            Op::Concat { axis } => one(Tensor::cat(inputs, *axis)),
            Op::Split { axis, sizes } => {
                let mut start = 0;
                sizes
                    .iter()
                    .map(|&len| {
                        let piece = x.narrow(*axis, start, len);
                        start += len;
                        piece
                    })
                    .collect()
            }
            Op::Slice(s) => one(super::shape::slice(x, s)),
            Op::Reshape { shape } => {
                let dims = super::shape::reshape(x.dims(), shape).unwrap_or_else(|e| panic!("{e}"));
                one(x.reshape(dims))
            }
            Op::Transpose { perm } => one(x.permute(perm)),
            Op::Pad(p) => one(super::shape::pad(x, p)),
            Op::GatherNd { indices, index_shape } => one(x.gather_nd(indices, index_shape)),
            Op::ReduceMean { axes, keepdims } => one(x.mean(axes, *keepdims)),
            Op::Identity => one(x.clone()),
            _ => unreachable!("layers run as their module, constants are returned above"),
        }
    }
}
