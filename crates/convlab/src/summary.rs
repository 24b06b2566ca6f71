//! A model summary like torchinfo's: per layer its output shape, parameters, multiply-adds
//! and receptive field; totals of parameters, multiply-adds and memory.
//!
//! The model runs once on a random input of batch 1 (evaluation mode, no gradients) with
//! [`Forward::recording`], so every row is a module that actually ran, named by its
//! `state_dict` path. Rows are the leaf modules (those without children), in the order
//! they ran.
//!
//! - **Parameters** of a row are the module's own; a module that runs twice (a shared ReLU)
//!   counts them at its first row only.
//! - **Multiply-adds** per input: convolution `Cout·Ho·Wo·(Cin/groups)·kH·kW` (the weight's
//!   size times the output positions; a transposed convolution: times the input positions),
//!   fully connected `in·out`. Everything else (activations, pooling, normalization,
//!   additions) counts 0.
//! - **Receptive field**: the size of the input window one output value sees, and the jump
//!   (distance in input pixels between neighbouring outputs). A window layer with effective
//!   kernel `F = d·(k-1)+1` and stride `s` maps `(r, j)` to `(r + (F-1)·j, j·s)`; other
//!   layers keep it. Adaptive pooling uses its widest window and stride `⌊I/O⌋`. Flatten and
//!   fully connected layers over a map with more than one position see the whole input
//!   ("all"). Fields follow the data: a layer's field is that of the tensor it reads
//!   (found by tensor identity); a container's output, and a tensor made inside a container
//!   (a residual sum, a concatenation), takes the largest field of what ran before it,
//!   which is the main path's. Transposed convolutions are not followed (the field passes
//!   through unchanged).
//! - **Memory**: parameters and buffers as f32; activations are the leaf outputs of one
//!   forward pass for one input (what backward would keep, roughly), plus the input.
//!
//! The lecture's point, in numbers: a fully connected layer of 100 units on a 3×32×32 image
//! has 307,200 weights, a convolution with 16 shared 3×3 kernels has 432.
//!
//! ```
//! use convlab::spec::Spec;
//! use convlab::summary::summarize;
//! let dense: Spec = "flatten linear(100)".parse().unwrap();
//! let s = summarize(&dense.build(&[3, 32, 32], 0).unwrap(), &[3, 32, 32], 0).unwrap();
//! assert_eq!(s.rows[1].params, 3 * 32 * 32 * 100 + 100);
//! let conv: Spec = "conv(16,3,padding=1)".parse().unwrap();
//! let s = summarize(&conv.build(&[3, 32, 32], 0).unwrap(), &[3, 32, 32], 0).unwrap();
//! assert_eq!(s.rows[0].params, 16 * 3 * 3 * 3 + 16);
//! assert_eq!(s.rows[0].macs, 16 * 32 * 32 * 27);
//! ```

use std::collections::HashMap;

use serde::Serialize;

use crate::nn::{check_forward, Forward, Mode, Module, Recorded, TensorKind};
use crate::{no_grad, Error, Tensor, TensorId};

/// What one output value of a layer sees of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceptiveField {
    /// A `size` window (`[H, W]` input pixels) whose neighbouring outputs are `jump` apart.
    Window { size: [usize; 2], jump: [usize; 2] },
    /// The whole input (after flattening a map into a fully connected layer).
    Whole,
}

impl ReceptiveField {
    const PIXEL: ReceptiveField = ReceptiveField::Window { size: [1, 1], jump: [1, 1] };

    /// The larger of two fields (where branches join).
    fn max(self, other: ReceptiveField) -> ReceptiveField {
        match (self, other) {
            (ReceptiveField::Window { size: a, jump: ja }, ReceptiveField::Window { size: b, jump: jb }) => {
                ReceptiveField::Window {
                    size: [a[0].max(b[0]), a[1].max(b[1])],
                    jump: [ja[0].max(jb[0]), ja[1].max(jb[1])],
                }
            }
            _ => ReceptiveField::Whole,
        }
    }

