//! A network's classifier, found and replaced for another number of classes: what
//! fine-tuning a pretrained network starts with (torchvision users write
//! `model.fc = nn.Linear(model.fc.in_features, 5)`).
//!
//! The classifier is the network's last layer with parameters (its children in order, as
//! [`Module::children`] lists them, which is their order in the forward pass): a [`Linear`],
//! or a 1×1 [`Conv2d`] without groups for networks that classify with one (SqueezeNet,
//! All-CNN-C). Anything else there (a batch norm, a 3×3 convolution) means the network has
//! no classifier this can replace, and that is an error naming the layer.
//!
//! [`replace_classifier`] swaps it in place for a layer of the same kind and settings with
//! `classes` outputs and PyTorch's default initialization drawn from a seed, so the
//! parameter names stay the `state_dict` names (`fc.weight`, `classifier.6.bias`). In an
//! imported graph the layer node's op is replaced and the graph's shapes are inferred again
//! ([`Module::validate`]); a Reshape after it to a fixed class count (how exporters write
//! `view(-1, 1000)`) is given the new count, and any other node that cannot take the new
//! width is an error naming it, the network left as it was.
//!
//! ```
//! use convlab::models::{build, ModelConfig};
//! use convlab::nn::{find_classifier, replace_classifier, Mode, Module};
//! use convlab::Tensor;
//!
//! let mut net = build("resnet18_cifar", &ModelConfig { in_channels: 3, num_classes: 10 }, 0).unwrap();
//! assert_eq!(find_classifier(&*net).unwrap().path, "fc");
//! let r = replace_classifier(&mut *net, 5, 1).unwrap();
//! assert_eq!(r.to_string(), "replaced classifier 'fc' (512→10) with 512→5");
//! assert_eq!(net.state_dict()["fc.weight"].dims(), &[5, 512]);
//! assert_eq!(net.run(&Tensor::zeros([2, 3, 32, 32]), Mode::Eval).dims(), &[2, 5]);
//! ```

use std::any::Any;

use super::{Conv2d, Conv2dConfig, Linear, Module, ParamRng, TensorKind};
use crate::graph::GraphModule;
use crate::Error;

/// A network's classifier layer: where it is and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classifier {
    /// The `state_dict` prefix of its parameters (`"fc"`, `"classifier.6"`).
    pub path: String,
    /// `"Linear"` or `"Conv2d"` (1×1).
    pub kind: &'static str,
    /// Input features (a convolution's input channels).
    pub in_features: usize,
    /// Outputs: the classes it scores.
    pub classes: usize,
    /// The child names from the network down to it (a graph's node names may hold dots, so
    /// `path` alone does not say where one name ends).
    names: Vec<String>,
}

impl Classifier {
    /// Whether the parameter `name` (a `state_dict` key) belongs to this layer.
    pub fn owns(&self, name: &str) -> bool {
        name.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.starts_with('.'))
    }
}

/// What [`replace_classifier`] did: the layer, and its outputs before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    pub classifier: Classifier,
    /// Outputs of the layer that was replaced.
    pub old_classes: usize,
}

impl std::fmt::Display for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.classifier;
        write!(
            f,
            "replaced classifier '{}' ({}→{}) with {}→{}",
            c.path, c.in_features, self.old_classes, c.in_features, c.classes
        )
    }
}

/// The last layer of `model` that has parameters, if it is a classifier (see the module
/// documentation); an error names the network and, when there is one, that layer.
pub fn find_classifier(model: &dyn Module) -> Result<Classifier, Error> {
    let mut names = Vec::new();
    let Some((names, layer)) = last_with_parameters(model, &mut names) else {
        return Err(Error::Invalid(format!("no classifier to replace: {} has no layer with parameters", model.kind())));
    };
    let path = names.join(".");
    let any: &dyn Any = layer;
    if let Some(l) = any.downcast_ref::<Linear>() {
        return Ok(Classifier { path, kind: "Linear", in_features: l.in_features, classes: l.out_features, names });
    }
    if let Some(c) = any.downcast_ref::<Conv2d>().filter(|c| is_pointwise(&c.config)) {
        let cfg = &c.config;
        return Ok(Classifier { path, kind: "Conv2d", in_features: cfg.in_channels, classes: cfg.out_channels, names });
    }
    Err(Error::Invalid(format!(
        "no classifier to replace in {}: its last layer with parameters, '{path}', is a {} ({}), not a Linear or a 1×1 Conv2d",
        model.kind(),
        layer.kind(),
        layer.describe()
    )))
}

/// A 1×1 convolution without groups, stride, padding or dilation: a per-pixel classifier.
fn is_pointwise(c: &Conv2dConfig) -> bool {
    let p = &c.conv;
    c.kernel_size == [1, 1]
        && p.groups == 1
        && p.stride == [1, 1]
        && p.dilation == [1, 1]
        && p.padding.resolve([1, 1], [1, 1], [1, 1]) == [0; 4]
}

