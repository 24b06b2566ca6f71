//! Module → [`Graph`]: run the model once on a dummy input with the recorder, and read the
//! graph off what ran.
//!
//! Every leaf module that ran becomes a layer node sharing the module's weights (named by its
//! `state_dict` path, so exported weights keep PyTorch's names); one that hands its input on
//! unchanged (dropout in evaluation) adds nothing. What a container computes
//! between its children (a residual sum, a concatenation, a reshape) is read from the tensors'
//! autograd records: the op and its inputs; it is named after the innermost container it was
//! computed in (`layer1.0.add`). A module or op that a graph cannot hold is an error naming it.
//!
//! A [`GraphModule`] (an imported ONNX model) is already a graph: its trace is a copy of it,
//! with the same node and value names, sharing its weights.

use std::collections::HashMap;

use super::{Graph, GraphModule, Op, ValueId};
use crate::nn::{
    Act, AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv1d, Conv2d, ConvTranspose2d, Dropout, Flatten, Forward, Identity,
    Linear, MaxPool2d, Mode, Module, Recorded, Softmax,
};
use crate::{Error, Shape, Tensor, TensorId};

/// The graph of `model` for inputs of shape `input` (batch included).
///
/// ```
/// use convlab::graph::{trace, GraphModule};
/// use convlab::nn::{Mode, Module};
/// use convlab::Tensor;
/// let config = convlab::models::ModelConfig::for_model("resnet18_cifar").unwrap();
/// let net = convlab::models::build("resnet18_cifar", &config, 0).unwrap();
/// let g = trace(net.as_ref(), &[1, 3, 32, 32]).unwrap();
/// assert!(g.nodes.iter().any(|n| n.name == "layer1.0.conv1"));
/// let x = Tensor::randn([2, 3, 32, 32], 1);
/// let (a, b) = (net.run(&x, Mode::Eval), GraphModule::new(g).unwrap().run(&x, Mode::Eval));
/// assert!(a.allclose(&b, 1e-5, 1e-5));
/// ```
pub fn trace(model: &dyn Module, input: &[usize]) -> Result<Graph, Error> {
    model
        .output_shape(input)
        .map_err(|e| Error::Shape(format!("{} on input {}: {e}", model.kind(), Shape::from(input))))?;
    let any: &dyn std::any::Any = model;
    if let Some(gm) = any.downcast_ref::<GraphModule>() {
        return copy(gm.graph(), input);
    }
    let x = Tensor::zeros(input.to_vec()).requires_grad_();
    let mut ctx = Forward::recording(Mode::Eval, 0);
    let y = model.forward(&x, &mut ctx);
    crate::nn::check_forward(model, input, y.dims())?;
    let recorded = ctx.take_recorded();
    let mut by_path = HashMap::new();
    modules(model, String::new(), &mut by_path);
    let mut t = Tracer {
        graph: Graph::new(model.kind(), input.to_vec()),
        values: HashMap::from([(x.id(), ValueId(0))]),
        leaves: HashMap::new(),
        readers: HashMap::new(),
        owners: HashMap::new(),
        names: HashMap::new(),
    };
    // A leaf that hands its input on unchanged (dropout and identity in evaluation) adds no
    // node: its output is the same tensor.
    for r in recorded.iter().filter(|r| r.leaf && r.input_id != r.output.id()) {
        let m = by_path.get(r.path.as_str()).copied();
        t.leaves.insert(r.output.id(), (r, m));
        t.readers.entry(r.input_id).or_insert_with(|| r.path.clone());
    }
    t.owners = t.owners(&recorded);
    // A single leaf run as the model itself is recorded under the empty path.
    if t.leaves.is_empty() && model.children().is_empty() {
        let op = layer_op(model, "")?;
        let out = t.graph.push(model.kind(), op, &[ValueId(0)])?[0];
        t.graph.set_outputs(vec![out]);
        return Ok(t.graph);
    }
    let out = t.value(&y)?;
    t.graph.set_outputs(vec![out]);
    Ok(t.graph)
}

