//! Module → ONNX file: [`crate::graph::trace`] reads the model's [`Graph`], and every node
//! becomes one or a few ONNX nodes of the chosen operator set. Weights become initializers
//! named by the model's `state_dict` (`layer1.0.conv1.weight`), and nodes keep the graph's
//! names (the layers' paths), so that [`crate::onnx::load`] of the file names its layers as
//! the model does, and exporting that imported model again writes the same graph.
//!
//! ```
//! use convlab::models::{build, ModelConfig};
//! use convlab::nn::{Mode, Module};
//! use convlab::onnx::{self, ExportOptions};
//! use convlab::Tensor;
//!
//! let net = build("lenet5", &ModelConfig::for_model("lenet5").unwrap(), 0).unwrap();
//! let dir = std::env::temp_dir().join(format!("convlab-export-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("lenet5.onnx");
//! let options = ExportOptions { dynamic_batch: true, ..Default::default() };
//! onnx::export(net.as_ref(), &[1, 1, 28, 28], &path, &options).unwrap();
//!
//! // The file imports with the model's layer names and computes the same, at any batch size.
//! let back = onnx::load(&path, None).unwrap();
//! assert!(back.children().iter().any(|(name, _)| name == "conv1"));
//! let x = Tensor::randn([3, 1, 28, 28], 7);
//! assert!(back.run(&x, Mode::Eval).allclose(&net.run(&x, Mode::Eval), 1e-5, 1e-5));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # What is written
//!
//! - The input is `input`, `[N, C, H, W]` with the batch fixed to the traced one, or the
//!   symbolic `N` with [`ExportOptions::dynamic_batch`]; the output is `output`.
//! - Layers ([`layers`]): Conv (a Pad first for reflect or replicate padding),
//!   ConvTranspose, BatchNormalization, Gemm (a MatMul and an Add on inputs of other ranks),
//!   MaxPool, AveragePool, GlobalAveragePool; an adaptive average pool to another size is a
//!   pooling where the windows tile the input, else two products with averaging matrices.
//! - Activations and graph ops ([`ops`]): each as its ONNX operator, with what the operator
//!   set lacks written out (GELU before opset 20 with Erf, HardSwish before 14 with
//!   HardSigmoid, SiLU as Sigmoid·x). Settings that later opsets take as inputs (Split's
//!   sizes, ReduceMean's axes since 18, Pad's amounts, Clip's bounds) are written as the
//!   chosen opset wants them; the extra initializers are named after the node
//!   (`layer1.0.add.shape`).
//! - Identity and dropout nodes write nothing (in inference their value is their input),
//!   unless one makes the graph's output.
//! - A Reshape of a dynamic-batch file copies the batch (`0`) or infers it (`-1`) rather than
//!   fixing it.
//!
//! A node that cannot be written (circular padding, a batch normalization without running
//! statistics, ...) is an error naming the layer and its op.

mod layers;
mod ops;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::proto::{GraphProto, NodeProto, TensorProto};
use super::{DataType, Dim};
use crate::graph::{Graph, ValueId};
use crate::nn::Module;
use crate::{Error, Tensor, TensorId};

/// The standard operator sets [`export`] writes.
pub const EXPORT_OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

/// How [`export`] writes a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The standard operator set (default 17), one of [`EXPORT_OPSETS`].
    pub opset: i64,
    /// Make the batch dimension symbolic (`N`) instead of the traced batch size.
    pub dynamic_batch: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { opset: 17, dynamic_batch: false }
    }
}

/// Writes `model`, traced for inputs of `input_shape` (batch included), to the ONNX file
/// `path` (atomically, with the weights in `<path>.data` beside it when they exceed 1 GiB).
/// Returns the external data file when one was written.
pub fn export(
    model: &dyn Module,
    input_shape: &[usize],
    path: impl AsRef<Path>,
    options: &ExportOptions,
) -> Result<Option<PathBuf>, Error> {
    let proto = to_model(model, input_shape, options)?;
    super::write_model_with(path, &proto, &super::WriteOptions::default())
}

