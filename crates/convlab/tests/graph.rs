//! The graph IR: every zoo model traced into a graph runs as a `GraphModule` with the same
//! outputs and the same gradients as the model, its nodes named by the model's `state_dict`
//! paths; shape inference names the node an input does not fit.

mod common;

use common::zoo_input;
use convlab::graph::{trace, GraphModule};
use convlab::models::{self, ModelConfig};
use convlab::nn::{Forward, Mode, Module};
use convlab::ops::loss::cross_entropy;
use convlab::{CrossEntropyParams, Tensor};

#[test]
fn every_zoo_model_traces_to_a_graph_with_the_same_outputs() {
    for name in models::names() {
        if name.starts_with("vgg") && name != "vgg11" {
            continue; // the same graph pattern as vgg11, only larger
        }
        let net = models::build(name, &ModelConfig::for_model(name).unwrap(), 0).unwrap();
        let shape = zoo_input(name);
        let g = trace(net.as_ref(), &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
        let gm = GraphModule::new(g).unwrap();
        let x = Tensor::randn(shape.clone(), 3);
        let (a, b) = (net.run(&x, Mode::Eval), gm.run(&x, Mode::Eval));
        assert!(a.allclose(&b, 1e-5, 1e-5), "{name}: the graph's output differs");
        assert_eq!(gm.output_shape(&shape).unwrap(), a.dims(), "{name}");
        // The state_dict is the model's: same names, same tensors.
        let (ka, kb): (Vec<String>, Vec<String>) = (
            net.named_parameters().into_iter().map(|(n, _)| n).collect(),
            gm.named_parameters().into_iter().map(|(n, _)| n).collect(),
        );
        let (mut sa, mut sb) = (ka.clone(), kb.clone());
        sa.sort();
        sb.sort();
        assert_eq!(sa, sb, "{name}: parameter names");
    }
}

#[test]
fn a_graph_trains_like_its_model() {
    let net = models::build("resnet18_cifar", &ModelConfig::for_model("resnet18_cifar").unwrap(), 1).unwrap();
    let gm = GraphModule::new(trace(net.as_ref(), &[2, 3, 32, 32]).unwrap()).unwrap();
    let x = Tensor::randn([4, 3, 32, 32], 5);
    let labels = [1, 2, 3, 4];
    let grads = |m: &dyn Module| {
        let y = m.forward(&x, &mut Forward::train(0));
        cross_entropy(&y, &labels, &CrossEntropyParams::default()).backward()
    };
    let (ga, gb) = (grads(net.as_ref()), grads(&gm));
    // The graph's layers share the model's weight tensors: the same keys in both stores.
    for (n, p) in net.named_parameters() {
        let (a, b) = (ga.get(&p).unwrap(), gb.get(&p).unwrap());
        assert!(a.allclose(b, 1e-4, 1e-6), "{n}: gradients differ");
    }
}

#[test]
fn shape_inference_names_the_node() {
    let net = models::build("lenet5", &ModelConfig::for_model("lenet5").unwrap(), 0).unwrap();
    let gm = GraphModule::new(trace(net.as_ref(), &[1, 1, 28, 28]).unwrap()).unwrap();
    let e = gm.output_shape(&[1, 1, 8, 8]).unwrap_err().to_string();
    assert!(e.ends_with("(layer conv2, Conv2d)") && e.contains("kernel of size 5"), "{e}");
    let names: Vec<&str> = gm.graph().nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2", "relu4", "fc3"]
    );
}

#[test]
fn residual_sums_and_concatenations_are_graph_ops() {
    let net = models::build("densenet121", &ModelConfig::for_model("densenet121").unwrap(), 0).unwrap();
    let g = trace(net.as_ref(), &[1, 3, 32, 32]).unwrap();
    let cats = g.nodes.iter().filter(|n| n.op.kind() == "Concat").count();
    assert_eq!(cats, 6 + 12 + 24 + 16, "one concatenation per dense layer");
    assert!(g.nodes.iter().any(|n| n.name == "features.denseblock1.cat"), "named after the block that made it");
    let net = models::build("resnet18", &ModelConfig::for_model("resnet18").unwrap(), 0).unwrap();
    let g = trace(net.as_ref(), &[1, 3, 32, 32]).unwrap();
    let adds: Vec<&str> = g.nodes.iter().filter(|n| n.op.kind() == "Add").map(|n| n.name.as_str()).collect();
    assert_eq!(adds.len(), 8);
    assert_eq!(adds[0], "layer1.0.add");
}
