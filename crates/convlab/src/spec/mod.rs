//! Model specs: your own networks without writing Rust.
//!
//! The lecture's typical CNN is N blocks of M convolutions and an optional pooling, then K
//! fully connected layers. A [`Spec`] writes such a network as one line, with PyTorch's
//! argument names:
//!
//! ```text
//! conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)
//! ```
//!
//! Layers (positional arguments first, in this order; every argument may also be named):
//!
//! | layer | arguments (defaults) | module |
//! | --- | --- | --- |
//! | `conv(out, k)` | `stride=1`, `padding=0` (int, `(ph,pw)`, `(t,b,l,r)`, `valid`, `same`, `full`), `dilation=1`, `groups=1`, `bias=true`, `padding_mode=zeros` (`reflect`, `replicate`, `circular`), `in=` (checked) | `Conv2d` |
//! | `conv1d(out, k)` | as `conv`, one-dimensional | `Conv1d` |
//! | `linear(out)` | `bias=true`, `in=` (checked) | `Linear` |
//! | `maxpool(k)` | `stride=k`, `padding=0`, `dilation=1`, `ceil_mode=false` | `MaxPool2d` (`MaxPool1d` on `[C, L]`) |
//! | `avgpool(k)` | `stride=k`, `padding=0`, `ceil_mode=false`, `count_include_pad=true`, `divisor_override=` | `AvgPool2d` (`AvgPool1d`) |
//! | `adaptiveavgpool(h[, w])` | `w=h` | `AdaptiveAvgPool2d` |
//! | `globalavgpool` | (`adaptiveavgpool(1)`) | `AdaptiveAvgPool2d` |
//! | `batchnorm` | `eps=1e-5`, `momentum=0.1` (or `none`), `affine=true`, `track_running_stats=true` | `BatchNorm2d` / `BatchNorm1d` by input rank |
//! | `dropout(p)` | `p=0.5` | `Dropout` |
//! | `flatten` | | `Flatten` |
//! | `relu`, `sigmoid`, `tanh`, `silu`, `relu6`, `hardswish`, `selu`, `identity` | | `Act` |
//! | `leakyrelu(negative_slope)`, `elu(alpha)`, `softplus(beta, threshold)`, `gelu(approximate)`, `hardsigmoid(alpha, beta)` | torch's defaults (`hardsigmoid`: 1/6, 0.5) | `Act` |
//! | `softmax(dim)` | `dim=1` | `Softmax` |
//!
//! An optional leading `input(C,H,W)` (or `input(C,L)`) records the input shape. Layers are
//! separated by spaces (commas, `;`, `->` and new lines also work; `#` starts a comment).
//! The same network as JSON is a list of objects (`{"type": "conv", "out": 6, "k": 5,
//! "padding": 2}`) or layer strings, or `{"layers": [...], "input": [1, 28, 28]}`; a TOML file
//! has `input = [1, 28, 28]` and `[[layers]]` tables, or `spec = "conv(6,5) relu ..."`.
//!
//! [`Spec::build`] infers every input channel and feature count from the input shape and
//! returns a [`Sequential`](crate::nn::Sequential) (parameters `0.weight`, `0.bias`, ...); an
//! impossible network is an error naming the layer and the shapes. `to_string()` gives the
//! canonical form (defaults left out), which parses back to the same spec.
//!
//! ```
//! use convlab::spec::Spec;
//! use convlab::nn::Module;
//! let spec: Spec = "conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)".parse().unwrap();
//! let net = spec.build(&[1, 28, 28], 0).unwrap();
//! assert_eq!(net.num_parameters(), 61_706);
//! let shapes = spec.infer_shapes(&[1, 28, 28]).unwrap();
//! assert_eq!(shapes[5].output, vec![16, 5, 5]);
//! // An impossible network names the layer and the shapes.
//! let err = "conv(6,5) maxpool(2) conv(16,5) maxpool(2) conv(32,5)".parse::<Spec>().unwrap().build(&[1, 28, 28], 0).err().unwrap();
//! assert!(err.to_string().contains("layer 4 `conv(32,5)`: input [16, 4, 4]"), "{err}");
//! assert_eq!(spec.to_string().parse::<Spec>().unwrap(), spec);
//! ```

mod build;
mod from_module;
mod layer;
mod parse;
mod resolve;
mod text;

pub use build::LayerShape;
pub use resolve::{default_input, resolve_model, ModelDefaults, ModelSource, ResolvedModel, SPEC_DEFAULT_INPUT};

use std::fmt;
use std::str::FromStr;

use crate::ops::conv::{Conv1dParams, Conv2dParams};
use crate::ops::pool::Pool2dParams;
use crate::{Activation, Error};

/// A network as a list of layers, with the input shape when the spec names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub layers: Vec<LayerSpec>,
    /// `[C, H, W]` or `[C, L]`, without the batch dimension.
    pub input: Option<Vec<usize>>,
}

