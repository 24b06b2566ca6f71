//! The `Module` trait: a layer or a network, its named parameters and buffers, and the forward
//! context that carries the mode (train/eval), the dropout seed and an optional recorder of
//! intermediate outputs.

use std::any::Any;
use std::collections::BTreeMap;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::window::Window2d;
use crate::{Error, Tensor, TensorId};

/// Training or evaluation behaviour (dropout, batch statistics). Passed explicitly to every
/// forward pass; there is no global mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

impl Mode {
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }
}

/// A parameter (learned, receives gradients) or a buffer (state such as running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    Parameter,
    Buffer,
}

/// One recorded intermediate output: the module's path (`"features.0"`), its type
/// (`"Conv2d"`) and its output.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub kind: &'static str,
    pub input_shape: Vec<usize>,
    /// The input itself (a cheap handle), for views that recompute a layer's arithmetic.
    pub input: Tensor,
    /// The identity of the input tensor, so a reader can tell which earlier output fed this
    /// module (the summary follows it to compute receptive fields through residual blocks).
    pub input_id: TensorId,
    pub output: Tensor,
    /// The module has no children (a layer, not a container).
    pub leaf: bool,
    /// The module's window geometry for this input ([`Module::geometry`]), kept here because
    /// a module run but not listed among its parent's children cannot be looked up later.
    pub geometry: Option<Window2d>,
}

/// The state of one forward pass: mode, a seeded source for dropout masks, the current module
/// path, and (on request) the outputs of every module visited.
pub struct Forward {
    pub mode: Mode,
    /// Guided backpropagation (Springenberg et al.): ReLU layers pass back only positive
    /// gradients where their input was positive. Off by default; only explanations set it.
    pub guided_backprop: bool,
    rng: ChaCha8Rng,
    path: Vec<String>,
    recorded: Option<Vec<Recorded>>,
}

impl Forward {
    /// A pass in `mode` whose dropout masks are drawn from `seed`.
    pub fn new(mode: Mode, seed: u64) -> Forward {
        Forward { mode, guided_backprop: false, rng: ChaCha8Rng::seed_from_u64(seed), path: Vec::new(), recorded: None }
    }

    pub fn train(seed: u64) -> Forward {
        Forward::new(Mode::Train, seed)
    }

    pub fn eval() -> Forward {
        Forward::new(Mode::Eval, 0)
    }

    /// Like [`Forward::new`], also recording every module's output.
    pub fn recording(mode: Mode, seed: u64) -> Forward {
        Forward { recorded: Some(Vec::new()), ..Forward::new(mode, seed) }
    }

    pub fn is_train(&self) -> bool {
        self.mode.is_train()
    }

