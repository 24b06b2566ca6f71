//! ONNX → [`Graph`]: each ONNX node becomes a graph node running the engine's own op (a
//! convolution becomes a [`crate::nn::Conv2d`] holding the file's weights), and the shape
//! arithmetic exporters emit is folded into constants ([`fold`]). One small function per op
//! family: [`layers`] (Conv, ConvTranspose, BatchNormalization, Gemm, MatMul), [`pool`],
//! [`elementwise`] (arithmetic, activations, Softmax, Dropout), [`shapes`] (Concat, Split,
//! Slice, Reshape, Transpose, Pad, ReduceMean and the folded shape ops).
//!
//! The importer fixes the input's channels and spatial size (from the file, or the caller's
//! `[C, H, W]`); the batch stays free: every value's shape is tracked at two batch sizes so
//! that a setting computed from the input's shape is kept as "the batch" rather than a
//! number.

mod attrs;
mod elementwise;
mod fold;
mod folding;
mod layers;
mod pool;
mod shapes;

use std::collections::{HashMap, HashSet};

use fold::{Const, Ints, B1, B2};

use super::proto::{NodeProto, TensorProto};
use super::Model;
use crate::graph::{Graph, Op, ValueId};
use crate::{Error, Shape};

/// The operator sets of the standard domain the importer is written for.
pub const OPSETS: std::ops::RangeInclusive<i64> = 11..=23;

/// What an ONNX value is during import: computed by the graph, or known now.
#[derive(Clone, Debug)]
enum Val {
    Dyn(ValueId),
    Const(Const),
}

/// The state of one import.
struct Importer<'m> {
    model: &'m Model,
    opset: i64,
    graph: Graph,
    env: HashMap<String, Val>,
    /// Every graph value's shape at batch sizes [`B1`] and [`B2`].
    shapes: Vec<[Vec<usize>; 2]>,
    /// Constants already placed in the graph (read by a computed op), by ONNX name.
    placed: HashMap<String, ValueId>,
    names: HashSet<String>,
    /// The batch size the file's input declares, when it fixes one.
    declared_batch: Option<usize>,
    /// Values of the constants folded so far, and how many the file allows ([`folding`]).
    folded: std::cell::Cell<usize>,
    fold_limit: usize,
}

/// Builds the graph of `model` for inputs of shape `[C, H, W]` (`input`, or the file's own).
pub fn import(model: &Model, input: Option<&[usize]>) -> Result<Graph, Error> {
    let g = model.graph()?;
    let opset = model.opset_version("").ok_or_else(|| model.error("the model imports no standard operator set"))?;
    if !OPSETS.contains(&opset) {
        return Err(model.error(format!(
            "opset {opset} of the standard domain is not supported (ConvLab reads opsets {} to {})",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let data: Vec<_> = g.input.iter().filter(|v| !initializers.contains(v.name.as_str())).collect();
    let [first] = data[..] else {
        let names: Vec<&str> = data.iter().map(|v| v.name.as_str()).collect();
        return Err(model.error(format!("the graph should take one input (an image batch), it takes {names:?}")));
    };
    let shape = input_shape(model, first, input)?;
    let mut imp = Importer {
        model,
        opset,
        graph: Graph::new(if g.name.is_empty() { "onnx" } else { &g.name }, [vec![B1], shape.clone()].concat()),
        env: HashMap::new(),
        shapes: vec![[[vec![B1], shape.clone()].concat(), [vec![B2], shape].concat()]],
        placed: HashMap::new(),
        names: HashSet::new(),
        declared_batch: declared_batch(first),
        folded: std::cell::Cell::new(0),
        fold_limit: folding::fold_limit(model),
    };
    imp.env.insert(first.name.clone(), Val::Dyn(imp.graph.input()));
    for t in &g.initializer {
        let c = imp.constant(t).map_err(|e| model.error(format!("initializer '{}': {e}", t.name)))?;
        imp.fold_limit = imp.fold_limit.saturating_add(2 * c.dims().iter().product::<usize>());
        imp.env.entry(t.name.clone()).or_insert(Val::Const(c));
    }
    for (i, node) in g.node.iter().enumerate() {
        imp.node(node)
            .map_err(|e| model.error(format!("{} (node {i} of the graph, opset {opset}): {e}", node.label())))?;
    }
    let mut outputs = Vec::new();
    for o in &g.output {
        match imp.env.get(&o.name) {
            Some(Val::Dyn(v)) => outputs.push(*v),
            Some(Val::Const(_)) => return Err(model.error(format!("output '{}' does not depend on the input", o.name))),
            None => return Err(model.error(format!("output '{}' is made by no node", o.name))),
        }
    }
    imp.graph.set_outputs(outputs);
    Ok(imp.graph)
}

/// `[C, H, W]` of the data input: the caller's, or the file's (whose first dimension is the
/// batch, named or not).
fn input_shape(model: &Model, v: &super::proto::ValueInfoProto, given: Option<&[usize]>) -> Result<Vec<usize>, Error> {
    use super::proto::{tensor_shape_proto::dimension::Value as D, type_proto::Value as T};
    let dims: Option<Vec<Option<i64>>> = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => t.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(D::DimValue(n)) if n > 0 => Some(n),
                    _ => None,
                })
                .collect()
        }),
        _ => None,
    };
    if let Some(g) = given {
        if let Some(d) = &dims {
            let fixed: Vec<Option<i64>> = d.iter().skip(1).copied().collect();
            let fits = fixed.len() == g.len() && fixed.iter().zip(g).all(|(f, &x)| f.is_none_or(|f| f as usize == x));
            if !fits {
                return Err(model.error(format!(
                    "the input '{}' has shape {} (batch first), which does not fit the shape {} asked for",
                    v.name,
                    dims_text(d),
                    Shape::from(g)
                )));
            }
        }
        return Ok(g.to_vec());
    }
    match dims {
        Some(d) if d.len() >= 2 && d[1..].iter().all(|x| x.is_some()) => {
            Ok(d[1..].iter().map(|x| x.unwrap() as usize).collect())
        }
        Some(d) => Err(model.error(format!(
            "the input '{}' has shape {} (batch first): give its size (--input C,H,W)",
            v.name,
            dims_text(&d)
        ))),
        None => Err(model.error(format!("the input '{}' has no shape: give its size (--input C,H,W)", v.name))),
    }
}

