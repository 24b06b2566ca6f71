//! Writing a model: the constructors for nodes, value infos and the model, and the atomic
//! write of the file, with the main graph's initializers in an external data file
//! (`<model>.data`, as PyTorch's exporter writes `model.onnx.data`) when they are large.

use std::path::{Path, PathBuf};

use prost::bytes::Bytes;
use prost::Message;

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::tensor_shape_proto::{dimension, Dimension};
use super::proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::tensor;
use crate::checkpoint::write_atomic;
use crate::Error;

/// Where external data starts in its file: a multiple of this (what ONNX recommends, so that
/// a reader can map each tensor's pages).
pub const EXTERNAL_ALIGNMENT: u64 = 4096;

/// The largest file protobuf can encode (a message length is a signed 32-bit number).
const MAX_PROTOBUF_BYTES: u64 = i32::MAX as u64;

/// When [`write_model_with`] moves initializers to an external data file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExternalData {
    /// When the main graph's initializers hold more than [`WriteOptions::threshold`] bytes.
    #[default]
    Auto,
    /// Always (when any initializer is large enough to move).
    Always,
    /// Never: a model over protobuf's 2 GiB is then an error.
    Never,
}

/// How [`write_model_with`] writes a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    pub external_data: ExternalData,
    /// For [`ExternalData::Auto`]: the total `raw_data` bytes of the main graph's
    /// initializers above which they go external (default 1 GiB, well below protobuf's 2 GiB).
    pub threshold: u64,
    /// Initializers with fewer `raw_data` bytes than this stay in the model (default 1024, as
    /// in ONNX's `convert_model_to_external_data`).
    pub min_tensor_bytes: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { external_data: ExternalData::Auto, threshold: 1 << 30, min_tensor_bytes: 1024 }
    }
}

/// Writes `model` to `path` atomically (temporary file, fsync, rename), its initializers in
/// `<path>.data` when they exceed 1 GiB ([`WriteOptions::default`]).
pub fn write_model(path: impl AsRef<Path>, model: &ModelProto) -> Result<(), Error> {
    write_model_with(path, model, &WriteOptions::default()).map(|_| ())
}

