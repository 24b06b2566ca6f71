//! A model as a small typed dataflow graph: what ONNX import and export share (and what an
//! inference plan compiles).
//!
//! A [`Graph`] is a list of [`Node`]s in topological order. Each node runs one [`Op`] on
//! values made by earlier nodes (or the graph's input) and makes new values; values are
//! numbered ([`ValueId`]). Layer ops hold the ordinary `nn` layer they are (a
//! [`crate::nn::Conv2d`] with its settings and weights, a [`crate::nn::BatchNorm`], ...), so
//! the weights are the layer's own tensors; graph ops (additions, concatenations, reshapes)
//! hold their settings. [`GraphModule`] runs a graph as an ordinary [`crate::nn::Module`]:
//! autograd, training, the recorder, the summary and the explainer work on it unchanged.
//!
//! Node names are kept (ONNX node names, or PyTorch `state_dict` paths where the weights
//! carry them), so errors, the summary and the explainer speak the user's names.
//!
//! ```
//! use convlab::graph::{Graph, GraphModule, Op};
//! use convlab::nn::{Act, Module, Mode};
//! use convlab::{Activation, Tensor};
//! // y = relu(x) + x
//! let mut g = Graph::new("residual", vec![1, 4]);
//! let x = g.input();
//! let r = g.push("relu", Op::Act(Act(Activation::Relu)), &[x]).unwrap()[0];
//! let y = g.push("add", Op::Add, &[r, x]).unwrap()[0];
//! g.set_outputs(vec![y]);
//! let m = GraphModule::new(g).unwrap();
//! let out = m.run(&Tensor::from_vec(vec![-1.0, 0.0, 1.0, 2.0], [1, 4]), Mode::Eval);
//! assert_eq!(out.to_vec(), vec![-1.0, 0.0, 2.0, 4.0]);
//! assert_eq!(m.output_shape(&[3, 4]).unwrap(), vec![3, 4]);
//! ```

mod module;
mod op;
mod shape;
mod trace;

pub use module::GraphModule;
pub use op::{Comparison, Op, PadSpec, SliceSpec};
#[allow(unused_imports)] // used by the ONNX importer
pub(crate) use shape::{reshape as reshape_dims, slice, slice_shape};
pub use trace::trace;

use crate::{Error, Shape};

/// A value of a graph: the graph's input, or an output of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub usize);

/// One node: `op` applied to `inputs`, making `outputs`.
pub struct Node {
    /// Unique within the graph (an ONNX node name, or a `state_dict` path).
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

/// A dataflow graph with one input (an image batch) and its nodes in topological order.
pub struct Graph {
    pub name: String,
    /// The input's shape the graph was built for (batch included), used to check it.
    pub input_shape: Vec<usize>,
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
    /// Names of the values (`"input"` for the input; ONNX value names where imported).
    value_names: Vec<String>,
}

impl Graph {
    /// An empty graph whose input (value 0) has shape `input_shape`.
    pub fn new(name: &str, input_shape: Vec<usize>) -> Graph {
        Graph {
            name: name.to_string(),
            input_shape,
            nodes: Vec::new(),
            outputs: Vec::new(),
            value_names: vec!["input".into()],
        }
    }

    /// The graph's input.
    pub fn input(&self) -> ValueId {
        ValueId(0)
    }

    /// Number of values (the input and every node output).
    pub fn value_count(&self) -> usize {
        self.value_names.len()
    }

    pub fn value_name(&self, v: ValueId) -> &str {
        &self.value_names[v.0]
    }

    /// Appends a node running `op` on `inputs` and returns its outputs (as many as the op
    /// makes). An input that does not exist yet, a repeated name or a wrong number of inputs
    /// is an error naming the node.
    pub fn push(&mut self, name: &str, op: Op, inputs: &[ValueId]) -> Result<Vec<ValueId>, Error> {
        self.push_named(name, op, inputs, &[])
    }

    /// [`Graph::push`], naming the outputs (`names` may be shorter than the outputs; the rest
    /// are named after the node).
    pub fn push_named(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[ValueId],
        names: &[&str],
    ) -> Result<Vec<ValueId>, Error> {
        if self.nodes.iter().any(|n| n.name == name) {
            return Err(Error::Invalid(format!("graph '{}': two nodes are named '{name}'", self.name)));
        }
        if let Some(v) = inputs.iter().find(|v| v.0 >= self.value_count()) {
            return Err(Error::Invalid(format!("node '{name}' reads value {} that no earlier node makes", v.0)));
        }
        let (lo, hi) = op.arity();
        if inputs.len() < lo || inputs.len() > hi {
            let want = if lo == hi { lo.to_string() } else { format!("{lo} to {hi}") };
            return Err(Error::Invalid(format!(
                "node '{name}' ({}) takes {want} inputs, got {}",
                op.kind(),
                inputs.len()
            )));
        }
        let outputs: Vec<ValueId> = (0..op.output_count())
            .map(|i| {
                let id = ValueId(self.value_names.len());
                let n = names.get(i).map(|s| s.to_string()).unwrap_or_else(|| format!("{name}:{i}"));
                self.value_names.push(n);
                id
            })
            .collect();
        self.nodes.push(Node { name: name.to_string(), op, inputs: inputs.to_vec(), outputs: outputs.clone() });
        Ok(outputs)
    }

    pub fn set_outputs(&mut self, outputs: Vec<ValueId>) {
        self.outputs = outputs;
    }

    /// The shape of every value for an input of shape `input` (indexed by [`ValueId`]),
    /// checked node by node; an error names the node and the shapes it was given.
    pub fn shapes(&self, input: &[usize]) -> Result<Vec<Vec<usize>>, Error> {
        let mut shapes: Vec<Option<Vec<usize>>> = vec![None; self.value_count()];
        shapes[0] = Some(input.to_vec());
        for node in &self.nodes {
            let ins: Vec<&[usize]> =
                node.inputs.iter().map(|v| shapes[v.0].as_deref().expect("nodes are in topological order")).collect();
            let outs = node.op.output_shapes(&ins).map_err(|e| e.in_layer(&node.name, node.op.kind()))?;
            for (v, s) in node.outputs.iter().zip(outs) {
                shapes[v.0] = Some(s);
            }
        }
        Ok(shapes.into_iter().map(|s| s.unwrap_or_default()).collect())
    }

    /// The output shape for an input of shape `input` (the first output's).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let out =
            *self.outputs.first().ok_or_else(|| Error::Invalid(format!("graph '{}' has no output", self.name)))?;
        Ok(self.shapes(input)?.swap_remove(out.0))
    }

    /// The node that makes `v` (`None` for the input).
    pub fn producer(&self, v: ValueId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.outputs.contains(&v))
    }

    /// How many nodes (and graph outputs) read each value, indexed by [`ValueId`].
    pub fn readers(&self) -> Vec<usize> {
        let mut count = vec![0; self.value_count()];
        for v in self.nodes.iter().flat_map(|n| &n.inputs).chain(&self.outputs) {
            count[v.0] += 1;
        }
        count
    }

    /// A one-line description of the input shape, for messages.
    pub(crate) fn input_text(&self) -> String {
        Shape::from(&self.input_shape[..]).to_string()
    }
}