/// A 2-D convolution: everything but the input channels, which the input shape gives.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvSpec {
    pub out_channels: usize,
    pub kernel_size: [usize; 2],
    pub conv: Conv2dParams,
    pub bias: bool,
    /// Input channels, when the spec states them (checked against the inferred ones).
    pub in_channels: Option<usize>,
}

/// A 1-D convolution over `[C, L]` inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dSpec {
    pub out_channels: usize,
    pub kernel_size: usize,
    pub conv: Conv1dParams,
    pub bias: bool,
    pub in_channels: Option<usize>,
}

/// Batch normalization settings (the feature count is inferred).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormSpec {
    pub eps: f32,
    /// `None` is a cumulative average (PyTorch's `momentum=None`).
    pub momentum: Option<f32>,
    pub affine: bool,
    pub track_running_stats: bool,
}

impl Default for BatchNormSpec {
    fn default() -> Self {
        BatchNormSpec { eps: 1e-5, momentum: Some(0.1), affine: true, track_running_stats: true }
    }
}

/// One layer of a spec.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    Conv(ConvSpec),
    Conv1d(Conv1dSpec),
    Linear {
        out_features: usize,
        bias: bool,
        in_features: Option<usize>,
    },
    /// On a `[C, L]` input the pooling is 1-D and uses the second entry of each pair (both
    /// entries must then be equal, as `maxpool(3)` gives).
    MaxPool(Pool2dParams),
    AvgPool(Pool2dParams),
    /// `[1, 1]` is global average pooling (written `globalavgpool`).
    AdaptiveAvgPool([usize; 2]),
    BatchNorm(BatchNormSpec),
    Dropout(f32),
    Flatten,
    Act(Activation),
    Softmax {
        dim: isize,
    },
}

impl Spec {
    pub fn new(layers: Vec<LayerSpec>) -> Spec {
        Spec { layers, input: None }
    }

    /// Reads a spec from a `.json` or `.toml` file (any other extension: the one-line form).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Spec, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: shown.clone(), source })?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let parsed = match ext.as_str() {
            "json" => Spec::from_json(&text),
            "toml" => Spec::from_toml(&text),
            _ => text.parse(),
        };
        parsed.map_err(|e| Error::Format { path: shown, msg: e.to_string() })
    }

    /// The JSON form: a list of layers (objects with a `"type"`, or layer strings), or an
    /// object with `"layers"` (or `"spec"`, a one-line string) and optionally `"input"`.
    pub fn from_json(text: &str) -> Result<Spec, Error> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Invalid(format!("spec JSON: {e}")))?;
        parse::from_json_value(&v)
    }

    /// The TOML form: `input = [1, 28, 28]` with `[[layers]]` tables (`type = "conv"`, ...),
    /// or `spec = "conv(6,5) relu ..."`.
    pub fn from_toml(text: &str) -> Result<Spec, Error> {
        let t: toml::Table = toml::from_str(text).map_err(|e| Error::Invalid(format!("spec TOML: {}", e.message())))?;
        let v = serde_json::to_value(&t).map_err(|e| Error::Invalid(format!("spec TOML: {e}")))?;
        parse::from_json_value(&v)
    }

    /// The spec of a module made only of layers a spec can express: a [`Sequential`] whose
    /// layers are named by position, or a single such layer. The error names the first layer
    /// that cannot be expressed.
    ///
    /// [`Sequential`]: crate::nn::Sequential
    pub fn from_module(module: &dyn crate::nn::Module) -> Result<Spec, Error> {
        from_module::from_module(module)
    }

    /// The spec of any module whose forward pass on an input of shape `input` (without the
    /// batch) is a plain chain of spec-able layers, such as the zoo's LeNet-5 with its named
    /// layers (the spec describes the architecture; its parameters are named by position).
    /// The error names the first layer that branches or cannot be expressed.
    pub fn from_module_traced(module: &dyn crate::nn::Module, input: &[usize]) -> Result<Spec, Error> {
        from_module::from_trace(module, input)
    }
}

impl FromStr for Spec {
    type Err = Error;

    /// Parses the one-line form.
    fn from_str(s: &str) -> Result<Spec, Error> {
        parse::parse_spec(s)
    }
}

impl FromStr for LayerSpec {
    type Err = Error;

    /// Parses one layer (`"conv(6,5,padding=2)"`).
    fn from_str(s: &str) -> Result<LayerSpec, Error> {
        let spec = parse::parse_spec(s)?;
        match (spec.input, spec.layers.as_slice()) {
            (None, [one]) => Ok(one.clone()),
            _ => Err(Error::Invalid(format!("expected exactly one layer, got `{s}`"))),
        }
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        if let Some(input) = &self.input {
            items.push(format!("input({})", input.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")));
        }
        items.extend(self.layers.iter().map(|l| l.to_string()));
        f.write_str(&items.join(" "))
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text::canonical(self))
    }
}