/// The last leaf below `m` (depth first, in child order) that owns parameters, with the
/// child names leading to it.
fn last_with_parameters<'a>(m: &'a dyn Module, names: &mut Vec<String>) -> Option<(Vec<String>, &'a dyn Module)> {
    let mut found = None;
    if m.local_tensors().iter().any(|(_, _, k)| *k == TensorKind::Parameter) {
        found = Some((names.clone(), m));
    }
    for (name, child) in m.children() {
        names.push(name);
        if let Some(f) = last_with_parameters(child, names) {
            found = Some(f);
        }
        names.pop();
    }
    found
}

/// The module reached from `m` by the child names `names` (through
/// [`Module::children_mut`]).
fn descend<'a>(m: &'a mut dyn Module, names: &[String]) -> Option<&'a mut dyn Module> {
    let Some((first, rest)) = names.split_first() else { return Some(m) };
    let child = m.children_mut().into_iter().find(|(n, _)| n == first)?.1;
    descend(child, rest)
}

/// A classifier layer taken out of a network.
enum Taken {
    Linear(Linear),
    Conv2d(Conv2d),
}

/// Puts a fresh layer like the one in `slot` (a [`Linear`] or [`Conv2d`]) with `classes`
/// outputs and PyTorch's default initialization from `rng` in its place; returns the old one.
fn swap_in(slot: &mut dyn Module, classes: usize, rng: &mut ParamRng) -> Option<Taken> {
    let any: &mut dyn Any = slot;
    if let Some(l) = any.downcast_mut::<Linear>() {
        let fresh = Linear::new(l.in_features, classes, l.bias.is_some(), rng);
        return Some(Taken::Linear(std::mem::replace(l, fresh)));
    }
    let c = any.downcast_mut::<Conv2d>()?;
    let fresh = Conv2d::new(Conv2dConfig { out_channels: classes, ..c.config.clone() }, rng);
    Some(Taken::Conv2d(std::mem::replace(c, fresh)))
}

/// Puts a layer that [`swap_in`] took out back in its place.
fn restore(slot: &mut dyn Module, old: Taken) {
    let any: &mut dyn Any = slot;
    match old {
        Taken::Linear(old) => {
            if let Some(l) = any.downcast_mut::<Linear>() {
                *l = old;
            }
        }
        Taken::Conv2d(old) => {
            if let Some(c) = any.downcast_mut::<Conv2d>() {
                *c = old;
            }
        }
    }
}

/// For a graph whose classifier node is followed by a Reshape to a fixed class count (as
/// exporters write `view(-1, 1000)`): that size becomes `classes`, if the graph then fits
/// (`Some`); else the graph is left as it was (`None`).
fn resize_reshapes(model: &mut dyn Module, found: &Classifier, classes: usize) -> Option<()> {
    let any: &mut dyn Any = model;
    let graph = any.downcast_mut::<GraphModule>()?;
    let [node] = &found.names[..] else { return None };
    let changed = graph.resize_reshapes_after(node, found.classes, classes);
    if changed.is_empty() {
        return None;
    }
    if graph.validate().is_ok() {
        return Some(());
    }
    graph.restore_reshapes(changed);
    None
}

/// Replaces the classifier of `model` ([`find_classifier`]) with a freshly initialized layer
/// of the same kind and settings with `classes` outputs (weights from `seed`, PyTorch's
/// default initialization: `kaiming_uniform_(a=√5)` and a bias `U(±1/√fan_in)`), in place.
/// Errors: no classifier, a container on the way that does not hand out its children
/// ([`Module::children_mut`]), `classes` 0, or a network that does not fit together with the
/// new layer ([`Module::validate`]; the network is then unchanged).
pub fn replace_classifier(model: &mut dyn Module, classes: usize, seed: u64) -> Result<Replacement, Error> {
    let found = find_classifier(model)?;
    if classes == 0 {
        return Err(Error::Invalid(format!("classifier '{}': the number of classes must be at least 1", found.path)));
    }
    let kind = model.kind();
    let unreachable = || {
        Error::Invalid(format!(
            "classifier '{}' of {kind} cannot be replaced: a module on the way does not give access to its children",
            found.path
        ))
    };
    let mut rng = ParamRng::new(seed);
    let slot = descend(model, &found.names).ok_or_else(unreachable)?;
    let old = swap_in(slot, classes, &mut rng).ok_or_else(unreachable)?;
    if let Err(e) = model.validate().or_else(|e| resize_reshapes(model, &found, classes).ok_or(e)) {
        if let Some(slot) = descend(model, &found.names) {
            restore(slot, old);
        }
        return Err(Error::Shape(format!("classifier '{}' with {classes} outputs does not fit: {e}", found.path)));
    }
    let old_classes = found.classes;
    Ok(Replacement { classifier: Classifier { classes, ..found }, old_classes })
}
