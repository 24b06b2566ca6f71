//! A walk over the protobuf wire format of a model, before anything is decoded: it checks
//! every length against the bytes that remain, bounds the nesting, counts nodes and tensors,
//! and adds up what the decoded messages will take in memory, without allocating.
//!
//! Decoding turns a few bytes into much larger structs (an empty tensor message is 2 bytes
//! on the wire and a few hundred in memory), so a hostile file of small messages could ask
//! for hundreds of times its size; the walk refuses it first. It follows the same schema as
//! `proto.rs` (a field it does not know is skipped there as here).

use std::mem::size_of;

use prost::bytes::Bytes;

use super::proto::{self, tensor_proto, tensor_shape_proto, type_proto};
use super::Limits;

/// The messages the decoder builds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Msg {
    Model,
    OpsetId,
    Entry,
    Graph,
    Node,
    Attribute,
    Tensor,
    Segment,
    Sparse,
    ValueInfo,
    Type,
    TypeTensor,
    TypeSequence,
    TypeMap,
    TypeOptional,
    TypeSparse,
    Shape,
    Dimension,
}

impl Msg {
    /// The size of the decoded struct.
    fn size(self) -> usize {
        match self {
            Msg::Model => size_of::<proto::ModelProto>(),
            Msg::OpsetId => size_of::<proto::OperatorSetIdProto>(),
            Msg::Entry => size_of::<proto::StringStringEntryProto>(),
            Msg::Graph => size_of::<proto::GraphProto>(),
            Msg::Node => size_of::<proto::NodeProto>(),
            Msg::Attribute => size_of::<proto::AttributeProto>(),
            Msg::Tensor => size_of::<proto::TensorProto>(),
            Msg::Segment => size_of::<tensor_proto::Segment>(),
            Msg::Sparse => size_of::<proto::SparseTensorProto>(),
            Msg::ValueInfo => size_of::<proto::ValueInfoProto>(),
            Msg::Type => size_of::<proto::TypeProto>(),
            Msg::TypeTensor => size_of::<type_proto::Tensor>(),
            Msg::TypeSequence => size_of::<type_proto::Sequence>(),
            Msg::TypeMap => size_of::<type_proto::Map>(),
            Msg::TypeOptional => size_of::<type_proto::Optional>(),
            Msg::TypeSparse => size_of::<type_proto::SparseTensor>(),
            Msg::Shape => size_of::<proto::TensorShapeProto>(),
            Msg::Dimension => size_of::<tensor_shape_proto::Dimension>(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Msg::Model => "ModelProto",
            Msg::OpsetId => "OperatorSetIdProto",
            Msg::Entry => "StringStringEntryProto",
            Msg::Graph => "GraphProto",
            Msg::Node => "NodeProto",
            Msg::Attribute => "AttributeProto",
            Msg::Tensor => "TensorProto",
            Msg::Segment => "TensorProto.Segment",
            Msg::Sparse => "SparseTensorProto",
            Msg::ValueInfo => "ValueInfoProto",
            Msg::Type => "TypeProto",
            Msg::TypeTensor => "TypeProto.Tensor",
            Msg::TypeSequence => "TypeProto.Sequence",
            Msg::TypeMap => "TypeProto.Map",
            Msg::TypeOptional => "TypeProto.Optional",
            Msg::TypeSparse => "TypeProto.SparseTensor",
            Msg::Shape => "TensorShapeProto",
            Msg::Dimension => "TensorShapeProto.Dimension",
        }
    }
}

/// What a field decodes to.
#[derive(Clone, Copy)]
enum Field {
    /// A message (one, or one element of a repeated field).
    Message(Msg),
    /// A string or bytes value copied out of the buffer.
    Bytes,
    /// `raw_data`: a slice of the shared buffer.
    Shared,
    /// One element of a repeated string or bytes field.
    RepeatedBytes,
    /// A repeated number stored as `width` bytes in memory (packed or not on the wire).
    Repeated { width: usize },
    /// A single number (inside its message's struct).
    Scalar,
}

/// The schema of `proto.rs`: what field `number` of message `m` decodes to (`None`: unknown,
/// skipped by the decoder).
fn field(m: Msg, number: u64) -> Option<Field> {
    use Field::*;
    Some(match (m, number) {
        (Msg::Model, 1 | 5) => Scalar,
        (Msg::Model, 2..=4 | 6) => Bytes,
        (Msg::Model, 7) => Message(Msg::Graph),
        (Msg::Model, 8) => Message(Msg::OpsetId),
        (Msg::Model, 14) => Message(Msg::Entry),
        (Msg::OpsetId, 1) => Bytes,
        (Msg::OpsetId, 2) => Scalar,
        (Msg::Entry, 1 | 2) => Bytes,
        (Msg::Graph, 1) => Message(Msg::Node),
        (Msg::Graph, 2 | 10) => Bytes,
        (Msg::Graph, 5) => Message(Msg::Tensor),
        (Msg::Graph, 15) => Message(Msg::Sparse),
        (Msg::Graph, 11..=13) => Message(Msg::ValueInfo),
        (Msg::Node, 1 | 2) => RepeatedBytes,
        (Msg::Node, 3 | 4 | 6 | 7) => Bytes,
        (Msg::Node, 5) => Message(Msg::Attribute),
        (Msg::Attribute, 1 | 4 | 13 | 21) => Bytes,
        (Msg::Attribute, 2 | 3 | 20) => Scalar,
        (Msg::Attribute, 5 | 10) => Message(Msg::Tensor),
        (Msg::Attribute, 6 | 11) => Message(Msg::Graph),
        (Msg::Attribute, 22) => Message(Msg::Sparse),
        (Msg::Attribute, 7) => Repeated { width: 4 },
        (Msg::Attribute, 8) => Repeated { width: 8 },
        (Msg::Attribute, 9) => RepeatedBytes,
        (Msg::Tensor, 1 | 7 | 10 | 11) => Repeated { width: 8 },
        (Msg::Tensor, 4 | 5) => Repeated { width: 4 },
        (Msg::Tensor, 2 | 14) => Scalar,
        (Msg::Tensor, 3) => Message(Msg::Segment),
        (Msg::Tensor, 6) => RepeatedBytes,
        (Msg::Tensor, 8 | 12) => Bytes,
        (Msg::Tensor, 9) => Shared,
        (Msg::Tensor, 13) => Message(Msg::Entry),
        (Msg::Segment, 1 | 2) => Scalar,
        (Msg::Sparse, 1 | 2) => Message(Msg::Tensor),
        (Msg::Sparse, 3) => Repeated { width: 8 },
        (Msg::ValueInfo, 1 | 3) => Bytes,
        (Msg::ValueInfo, 2) => Message(Msg::Type),
        (Msg::Type, 1) => Message(Msg::TypeTensor),
        (Msg::Type, 4) => Message(Msg::TypeSequence),
        (Msg::Type, 5) => Message(Msg::TypeMap),
        (Msg::Type, 9) => Message(Msg::TypeOptional),
        (Msg::Type, 8) => Message(Msg::TypeSparse),
        (Msg::Type, 6) => Bytes,
        (Msg::TypeTensor | Msg::TypeSparse, 1) => Scalar,
        (Msg::TypeTensor | Msg::TypeSparse, 2) => Message(Msg::Shape),
        (Msg::TypeSequence | Msg::TypeOptional, 1) => Message(Msg::Type),
        (Msg::TypeMap, 1) => Scalar,
        (Msg::TypeMap, 2) => Message(Msg::Type),
        (Msg::Shape, 1) => Message(Msg::Dimension),
        (Msg::Dimension, 1) => Scalar,
        (Msg::Dimension, 2 | 3) => Bytes,
        _ => return None,
    })
}

/// What the walk found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Nodes in all graphs, subgraphs included.
    pub nodes: usize,
    /// Tensor messages anywhere (initializers, attribute values, sparse parts).
    pub tensors: usize,
    /// The deepest subgraph (0: the main graph only).
    pub subgraph_depth: usize,
    /// What the decoded messages take in memory, in bytes (exact up to the spare capacity of
    /// growing vectors); `raw_data` is shared with the buffer and not counted.
    pub decoded_bytes: u64,
}