/// `g` for inputs of shape `input`: the same nodes and value names, layers sharing their
/// weights.
fn copy(g: &Graph, input: &[usize]) -> Result<Graph, Error> {
    let mut out = Graph::new(&g.name, input.to_vec());
    // Values are renumbered: a rewritten graph (an inference plan) may have dropped some.
    let mut id = std::collections::HashMap::from([(g.input(), out.input())]);
    let lookup = |id: &std::collections::HashMap<ValueId, ValueId>, v: &ValueId| {
        id.get(v)
            .copied()
            .ok_or_else(|| Error::Invalid(format!("graph '{}' reads value {} before it is made", g.name, v.0)))
    };
    for n in &g.nodes {
        let names: Vec<&str> = n.outputs.iter().map(|&v| g.value_name(v)).collect();
        let inputs: Vec<ValueId> = n.inputs.iter().map(|v| lookup(&id, v)).collect::<Result<_, _>>()?;
        let outputs = out.push_named(&n.name, copy_op(&n.op, &n.name)?, &inputs, &names)?;
        id.extend(n.outputs.iter().copied().zip(outputs));
    }
    let outputs = g.outputs.iter().map(|v| lookup(&id, v)).collect::<Result<_, _>>()?;
    out.set_outputs(outputs);
    Ok(out)
}

/// A copy of `op` (a layer shares its weights).
fn copy_op(op: &Op, name: &str) -> Result<Op, Error> {
    if let Some(m) = op.layer() {
        return layer_op(m, name);
    }
    Ok(match op {
        Op::GlobalMaxPool => Op::GlobalMaxPool,
        Op::LogSoftmax { axis } => Op::LogSoftmax { axis: *axis },
        Op::Clip { min, max } => Op::Clip { min: *min, max: *max },
        Op::Erf => Op::Erf,
        Op::Add => Op::Add,
        Op::Sub => Op::Sub,
        Op::Mul => Op::Mul,
        Op::Div => Op::Div,
        Op::Compare(c) => Op::Compare(*c),
        Op::Where => Op::Where,
        Op::MatMul => Op::MatMul,
        Op::Concat { axis } => Op::Concat { axis: *axis },
        Op::Split { axis, sizes } => Op::Split { axis: *axis, sizes: sizes.clone() },
        Op::Slice(s) => Op::Slice(s.clone()),
        Op::Reshape { shape } => Op::Reshape { shape: shape.clone() },
        Op::Transpose { perm } => Op::Transpose { perm: perm.clone() },
        Op::Pad(p) => Op::Pad(p.clone()),
        Op::GatherNd { indices, index_shape } => {
            Op::GatherNd { indices: indices.clone(), index_shape: index_shape.clone() }
        }
        Op::ReduceMean { axes, keepdims } => Op::ReduceMean { axes: axes.clone(), keepdims: *keepdims },
        Op::Identity => Op::Identity,
        Op::Constant(t) => Op::Constant(t.clone()),
        other => return Err(Error::Invalid(format!("node '{name}' ({}) cannot be copied", other.kind()))),
    })
}

/// Every module under its path (the top module is `""`).
fn modules<'a>(m: &'a dyn Module, path: String, out: &mut HashMap<String, &'a dyn Module>) {
    for (name, child) in m.children() {
        let p = if path.is_empty() { name } else { format!("{path}.{name}") };
        modules(child, p, out);
    }
    out.insert(path, m);
}

struct Tracer<'a> {
    graph: Graph,
    /// Tensors already in the graph.
    values: HashMap<TensorId, ValueId>,
    /// The leaf modules that ran, by the identity of their output.
    leaves: HashMap<TensorId, (&'a Recorded, Option<&'a dyn Module>)>,
    /// For a tensor a leaf read, that leaf's path (to name the graph op that made it).
    readers: HashMap<TensorId, String>,
    /// The innermost container each computed tensor was made in ([`Tracer::owners`]).
    owners: HashMap<TensorId, String>,
    /// How many nodes took each name so far.
    names: HashMap<String, usize>,
}