/// The fixed first dimension of the input, if the file gives one.
fn declared_batch(v: &super::proto::ValueInfoProto) -> Option<usize> {
    use super::proto::{tensor_shape_proto::dimension::Value as D, type_proto::Value as T};
    match v.r#type.as_ref()?.value.as_ref()? {
        T::TensorType(t) => match t.shape.as_ref()?.dim.first()?.value {
            Some(D::DimValue(n)) if n > 0 => Some(n as usize),
            _ => None,
        },
        _ => None,
    }
}

fn dims_text(d: &[Option<i64>]) -> String {
    let parts: Vec<String> = d.iter().map(|x| x.map_or("?".into(), |n| n.to_string())).collect();
    format!("[{}]", parts.join(", "))
}

impl Importer<'_> {
    /// A constant from a tensor of the file (initializer or attribute): floats as a tensor,
    /// integers (and booleans) as integers.
    fn constant(&self, t: &TensorProto) -> Result<Const, Error> {
        use super::DataType as D;
        let float = matches!(D::try_from(t.data_type), Ok(D::Float | D::Double | D::Float16 | D::Bfloat16));
        match float {
            true => Ok(Const::Float(self.model.tensor(t)?)),
            false => Ok(Const::Int(Ints::fixed(self.model.tensor_dims(t)?, self.model.tensor_i64(t)?))),
        }
    }

    /// Input `i` of `node`, `None` when it is absent or named `""` (an omitted optional input).
    fn input(&self, node: &NodeProto, i: usize) -> Result<Option<&Val>, Error> {
        match node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self.env.get(name).map(Some).ok_or_else(|| {
                Error::Invalid(format!("input '{name}' is made by no earlier node and is no initializer"))
            }),
        }
    }

    /// Input `i`, which must be present.
    fn required(&self, node: &NodeProto, i: usize) -> Result<&Val, Error> {
        self.input(node, i)?.ok_or_else(|| Error::Invalid(format!("input {i} is missing")))
    }

    /// Input `i` as a constant (settings such as a Reshape's shape), naming it `what`.
    fn constant_input(&self, node: &NodeProto, i: usize, what: &str) -> Result<Option<Const>, Error> {
        match self.input(node, i)? {
            None => Ok(None),
            Some(Val::Const(c)) => Ok(Some(c.clone())),
            Some(Val::Dyn(_)) => {
                Err(Error::Invalid(format!("{what} (input {i}) must be a constant, not computed from the input")))
            }
        }
    }

    /// Input `i` as a graph value: a constant read by a computed op is placed in the graph
    /// (once per name) as a [`Op::Constant`].
    fn value(&mut self, node: &NodeProto, i: usize) -> Result<ValueId, Error> {
        let name = node.input.get(i).cloned().unwrap_or_default();
        match self.required(node, i)?.clone() {
            Val::Dyn(v) => Ok(v),
            Val::Const(c) => {
                if let Some(&v) = self.placed.get(&name) {
                    return Ok(v);
                }
                let t = c.float(&format!("constant '{name}'"))?;
                let node_name = self.unique(&name);
                let v = self.push(&node_name, Op::Constant(t), &[])?[0];
                self.placed.insert(name, v);
                Ok(v)
            }
        }
    }

    /// The shapes of a graph value at both batch sizes.
    fn shape(&self, v: ValueId) -> &[Vec<usize>; 2] {
        &self.shapes[v.0]
    }

    /// Appends a node, computing its outputs' shapes at both batch sizes.
    fn push(&mut self, name: &str, op: Op, inputs: &[ValueId]) -> Result<Vec<ValueId>, Error> {
        let at = |b: usize| -> Result<Vec<Vec<usize>>, Error> {
            let ins: Vec<&[usize]> = inputs.iter().map(|v| self.shapes[v.0][b].as_slice()).collect();
            op.output_shapes(&ins)
        };
        let (s1, s2) = (at(0)?, at(1)?);
        let outs = self.graph.push(name, op, inputs)?;
        for (a, b) in s1.into_iter().zip(s2) {
            self.shapes.push([a, b]);
        }
        Ok(outs)
    }

    /// A node name not used yet, built from `base`.
    fn unique(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "node" } else { base };
        let mut name = base.to_string();
        let mut k = 1;
        while !self.names.insert(name.clone()) {
            k += 1;
            name = format!("{base}_{k}");
        }
        name
    }

    /// The name of `node` in the graph: where its weight comes from a PyTorch `state_dict`
    /// (`features.0.weight`), that module's path, else the ONNX node name, else the op and
    /// its position.
    fn node_name(&mut self, node: &NodeProto, weight: Option<usize>) -> String {
        let stem = weight
            .and_then(|i| node.input.get(i))
            .and_then(|w| w.strip_suffix(".weight"))
            .filter(|s| !s.is_empty() && !s.contains(['/', ':']))
            .map(str::to_string);
        let base = stem.unwrap_or_else(|| match node.name.is_empty() {
            true => format!("{}_{}", node.op_type, self.graph.nodes.len()),
            false => node.name.clone(),
        });
        self.unique(&base)
    }

    /// Binds the node's outputs to `values`.
    fn define(&mut self, node: &NodeProto, values: Vec<Val>) -> Result<(), Error> {
        if values.len() < node.output.iter().filter(|o| !o.is_empty()).count() {
            return Err(Error::Invalid(format!(
                "the node makes {} outputs, ConvLab computes {}",
                node.output.len(),
                values.len()
            )));
        }
        for (name, v) in node.output.iter().zip(values) {
            if !name.is_empty() {
                self.env.insert(name.clone(), v);
            }
        }
        Ok(())
    }

    /// Pushes a single-output node and binds its output.
    fn emit(&mut self, node: &NodeProto, name: String, op: Op, inputs: &[ValueId]) -> Result<(), Error> {
        let outs = self.push(&name, op, inputs)?;
        self.define(node, outs.into_iter().map(Val::Dyn).collect())
    }

    /// Whether every present input is a constant (the node can be folded).
    fn all_constant(&self, node: &NodeProto) -> Result<bool, Error> {
        for i in 0..node.input.len() {
            if let Some(Val::Dyn(_)) = self.input(node, i)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn node(&mut self, node: &NodeProto) -> Result<(), Error> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(Error::Invalid(format!("operators of the domain '{}' are not supported", node.domain)));
        }
        if folding::fold(self, node)? {
            return Ok(());
        }
        let op = node.op_type.as_str();
        if layers::import(self, node)?
            || pool::import(self, node)?
            || elementwise::import(self, node)?
            || shapes::import(self, node)?
        {
            return Ok(());
        }
        Err(Error::Invalid(format!("unsupported operator '{op}'; ConvLab supports {}", SUPPORTED.join(", "))))
    }
}

/// Every operator the importer understands (in messages about the others).
pub const SUPPORTED: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "BatchNormalization",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Softplus",
    "Sigmoid",
    "Tanh",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "Erf",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Equal",
    "Where",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Concat",
    "Split",
    "Slice",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Pad",
    "Softmax",
    "LogSoftmax",
    "ReduceMean",
    "Dropout",
    "Identity",
    "Cast",
    "Constant",
    "Shape",
    "Gather",
    "ConstantOfShape",
    "Range",
    "Expand",
    "GatherND",
];
