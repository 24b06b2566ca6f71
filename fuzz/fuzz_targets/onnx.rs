//! ONNX models: `onnx::decode_model` (the wire walk, the decode, the check of every tensor),
//! then every tensor found (initializers, sparse parts, attribute values, in subgraphs too)
//! converted to f32 and to i64, every attribute read, and the model encoded again: what
//! decodes once must decode again.
#![no_main]

use convlab::onnx::{self, AttrValue, GraphProto, Model, TensorProto};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn convert(model: &Model, t: &TensorProto) {
    let _ = model.tensor_dims(t);
    let _ = model.tensor(t);
    let _ = model.tensor_i64(t);
}

fn visit(model: &Model, g: &GraphProto) {
    for t in &g.initializer {
        convert(model, t);
    }
    for s in &g.sparse_initializer {
        for t in s.values.iter().chain(&s.indices) {
            convert(model, t);
        }
    }
    for n in &g.node {
        let _ = n.label();
        for a in &n.attribute {
            let _ = a.type_name();
            if let Some(s) = &a.sparse_tensor {
                for t in s.values.iter().chain(&s.indices) {
                    convert(model, t);
                }
            }
            match a.value() {
                AttrValue::Tensor(t) => convert(model, t),
                AttrValue::Tensors(ts) => ts.iter().for_each(|t| convert(model, t)),
                AttrValue::Graph(sub) => visit(model, sub),
                AttrValue::Graphs(subs) => subs.iter().for_each(|sub| visit(model, sub)),
                _ => {}
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = onnx::decode_model(data.to_vec(), "fuzz.onnx") {
        let _ = model.opset_version("");
        if let Ok(g) = model.graph() {
            visit(&model, g);
        }
        let again = model.proto().encode_to_vec();
        if let Err(e) = onnx::decode_model(again, "again.onnx") {
            panic!("a decoded model does not decode again once encoded: {e}");
        }
    }
});