impl Tracer<'_> {
    /// `base`, or `base_2`, `base_3`, ... when it is taken (a module that ran twice).
    fn name(&mut self, base: &str) -> String {
        let n = self.names.entry(base.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        }
    }

    /// The graph value of `t`, adding the nodes that make it (inputs first).
    fn value(&mut self, t: &Tensor) -> Result<ValueId, Error> {
        // Depth-first without recursion: a deep network would overflow the stack.
        let mut stack: Vec<(Tensor, bool)> = vec![(t.clone(), false)];
        while let Some((t, ready)) = stack.pop() {
            if self.values.contains_key(&t.id()) {
                continue;
            }
            let inputs = self.inputs_of(&t)?;
            if !ready {
                stack.push((t.clone(), true));
                stack.extend(inputs.into_iter().filter(|i| !self.values.contains_key(&i.id())).map(|i| (i, false)));
                continue;
            }
            let ids: Vec<ValueId> = inputs.iter().map(|i| self.values[&i.id()]).collect();
            let v = self.node(&t, &ids)?;
            self.values.insert(t.id(), v);
        }
        Ok(self.values[&t.id()])
    }

    /// The tensors `t` is computed from, as the graph sees it.
    fn inputs_of(&self, t: &Tensor) -> Result<Vec<Tensor>, Error> {
        if let Some((r, _)) = self.leaves.get(&t.id()) {
            return Ok(vec![r.input.clone()]);
        }
        Ok(match &t.0.node {
            Some(n) => n.inputs.clone(),
            None => Vec::new(),
        })
    }

    /// Adds the node that makes `t` from the values `ids`.
    fn node(&mut self, t: &Tensor, ids: &[ValueId]) -> Result<ValueId, Error> {
        if let Some(&(r, m)) = self.leaves.get(&t.id()) {
            let m =
                m.ok_or_else(|| Error::Invalid(format!("{} ran but is not among its parent's children", r.path)))?;
            let op = layer_op(m, &r.path)?;
            let name = self.name(&r.path);
            return Ok(self.graph.push(&name, op, ids)?[0]);
        }
        let Some(node) = &t.0.node else {
            // A tensor made outside the graph (a constant of a container's forward).
            let name = self.name("constant");
            return Ok(self.graph.push(&name, Op::Constant(t.detach()), &[])?[0]);
        };
        let shapes: Vec<Vec<usize>> = node.inputs.iter().map(|i| i.dims().to_vec()).collect();
        let op = match node.op {
            "add" => Op::Add,
            "sub" => Op::Sub,
            "mul" => Op::Mul,
            "div" => Op::Div,
            "matmul" => Op::MatMul,
            "cat" => Op::Concat { axis: cat_axis(&shapes, t.dims())? },
            "reshape" => {
                // The batch (dimension 0, when it is the input's) stays free.
                let mut shape: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
                if shapes[0].first() == t.dims().first() && !shape.is_empty() {
                    shape[0] = 0;
                }
                Op::Reshape { shape }
            }
            other => {
                let owner = self.readers.get(&t.id()).cloned().unwrap_or_default();
                return Err(Error::Invalid(format!(
                    "the op '{other}' (between the layers, before '{owner}') cannot be part of a graph; ConvLab records add, sub, mul, div, matmul, cat and reshape between layers"
                )));
            }
        };
        let base = match self.owners.get(&t.id()).filter(|p| !p.is_empty()) {
            Some(path) => format!("{path}.{}", node.op),
            None => node.op.to_string(),
        };
        let name = self.name(&base);
        Ok(self.graph.push(&name, op, ids)?[0])
    }
}

impl Tracer<'_> {
    /// For every tensor computed inside a container (between its input and its output), the
    /// innermost such container's path: where a graph op's name comes from.
    fn owners(&self, recorded: &[Recorded]) -> HashMap<TensorId, String> {
        let depth = |p: &str| if p.is_empty() { 0 } else { p.matches('.').count() + 1 };
        let mut owner: HashMap<TensorId, String> = HashMap::new();
        for r in recorded.iter().filter(|r| !r.leaf) {
            let mut stack = vec![r.output.clone()];
            let mut seen = std::collections::HashSet::new();
            while let Some(t) = stack.pop() {
                if t.id() == r.input_id || !seen.insert(t.id()) {
                    continue;
                }
                if owner.get(&t.id()).is_none_or(|p| depth(p) < depth(&r.path)) {
                    owner.insert(t.id(), r.path.clone());
                }
                stack.extend(self.inputs_of(&t).unwrap_or_default());
            }
        }
        owner
    }
}

