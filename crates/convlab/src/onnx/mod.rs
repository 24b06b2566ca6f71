//! ONNX files: the protobuf messages, a reader that treats every file as hostile, tensor
//! conversion to the engine's types, and a writer (with external data for large models).
//!
//! On top of it: [`import`] / [`load`] (ONNX → [`crate::graph::Graph`] → module) and
//! [`export()`] (module → ONNX file, see [`ExportOptions`]).
//!
//! ```
//! use convlab::onnx::{self, AttrValue, DataType, Dim};
//! use convlab::Tensor;
//!
//! // Export: a graph of one Conv and one Reshape, with their weights and shape as initializers.
//! let w = Tensor::from_vec((0..54).map(|i| i as f32 / 54.0).collect(), [2, 3, 3, 3]);
//! let graph = onnx::GraphProto {
//!     name: "tiny".into(),
//!     node: vec![
//!         onnx::node("Conv", "conv", &["x", "w"], &["y"], vec![onnx::attr_ints("pads", &[1, 1, 1, 1])]),
//!         onnx::node("Reshape", "flat", &["y", "shape"], &["z"], vec![]),
//!     ],
//!     initializer: vec![onnx::float_tensor("w", &w), onnx::int64_tensor("shape", &[1, -1])],
//!     input: vec![onnx::value_info("x", DataType::Float, &[Dim::Param("N"), 3.into(), 8.into(), 8.into()])],
//!     output: vec![onnx::value_info("z", DataType::Float, &["N".into(), 128.into()])],
//!     ..Default::default()
//! };
//! let dir = std::env::temp_dir().join(format!("convlab-onnx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("tiny.onnx");
//! onnx::write_model(&path, &onnx::model(graph, 17)).unwrap();
//!
//! // Import: decode, walk the graph, convert tensors (each checked against its data).
//! let model = onnx::read_model(&path).unwrap();
//! assert_eq!(model.opset_version(""), Some(17));
//! let graph = model.graph().unwrap();
//! let conv = &graph.node[0];
//! assert_eq!(conv.attr("pads").map(|a| a.value()), Some(AttrValue::Ints(&[1, 1, 1, 1])));
//! let weight = model.tensor(model.initializer("w").unwrap()).unwrap();
//! assert_eq!((weight.dims(), weight.to_vec()), (w.dims(), w.to_vec()));
//! assert_eq!(model.tensor_i64(model.initializer("shape").unwrap()).unwrap(), [1, -1]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # The API
//!
//! - Messages ([`proto`], re-exported here): [`ModelProto`], [`GraphProto`], [`NodeProto`],
//!   [`AttributeProto`], [`TensorProto`], [`ValueInfoProto`], [`TypeProto`],
//!   [`TensorShapeProto`], ... as `prost-build` would name them (nested types in modules:
//!   [`type_proto::Value::TensorType`], [`tensor_shape_proto::dimension::Value`]).
//! - Reading: [`read_model`] / [`read_model_with`] (a file, under [`Limits`]) and
//!   [`decode_model`] (bytes in memory, no external data) give a [`Model`]: the message
//!   ([`Model::proto`], [`Model::graph`]), [`Model::opset_version`], [`Model::initializer`],
//!   and the conversions [`Model::tensor`] (an f32 [`crate::Tensor`] of the tensor's shape),
//!   [`Model::tensor_i64`] (integer values for shapes, axes, indices) and
//!   [`Model::tensor_dims`]. [`Model::error`] makes an error naming the file, for whatever
//!   an importer finds wrong in the graph; [`NodeProto::label`] names a node in it.
//! - Attributes: [`AttributeProto::value`] gives an [`AttrValue`] chosen by the attribute's
//!   type; [`NodeProto::attr`] finds one by name.
//! - Writing: [`write_model`] / [`write_model_with`] ([`WriteOptions`], [`ExternalData`]),
//!   and the constructors [`model`], [`node`], [`value_info`], [`float_tensor`],
//!   [`int64_tensor`], [`int64_scalar`], [`attr_int`], [`attr_ints`], [`attr_float`],
//!   [`attr_floats`], [`attr_string`], [`attr_tensor`], [`attr_graph`].
//!
//! # Reading safely
//!
//! An ONNX file is read as if a stranger wrote it to do harm. Every error is one line: the
//! file, then (where there is one) the tensor or node, then what is wrong.
//!
//! - The file must be a regular file of at most [`Limits::max_model_bytes`] (2 GiB, the
//!   protobuf limit). It is read once, and its `raw_data` fields stay slices of that buffer.
//! - Before decoding, a walk over the wire format checks every length prefix against the
//!   bytes left, bounds the nesting of messages and of subgraphs
//!   ([`Limits::max_subgraph_depth`]), counts nodes and tensors ([`Limits::max_nodes`],
//!   [`Limits::max_tensors`]), and sums what the decoded structs will take: at most
//!   [`Limits::max_decoded_base`] + [`Limits::max_decoded_per_byte`] × the file's size, so
//!   that a file of tiny messages cannot ask for hundreds of times its size.
//! - Every tensor is then checked: no negative dimension, an element count that fits
//!   memory, data in exactly one place, holding exactly the elements the dims claim
//!   (`raw_data` bytes = elements × element size; a typed field's count). Nothing is
//!   allocated from a claimed count: a conversion allocates only what data present supports.
//! - External data (`data_location` EXTERNAL): `location` must be relative, without `..` or
//!   `\`; the file it names, symlinks resolved, must be a regular file inside the model's
//!   folder; `offset` + `length` must lie within the file's real size and match what the dims
//!   need; ranges of different tensors may not overlap. These are checked when the model is
//!   read, and again on the opened file when a tensor's data is read. `checksum` is not
//!   verified.
//!
//! # Types
//!
//! [`Model::tensor`] reads FLOAT, DOUBLE, FLOAT16, BFLOAT16, BOOL and the 8- to 64-bit
//! integer types (as f32); [`Model::tensor_i64`] the integer types and BOOL. Strings,
//! complex numbers and the 8-, 6-, 4- and 2-bit formats decode (their sizes are checked) but
//! do not convert: the error names the tensor and its type. Segmented tensors are refused.
//!
//! # Writing
//!
//! [`write_model`] encodes the message and replaces the file atomically. When the main
//! graph's initializers exceed [`WriteOptions::threshold`] (1 GiB), or on
//! [`ExternalData::Always`], those of at least 1 KiB go to `<model>.data` beside it
//! (`model.onnx` + `model.onnx.data`, as PyTorch writes them), at 4096-aligned offsets.