/// The ONNX model [`export`] writes, in memory.
pub fn to_model(
    model: &dyn Module,
    input_shape: &[usize],
    options: &ExportOptions,
) -> Result<super::ModelProto, Error> {
    check_opset(options.opset)?;
    let graph = crate::graph::trace(model, input_shape)?;
    graph_to_model(&graph, options)
}

/// The ONNX model of `graph` (for its own input shape).
pub fn graph_to_model(graph: &Graph, options: &ExportOptions) -> Result<super::ModelProto, Error> {
    check_opset(options.opset)?;
    let mut b = Builder::new(graph, options)?;
    for node in &graph.nodes {
        if passes_through(node) && !graph.outputs.contains(&node.outputs[0]) {
            continue;
        }
        let at = |e: Error| e.in_layer(&node.name, node.op.kind());
        b.current = node.name.clone();
        if !layers::export(&mut b, node).map_err(at)? {
            ops::export(&mut b, node).map_err(at)?;
        }
    }
    let batch: Dim = if options.dynamic_batch { Dim::Param("N") } else { Dim::Value(graph.input_shape[0] as i64) };
    let dims = |shape: &[usize]| -> Vec<Dim<'static>> {
        let mut d: Vec<Dim> = shape.iter().map(|&s| Dim::Value(s as i64)).collect();
        if options.dynamic_batch && !d.is_empty() {
            d[0] = Dim::Param("N");
        }
        d
    };
    let mut input_dims = dims(&graph.input_shape);
    input_dims[0] = batch;
    let outputs = graph
        .outputs
        .iter()
        .map(|v| super::value_info(&b.names[v.0], DataType::Float, &dims(&b.shapes[v.0])))
        .collect();
    let proto = GraphProto {
        name: graph.name.clone(),
        node: b.nodes,
        initializer: b.inits,
        input: vec![super::value_info("input", DataType::Float, &input_dims)],
        output: outputs,
        ..Default::default()
    };
    Ok(super::model(proto, options.opset))
}

/// A node that hands its input on unchanged in inference (identity, dropout).
fn passes_through(node: &crate::graph::Node) -> bool {
    use crate::graph::Op;
    use crate::ops::activation::Activation;
    matches!(node.op, Op::Identity | Op::Dropout(_) | Op::Act(crate::nn::Act(Activation::Identity)))
}

fn check_opset(opset: i64) -> Result<(), Error> {
    match EXPORT_OPSETS.contains(&opset) {
        true => Ok(()),
        false => Err(Error::Invalid(format!(
            "cannot export to opset {opset}: ConvLab writes opsets {} to {}",
            EXPORT_OPSETS.start(),
            EXPORT_OPSETS.end()
        ))),
    }
}

/// The ONNX graph being built: nodes, initializers and the name of every graph value.
pub(super) struct Builder {
    pub opset: i64,
    /// Every value's shape at the traced batch size.
    pub shapes: Vec<Vec<usize>>,
    /// ... and at one more (to tell which sizes follow the batch), for a dynamic batch.
    pub shapes_next: Option<Vec<Vec<usize>>>,
    /// The ONNX name of every graph value.
    pub names: Vec<String>,
    /// The ONNX boolean a comparison made, by the graph value of its float form.
    pub bools: HashMap<usize, String>,
    pub nodes: Vec<NodeProto>,
    pub inits: Vec<TensorProto>,
    init_names: HashSet<String>,
    /// Initializers already written for a tensor (a layer that ran twice shares its weight).
    by_tensor: HashMap<TensorId, String>,
    /// The graph node being written (for the names of its extra nodes and initializers).
    pub current: String,
}

