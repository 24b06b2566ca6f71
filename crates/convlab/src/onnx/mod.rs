//! ONNX files: the protobuf messages of `onnx.proto` that ConvLab reads and writes
//! ([`proto`], re-exported here), derived with `prost` (nothing needs `protoc`).

pub mod proto;

pub use proto::attribute_proto::{self, AttributeType};
pub use proto::tensor_proto::{self, DataLocation, DataType};
pub use proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    SparseTensorProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