/// The axis along which `inputs` were concatenated into `out`.
fn cat_axis(inputs: &[Vec<usize>], out: &[usize]) -> Result<isize, Error> {
    (0..out.len())
        .find(|&a| {
            inputs.iter().all(|s| s.len() == out.len() && (0..out.len()).all(|i| i == a || s[i] == out[i]))
                && inputs.iter().map(|s| s[a]).sum::<usize>() == out[a]
        })
        .map(|a| a as isize)
        .ok_or_else(|| Error::Shape(format!("cannot tell along which axis {inputs:?} were joined into {out:?}")))
}

/// The graph op of a leaf module: the same layer, sharing its weights.
fn layer_op(m: &dyn Module, path: &str) -> Result<Op, Error> {
    let any: &dyn std::any::Any = m;
    if let Some(c) = any.downcast_ref::<Conv2d>() {
        return Ok(Op::Conv2d(Conv2d { config: c.config.clone(), weight: c.weight.clone(), bias: c.bias.clone() }));
    }
    if let Some(c) = any.downcast_ref::<Conv1d>() {
        return Ok(Op::Conv1d(Conv1d { config: c.config.clone(), weight: c.weight.clone(), bias: c.bias.clone() }));
    }
    if let Some(c) = any.downcast_ref::<ConvTranspose2d>() {
        return Ok(Op::ConvTranspose2d(ConvTranspose2d {
            config: c.config.clone(),
            weight: c.weight.clone(),
            bias: c.bias.clone(),
        }));
    }
    if let Some(b) = any.downcast_ref::<BatchNorm>() {
        let mut copy = BatchNorm::with(
            b.num_features,
            b.params,
            b.weight.is_some(),
            b.running.is_some(),
            b.kind() == "BatchNorm2d",
        );
        copy.weight = b.weight.clone();
        copy.bias = b.bias.clone();
        copy.running = b.running.clone();
        return Ok(Op::BatchNorm(copy));
    }
    if let Some(l) = any.downcast_ref::<Linear>() {
        return Ok(Op::Linear(Linear {
            in_features: l.in_features,
            out_features: l.out_features,
            weight: l.weight.clone(),
            bias: l.bias.clone(),
        }));
    }
    if let Some(p) = any.downcast_ref::<MaxPool2d>() {
        return Ok(Op::MaxPool2d(MaxPool2d(p.0.clone())));
    }
    if let Some(p) = any.downcast_ref::<AvgPool2d>() {
        return Ok(Op::AvgPool2d(AvgPool2d(p.0.clone())));
    }
    if let Some(p) = any.downcast_ref::<AdaptiveAvgPool2d>() {
        return Ok(Op::AdaptiveAvgPool2d(AdaptiveAvgPool2d { output_size: p.output_size }));
    }
    if let Some(a) = any.downcast_ref::<Act>() {
        return Ok(Op::Act(Act(a.0)));
    }
    if let Some(s) = any.downcast_ref::<Softmax>() {
        return Ok(Op::Softmax(Softmax { dim: s.dim }));
    }
    if let Some(f) = any.downcast_ref::<Flatten>() {
        return Ok(Op::Flatten(Flatten { start_dim: f.start_dim, end_dim: f.end_dim }));
    }
    if let Some(d) = any.downcast_ref::<Dropout>() {
        return Ok(Op::Dropout(Dropout { p: d.p }));
    }
    if any.downcast_ref::<Identity>().is_some() {
        return Ok(Op::Identity);
    }
    let at = if path.is_empty() { String::new() } else { format!(" at '{path}'") };
    Err(Error::Invalid(format!("the layer {}{at} cannot be part of a graph yet", m.kind())))
}