impl Builder {
    fn new(graph: &Graph, options: &ExportOptions) -> Result<Builder, Error> {
        let shapes = graph.shapes(&graph.input_shape)?;
        let shapes_next = match options.dynamic_batch {
            true => {
                let mut next = graph.input_shape.clone();
                next[0] += 1;
                Some(graph.shapes(&next).map_err(|e| {
                    Error::Invalid(format!("the graph does not take a batch other than {}: {e}", graph.input_shape[0]))
                })?)
            }
            false => None,
        };
        let mut names = vec![String::new(); graph.value_count()];
        names[0] = "input".into();
        let outputs: HashSet<ValueId> = graph.outputs.iter().copied().collect();
        for n in &graph.nodes {
            if passes_through(n) && !outputs.contains(&n.outputs[0]) {
                // Nothing to compute in inference: the value is its input (an importer drops
                // these nodes too, so that export → import → export keeps the graph).
                names[n.outputs[0].0] = names[n.inputs[0].0].clone();
                continue;
            }
            for (i, v) in n.outputs.iter().enumerate() {
                names[v.0] = if n.outputs.len() == 1 { n.name.clone() } else { format!("{}:{i}", n.name) };
            }
        }
        for (i, v) in graph.outputs.iter().enumerate() {
            if v.0 == 0 {
                return Err(Error::Invalid("the graph's output is its input: there is nothing to export".into()));
            }
            names[v.0] = if graph.outputs.len() == 1 { "output".into() } else { format!("output{i}") };
        }
        Ok(Builder {
            opset: options.opset,
            shapes,
            shapes_next,
            names,
            bools: HashMap::new(),
            nodes: Vec::new(),
            inits: Vec::new(),
            init_names: HashSet::new(),
            by_tensor: HashMap::new(),
            current: String::new(),
        })
    }

    pub fn name(&self, v: ValueId) -> &str {
        &self.names[v.0]
    }

    pub fn shape(&self, v: ValueId) -> &[usize] {
        &self.shapes[v.0]
    }

    /// Appends a node.
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<super::AttributeProto>) {
        self.nodes.push(super::node(op, name, inputs, outputs, attrs));
    }

    fn add_init(&mut self, t: TensorProto) -> Result<String, Error> {
        if !self.init_names.insert(t.name.clone()) {
            return Err(Error::Invalid(format!("two initializers would be named '{}'", t.name)));
        }
        let name = t.name.clone();
        self.inits.push(t);
        Ok(name)
    }

    /// A weight of the current layer, `<layer>.<suffix>` (its `state_dict` name); a tensor
    /// already written (a layer run twice) keeps its first name.
    pub fn weight(&mut self, suffix: &str, t: &Tensor) -> Result<String, Error> {
        if let Some(n) = self.by_tensor.get(&t.id()) {
            return Ok(n.clone());
        }
        let name = self.add_init(float_proto(&format!("{}.{suffix}", self.current), t))?;
        self.by_tensor.insert(t.id(), name.clone());
        Ok(name)
    }

    /// A float constant of the current node, `<node>.<suffix>`.
    pub fn float(&mut self, suffix: &str, t: &Tensor) -> Result<String, Error> {
        self.add_init(float_proto(&format!("{}.{suffix}", self.current), t))
    }

    /// A float scalar of the current node.
    pub fn scalar(&mut self, suffix: &str, v: f32) -> Result<String, Error> {
        let mut t = super::float_tensor(&format!("{}.{suffix}", self.current), &Tensor::from_vec(vec![v], [1]));
        t.dims.clear();
        self.add_init(t)
    }

    /// A 1-D INT64 constant of the current node (a shape, axes, sizes).
    pub fn ints(&mut self, suffix: &str, values: &[i64]) -> Result<String, Error> {
        self.add_init(super::int64_tensor(&format!("{}.{suffix}", self.current), values))
    }

    /// An INT64 constant of the current node with the shape `dims`.
    pub fn ints_shaped(&mut self, suffix: &str, values: &[i64], dims: &[usize]) -> Result<String, Error> {
        let mut t = super::int64_tensor(&format!("{}.{suffix}", self.current), values);
        t.dims = dims.iter().map(|&d| d as i64).collect();
        self.add_init(t)
    }

    /// An initializer holding the value of a constant node (named as the node).
    pub fn constant(&mut self, name: &str, t: &Tensor) -> Result<String, Error> {
        self.add_init(float_proto(name, t))
    }
}

/// A FLOAT tensor of `t`'s values in row-major order (a transposed view is laid out anew).
fn float_proto(name: &str, t: &Tensor) -> TensorProto {
    let raw: Vec<u8> = t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect();
    TensorProto {
        dims: t.dims().iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        name: name.into(),
        raw_data: prost::bytes::Bytes::from(raw),
        ..Default::default()
    }
}
