//! [`GraphModule`]: a [`Graph`] run as an ordinary [`Module`].

use std::collections::HashSet;

use super::{Graph, ValueId};
use crate::nn::{Forward, Module};
use crate::{Error, Tensor};

/// A graph as a module: its layer nodes are its children (named by the node names, so the
/// `state_dict` keys are `<node>.weight`, ...), and its forward pass runs the nodes in order,
/// the layers through [`Forward::child`] and the graph ops through the tensor ops (recorded
/// with [`Forward::record_op`]). Autograd flows through every node.
pub struct GraphModule {
    graph: Graph,
}

impl GraphModule {
    /// Checks the graph (an output, unique layer names, shapes that fit for its input shape)
    /// and wraps it.
    pub fn new(graph: Graph) -> Result<GraphModule, Error> {
        if graph.outputs.is_empty() {
            return Err(Error::Invalid(format!("graph '{}' has no output", graph.name)));
        }
        let mut seen = HashSet::new();
        for n in &graph.nodes {
            if n.name.is_empty() || !seen.insert(n.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "graph '{}': node name '{}' is empty or repeated",
                    graph.name, n.name
                )));
            }
        }
        graph
            .shapes(&graph.input_shape)
            .map_err(|e| Error::Shape(format!("graph '{}' on its input {}: {e}", graph.name, graph.input_text())))?;
        Ok(GraphModule { graph })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn into_graph(self) -> Graph {
        self.graph
    }

    /// After the layer node `node` changed its output width from `from` to `to` (a replaced
    /// classifier), gives every Reshape computed from its output that names `from` as a fixed
    /// size `to` there instead: exporters write `x.view(-1, 1000)` as a Reshape to `[0, 1000]`
    /// or `[-1, 1000]`. Returns each changed node's index and former shape, for
    /// [`GraphModule::restore_reshapes`].
    pub(crate) fn resize_reshapes_after(&mut self, node: &str, from: usize, to: usize) -> Vec<(usize, Vec<i64>)> {
        let mut downstream: HashSet<ValueId> = HashSet::new();
        let mut changed = Vec::new();
        let (from, to) = (from as i64, to as i64);
        for (i, n) in self.graph.nodes.iter_mut().enumerate() {
            if n.name == node {
                downstream.extend(&n.outputs);
                continue;
            }
            if !n.inputs.iter().any(|v| downstream.contains(v)) {
                continue;
            }
            downstream.extend(&n.outputs);
            if let super::Op::Reshape { shape } = &mut n.op {
                if shape.contains(&from) {
                    changed.push((i, shape.clone()));
                    shape.iter_mut().filter(|d| **d == from).for_each(|d| *d = to);
                }
            }
        }
        changed
    }

    /// Puts back the shapes [`GraphModule::resize_reshapes_after`] changed.
    pub(crate) fn restore_reshapes(&mut self, changed: Vec<(usize, Vec<i64>)>) {
        for (i, old) in changed {
            if let Some(super::Op::Reshape { shape }) = self.graph.nodes.get_mut(i).map(|n| &mut n.op) {
                *shape = old;
            }
        }
    }

    /// Runs the graph on `x`, keeping each value only while a later node still reads it.
    fn run_graph(&self, x: &Tensor, ctx: &mut Forward) -> Vec<Tensor> {
        let g = &self.graph;
        let mut left = g.readers();
        let mut values: Vec<Option<Tensor>> = vec![None; g.value_count()];
        values[0] = Some(x.clone());
        let take = |values: &mut Vec<Option<Tensor>>, left: &mut Vec<usize>, v: ValueId| {
            let t = values[v.0].clone().expect("nodes are in topological order");
            left[v.0] -= 1;
            if left[v.0] == 0 {
                values[v.0] = None;
            }
            t
        };
        for node in &g.nodes {
            let inputs: Vec<Tensor> = node.inputs.iter().map(|&v| take(&mut values, &mut left, v)).collect();
            let outputs = match node.op.layer() {
                Some(m) => vec![ctx.child(&node.name, m, &inputs[0])],
                None => {
                    let refs: Vec<&Tensor> = inputs.iter().collect();
                    let outputs = node.op.apply(&refs, ctx);
                    if let Some(first) = inputs.first() {
                        ctx.record_op(&node.name, node.op.kind(), first, &outputs[0]);
                    }
                    outputs
                }
            };
            for (v, t) in node.outputs.iter().zip(outputs) {
                if left[v.0] > 0 {
                    values[v.0] = Some(t);
                }
            }
        }
        g.outputs.iter().map(|&v| values[v.0].clone().expect("outputs are made by the graph")).collect()
    }
}

impl Module for GraphModule {
    fn kind(&self) -> &'static str {
        "Graph"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        self.run_graph(x, ctx).swap_remove(0)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.graph.nodes.iter().filter_map(|n| Some((n.name.clone(), n.op.layer()?))).collect()
    }

    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        self.graph.nodes.iter_mut().filter_map(|n| Some((n.name.clone(), n.op.layer_mut()?))).collect()
    }

    /// Re-infers every value's shape for the graph's input shape (after a layer node's op was
    /// replaced): an error names the first node that cannot take its inputs.
    fn validate(&self) -> Result<(), Error> {
        let g = &self.graph;
        g.shapes(&g.input_shape)
            .map(|_| ())
            .map_err(|e| Error::Shape(format!("graph '{}' on its input {}: {e}", g.name, g.input_text())))
    }

    fn describe(&self) -> String {
        format!("{}, {} nodes", self.graph.name, self.graph.nodes.len())
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        self.graph.output_shape(input)
    }
}
