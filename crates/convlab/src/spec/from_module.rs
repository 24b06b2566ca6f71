//! Printing a module as a spec: each layer of a positional `Sequential` is matched to its
//! concrete type and turned back into a [`LayerSpec`].

use std::any::Any;

use super::{BatchNormSpec, Conv1dSpec, ConvSpec, LayerSpec, Spec};
use crate::nn::{
    Act, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm, Conv1d, Conv2d, Dropout, Flatten, Identity, Linear,
    MaxPool1d, MaxPool2d, Module, Sequential, Softmax,
};
use crate::ops::pool::{Pool1dParams, Pool2dParams};
use crate::{Activation, Error};

fn pool_2d(p: &Pool1dParams) -> Pool2dParams {
    Pool2dParams {
        kernel_size: [p.kernel_size; 2],
        stride: [p.stride; 2],
        padding: [p.padding; 2],
        dilation: [p.dilation; 2],
        ceil_mode: p.ceil_mode,
        count_include_pad: p.count_include_pad,
        divisor_override: p.divisor_override,
    }
}

/// Max pooling ignores the average-only settings: keep them at their defaults.
fn max_pool(mut p: Pool2dParams) -> LayerSpec {
    p.count_include_pad = true;
    p.divisor_override = None;
    LayerSpec::MaxPool(p)
}

/// The spec of one leaf layer, or `None` when a spec cannot express it.
fn layer(m: &dyn Module) -> Option<LayerSpec> {
    let any: &dyn Any = m;
    if let Some(c) = any.downcast_ref::<Conv2d>() {
        let cfg = &c.config;
        return Some(LayerSpec::Conv(ConvSpec {
            out_channels: cfg.out_channels,
            kernel_size: cfg.kernel_size,
            conv: cfg.conv,
            bias: cfg.bias,
            in_channels: None,
        }));
    }
    if let Some(c) = any.downcast_ref::<Conv1d>() {
        let cfg = &c.config;
        return Some(LayerSpec::Conv1d(Conv1dSpec {
            out_channels: cfg.out_channels,
            kernel_size: cfg.kernel_size,
            conv: cfg.conv,
            bias: cfg.bias,
            in_channels: None,
        }));
    }
    if let Some(l) = any.downcast_ref::<Linear>() {
        return Some(LayerSpec::Linear { out_features: l.out_features, bias: l.bias.is_some(), in_features: None });
    }
    if let Some(p) = any.downcast_ref::<MaxPool2d>() {
        return Some(max_pool(p.0.clone()));
    }
    if let Some(p) = any.downcast_ref::<MaxPool1d>() {
        return Some(max_pool(pool_2d(&p.0)));
    }
    if let Some(p) = any.downcast_ref::<AvgPool2d>() {
        return (p.0.dilation == [1, 1]).then(|| LayerSpec::AvgPool(p.0.clone()));
    }
    if let Some(p) = any.downcast_ref::<AvgPool1d>() {
        return (p.0.dilation == 1).then(|| LayerSpec::AvgPool(pool_2d(&p.0)));
    }
    if let Some(p) = any.downcast_ref::<AdaptiveAvgPool2d>() {
        return Some(LayerSpec::AdaptiveAvgPool(p.output_size));
    }
    if let Some(b) = any.downcast_ref::<BatchNorm>() {
        return Some(LayerSpec::BatchNorm(BatchNormSpec {
            eps: b.params.eps,
            momentum: b.params.momentum,
            affine: b.weight.is_some(),
            track_running_stats: b.running.is_some(),
        }));
    }
    if let Some(d) = any.downcast_ref::<Dropout>() {
        return Some(LayerSpec::Dropout(d.p));
    }
    if let Some(f) = any.downcast_ref::<Flatten>() {
        return (f.start_dim == 1 && f.end_dim == -1).then_some(LayerSpec::Flatten);
    }
    if let Some(a) = any.downcast_ref::<Act>() {
        return Some(LayerSpec::Act(a.0));
    }
    if any.downcast_ref::<Identity>().is_some() {
        return Some(LayerSpec::Act(Activation::Identity));
    }
    if let Some(s) = any.downcast_ref::<Softmax>() {
        return Some(LayerSpec::Softmax { dim: s.dim });
    }
    None
}

