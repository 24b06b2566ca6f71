//! The ONNX protobuf messages that ConvLab reads and writes, derived with `prost` from
//! structs written to match `onnx/onnx.proto` (field numbers, wire types and packing as
//! there). The names follow what `prost-build` would generate: a message's nested types live
//! in a module named after it (`tensor_proto::DataType`, `type_proto::Tensor`).
//!
//! Fields the schema marks `optional` decode to plain values (absent reads as the default),
//! except where ONNX tools look at presence: an attribute's `f`, `i` and `s` are `Option`s
//! (ONNX Runtime rejects an `INT` attribute without `i` on the wire, even when it is 0).
//! Fields and messages left out here (training info, functions, quantization annotations,
//! metadata on nodes and graphs, type-proto attributes) are skipped while decoding, as
//! protobuf skips any unknown field, and so never make a file unreadable.
//!
//! `raw_data` is a [`Bytes`]: decoding from a `Bytes` buffer (as [`super::read_model`]
//! does) shares the file's buffer instead of copying every weight, and cloning a message is
//! cheap for its weights.

use prost::bytes::Bytes;

/// A model: the graph, the operator sets it binds to, and who made it (`ModelProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// The IR version the model follows (ONNX's `Version` enum: 3 to 11 in practice).
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets by domain; the default domain is `""` (also written `"ai.onnx"`).
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "4")]
    pub domain: String,
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// One operator set: a domain and its version (`OperatorSetIdProto`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A key and a value; ONNX's stand-in for maps (`StringStringEntryProto`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A computation graph: nodes in topological order, constant tensors, inputs and outputs
/// (`GraphProto`). Graphs also appear inside attributes (the bodies of `If`, `Loop`, `Scan`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    /// Named constant tensors (weights); a name may also appear among the inputs.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Initializers stored sparse. Decoded so that an importer can refuse them by name.
    #[prost(message, repeated, tag = "15")]
    pub sparse_initializer: Vec<SparseTensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types and shapes of intermediate values (optional, often absent).
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application (`NodeProto`). An empty input name stands for an omitted
/// optional input.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// The operator set domain; `""` (or `"ai.onnx"`) is the standard one.
    #[prost(string, tag = "7")]
    pub domain: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// A named attribute of a node (`AttributeProto`): `type` says which one value field is in
/// use. See [`super::AttrValue`] for reading one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    /// Inside a function body: the name of the caller's attribute this one refers to.
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// An [`attribute_proto::AttributeType`] (kept as the wire's integer, so that unknown
    /// values survive decoding).
    #[prost(enumeration = "attribute_proto::AttributeType", tag = "20")]
    pub r#type: i32,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// UTF-8 by convention, but bytes on the wire.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(message, optional, boxed, tag = "5")]
    pub t: Option<Box<TensorProto>>,
    #[prost(message, optional, boxed, tag = "6")]
    pub g: Option<Box<GraphProto>>,
    #[prost(message, optional, boxed, tag = "22")]
    pub sparse_tensor: Option<Box<SparseTensorProto>>,
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub graphs: Vec<GraphProto>,
}

/// Nested types of `AttributeProto`.
pub mod attribute_proto {
    /// Which value field of an attribute is in use.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AttributeType {
        Undefined = 0,
        Float = 1,
        Int = 2,
        String = 3,
        Tensor = 4,
        Graph = 5,
        SparseTensor = 11,
        TypeProto = 13,
        Floats = 6,
        Ints = 7,
        Strings = 8,
        Tensors = 9,
        Graphs = 10,
        SparseTensors = 12,
        TypeProtos = 14,
    }

    impl AttributeType {
        /// The name ONNX gives the type (`"INTS"`).
        pub fn as_str_name(&self) -> &'static str {
            match self {
                AttributeType::Undefined => "UNDEFINED",
                AttributeType::Float => "FLOAT",
                AttributeType::Int => "INT",
                AttributeType::String => "STRING",
                AttributeType::Tensor => "TENSOR",
                AttributeType::Graph => "GRAPH",
                AttributeType::SparseTensor => "SPARSE_TENSOR",
                AttributeType::TypeProto => "TYPE_PROTO",
                AttributeType::Floats => "FLOATS",
                AttributeType::Ints => "INTS",
                AttributeType::Strings => "STRINGS",
                AttributeType::Tensors => "TENSORS",
                AttributeType::Graphs => "GRAPHS",
                AttributeType::SparseTensors => "SPARSE_TENSORS",
                AttributeType::TypeProtos => "TYPE_PROTOS",
            }
        }
    }
}

