//! Reading a model: the file, the wire walk (`scan.rs`), the decode, and a check of every
//! tensor's header and external data before the model is handed out.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use prost::bytes::Bytes;
use prost::Message;

use super::external::{self, Resolved};
use super::proto::{GraphProto, ModelProto, TensorProto};
use super::tensor::{self, Field, Header};
use super::{quoted, Limits};
use crate::{Error, Tensor};

/// A decoded model and where it came from: the folder its external data is resolved in.
///
/// Every tensor in it (initializers, attribute values, sparse parts, in subgraphs too) was
/// checked when the model was read: its dims, that its data holds exactly what the dims
/// claim, and for external data the location, the file and the range. The conversions
/// ([`Model::tensor`], [`Model::tensor_i64`]) check again, so a `TensorProto` built or
/// changed afterwards is just as safe to convert.
#[derive(Clone, Debug)]
pub struct Model {
    proto: ModelProto,
    path: PathBuf,
    /// The model's folder, canonical; `None` for a model decoded from memory.
    dir: Option<PathBuf>,
}

/// Reads and checks the ONNX model at `path` under the default [`Limits`].
pub fn read_model(path: impl AsRef<Path>) -> Result<Model, Error> {
    read_model_with(path, &Limits::default())
}

/// Reads and checks the ONNX model at `path` under `limits`. External data is looked up in
/// the folder of `path` (not read yet: [`Model::tensor`] reads it).
pub fn read_model_with(path: impl AsRef<Path>, limits: &Limits) -> Result<Model, Error> {
    let path = path.as_ref();
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(format_error(path, "not a regular file"));
    }
    check_size(path, meta.len(), limits)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may have grown since: read at most one byte more than the limit allows.
    File::open(path).map_err(io)?.take(limits.max_model_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    check_size(path, bytes.len() as u64, limits)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = fs::canonicalize(parent).map_err(io)?;
    decode(Bytes::from(bytes), path.to_path_buf(), Some(dir), limits)
}

/// Decodes and checks a model held in memory; `name` stands for the file in errors. A model
/// decoded this way has no folder, so a tensor with external data is an error.
pub fn decode_model(bytes: impl Into<Bytes>, name: &str) -> Result<Model, Error> {
    decode_model_with(bytes, name, &Limits::default())
}

/// [`decode_model`] under `limits`.
pub fn decode_model_with(bytes: impl Into<Bytes>, name: &str, limits: &Limits) -> Result<Model, Error> {
    let bytes = bytes.into();
    check_size(Path::new(name), bytes.len() as u64, limits)?;
    decode(bytes, PathBuf::from(name), None, limits)
}

fn format_error(path: &Path, msg: impl Display) -> Error {
    Error::Format { path: path.display().to_string(), msg: msg.to_string() }
}

fn check_size(path: &Path, len: u64, limits: &Limits) -> Result<(), Error> {
    if len > limits.max_model_bytes {
        return Err(format_error(
            path,
            format!(
                "the file is {len} bytes, more than the {} a model file may have (larger models keep their weights in external data)",
                limits.max_model_bytes
            ),
        ));
    }
    Ok(())
}

fn decode(bytes: Bytes, path: PathBuf, dir: Option<PathBuf>, limits: &Limits) -> Result<Model, Error> {
    if bytes.is_empty() {
        return Err(format_error(&path, "the file is empty, not an ONNX model"));
    }
    super::scan::scan(&bytes, limits).map_err(|e| format_error(&path, format!("not a valid ONNX model: {e}")))?;
    let proto = ModelProto::decode(bytes).map_err(|e| format_error(&path, format!("not a valid ONNX model: {e}")))?;
    if proto.ir_version < 1 {
        return Err(format_error(&path, "not an ONNX model: it has no ir_version"));
    }
    let model = Model { proto, path, dir };
    model.check_all()?;
    Ok(model)
}

/// The external ranges met while checking a model, to refuse overlaps (which would let a
/// file's bytes be read many times over).
#[derive(Default)]
struct ExternalRanges {
    files: HashMap<String, Result<Resolved, String>>,
    /// (file, offset, length, tensor)
    ranges: Vec<(PathBuf, u64, u64, String)>,
}

