//! Attributes and nodes: reading an attribute's value by its type, naming a node in errors,
//! and the attribute constructors used for export.

use super::proto::attribute_proto::AttributeType;
use super::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};
use super::{escaped, quoted};

/// An attribute's value, chosen by its `type` (see [`AttributeProto::value`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    Float(f32),
    Int(i64),
    /// Bytes on the wire (UTF-8 by convention).
    String(&'a [u8]),
    Tensor(&'a TensorProto),
    Graph(&'a GraphProto),
    Floats(&'a [f32]),
    Ints(&'a [i64]),
    Strings(&'a [Vec<u8>]),
    Tensors(&'a [TensorProto]),
    Graphs(&'a [GraphProto]),
    /// Any other type (sparse tensors, type protos, UNDEFINED, numbers ONNX does not define),
    /// or a TENSOR or GRAPH attribute whose value is missing: the `type` as on the wire.
    Other(i32),
}

impl AttributeProto {
    /// The value its `type` names. A scalar missing from the wire reads as protobuf's default
    /// (0, 0.0, empty), as ONNX's own readers do.
    pub fn value(&self) -> AttrValue<'_> {
        match AttributeType::try_from(self.r#type) {
            Ok(AttributeType::Float) => AttrValue::Float(self.f.unwrap_or(0.0)),
            Ok(AttributeType::Int) => AttrValue::Int(self.i.unwrap_or(0)),
            Ok(AttributeType::String) => AttrValue::String(self.s.as_deref().unwrap_or(&[])),
            Ok(AttributeType::Tensor) if self.t.is_some() => AttrValue::Tensor(self.t.as_deref().expect("checked")),
            Ok(AttributeType::Graph) if self.g.is_some() => AttrValue::Graph(self.g.as_deref().expect("checked")),
            Ok(AttributeType::Floats) => AttrValue::Floats(&self.floats),
            Ok(AttributeType::Ints) => AttrValue::Ints(&self.ints),
            Ok(AttributeType::Strings) => AttrValue::Strings(&self.strings),
            Ok(AttributeType::Tensors) => AttrValue::Tensors(&self.tensors),
            Ok(AttributeType::Graphs) => AttrValue::Graphs(&self.graphs),
            _ => AttrValue::Other(self.r#type),
        }
    }

    /// The name of its type (`"INTS"`, or `"type 99"`), for messages.
    pub fn type_name(&self) -> String {
        match AttributeType::try_from(self.r#type) {
            Ok(t) => t.as_str_name().to_string(),
            Err(_) => format!("type {}", self.r#type),
        }
    }
}

impl NodeProto {
    /// The attribute called `name` (the first, if a hostile file repeats it).
    pub fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute.iter().find(|a| a.name == name)
    }

    /// How errors name the node, on one line: `node "conv1" (Conv)`, or for a node without a
    /// name `node (Conv) with output "y"`.
    pub fn label(&self) -> String {
        let op = if self.domain.is_empty() || self.domain == "ai.onnx" {
            escaped(&self.op_type)
        } else {
            escaped(&format!("{}.{}", self.domain, self.op_type))
        };
        match (self.name.is_empty(), self.output.first()) {
            (false, _) => format!("node {} ({op})", quoted(&self.name)),
            (true, Some(out)) => format!("node ({op}) with output {}", quoted(out)),
            (true, None) => format!("a node ({op})"),
        }
    }
}

fn attr(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: kind as i32, ..Default::default() }
}

/// An INT attribute (`axis`, `group`).
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { i: Some(value), ..attr(name, AttributeType::Int) }
}

/// An INTS attribute (`kernel_shape`, `pads`, `strides`).
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { ints: values.to_vec(), ..attr(name, AttributeType::Ints) }
}

/// A FLOAT attribute (`epsilon`, `alpha`).
pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { f: Some(value), ..attr(name, AttributeType::Float) }
}

/// A FLOATS attribute.
pub fn attr_floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto { floats: values.to_vec(), ..attr(name, AttributeType::Floats) }
}

/// A STRING attribute (`auto_pad`, `mode`).
pub fn attr_string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { s: Some(value.as_bytes().to_vec()), ..attr(name, AttributeType::String) }
}

/// A TENSOR attribute (a `Constant`'s `value`).
pub fn attr_tensor(name: &str, value: TensorProto) -> AttributeProto {
    AttributeProto { t: Some(Box::new(value)), ..attr(name, AttributeType::Tensor) }
}

/// A GRAPH attribute (an `If`'s branches).
pub fn attr_graph(name: &str, value: GraphProto) -> AttributeProto {
    AttributeProto { g: Some(Box::new(value)), ..attr(name, AttributeType::Graph) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::int64_tensor;

    #[test]
    fn constructors_and_values_agree() {
        assert_eq!(attr_int("axis", 0).value(), AttrValue::Int(0));
        assert_eq!(attr_ints("pads", &[1, 1]).value(), AttrValue::Ints(&[1, 1]));
        assert_eq!(attr_float("epsilon", 1e-5).value(), AttrValue::Float(1e-5));
        assert_eq!(attr_floats("scales", &[2.0]).value(), AttrValue::Floats(&[2.0]));
        assert_eq!(attr_string("mode", "constant").value(), AttrValue::String(b"constant"));
        let t = int64_tensor("v", &[3]);
        assert_eq!(attr_tensor("value", t.clone()).value(), AttrValue::Tensor(&t));
        let g = GraphProto { name: "then".into(), ..Default::default() };
        assert_eq!(attr_graph("then_branch", g.clone()).value(), AttrValue::Graph(&g));
        assert_eq!(attr_ints("x", &[]).type_name(), "INTS");
        let odd = AttributeProto { r#type: 99, ..Default::default() };
        assert_eq!((odd.value(), odd.type_name()), (AttrValue::Other(99), "type 99".to_string()));
        let missing = AttributeProto { r#type: AttributeType::Tensor as i32, ..Default::default() };
        assert_eq!(missing.value(), AttrValue::Other(4));
    }

    #[test]
    fn nodes_are_named_on_one_line() {
        let mut n = NodeProto { op_type: "Conv".into(), output: vec!["y".into()], ..Default::default() };
        assert_eq!(n.label(), "node (Conv) with output \"y\"");
        n.name = "conv\n1".into();
        assert_eq!(n.label(), "node \"conv\\n1\" (Conv)");
        n.domain = "com.microsoft".into();
        assert_eq!(n.label(), "node \"conv\\n1\" (com.microsoft.Conv)");
        n.attribute = vec![attr_int("group", 2), attr_int("group", 3)];
        assert_eq!(n.attr("group").unwrap().i, Some(2));
    }
}