/// A tensor value: its shape, element type and data (`TensorProto`). The data is in exactly
/// one place: `raw_data` (little-endian, fixed width), one typed field (`float_data`,
/// `int32_data`, ...), or an external file named by `external_data` when `data_location` is
/// `EXTERNAL`. See [`super::Model::tensor`] for reading one safely.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// A [`tensor_proto::DataType`] as its integer.
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(message, optional, tag = "3")]
    pub segment: Option<tensor_proto::Segment>,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// INT32, INT16, INT8, UINT16, UINT8, BOOL, and the 16- and 8-bit floats (as their bits).
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(string, tag = "12")]
    pub doc_string: String,
    #[prost(bytes = "bytes", tag = "9")]
    pub raw_data: Bytes,
    /// `location` (a path relative to the model's folder), `offset` and `length` (decimal
    /// strings), `checksum` (not checked here).
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// A [`tensor_proto::DataLocation`] as its integer.
    #[prost(enumeration = "tensor_proto::DataLocation", tag = "14")]
    pub data_location: i32,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// UINT32 and UINT64.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
}

impl std::fmt::Debug for TensorProto {
    /// The header and the size of each data field, never the data (weights can be gigabytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TensorProto");
        d.field("name", &self.name).field("data_type", &self.data_type).field("dims", &self.dims);
        if let Some(s) = &self.segment {
            d.field("segment", s);
        }
        let lens = [
            ("raw_data", self.raw_data.len()),
            ("float_data", self.float_data.len()),
            ("int32_data", self.int32_data.len()),
            ("string_data", self.string_data.len()),
            ("int64_data", self.int64_data.len()),
            ("double_data", self.double_data.len()),
            ("uint64_data", self.uint64_data.len()),
        ];
        for (field, len) in lens.into_iter().filter(|&(_, len)| len > 0) {
            d.field(field, &format_args!("[{len} values]"));
        }
        if !self.external_data.is_empty() || self.data_location != 0 {
            d.field("data_location", &self.data_location).field("external_data", &self.external_data);
        }
        d.finish()
    }
}

/// Nested types of `TensorProto`.
pub mod tensor_proto {
    /// The range of a segmented tensor held in this message (not supported by the reader).
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Segment {
        #[prost(int64, tag = "1")]
        pub begin: i64,
        #[prost(int64, tag = "2")]
        pub end: i64,
    }

    /// Element types (`TensorProto.DataType`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DataType {
        Undefined = 0,
        Float = 1,
        Uint8 = 2,
        Int8 = 3,
        Uint16 = 4,
        Int16 = 5,
        Int32 = 6,
        Int64 = 7,
        String = 8,
        Bool = 9,
        Float16 = 10,
        Double = 11,
        Uint32 = 12,
        Uint64 = 13,
        Complex64 = 14,
        Complex128 = 15,
        Bfloat16 = 16,
        Float8e4m3fn = 17,
        Float8e4m3fnuz = 18,
        Float8e5m2 = 19,
        Float8e5m2fnuz = 20,
        Uint4 = 21,
        Int4 = 22,
        Float4e2m1 = 23,
        Float8e8m0 = 24,
        Uint2 = 25,
        Int2 = 26,
        Float6e2m3 = 27,
        Float6e3m2 = 28,
    }

    /// Where a tensor's data is (`TensorProto.DataLocation`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DataLocation {
        /// In this message: `raw_data` or a typed field.
        Default = 0,
        /// In a file named by `external_data`.
        External = 1,
    }
}