pub(crate) fn from_module(module: &dyn Module) -> Result<Spec, Error> {
    let any: &dyn Any = module;
    let Some(seq) = any.downcast_ref::<Sequential>() else {
        return match layer(module) {
            Some(l) => Ok(Spec::new(vec![l])),
            None => Err(Error::Invalid(format!(
                "a {} is not a chain of layers a spec can express (conv, pool, linear, ...)",
                module.kind()
            ))),
        };
    };
    let mut layers = Vec::new();
    for (i, (name, m)) in seq.layers().enumerate() {
        let what =
            || if m.describe().is_empty() { m.kind().to_string() } else { format!("{}({})", m.kind(), m.describe()) };
        if name != i.to_string() {
            return Err(Error::Invalid(format!(
                "layer {i} '{name}' ({}): a spec names layers by position, so it cannot keep this name",
                what()
            )));
        }
        match layer(m) {
            Some(l) => layers.push(l),
            None => return Err(Error::Invalid(format!("layer {i} ({}) cannot be written as a spec layer", what()))),
        }
    }
    if layers.is_empty() {
        return Err(Error::Invalid("an empty Sequential has no spec".into()));
    }
    Ok(Spec::new(layers))
}

/// Every module under its path (the top module is `""`).
fn modules<'a>(m: &'a dyn Module, path: String, out: &mut std::collections::HashMap<String, &'a dyn Module>) {
    for (name, child) in m.children() {
        let p = if path.is_empty() { name } else { format!("{path}.{name}") };
        modules(child, p, out);
    }
    out.insert(path, m);
}

/// The spec of any module whose forward pass is a plain chain of spec-able leaf layers
/// (each reads the previous one's output), found by running it once on `input`.
pub(crate) fn from_trace(module: &dyn Module, input: &[usize]) -> Result<Spec, Error> {
    use crate::nn::{Forward, Mode};
    let mut shape = vec![1];
    shape.extend_from_slice(input);
    module.output_shape(&shape).map_err(|e| {
        Error::Shape(format!("{} does not run on input {}: {e}", module.kind(), crate::Shape::from(&shape[..])))
    })?;
    let x = crate::Tensor::randn(shape.clone(), 0);
    let (y, recorded) = crate::no_grad(|| {
        let mut ctx = Forward::recording(Mode::Eval, 0);
        let y = module.forward(&x, &mut ctx);
        (y, ctx.take_recorded())
    });
    crate::nn::check_forward(module, &shape, y.dims())?;
    let mut by_path = std::collections::HashMap::new();
    modules(module, String::new(), &mut by_path);
    let (mut layers, mut last) = (Vec::new(), x.id());
    for rec in &recorded {
        if !rec.leaf {
            continue;
        }
        let Some(&m) = by_path.get(&rec.path) else {
            return Err(Error::Invalid(format!(
                "layer '{}' ({}) is not listed among the children of {}, so its settings cannot be read",
                rec.path,
                rec.kind,
                module.kind()
            )));
        };
        let what =
            || if m.describe().is_empty() { m.kind().to_string() } else { format!("{}({})", m.kind(), m.describe()) };
        if rec.input_id != last {
            return Err(Error::Invalid(format!(
                "layer '{}' ({}) does not read the previous layer's output (branches or computation outside layers), so {} is not a chain a spec can express",
                rec.path, what(), module.kind()
            )));
        }
        match layer(m) {
            Some(l) => layers.push(l),
            None => {
                return Err(Error::Invalid(format!(
                    "layer '{}' ({}) cannot be written as a spec layer",
                    rec.path,
                    what()
                )))
            }
        }
        last = rec.output.id();
    }
    if layers.is_empty() || y.id() != last {
        return Err(Error::Invalid(format!(
            "the output of {} is not the output of its last layer, so it is not a chain a spec can express",
            module.kind()
        )));
    }
    Ok(Spec { layers, input: Some(input.to_vec()) })
}