/// Writes `model` to `path` atomically under `options`; returns the external data file when
/// one was written. Every initializer of the main graph is checked first (dims, data size).
///
/// With external data, the initializers of the main graph that are held in `raw_data` and
/// are at least [`WriteOptions::min_tensor_bytes`] go to `<file name>.data` beside the model
/// (offsets aligned to [`EXTERNAL_ALIGNMENT`]); the rest stay in the model: typed fields,
/// attribute tensors, subgraphs, and 1-D or scalar INT64 and INT32 tensors (shapes, axes,
/// indices, which shape inference needs to read from the model itself). The data file is written (atomically) before the model, so
/// a crash between the two leaves a new data file beside the old model.
pub fn write_model_with(
    path: impl AsRef<Path>,
    model: &ModelProto,
    options: &WriteOptions,
) -> Result<Option<PathBuf>, Error> {
    let path = path.as_ref();
    let fail = |msg: String| Error::Format { path: path.display().to_string(), msg };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file path", path.display())))?
        .to_string_lossy()
        .into_owned();
    let initializers = model.graph.as_ref().map_or(&[][..], |g| &g.initializer[..]);
    for t in initializers {
        tensor::check(t).map_err(|e| fail(format!("{}: {e}", tensor::label(t))))?;
    }
    // 1-D and scalar INT64 and INT32 tensors are shapes, axes and indices: shape inference
    // (ONNX's and ONNX Runtime's) cannot read those from external data, so they stay.
    let shape_like = |t: &TensorProto| {
        t.dims.len() <= 1 && (t.data_type == DataType::Int64 as i32 || t.data_type == DataType::Int32 as i32)
    };
    let movable = |t: &TensorProto| {
        t.data_location == DataLocation::Default as i32
            && !t.raw_data.is_empty()
            && t.raw_data.len() as u64 >= options.min_tensor_bytes
            && !shape_like(t)
    };
    let total: u64 = initializers.iter().map(|t| t.raw_data.len() as u64).sum();
    let external = match options.external_data {
        ExternalData::Always => true,
        ExternalData::Never => false,
        ExternalData::Auto => total > options.threshold,
    } && initializers.iter().any(movable);

    let (encoded, data) = if external {
        let data_name = format!("{file_name}.data");
        let mut out = model.clone();
        let graph = out.graph.as_mut().expect("a model with initializers has a graph");
        let mut moved: Vec<(u64, Bytes)> = Vec::new();
        let mut end = 0u64;
        for t in graph.initializer.iter_mut().filter(|t| movable(t)) {
            let offset = end.next_multiple_of(EXTERNAL_ALIGNMENT);
            let raw = std::mem::take(&mut t.raw_data);
            let entry = |k: &str, v: String| StringStringEntryProto { key: k.into(), value: v };
            t.external_data = vec![
                entry("location", data_name.clone()),
                entry("offset", offset.to_string()),
                entry("length", raw.len().to_string()),
            ];
            t.data_location = DataLocation::External as i32;
            end = offset + raw.len() as u64;
            moved.push((offset, raw));
        }
        (encode(&out, fail)?, Some((path.with_file_name(data_name), moved)))
    } else {
        (encode(model, fail)?, None)
    };

    let data_path = match data {
        Some((data_path, moved)) => {
            write_atomic(&data_path, |w| {
                let mut at = 0u64;
                let zeros = [0u8; EXTERNAL_ALIGNMENT as usize];
                for (offset, raw) in &moved {
                    w.write_all(&zeros[..(offset - at) as usize])?;
                    w.write_all(raw)?;
                    at = offset + raw.len() as u64;
                }
                Ok(())
            })?;
            Some(data_path)
        }
        None => None,
    };
    write_atomic(path, |w| w.write_all(&encoded))?;
    Ok(data_path)
}

/// The encoded model, or an error when it would exceed what protobuf can hold.
fn encode(model: &ModelProto, fail: impl Fn(String) -> Error) -> Result<Vec<u8>, Error> {
    let len = model.encoded_len() as u64;
    if len > MAX_PROTOBUF_BYTES {
        return Err(fail(format!(
            "the model encodes to {len} bytes, more than protobuf's {MAX_PROTOBUF_BYTES}; write its initializers as external data (WriteOptions)"
        )));
    }
    Ok(model.encode_to_vec())
}

// ----- construction -----------------------------------------------------------------------

/// A node of the standard domain.
pub fn node(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op_type.into(),
        attribute,
        ..Default::default()
    }
}

/// One dimension of a [`value_info`] shape: a size or a symbolic name (`"batch"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim<'a> {
    Value(i64),
    Param(&'a str),
}

impl From<i64> for Dim<'_> {
    fn from(v: i64) -> Self {
        Dim::Value(v)
    }
}

impl<'a> From<&'a str> for Dim<'a> {
    fn from(p: &'a str) -> Self {
        Dim::Param(p)
    }
}

/// A tensor value's name, element type and shape (a graph input or output).
pub fn value_info(name: &str, elem_type: DataType, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match *d {
                Dim::Value(v) => dimension::Value::DimValue(v),
                Dim::Param(p) => dimension::Value::DimParam(p.into()),
            }),
            denotation: String::new(),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem_type as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            denotation: String::new(),
        }),
        doc_string: String::new(),
    }
}

/// The IR version ONNX released with standard operator set `opset` (the oldest IR a runtime
/// must read to load it): 8 for opsets 15 to 18, 10 for 21 and 22.
pub fn ir_version_for_opset(opset: i64) -> i64 {
    match opset {
        ..=8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19 | 20 => 9,
        21 | 22 => 10,
        23 => 11,
        24 => 12,
        25..=27 => 13,
        _ => 14,
    }
}

/// A model of `graph` importing the standard operator set `opset`, with the IR version of
/// that opset and ConvLab as its producer.
pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: ir_version_for_opset(opset),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        producer_name: "convlab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    }
}