impl Model {
    /// The decoded message.
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }

    /// The decoded message, taken out.
    pub fn into_proto(self) -> ModelProto {
        self.proto
    }

    /// The file the model was read from (or the name given to [`decode_model`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An [`Error::Format`] naming the model's file: `model.error(format!("{}: ...",
    /// node.label()))` for errors found in the graph.
    pub fn error(&self, msg: impl Display) -> Error {
        format_error(&self.path, msg)
    }

    /// The main graph, or an error when the model has none.
    pub fn graph(&self) -> Result<&GraphProto, Error> {
        self.proto.graph.as_ref().ok_or_else(|| self.error("the model has no graph"))
    }

    /// The version of the operator set imported for `domain` (`""` and `"ai.onnx"` are the
    /// standard domain), the highest if it is imported more than once.
    pub fn opset_version(&self, domain: &str) -> Option<i64> {
        let standard = |d: &str| d.is_empty() || d == "ai.onnx";
        let same = |d: &str| d == domain || (standard(d) && standard(domain));
        self.proto.opset_import.iter().filter(|o| same(&o.domain)).map(|o| o.version).max()
    }

    /// The main graph's initializer called `name`.
    pub fn initializer(&self, name: &str) -> Option<&TensorProto> {
        self.proto.graph.as_ref()?.initializer.iter().find(|t| t.name == name)
    }

    fn tensor_error(&self, context: &str, t: &TensorProto, msg: impl Display) -> Error {
        self.error(format!("{context}{}: {msg}", tensor::label(t)))
    }

    /// A tensor's checked header.
    fn header(&self, t: &TensorProto) -> Result<Header, Error> {
        tensor::check(t).map_err(|e| self.tensor_error("", t, e))
    }

    /// The tensor's dims as sizes, checked (no negative dimension, no overflow).
    pub fn tensor_dims(&self, t: &TensorProto) -> Result<Vec<usize>, Error> {
        tensor::check_dims(&t.dims).map(|(dims, _)| dims).map_err(|e| self.tensor_error("", t, e))
    }

    /// The fixed-width bytes of a tensor whose data is in `raw_data` or an external file.
    fn raw<'a>(&self, t: &'a TensorProto, h: &Header) -> Result<Option<Cow<'a, [u8]>>, Error> {
        Ok(match h.data {
            Field::Raw => Some(Cow::Borrowed(&t.raw_data[..])),
            Field::External => {
                let dir = self.no_folder(t)?;
                Some(Cow::Owned(external::read(dir, t, h.raw_len()).map_err(|e| self.tensor_error("", t, e))?))
            }
            _ => None,
        })
    }

    fn no_folder(&self, t: &TensorProto) -> Result<&Path, Error> {
        self.dir.as_deref().ok_or_else(|| {
            self.tensor_error(
                "",
                t,
                "has external data, but the model was decoded from memory (no folder to find it in)",
            )
        })
    }

    /// The tensor as an f32 [`Tensor`] of its shape: FLOAT, DOUBLE, FLOAT16 and BFLOAT16
    /// (rounded to f32), BOOL and the 8- to 64-bit integers (converted), from `raw_data`, the
    /// typed field or external data. Strings, complex numbers, the 8-, 6-, 4- and 2-bit types
    /// are an error naming the tensor and its type.
    pub fn tensor(&self, t: &TensorProto) -> Result<Tensor, Error> {
        let h = self.header(t)?;
        let raw = self.raw(t, &h)?;
        tensor::to_tensor(t, &h, raw.as_deref()).map_err(|e| self.tensor_error("", t, e))
    }

    /// The tensor's values as i64, flattened in row-major order (its shape is
    /// [`Model::tensor_dims`]): INT64, INT32 and the other integer types and BOOL; a float
    /// tensor is an error.
    pub fn tensor_i64(&self, t: &TensorProto) -> Result<Vec<i64>, Error> {
        let h = self.header(t)?;
        let raw = self.raw(t, &h)?;
        tensor::to_i64(t, &h, raw.as_deref()).map_err(|e| self.tensor_error("", t, e))
    }

    /// Checks every tensor of the model, and that no two external ranges overlap.
    fn check_all(&self) -> Result<(), Error> {
        let mut ext = ExternalRanges::default();
        if let Some(g) = &self.proto.graph {
            self.check_graph(g, "", &mut ext)?;
        }
        ext.ranges.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for w in ext.ranges.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if a.0 == b.0 && a.2 > 0 && b.2 > 0 && a.1 + a.2 > b.1 {
                return Err(self.error(format!(
                    "{} and {} overlap in external data {} (bytes {}..{} and {}..{})",
                    a.3,
                    b.3,
                    a.0.display(),
                    a.1,
                    a.1 + a.2,
                    b.1,
                    b.1 + b.2
                )));
            }
        }
        Ok(())
    }

    /// The tensors of a graph and of its subgraphs (their depth was bounded by the wire walk).
    fn check_graph(&self, g: &GraphProto, context: &str, ext: &mut ExternalRanges) -> Result<(), Error> {
        for t in &g.initializer {
            self.check_tensor(t, context, ext)?;
        }
        for s in &g.sparse_initializer {
            for t in s.values.iter().chain(&s.indices) {
                self.check_tensor(t, &format!("{context}sparse initializer, "), ext)?;
            }
        }
        for n in &g.node {
            for a in &n.attribute {
                let context = format!("{context}{} attribute {}, ", n.label(), quoted(&a.name));
                let sparse = a.sparse_tensor.iter().flat_map(|s| s.values.iter().chain(&s.indices));
                for t in a.t.as_deref().into_iter().chain(&a.tensors).chain(sparse) {
                    self.check_tensor(t, &context, ext)?;
                }
                for sub in a.g.as_deref().into_iter().chain(&a.graphs) {
                    self.check_graph(sub, &context, ext)?;
                }
            }
        }
        Ok(())
    }

    fn check_tensor(&self, t: &TensorProto, context: &str, ext: &mut ExternalRanges) -> Result<(), Error> {
        let h = tensor::check(t).map_err(|e| self.tensor_error(context, t, e))?;
        if h.data != Field::External {
            return Ok(());
        }
        let dir = self.no_folder(t)?;
        let fail = |e: String| self.tensor_error(context, t, e);
        let r = external::parse(t).map_err(&fail)?;
        let resolved = ext
            .files
            .entry(r.location.to_string())
            .or_insert_with(|| external::resolve(dir, r.location))
            .clone()
            .map_err(&fail)?;
        let (offset, length) = external::check_range(&r, resolved.size, h.raw_len()).map_err(&fail)?;
        ext.ranges.push((resolved.path, offset, length, format!("{context}{}", tensor::label(t))));
        Ok(())
    }
}
