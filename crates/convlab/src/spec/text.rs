//! The canonical one-line text of a layer: positional arguments, then the named ones that
//! differ from their defaults. It parses back to the same layer.

use super::{BatchNormSpec, LayerSpec};
use crate::ops::activation::{HARDSIGMOID_ALPHA, HARDSIGMOID_BETA};
use crate::ops::conv::{Padding1d, Padding2d};
use crate::ops::pad::PaddingMode;
use crate::{Activation, Gelu};

fn pair(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        p[0].to_string()
    } else {
        format!("({},{})", p[0], p[1])
    }
}

fn padding2d_text(p: &Padding2d) -> Option<String> {
    match *p {
        Padding2d::Valid => Some("valid".into()),
        Padding2d::Same => Some("same".into()),
        Padding2d::Full => Some("full".into()),
        Padding2d::Explicit { top: 0, bottom: 0, left: 0, right: 0 } => None,
        Padding2d::Explicit { top, bottom, left, right } if top == bottom && left == right => Some(pair([top, left])),
        Padding2d::Explicit { top, bottom, left, right } => Some(format!("({top},{bottom},{left},{right})")),
    }
}

fn padding1d_text(p: &Padding1d) -> Option<String> {
    match *p {
        Padding1d::Valid => Some("valid".into()),
        Padding1d::Same => Some("same".into()),
        Padding1d::Full => Some("full".into()),
        Padding1d::Explicit { start: 0, end: 0 } => None,
        Padding1d::Explicit { start, end } => Some(pair([start, end])),
    }
}

fn call(name: &str, args: Vec<String>) -> String {
    if args.is_empty() {
        name.to_string()
    } else {
        format!("{name}({})", args.join(","))
    }
}

fn opt(args: &mut Vec<String>, cond: bool, text: impl FnOnce() -> String) {
    if cond {
        args.push(text());
    }
}

/// The canonical one-line text of a layer: positional arguments, then the named ones that
/// differ from their defaults, in the order of the table in the module docs.
pub(crate) fn canonical(layer: &LayerSpec) -> String {
    match layer {
        LayerSpec::Conv(c) => {
            let p = &c.conv;
            let mut a = vec![c.out_channels.to_string(), pair(c.kernel_size)];
            opt(&mut a, p.stride != [1, 1], || format!("stride={}", pair(p.stride)));
            if let Some(t) = padding2d_text(&p.padding) {
                a.push(format!("padding={t}"));
            }
            conv_tail(&mut a, pair(p.dilation), p.dilation != [1, 1], p.groups, c.bias, p.padding_mode, c.in_channels);
            call("conv", a)
        }
        LayerSpec::Conv1d(c) => {
            let p = &c.conv;
            let mut a = vec![c.out_channels.to_string(), c.kernel_size.to_string()];
            opt(&mut a, p.stride != 1, || format!("stride={}", p.stride));
            if let Some(t) = padding1d_text(&p.padding) {
                a.push(format!("padding={t}"));
            }
            conv_tail(&mut a, p.dilation.to_string(), p.dilation != 1, p.groups, c.bias, p.padding_mode, c.in_channels);
            call("conv1d", a)
        }
        LayerSpec::Linear { out_features, bias, in_features } => {
            let mut a = vec![out_features.to_string()];
            opt(&mut a, !bias, || "bias=false".into());
            if let Some(i) = in_features {
                a.push(format!("in={i}"));
            }
            call("linear", a)
        }
        LayerSpec::MaxPool(p) | LayerSpec::AvgPool(p) => {
            let max = matches!(layer, LayerSpec::MaxPool(_));
            let mut a = vec![pair(p.kernel_size)];
            opt(&mut a, p.stride != p.kernel_size, || format!("stride={}", pair(p.stride)));
            opt(&mut a, p.padding != [0, 0], || format!("padding={}", pair(p.padding)));
            opt(&mut a, max && p.dilation != [1, 1], || format!("dilation={}", pair(p.dilation)));
            opt(&mut a, p.ceil_mode, || "ceil_mode=true".into());
            opt(&mut a, !max && !p.count_include_pad, || "count_include_pad=false".into());
            if let (false, Some(d)) = (max, p.divisor_override) {
                a.push(format!("divisor_override={d}"));
            }
            call(if max { "maxpool" } else { "avgpool" }, a)
        }
        LayerSpec::AdaptiveAvgPool([1, 1]) => "globalavgpool".into(),
        LayerSpec::AdaptiveAvgPool([h, w]) if h == w => format!("adaptiveavgpool({h})"),
        LayerSpec::AdaptiveAvgPool([h, w]) => format!("adaptiveavgpool({h},{w})"),
        LayerSpec::BatchNorm(b) => {
            let d = BatchNormSpec::default();
            let mut a = Vec::new();
            opt(&mut a, b.eps != d.eps, || format!("eps={}", b.eps));
            if b.momentum != d.momentum {
                a.push(format!("momentum={}", b.momentum.map(|m| m.to_string()).unwrap_or_else(|| "none".into())));
            }
            opt(&mut a, !b.affine, || "affine=false".into());
            opt(&mut a, !b.track_running_stats, || "track_running_stats=false".into());
            call("batchnorm", a)
        }
        LayerSpec::Dropout(p) if *p == 0.5 => "dropout".into(),
        LayerSpec::Dropout(p) => format!("dropout({p})"),
        LayerSpec::Flatten => "flatten".into(),
        LayerSpec::Softmax { dim: 1 } => "softmax".into(),
        LayerSpec::Softmax { dim } => format!("softmax({dim})"),
        LayerSpec::Act(act) => match *act {
            Activation::LeakyRelu { negative_slope } if negative_slope != 0.01 => {
                format!("leakyrelu({negative_slope})")
            }
            Activation::LeakyRelu { .. } => "leakyrelu".into(),
            Activation::Elu { alpha } if alpha != 1.0 => format!("elu({alpha})"),
            Activation::Softplus { beta, threshold } if threshold != 20.0 => format!("softplus({beta},{threshold})"),
            Activation::Softplus { beta, .. } if beta != 1.0 => format!("softplus({beta})"),
            Activation::Gelu { approximate: Gelu::Tanh } => "gelu(approximate=tanh)".into(),
            Activation::Hardsigmoid { alpha, beta } if (alpha, beta) != (HARDSIGMOID_ALPHA, HARDSIGMOID_BETA) => {
                format!("hardsigmoid({alpha},{beta})")
            }
            other => other.name().replace('_', ""),
        },
    }
}

fn conv_tail(
    a: &mut Vec<String>,
    dilation: String,
    dilated: bool,
    groups: usize,
    bias: bool,
    mode: PaddingMode,
    cin: Option<usize>,
) {
    opt(a, dilated, || format!("dilation={dilation}"));
    opt(a, groups != 1, || format!("groups={groups}"));
    opt(a, !bias, || "bias=false".into());
    opt(a, mode != PaddingMode::Zeros, || format!("padding_mode={}", mode.name()));
    if let Some(c) = cin {
        a.push(format!("in={c}"));
    }
}