    /// `"5"` or `"5x3"`; `"all"` for the whole input.
    pub fn size_text(&self) -> String {
        match self {
            ReceptiveField::Window { size, .. } => pair_text(*size),
            ReceptiveField::Whole => "all".into(),
        }
    }

    /// `"2"` or `"2x1"`; `"-"` for the whole input.
    pub fn jump_text(&self) -> String {
        match self {
            ReceptiveField::Window { jump, .. } => pair_text(*jump),
            ReceptiveField::Whole => "-".into(),
        }
    }
}

fn pair_text(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        p[0].to_string()
    } else {
        format!("{}x{}", p[0], p[1])
    }
}

/// One leaf module that ran.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    /// The `state_dict` path (`"0"`, `"features.3"`).
    pub path: String,
    /// PyTorch's class name (`"Conv2d"`).
    pub kind: &'static str,
    /// The layer's settings, as PyTorch's `extra_repr`.
    pub describe: String,
    /// Batched shapes (batch 1).
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// Parameters of this module (0 when it already ran earlier).
    pub params: usize,
    /// Multiply-adds for one input.
    pub macs: u64,
    pub receptive_field: ReceptiveField,
    /// The module ran before (its parameters are counted at its first row).
    pub repeated: bool,
}

/// A whole model's summary for one input shape.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Batched input and output shapes (batch 1).
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    pub rows: Vec<LayerRow>,
    pub total_params: usize,
    /// Parameters that take gradients.
    pub trainable_params: usize,
    /// Buffer values (running statistics).
    pub buffer_values: usize,
    pub total_macs: u64,
    /// Parameters as f32.
    pub param_bytes: usize,
    pub buffer_bytes: usize,
    pub input_bytes: usize,
    /// Outputs of every leaf for one input.
    pub activation_bytes: usize,
    /// Every leaf read the previous leaf's output: a plain chain, whose receptive fields are
    /// the textbook ones. When false the fields follow the data (see the module docs).
    pub chain: bool,
}

/// Multiply-adds of one leaf for one input (batch 1 recorded).
fn macs(m: &dyn Module, rec: &Recorded) -> u64 {
    let Some(w) = m.local_tensors().into_iter().find(|(n, _, _)| *n == "weight").map(|(_, t, _)| t) else { return 0 };
    let positions = |shape: &[usize]| shape.iter().skip(2).product::<usize>() as u64;
    let batch = rec.input_shape.first().copied().unwrap_or(1).max(1) as u64;
    match m.kind() {
        "Conv1d" | "Conv2d" => w.numel() as u64 * positions(rec.output.dims()),
        "ConvTranspose2d" => w.numel() as u64 * positions(&rec.input_shape),
        "Linear" => {
            let out = rec.output.dims();
            let rows = (rec.output.numel() / out.last().copied().unwrap_or(1).max(1)) as u64;
            w.numel() as u64 * rows / batch
        }
        _ => 0,
    }
}

/// Every module under its path (the top module is `""`).
fn modules<'a>(m: &'a dyn Module, path: String, out: &mut HashMap<String, &'a dyn Module>) {
    for (name, child) in m.children() {
        let p = if path.is_empty() { name } else { format!("{path}.{name}") };
        modules(child, p, out);
    }
    out.insert(path, m);
}