/// A sparse tensor: values, their indices, and the dense shape (`SparseTensorProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    pub values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    pub indices: Option<TensorProto>,
    #[prost(int64, repeated, packed = "false", tag = "3")]
    pub dims: Vec<i64>,
}

/// A shape whose dimensions are numbers or names (`TensorShapeProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// Nested types of `TensorShapeProto`.
pub mod tensor_shape_proto {
    /// One dimension: a number, a symbolic name (`"batch"`), or neither (unknown).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
        /// A standard meaning (`"DATA_BATCH"`, `"DATA_CHANNEL"`), rarely set.
        #[prost(string, tag = "3")]
        pub denotation: String,
    }

    /// Nested types of `Dimension`.
    pub mod dimension {
        /// The `value` oneof of a dimension.
        #[derive(Clone, PartialEq, Eq, prost::Oneof)]
        pub enum Value {
            #[prost(int64, tag = "1")]
            DimValue(i64),
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

/// The name, type and shape of a value: a graph input or output, or an intermediate
/// (`ValueInfoProto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A value's type (`TypeProto`): a tensor in CNNs; sequences, maps, optionals and sparse
/// tensors decode too so that an importer can name what it refuses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    #[prost(oneof = "type_proto::Value", tags = "1, 4, 5, 9, 8")]
    pub value: Option<type_proto::Value>,
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// Nested types of `TypeProto`.
pub mod type_proto {
    use super::{TensorShapeProto, TypeProto};

    /// A tensor type: its element type and (optionally) its shape.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// A [`super::tensor_proto::DataType`] as its integer.
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sequence {
        #[prost(message, optional, boxed, tag = "1")]
        pub elem_type: Option<Box<TypeProto>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Map {
        #[prost(int32, tag = "1")]
        pub key_type: i32,
        #[prost(message, optional, boxed, tag = "2")]
        pub value_type: Option<Box<TypeProto>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Optional {
        #[prost(message, optional, boxed, tag = "1")]
        pub elem_type: Option<Box<TypeProto>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SparseTensor {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    /// The `value` oneof of a type.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(message, tag = "1")]
        TensorType(Tensor),
        #[prost(message, tag = "4")]
        SequenceType(Sequence),
        #[prost(message, tag = "5")]
        MapType(Map),
        #[prost(message, tag = "9")]
        OptionalType(Optional),
        #[prost(message, tag = "8")]
        SparseTensorType(SparseTensor),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::tensor_shape_proto::{dimension, Dimension};
    use super::*;

    fn sample() -> ModelProto {
        let dim = |v: dimension::Value| Dimension { value: Some(v), denotation: String::new() };
        let input = ValueInfoProto {
            name: "x".into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: tensor_proto::DataType::Float as i32,
                    shape: Some(TensorShapeProto {
                        dim: vec![dim(dimension::Value::DimParam("N".into())), dim(dimension::Value::DimValue(0))],
                    }),
                })),
                denotation: String::new(),
            }),
            doc_string: "the input".into(),
        };
        let weight = TensorProto {
            dims: vec![2, 3],
            data_type: tensor_proto::DataType::Float as i32,
            name: "w".into(),
            raw_data: Bytes::from(vec![0u8; 24]),
            ..Default::default()
        };
        let body = GraphProto { name: "body".into(), ..Default::default() };
        let node = NodeProto {
            input: vec!["x".into(), "".into()],
            output: vec!["y".into()],
            name: "n".into(),
            op_type: "If".into(),
            domain: String::new(),
            attribute: vec![
                AttributeProto {
                    name: "axis".into(),
                    r#type: attribute_proto::AttributeType::Int as i32,
                    i: Some(0),
                    ..Default::default()
                },
                AttributeProto {
                    name: "then_branch".into(),
                    r#type: attribute_proto::AttributeType::Graph as i32,
                    g: Some(Box::new(body)),
                    ..Default::default()
                },
                AttributeProto {
                    name: "pads".into(),
                    r#type: attribute_proto::AttributeType::Ints as i32,
                    ints: vec![-1, 0, 1 << 40],
                    ..Default::default()
                },
            ],
            doc_string: String::new(),
        };
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
            producer_name: "convlab".into(),
            graph: Some(GraphProto {
                node: vec![node],
                name: "g".into(),
                initializer: vec![weight],
                input: vec![input],
                ..Default::default()
            }),
            metadata_props: vec![StringStringEntryProto { key: "k".into(), value: "v".into() }],
            ..Default::default()
        }
    }

    #[test]
    fn a_model_round_trips() {
        let m = sample();
        let bytes = m.encode_to_vec();
        assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), m);
        assert_eq!(ModelProto::decode(Bytes::from(bytes)).unwrap(), m);
    }

    #[test]
    fn an_int_attribute_of_zero_stays_on_the_wire() {
        let a = AttributeProto { name: "a".into(), r#type: 2, i: Some(0), ..Default::default() };
        // name (1), i (3) = 0, type (20) = 2.
        assert_eq!(a.encode_to_vec(), [0x0a, 1, b'a', 0x18, 0, 0xa0, 0x01, 2]);
    }

    #[test]
    fn field_numbers_and_packing_follow_onnx_proto() {
        // dims (1) unpacked, data_type (2), float_data (4) packed, name (8), raw_data (9).
        let t = TensorProto {
            dims: vec![2, 1],
            data_type: 1,
            float_data: vec![1.0, 2.0],
            name: "t".into(),
            ..Default::default()
        };
        let mut want = vec![0x08, 2, 0x08, 1, 0x10, 1, 0x22, 8];
        want.extend(1f32.to_le_bytes());
        want.extend(2f32.to_le_bytes());
        want.extend([0x42, 1, b't']);
        assert_eq!(t.encode_to_vec(), want);
        // AttributeProto.ints (8) is unpacked; TensorProto.int64_data (7) is packed.
        let a = AttributeProto { ints: vec![3, 4], ..Default::default() };
        assert_eq!(a.encode_to_vec(), [0x40, 3, 0x40, 4]);
        let t = TensorProto { int64_data: vec![3, 4], ..Default::default() };
        assert_eq!(t.encode_to_vec(), [0x3a, 2, 3, 4]);
        // Dimension: dim_value (1), dim_param (2), denotation (3).
        let d = tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimParam("N".into())),
            denotation: "DATA_BATCH".into(),
        };
        let mut want = vec![0x12, 1, b'N', 0x1a, 10];
        want.extend(b"DATA_BATCH");
        assert_eq!(d.encode_to_vec(), want);
    }

    #[test]
    fn both_packings_decode() {
        // dims written packed, float_data written unpacked: a protobuf reader accepts both.
        let mut bytes = vec![0x0a, 2, 2, 1];
        bytes.push(0x25);
        bytes.extend(1.5f32.to_le_bytes());
        let t = TensorProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(t.dims, [2, 1]);
        assert_eq!(t.float_data, [1.5]);
    }

    #[test]
    fn unknown_fields_and_types_are_skipped() {
        let mut bytes = sample().encode_to_vec();
        // ModelProto.training_info (20) and functions (25): skipped.
        bytes.extend([0xa2, 0x01, 2, 0x08, 1]);
        bytes.extend([0xca, 0x01, 0]);
        assert_eq!(ModelProto::decode(bytes.as_slice()).unwrap(), sample());
        // A map type decodes as such; an unknown attribute type value survives.
        let t = TypeProto {
            value: Some(type_proto::Value::MapType(type_proto::Map { key_type: 8, value_type: None })),
            denotation: String::new(),
        };
        assert_eq!(TypeProto::decode(t.encode_to_vec().as_slice()).unwrap(), t);
        let a = AttributeProto { r#type: 99, ..Default::default() };
        assert_eq!(AttributeProto::decode(a.encode_to_vec().as_slice()).unwrap().r#type, 99);
    }

    #[test]
    fn debug_does_not_print_the_data() {
        let t = TensorProto { name: "w".into(), raw_data: Bytes::from(vec![7u8; 4096]), ..Default::default() };
        let s = format!("{t:?}");
        assert!(s.contains("[4096 values]") && s.len() < 200, "{s}");
    }
}