    /// A fresh seed (for a dropout mask).
    pub fn next_seed(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The dotted path of the module running now (`""` at the top).
    pub fn path(&self) -> String {
        self.path.join(".")
    }

    /// Runs a child module under the local name `name`, recording its output when asked.
    /// Containers call this instead of `child.forward` so that paths match parameter names.
    pub fn child(&mut self, name: &str, module: &dyn Module, x: &Tensor) -> Tensor {
        self.path.push(name.to_string());
        let y = module.forward(x, self);
        if let Some(rec) = self.recorded.as_mut() {
            rec.push(Recorded {
                path: self.path.join("."),
                kind: module.kind(),
                input_shape: x.dims().to_vec(),
                input: x.clone(),
                input_id: x.id(),
                output: y.clone(),
                leaf: module.children().is_empty(),
                geometry: module.geometry(x.dims()),
            });
        }
        self.path.pop();
        y
    }

    /// Records a computation that is not a module (an addition or a reshape between the layers
    /// of a graph) under the local name `name`, as a leaf that read `input` (its first input).
    pub fn record_op(&mut self, name: &str, kind: &'static str, input: &Tensor, output: &Tensor) {
        if let Some(rec) = self.recorded.as_mut() {
            self.path.push(name.to_string());
            rec.push(Recorded {
                path: self.path.join("."),
                kind,
                input_shape: input.dims().to_vec(),
                input: input.clone(),
                input_id: input.id(),
                output: output.clone(),
                leaf: true,
                geometry: None,
            });
            self.path.pop();
        }
    }

    /// The recorded outputs, in the order the modules finished.
    pub fn take_recorded(&mut self) -> Vec<Recorded> {
        self.recorded.take().unwrap_or_default()
    }
}

/// The output shape of `modules` applied one after the other to an input of shape `input`
/// (named in errors by their names).
pub fn chain_shape<'a>(
    modules: impl IntoIterator<Item = (String, &'a dyn Module)>,
    input: &[usize],
) -> Result<Vec<usize>, Error> {
    let mut shape = input.to_vec();
    for (name, m) in modules {
        shape = m.output_shape(&shape).map_err(|e| e.in_layer(&name, m.kind()))?;
    }
    Ok(shape)
}

/// Checks that a forward pass of `module` on an input of shape `input` gave the shape
/// [`Module::output_shape`] predicts: a container that overrides neither (its data flow is
/// not a chain of its children) is caught here, after the pass, instead of being trusted.
pub fn check_forward(module: &dyn Module, input: &[usize], output: &[usize]) -> Result<(), Error> {
    let predicted = module.output_shape(input)?;
    match predicted == output {
        true => Ok(()),
        false => Err(Error::Shape(format!(
            "{} on input {}: its forward pass gave {} but its output_shape predicts {} (a container whose children do not run one after the other must override Module::output_shape)",
            module.kind(),
            crate::Shape::from(input),
            crate::Shape::from(output),
            crate::Shape::from(&predicted[..])
        ))),
    }
}

/// The output shape of `module` run as the child `name` of a container (the error names it).
pub fn child_shape(name: &str, module: &dyn Module, input: &[usize]) -> Result<Vec<usize>, Error> {
    module.output_shape(input).map_err(|e| e.in_layer(name, module.kind()))
}

/// A layer or a network. Implementors provide `kind`, `forward` and, where they have them,
/// their own tensors and children; naming, loading and counting come from the provided
/// methods.
///
/// `Any` is a supertrait so a `&dyn Module` can be inspected as its concrete layer type
/// (`(m as &dyn Any).downcast_ref::<Conv2d>()`), as the model spec printer does.
pub trait Module: Any + Send + Sync {
    /// The PyTorch class name ("Conv2d", "BatchNorm2d", "Sequential").
    fn kind(&self) -> &'static str;

    /// The computation. Containers run their children through [`Forward::child`].
    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor;

    /// This module's own parameters and buffers with their local names ("weight").
    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        Vec::new()
    }