/// Summarizes `model` for inputs of shape `input` (without the batch dimension). An input the
/// model cannot take (checked first with [`Module::output_shape`]) is an error naming the
/// layer and the shapes.
pub fn summarize(model: &dyn Module, input: &[usize], seed: u64) -> Result<Summary, Error> {
    let mut shape = vec![1];
    shape.extend_from_slice(input);
    model
        .output_shape(&shape)
        .map_err(|e| Error::Shape(format!("{} on input {}: {e}", model.kind(), crate::Shape::from(&shape[..]))))?;
    let x = Tensor::randn(shape.clone(), seed);
    let (y, recorded) = no_grad(|| {
        let mut ctx = Forward::recording(Mode::Eval, seed);
        let y = if model.children().is_empty() { ctx.child("", model, &x) } else { model.forward(&x, &mut ctx) };
        (y, ctx.take_recorded())
    });
    check_forward(model, &shape, y.dims())?;

    let mut by_path = HashMap::new();
    modules(model, String::new(), &mut by_path);
    let mut fields: HashMap<TensorId, ReceptiveField> = HashMap::from([(x.id(), ReceptiveField::PIXEL)]);
    let mut widest = ReceptiveField::PIXEL;
    let mut rows: Vec<LayerRow> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let (mut chain, mut last) = (true, x.id());
    for rec in &recorded {
        // A module run without being listed among its parent's children (a shared ReLU or
        // pooling kept outside `children()`) still gets a row, from what was recorded.
        let m = by_path.get(&rec.path).copied();
        let field = if rec.leaf {
            chain &= rec.input_id == last;
            last = rec.output.id();
            let read = fields.get(&rec.input_id).copied().unwrap_or(widest);
            let field = leaf_field(rec, read);
            let first = seen.insert(rec.path.clone());
            rows.push(LayerRow {
                path: rec.path.clone(),
                kind: rec.kind,
                describe: m.map(|m| m.describe()).unwrap_or_default(),
                input_shape: rec.input_shape.clone(),
                output_shape: rec.output.dims().to_vec(),
                params: match m {
                    Some(m) if first => {
                        m.local_tensors().iter().filter(|t| t.2 == TensorKind::Parameter).map(|t| t.1.numel()).sum()
                    }
                    _ => 0,
                },
                macs: m.map(|m| macs(m, rec)).unwrap_or(0),
                receptive_field: field,
                repeated: !first,
            });
            field
        } else {
            let prefix = format!("{}.", rec.path);
            let read = fields.get(&rec.input_id).copied().unwrap_or(widest);
            rows.iter().filter(|r| r.path.starts_with(&prefix)).fold(read, |a, r| a.max(r.receptive_field))
        };
        widest = widest.max(field);
        fields.insert(rec.output.id(), field);
    }

    let tensors = model.named_tensors();
    let count = |kind: TensorKind, trainable: bool| -> usize {
        tensors
            .iter()
            .filter(|(_, t, k)| *k == kind && (!trainable || t.requires_grad()))
            .map(|(_, t, _)| t.numel())
            .sum()
    };
    let total_params = count(TensorKind::Parameter, false);
    let buffer_values = count(TensorKind::Buffer, false);
    Ok(Summary {
        input_shape: shape,
        output_shape: y.dims().to_vec(),
        total_macs: rows.iter().map(|r| r.macs).sum(),
        activation_bytes: rows.iter().map(|r| r.output_shape.iter().product::<usize>() * 4).sum(),
        input_bytes: x.numel() * 4,
        rows,
        total_params,
        trainable_params: count(TensorKind::Parameter, true),
        buffer_values,
        param_bytes: total_params * 4,
        buffer_bytes: buffer_values * 4,
        chain,
    })
}

/// The field of a leaf's output given the field of what it read.
fn leaf_field(rec: &Recorded, read: ReceptiveField) -> ReceptiveField {
    let spatial: usize = rec.input_shape.iter().skip(2).product();
    if matches!(rec.kind, "Flatten" | "Linear") && rec.input_shape.len() > 2 && spatial > 1 {
        return ReceptiveField::Whole;
    }
    match (rec.geometry, read) {
        (Some(g), ReceptiveField::Window { size, jump }) => {
            let f = g.effective_kernel();
            ReceptiveField::Window {
                size: [0, 1].map(|i| size[i] + (f[i] - 1) * jump[i]),
                jump: [0, 1].map(|i| jump[i] * g.stride()[i]),
            }
        }
        _ => read,
    }
}
