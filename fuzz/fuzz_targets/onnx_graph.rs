//! The ONNX graph builder: a decoded model imported into a graph (every node mapped, the
//! shape arithmetic folded, every value's shape inferred) and wrapped as a module, for the
//! file's own input size and for a small one. Nothing runs the model: what must hold is that
//! any file gives a graph or an error, never a crash or an allocation beyond its size.
#![no_main]

use convlab::graph::GraphModule;
use convlab::nn::Module;
use convlab::onnx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = onnx::decode_model(data.to_vec(), "fuzz.onnx") else { return };
    for input in [None, Some(&[3usize, 8, 8][..])] {
        if let Ok(graph) = onnx::import(&model, input) {
            let shape = graph.input_shape.clone();
            if let Ok(m) = GraphModule::new(graph) {
                let _ = m.output_shape(&shape);
                let _ = m.named_parameters();
            }
        }
    }
});