    /// Direct children with their local names ("0", "conv1", "layer1").
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// Mutable access to the direct children that this module owns alone, under the names
    /// [`Module::children`] gives them (a child shared under several names, such as one
    /// ReLU run at several places, is left out). What replaces a layer in place uses it
    /// ([`crate::nn::replace_classifier`]); the default (no children) suits a leaf, and a
    /// container that does not override it keeps its children fixed.
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        Vec::new()
    }

    /// Checks that the module still fits together after a child was changed through
    /// [`Module::children_mut`]. The default accepts: a chain of layers is checked by
    /// [`Module::output_shape`] when it is used; a graph re-infers the shapes of its values for
    /// its own input shape, so a node after the changed layer that cannot take its new
    /// output is named.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    /// The settings as one line, like PyTorch's `extra_repr` ("1, 6, kernel_size=(5, 5)").
    fn describe(&self) -> String {
        String::new()
    }

    /// The sliding window of a convolution or pooling layer for an input of shape `input`
    /// (batched or not): what a receptive-field computation needs. `None` for every other
    /// module (the default), and for an input the layer cannot take.
    fn geometry(&self, input: &[usize]) -> Option<Window2d> {
        let _ = input;
        None
    }

    /// The shape `forward` gives for an input of shape `input`, checked without computing
    /// anything; an error names the layer (its path below this module, see
    /// [`Error::in_layer`]) and the shapes. Run this before `forward` on shapes that come
    /// from a user: `forward` itself panics on shapes it cannot take.
    ///
    /// The default fits a container whose forward runs its [`Module::children`] one after
    /// the other (and a leaf that keeps the shape, such as an activation). Layers that change
    /// the shape and containers with other data flow (a residual sum, a concatenation)
    /// override it; [`check_forward`] catches one that does not.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        chain_shape(self.children(), input)
    }

    /// Runs the module on `x` in `mode` (dropout seeded with 0; use [`Forward`] for control).
    fn run(&self, x: &Tensor, mode: Mode) -> Tensor {
        self.forward(x, &mut Forward::new(mode, 0))
    }

    /// Every parameter and buffer under its full PyTorch `state_dict` name, in registration
    /// order (children after the module's own tensors, as torch orders them).
    fn named_tensors(&self) -> Vec<(String, Tensor, TensorKind)> {
        let mut out = Vec::new();
        collect(self, "", &mut out);
        out
    }

    /// Parameters (what an optimizer updates) with their names.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.named_tensors()
            .into_iter()
            .filter(|(_, _, k)| *k == TensorKind::Parameter)
            .map(|(n, t, _)| (n, t))
            .collect()
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Number of learned values.
    fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Parameters and buffers by name (PyTorch's `state_dict`).
    fn state_dict(&self) -> BTreeMap<String, Tensor> {
        self.named_tensors().into_iter().map(|(n, t, _)| (n, t)).collect()
    }

    /// Copies values into this module's tensors by name. Strict: every key must be present,
    /// known and of the right shape; the error lists missing, unexpected and mis-shaped keys.
    /// Nothing is changed unless everything fits.
    fn load_state_dict(&self, state: &BTreeMap<String, Tensor>) -> Result<(), Error> {
        let own = self.named_tensors();
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        for (name, t, _) in &own {
            match state.get(name) {
                None => missing.push(name.clone()),
                Some(v) if v.numel() != t.numel() || (v.dims() != t.dims() && t.numel() != 1) => {
                    mismatched.push(format!("{name}: checkpoint {} vs model {}", v.shape(), t.shape()))
                }
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> = own.iter().map(|(n, _, _)| n.as_str()).collect();
        let unexpected: Vec<&String> = state.keys().filter(|k| !known.contains(k.as_str())).collect();
        if !missing.is_empty() || !unexpected.is_empty() || !mismatched.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing keys: {}", missing.join(", ")));
            }
            if !unexpected.is_empty() {
                parts.push(format!(
                    "unexpected keys: {}",
                    unexpected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            if !mismatched.is_empty() {
                parts.push(format!("wrong shapes: {}", mismatched.join("; ")));
            }
            return Err(Error::Invalid(format!("state dict does not fit {}: {}", self.kind(), parts.join("; "))));
        }
        for (name, t, _) in own {
            t.set_data(state[&name].to_vec());
        }
        Ok(())
    }
}

fn collect<M: Module + ?Sized>(m: &M, prefix: &str, out: &mut Vec<(String, Tensor, TensorKind)>) {
    for (name, t, kind) in m.local_tensors() {
        out.push((join(prefix, name), t, kind));
    }
    for (name, child) in m.children() {
        collect(child, &join(prefix, &name), out);
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The `weight` and optional `bias` parameters of a layer, for [`Module::local_tensors`].
pub fn weight_and_bias(weight: &Tensor, bias: Option<&Tensor>) -> Vec<(&'static str, Tensor, TensorKind)> {
    let mut v = vec![("weight", weight.clone(), TensorKind::Parameter)];
    if let Some(b) = bias {
        v.push(("bias", b.clone(), TensorKind::Parameter));
    }
    v
}