/// Message nesting on the wire beyond which the walk stops (prost's own limit is 100). A
/// subgraph is three levels deeper than its parent graph (graph, node, attribute).
const MAX_WIRE_DEPTH: usize = 96;

struct Walk<'a> {
    limits: &'a Limits,
    file_len: usize,
    max_decoded: u64,
    stats: Stats,
}

type WalkResult = Result<(), String>;

/// Reads a varint at `*pos`, advancing it.
fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let start = *pos;
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(format!("a number at byte {start} runs past the end"));
        };
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(format!("a number at byte {start} is longer than 64 bits"));
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("a number at byte {start} is longer than 10 bytes"))
}

impl Walk<'_> {
    fn add(&mut self, bytes: u64) -> WalkResult {
        self.stats.decoded_bytes = self.stats.decoded_bytes.saturating_add(bytes);
        if self.stats.decoded_bytes > self.max_decoded {
            return Err(format!(
                "decoding would take more than {} bytes of memory for a {}-byte file (a file of many tiny messages?)",
                self.max_decoded, self.file_len
            ));
        }
        Ok(())
    }

    /// Walks the fields of message `m` in `buf[start..end]`; `offset` is where the slice
    /// starts in the file (for messages), `depth` the wire nesting, `graphs` the subgraph depth
    /// (-1 outside any graph).
    fn message(&mut self, m: Msg, buf: &[u8], offset: usize, depth: usize, graphs: isize) -> WalkResult {
        if depth > MAX_WIRE_DEPTH {
            return Err(format!("messages nest deeper than {MAX_WIRE_DEPTH} levels (at byte {offset})"));
        }
        self.add(m.size() as u64)?;
        let graphs = match m {
            Msg::Graph => {
                let g = graphs + 1;
                if g as usize > self.limits.max_subgraph_depth {
                    return Err(format!(
                        "subgraphs nest deeper than {} levels (at byte {offset})",
                        self.limits.max_subgraph_depth
                    ));
                }
                self.stats.subgraph_depth = self.stats.subgraph_depth.max(g as usize);
                g
            }
            Msg::Node => {
                self.stats.nodes += 1;
                if self.stats.nodes > self.limits.max_nodes {
                    return Err(format!("more than {} nodes", self.limits.max_nodes));
                }
                graphs
            }
            Msg::Tensor => {
                self.stats.tensors += 1;
                if self.stats.tensors > self.limits.max_tensors {
                    return Err(format!("more than {} tensors", self.limits.max_tensors));
                }
                graphs
            }
            _ => graphs,
        };
        let mut pos = 0;
        while pos < buf.len() {
            let at = offset + pos;
            let key = varint(buf, &mut pos).map_err(|e| format!("{} field key: {e}", m.name()))?;
            let (number, wire) = (key >> 3, key & 7);
            if number == 0 || number > (1 << 29) - 1 {
                return Err(format!("{}: invalid field number {number} at byte {at}", m.name()));
            }
            let len = match wire {
                0 => {
                    varint(buf, &mut pos).map_err(|e| format!("{} field {number}: {e}", m.name()))?;
                    None
                }
                1 => Some(8),
                5 => Some(4),
                2 => {
                    let len = varint(buf, &mut pos).map_err(|e| format!("{} field {number}: {e}", m.name()))?;
                    let left = buf.len() - pos;
                    if len > left as u64 {
                        return Err(format!(
                            "{} field {number} at byte {at} claims {len} bytes, but only {left} remain",
                            m.name()
                        ));
                    }
                    Some(len as usize)
                }
                3 | 4 => {
                    return Err(format!(
                        "{}: protobuf groups (field {number} at byte {at}) are not part of ONNX",
                        m.name()
                    ))
                }
                w => return Err(format!("{}: invalid wire type {w} at byte {at}", m.name())),
            };
            let body_at = pos;
            if let Some(len) = len {
                if buf.len() - pos < len {
                    return Err(format!("{} field {number} at byte {at} runs past the end", m.name()));
                }
                pos += len;
            }
            let body = &buf[body_at..pos];
            match (field(m, number), wire) {
                (Some(Field::Message(child)), 2) => {
                    self.message(child, body, offset + body_at, depth + 1, graphs)?;
                }
                (Some(Field::Bytes), 2) => self.add(body.len() as u64)?,
                (Some(Field::RepeatedBytes), 2) => self.add((body.len() + size_of::<Vec<u8>>()) as u64)?,
                (Some(Field::Repeated { width }), 2) => {
                    // Packed: count the values (varints end on a byte below 0x80).
                    let count = match (m, number) {
                        (Msg::Tensor, 4) | (Msg::Attribute, 7) => body.len() / 4,
                        (Msg::Tensor, 10) => body.len() / 8,
                        _ => body.iter().filter(|&&b| b < 0x80).count(),
                    };
                    self.add((count * width) as u64)?;
                }
                (Some(Field::Repeated { width }), _) => self.add(width as u64)?,
                (Some(Field::Shared | Field::Scalar), _) | (None, _) => {}
                // A known field with another wire type: the decoder refuses it.
                (Some(_), _) => {}
            }
        }
        Ok(())
    }
}