mod attr;
mod export;
mod external;
mod import;
pub mod proto;
mod read;
mod scan;
mod tensor;
mod write;

pub use attr::{attr_float, attr_floats, attr_graph, attr_int, attr_ints, attr_string, attr_tensor, AttrValue};
pub use export::{export, graph_to_model, to_model, ExportOptions, EXPORT_OPSETS};
pub use import::{import, OPSETS, SUPPORTED};
pub use proto::attribute_proto::{self, AttributeType};
pub use proto::tensor_proto::{self, DataLocation, DataType};
pub use proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    SparseTensorProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
pub use read::{decode_model, decode_model_with, read_model, read_model_with, Model};
pub use tensor::{float_tensor, int64_scalar, int64_tensor, type_name};
pub use write::{
    ir_version_for_opset, model, node, value_info, write_model, write_model_with, Dim, ExternalData, WriteOptions,
    EXTERNAL_ALIGNMENT,
};

/// Bounds on what reading a model may take; [`Limits::default`] suits any real model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest model file, in bytes (default 2 GiB, what protobuf can encode; weights
    /// beyond that belong in external data, which has no limit but the files' real sizes).
    pub max_model_bytes: u64,
    /// How deep subgraphs (the bodies of `If`, `Loop`, `Scan`) may nest (default 16).
    pub max_subgraph_depth: usize,
    /// Nodes in all graphs together (default 2^20).
    pub max_nodes: usize,
    /// Tensor messages in the whole model (default 2^20).
    pub max_tensors: usize,
    /// The decoded messages may take this many bytes (default 64 MiB) ...
    pub max_decoded_base: u64,
    /// ... plus this many per byte of the file (default 8; `raw_data` is not counted, it
    /// stays in the file's buffer).
    pub max_decoded_per_byte: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_model_bytes: 1 << 31,
            max_subgraph_depth: 16,
            max_nodes: 1 << 20,
            max_tensors: 1 << 20,
            max_decoded_base: 64 << 20,
            max_decoded_per_byte: 8,
        }
    }
}

/// At most this many characters of a name from a file go into a message.
const MAX_NAME_CHARS: usize = 200;

/// A name from a file, escaped for a one-line message (`\n` as `\n`, quotes escaped) and
/// cut at [`MAX_NAME_CHARS`] characters.
pub(crate) fn escaped(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_NAME_CHARS).flat_map(char::escape_debug).collect();
    if s.chars().nth(MAX_NAME_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

/// [`escaped`], in double quotes.
pub(crate) fn quoted(s: &str) -> String {
    format!("\"{}\"", escaped(s))
}

/// Reads the ONNX model at `path` and builds it as a module for inputs of shape `[C, H, W]`
/// (`input`, or the file's own): [`read_model`], then [`import`], then
/// [`crate::graph::GraphModule::new`]. Its layers are named by the file's weights
/// (`layer1.0.conv1`) or nodes, and it trains like any module.
pub fn load(
    path: impl AsRef<std::path::Path>,
    input: Option<&[usize]>,
) -> Result<crate::graph::GraphModule, crate::Error> {
    let model = read_model(path)?;
    let graph = import(&model, input)?;
    crate::graph::GraphModule::new(graph).map_err(|e| model.error(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_on_one_line() {
        assert_eq!(quoted("conv1.weight"), "\"conv1.weight\"");
        assert_eq!(quoted("a\nb\"c"), "\"a\\nb\\\"c\"");
        let long = "x".repeat(1000);
        assert_eq!(quoted(&long).len(), MAX_NAME_CHARS + 5);
    }
}
