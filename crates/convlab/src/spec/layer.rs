//! Each layer's arguments: names (PyTorch's, with short aliases), order, defaults and value
//! checks, turning a [`RawLayer`] into a [`LayerSpec`]; and the canonical text of a layer.

use std::collections::BTreeMap;

use super::parse::{RawLayer, Value};
use super::{BatchNormSpec, Conv1dSpec, ConvSpec, LayerSpec};
use crate::ops::activation::{HARDSIGMOID_ALPHA, HARDSIGMOID_BETA};
use crate::ops::conv::{Conv1dParams, Conv2dParams, Padding1d, Padding2d};
use crate::ops::pad::PaddingMode;
use crate::ops::pool::Pool2dParams;
use crate::{Activation, Error, Gelu};

/// Every layer name the one-line form accepts.
pub const LAYER_NAMES: &[&str] = &[
    "conv",
    "conv1d",
    "linear",
    "maxpool",
    "avgpool",
    "adaptiveavgpool",
    "globalavgpool",
    "batchnorm",
    "dropout",
    "flatten",
    "relu",
    "leakyrelu",
    "elu",
    "softplus",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "relu6",
    "hardsigmoid",
    "hardswish",
    "selu",
    "identity",
    "softmax",
];

/// An argument: its canonical name and the other names it answers to.
type Param = (&'static str, &'static [&'static str]);

const CONV: &[Param] = &[
    ("out", &["out_channels"]),
    ("k", &["kernel_size", "kernel"]),
    ("stride", &[]),
    ("padding", &[]),
    ("dilation", &[]),
    ("groups", &[]),
    ("bias", &[]),
    ("padding_mode", &[]),
    ("in", &["in_channels"]),
];
const LINEAR: &[Param] = &[("out", &["out_features"]), ("bias", &[]), ("in", &["in_features"])];
const MAXPOOL: &[Param] =
    &[("k", &["kernel_size", "kernel"]), ("stride", &[]), ("padding", &[]), ("dilation", &[]), ("ceil_mode", &[])];
const AVGPOOL: &[Param] = &[
    ("k", &["kernel_size", "kernel"]),
    ("stride", &[]),
    ("padding", &[]),
    ("ceil_mode", &[]),
    ("count_include_pad", &[]),
    ("divisor_override", &[]),
];
const ADAPTIVE: &[Param] = &[("h", &["output_size", "size"]), ("w", &[])];
const BATCHNORM: &[Param] = &[("eps", &[]), ("momentum", &[]), ("affine", &[]), ("track_running_stats", &[])];

/// The arguments of one layer, by canonical name.
struct Args {
    values: BTreeMap<&'static str, Value>,
}

fn collect(raw: &RawLayer, params: &[Param], positional: usize) -> Result<Args, Error> {
    let mut values = BTreeMap::new();
    let names = || params.iter().map(|p| p.0).collect::<Vec<_>>().join(", ");
    if raw.positional.len() > positional && positional == 0 {
        return Err(Error::Invalid(format!("{} takes no positional arguments", raw.name)));
    }
    if raw.positional.len() > positional {
        return Err(Error::Invalid(format!(
            "{} takes at most {positional} positional argument{} ({}), got {}",
            raw.name,
            if positional == 1 { "" } else { "s" },
            params[..positional].iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
            raw.positional.len()
        )));
    }
    for (p, v) in params.iter().zip(&raw.positional) {
        values.insert(p.0, v.clone());
    }
    for (key, v) in &raw.named {
        let Some(p) = params.iter().find(|p| p.0 == key || p.1.contains(&key.as_str())) else {
            let known =
                if params.is_empty() { "it takes no arguments".to_string() } else { format!("expected {}", names()) };
            return Err(Error::Invalid(format!("unknown argument '{key}' for {}; {known}", raw.name)));
        };
        if values.insert(p.0, v.clone()).is_some() {
            return Err(Error::Invalid(format!("argument '{}' given twice", p.0)));
        }
    }
    Ok(Args { values })
}

fn bad(name: &str, v: &Value, want: &str) -> Error {
    Error::Invalid(format!("{name}={v}: expected {want}"))
}

impl Args {
    fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    fn required<T>(&self, name: &str, f: impl Fn(&Self, &str) -> Result<Option<T>, Error>) -> Result<T, Error> {
        f(self, name)?.ok_or_else(|| Error::Invalid(format!("missing argument '{name}'")))
    }

    /// A non-negative integer (`positive`: at least 1).
    fn uint(&self, name: &str, positive: bool) -> Result<Option<usize>, Error> {
        self.get(name).map(|v| as_uint(name, v, positive)).transpose()
    }

    /// An integer or a pair `(h,w)`.
    fn pair(&self, name: &str, positive: bool) -> Result<Option<[usize; 2]>, Error> {
        let Some(v) = self.get(name) else { return Ok(None) };
        match v {
            Value::Tuple(t) if t.len() == 2 => {
                Ok(Some([as_uint(name, &t[0], positive)?, as_uint(name, &t[1], positive)?]))
            }
            Value::Tuple(_) => Err(bad(name, v, "an integer or a pair (h,w)")),
            v => as_uint(name, v, positive).map(|n| Some([n, n])),
        }
    }

    fn float(&self, name: &str) -> Result<Option<f32>, Error> {
        self.get(name)
            .map(|v| match v {
                Value::Int(i) => Ok(*i as f32),
                Value::Float(x) if x.is_finite() => Ok(*x as f32),
                v => Err(bad(name, v, "a number")),
            })
            .transpose()
    }

    fn flag(&self, name: &str) -> Result<Option<bool>, Error> {
        self.get(name)
            .map(|v| match v {
                Value::Word(w) if w.eq_ignore_ascii_case("true") => Ok(true),
                Value::Word(w) if w.eq_ignore_ascii_case("false") => Ok(false),
                Value::Int(1) => Ok(true),
                Value::Int(0) => Ok(false),
                v => Err(bad(name, v, "true or false")),
            })
            .transpose()
    }

    fn word(&self, name: &str) -> Result<Option<String>, Error> {
        self.get(name)
            .map(|v| match v {
                Value::Word(w) => Ok(w.to_ascii_lowercase()),
                v => Err(bad(name, v, "a word")),
            })
            .transpose()
    }
}

fn as_uint(name: &str, v: &Value, positive: bool) -> Result<usize, Error> {
    match v {
        Value::Int(i) if *i > 0 || (*i == 0 && !positive) => Ok(*i as usize),
        v => Err(bad(name, v, if positive { "a positive integer" } else { "a non-negative integer" })),
    }
}

fn padding_mode(args: &Args) -> Result<PaddingMode, Error> {
    Ok(match args.word("padding_mode")?.as_deref() {
        None | Some("zeros") => PaddingMode::Zeros,
        Some("reflect") => PaddingMode::Reflect,
        Some("replicate") | Some("edge") => PaddingMode::Replicate,
        Some("circular") => PaddingMode::Circular,
        Some(other) => {
            return Err(Error::Invalid(format!("padding_mode={other}: expected zeros, reflect, replicate or circular")))
        }
    })
}

fn padding_word(w: &str) -> Option<u8> {
    match w {
        "valid" => Some(0),
        "same" => Some(1),
        "full" => Some(2),
        _ => None,
    }
}

fn padding2d(args: &Args) -> Result<Padding2d, Error> {
    let Some(v) = args.get("padding") else { return Ok(Padding2d::default()) };
    let want = "an integer, (ph,pw), (top,bottom,left,right), valid, same or full";
    match v {
        Value::Word(w) => match padding_word(&w.to_ascii_lowercase()) {
            Some(0) => Ok(Padding2d::Valid),
            Some(1) => Ok(Padding2d::Same),
            Some(_) => Ok(Padding2d::Full),
            None => Err(bad("padding", v, want)),
        },
        Value::Tuple(t) if t.len() == 4 => {
            let p: Vec<usize> = t.iter().map(|x| as_uint("padding", x, false)).collect::<Result<_, _>>()?;
            Ok(Padding2d::per_side(p[0], p[1], p[2], p[3]))
        }
        Value::Tuple(t) if t.len() != 2 => Err(bad("padding", v, want)),
        _ => args.pair("padding", false).map(|p| p.map(Padding2d::from).unwrap_or_default()),
    }
}

fn padding1d(args: &Args) -> Result<Padding1d, Error> {
    let Some(v) = args.get("padding") else { return Ok(Padding1d::default()) };
    let want = "an integer, (start,end), valid, same or full";
    match v {
        Value::Word(w) => match padding_word(&w.to_ascii_lowercase()) {
            Some(0) => Ok(Padding1d::Valid),
            Some(1) => Ok(Padding1d::Same),
            Some(_) => Ok(Padding1d::Full),
            None => Err(bad("padding", v, want)),
        },
        Value::Tuple(t) if t.len() == 2 => {
            Ok(Padding1d::Explicit { start: as_uint("padding", &t[0], false)?, end: as_uint("padding", &t[1], false)? })
        }
        Value::Tuple(_) => Err(bad("padding", v, want)),
        v => as_uint("padding", v, false).map(Padding1d::uniform),
    }
}

fn pool(raw: &RawLayer, max: bool) -> Result<Pool2dParams, Error> {
    let a = collect(raw, if max { MAXPOOL } else { AVGPOOL }, 1)?;
    let k = a.required("k", |a, n| a.pair(n, true))?;
    let mut p = Pool2dParams::new(k);
    p.stride = a.pair("stride", true)?.unwrap_or(k);
    p.padding = a.pair("padding", false)?.unwrap_or([0, 0]);
    p.ceil_mode = a.flag("ceil_mode")?.unwrap_or(false);
    if max {
        p.dilation = a.pair("dilation", true)?.unwrap_or([1, 1]);
    } else {
        p.count_include_pad = a.flag("count_include_pad")?.unwrap_or(true);
        p.divisor_override = a.uint("divisor_override", true)?;
    }
    Ok(p)
}

fn activation(raw: &RawLayer) -> Result<Option<Activation>, Error> {
    let none: &[Param] = &[];
    Ok(Some(match raw.name.as_str() {
        "relu" | "sigmoid" | "tanh" | "silu" | "relu6" | "hardswish" | "selu" | "identity" => {
            collect(raw, none, 0)?;
            Activation::from_name(&raw.name)?
        }
        "leakyrelu" | "leaky_relu" => {
            let a = collect(raw, &[("negative_slope", &["slope"])], 1)?;
            Activation::LeakyRelu { negative_slope: a.float("negative_slope")?.unwrap_or(0.01) }
        }
        "elu" => Activation::Elu { alpha: collect(raw, &[("alpha", &[])], 1)?.float("alpha")?.unwrap_or(1.0) },
        "softplus" => {
            let a = collect(raw, &[("beta", &[]), ("threshold", &[])], 2)?;
            let beta = a.float("beta")?.unwrap_or(1.0);
            if beta <= 0.0 {
                return Err(Error::Invalid(format!("beta={beta}: expected a positive number")));
            }
            Activation::Softplus { beta, threshold: a.float("threshold")?.unwrap_or(20.0) }
        }
        "hardsigmoid" => {
            let a = collect(raw, &[("alpha", &[]), ("beta", &[])], 2)?;
            Activation::Hardsigmoid {
                alpha: a.float("alpha")?.unwrap_or(HARDSIGMOID_ALPHA),
                beta: a.float("beta")?.unwrap_or(HARDSIGMOID_BETA),
            }
        }
        "gelu" => {
            let approximate = match collect(raw, &[("approximate", &[])], 1)?.word("approximate")?.as_deref() {
                None | Some("none") => Gelu::None,
                Some("tanh") => Gelu::Tanh,
                Some(other) => return Err(Error::Invalid(format!("approximate={other}: expected none or tanh"))),
            };
            Activation::Gelu { approximate }
        }
        _ => return Ok(None),
    }))
}

/// Checks a raw layer against its argument list.
pub(crate) fn from_raw(raw: &RawLayer) -> Result<LayerSpec, Error> {
    if let Some(act) = activation(raw)? {
        return Ok(LayerSpec::Act(act));
    }
    let none: &[Param] = &[];
    Ok(match raw.name.as_str() {
        "conv" | "conv2d" => {
            let a = collect(raw, CONV, 2)?;
            let conv = Conv2dParams {
                stride: a.pair("stride", true)?.unwrap_or([1, 1]),
                padding: padding2d(&a)?,
                dilation: a.pair("dilation", true)?.unwrap_or([1, 1]),
                groups: a.uint("groups", true)?.unwrap_or(1),
                padding_mode: padding_mode(&a)?,
            };
            LayerSpec::Conv(ConvSpec {
                out_channels: a.required("out", |a, n| a.uint(n, true))?,
                kernel_size: a.required("k", |a, n| a.pair(n, true))?,
                conv,
                bias: a.flag("bias")?.unwrap_or(true),
                in_channels: a.uint("in", true)?,
            })
        }
        "conv1d" => {
            let a = collect(raw, CONV, 2)?;
            let conv = Conv1dParams {
                stride: a.uint("stride", true)?.unwrap_or(1),
                padding: padding1d(&a)?,
                dilation: a.uint("dilation", true)?.unwrap_or(1),
                groups: a.uint("groups", true)?.unwrap_or(1),
                padding_mode: padding_mode(&a)?,
            };
            LayerSpec::Conv1d(Conv1dSpec {
                out_channels: a.required("out", |a, n| a.uint(n, true))?,
                kernel_size: a.required("k", |a, n| a.uint(n, true))?,
                conv,
                bias: a.flag("bias")?.unwrap_or(true),
                in_channels: a.uint("in", true)?,
            })
        }
        "linear" | "dense" | "fc" => {
            let a = collect(raw, LINEAR, 1)?;
            LayerSpec::Linear {
                out_features: a.required("out", |a, n| a.uint(n, true))?,
                bias: a.flag("bias")?.unwrap_or(true),
                in_features: a.uint("in", true)?,
            }
        }
        "maxpool" | "maxpool2d" | "maxpool1d" => LayerSpec::MaxPool(pool(raw, true)?),
        "avgpool" | "avgpool2d" | "avgpool1d" => LayerSpec::AvgPool(pool(raw, false)?),
        "adaptiveavgpool" | "adaptiveavgpool2d" => {
            let a = collect(raw, ADAPTIVE, 2)?;
            let [h, w] = match a.pair("h", true)? {
                Some([h, w]) if a.get("w").is_none() => [h, w],
                Some([h, _]) if matches!(a.get("h"), Some(Value::Tuple(_))) => {
                    return Err(Error::Invalid(format!("output size given twice (h=({h},..) and w)")))
                }
                Some([h, _]) => [h, a.uint("w", true)?.unwrap_or(h)],
                None => return Err(Error::Invalid("missing argument 'h'".into())),
            };
            LayerSpec::AdaptiveAvgPool([h, w])
        }
        "globalavgpool" => {
            collect(raw, none, 0)?;
            LayerSpec::AdaptiveAvgPool([1, 1])
        }
        "batchnorm" | "batchnorm2d" | "batchnorm1d" => {
            let a = collect(raw, BATCHNORM, 0)?;
            let d = BatchNormSpec::default();
            let eps = a.float("eps")?.unwrap_or(d.eps);
            let momentum = match a.get("momentum") {
                Some(Value::Word(w)) if w.eq_ignore_ascii_case("none") => None,
                _ => Some(a.float("momentum")?.unwrap_or(0.1)),
            };
            if eps <= 0.0 || momentum.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
                return Err(Error::Invalid(format!(
                    "eps={eps}, momentum={momentum:?}: expected eps > 0 and momentum in [0, 1] or none"
                )));
            }
            let affine = a.flag("affine")?.unwrap_or(true);
            LayerSpec::BatchNorm(BatchNormSpec {
                eps,
                momentum,
                affine,
                track_running_stats: a.flag("track_running_stats")?.unwrap_or(true),
            })
        }
        "dropout" => {
            let p = collect(raw, &[("p", &[])], 1)?.float("p")?.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Invalid(format!("p={p}: a dropout probability must be in [0, 1]")));
            }
            LayerSpec::Dropout(p)
        }
        "flatten" => {
            collect(raw, none, 0)?;
            LayerSpec::Flatten
        }
        "softmax" => {
            let a = collect(raw, &[("dim", &[])], 1)?;
            let dim = match a.get("dim") {
                None => 1,
                Some(Value::Int(d)) => *d as isize,
                Some(v) => return Err(bad("dim", v, "an integer")),
            };
            LayerSpec::Softmax { dim }
        }
        other => {
            return Err(Error::Invalid(format!("unknown layer type '{other}'; known: {}", LAYER_NAMES.join(", "))))
        }
    })
}