/// Walks a whole model file (`buf` is the file) under `limits`.
pub(crate) fn scan(buf: &Bytes, limits: &Limits) -> Result<Stats, String> {
    let file_len = buf.len();
    let max_decoded =
        limits.max_decoded_base.saturating_add(limits.max_decoded_per_byte.saturating_mul(file_len as u64));
    let mut walk = Walk { limits, file_len, max_decoded, stats: Stats::default() };
    walk.message(Msg::Model, buf, 0, 0, -1)?;
    Ok(walk.stats)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::onnx::proto::*;

    fn graph_nested(levels: usize) -> GraphProto {
        let mut g = GraphProto { name: "leaf".into(), ..Default::default() };
        for _ in 0..levels {
            let attr = AttributeProto { name: "body".into(), r#type: 5, g: Some(Box::new(g)), ..Default::default() };
            g = GraphProto {
                node: vec![NodeProto { op_type: "Loop".into(), attribute: vec![attr], ..Default::default() }],
                ..Default::default()
            };
        }
        g
    }

    fn model_bytes(g: GraphProto) -> Bytes {
        Bytes::from(ModelProto { graph: Some(g), ..Default::default() }.encode_to_vec())
    }

    #[test]
    fn counts_and_estimates_a_model() {
        let t = TensorProto { dims: vec![2, 2], int64_data: vec![1, 2, 300, 4], ..Default::default() };
        let g = GraphProto {
            initializer: vec![t.clone(), t],
            node: vec![NodeProto { input: vec!["a".into()], ..Default::default() }],
            ..Default::default()
        };
        let s = scan(&model_bytes(g), &Limits::default()).unwrap();
        assert_eq!((s.nodes, s.tensors, s.subgraph_depth), (1, 2, 0));
        let want = size_of::<ModelProto>()
            + size_of::<GraphProto>()
            + 2 * (size_of::<TensorProto>() + 2 * 8 + 4 * 8)
            + size_of::<NodeProto>()
            + 1
            + size_of::<Vec<u8>>();
        assert_eq!(s.decoded_bytes, want as u64);
    }

    #[test]
    fn subgraph_depth_is_limited() {
        let limits = Limits { max_subgraph_depth: 3, ..Limits::default() };
        assert_eq!(scan(&model_bytes(graph_nested(3)), &limits).unwrap().subgraph_depth, 3);
        let e = scan(&model_bytes(graph_nested(4)), &limits).unwrap_err();
        assert!(e.contains("subgraphs nest deeper than 3"), "{e}");
    }

    #[test]
    fn wire_nesting_is_limited_without_graphs() {
        // Sequence of sequence of ...: TypeProto nests two wire levels at a time.
        let mut t = TypeProto::default();
        for _ in 0..60 {
            t = TypeProto {
                value: Some(type_proto::Value::SequenceType(type_proto::Sequence { elem_type: Some(Box::new(t)) })),
                denotation: String::new(),
            };
        }
        let g =
            GraphProto { input: vec![ValueInfoProto { r#type: Some(t), ..Default::default() }], ..Default::default() };
        let e = scan(&model_bytes(g), &Limits::default()).unwrap_err();
        assert!(e.contains("nest deeper than 96"), "{e}");
    }

    #[test]
    fn many_tiny_messages_are_refused() {
        // 1 MB of empty tensor messages in a graph: about 170 times the file in memory.
        let mut graph = Vec::new();
        for _ in 0..500_000 {
            graph.extend([0x2a, 0]);
        }
        let mut file = vec![0x3a];
        prost::encoding::encode_varint(graph.len() as u64, &mut file);
        file.extend(graph);
        let limits = Limits { max_decoded_base: 0, ..Limits::default() };
        let e = scan(&Bytes::from(file), &limits).unwrap_err();
        assert!(e.contains("decoding would take more than"), "{e}");
    }

    #[test]
    fn lengths_past_the_end_and_bad_keys_are_refused() {
        // ModelProto.graph claiming 100 bytes with 2 left.
        let e = scan(&Bytes::from_static(&[0x3a, 100, 0, 0]), &Limits::default()).unwrap_err();
        assert!(e.contains("claims 100 bytes, but only 2 remain"), "{e}");
        let e = scan(&Bytes::from_static(&[0x3a, 2, 0x0b, 0]), &Limits::default()).unwrap_err();
        assert!(e.contains("groups"), "{e}");
        let e = scan(&Bytes::from_static(&[0x08, 0xff, 0xff]), &Limits::default()).unwrap_err();
        assert!(e.contains("runs past the end"), "{e}");
        let e = scan(&Bytes::from_static(&[0x00, 0x00]), &Limits::default()).unwrap_err();
        assert!(e.contains("invalid field number 0"), "{e}");
    }
}
