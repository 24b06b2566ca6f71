//! Inference plans: every zoo model and the imported ONNX fixtures give the module's outputs
//! (within 1e-4 relative) with their batch normalizations folded into the convolutions, and
//! compiling leaves the model as it was.

mod common;

use std::path::Path;

use common::zoo_input;
use convlab::infer::Plan;
use convlab::models::{self, ModelConfig};
use convlab::nn::{Forward, Mode, Module};
use convlab::{no_grad, Tensor};

fn relative_error(a: &Tensor, b: &Tensor) -> f32 {
    let scale = b.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.to_vec().iter().zip(b.to_vec()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn every_zoo_model_gives_the_module_s_outputs() {
    for name in models::names() {
        if name.starts_with("vgg") && !name.starts_with("vgg11") {
            continue; // the same layers as vgg11(_bn), only more of them
        }
        let net = models::build(name, &ModelConfig::for_model(name).unwrap(), 0).unwrap();
        let shape = zoo_input(name);
        // Running statistics other than the initial 0 and 1: two training passes.
        for step in 0..2 {
            no_grad(|| {
                net.forward(&Tensor::randn(shape.clone(), 10 + step).mul_scalar(2.0), &mut Forward::train(step))
            });
        }
        let x = Tensor::randn(shape.clone(), 3);
        let before = net.run(&x, Mode::Eval);
        let plan = Plan::compile(net.as_ref(), &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = relative_error(&plan.run(&x), &before);
        assert!(err < 1e-4, "{name}: relative error {err}");
        assert_eq!(net.run(&x, Mode::Eval).to_vec(), before.to_vec(), "{name}: compiling changed the model");
        let bns = net.state_dict().keys().filter(|n| n.ends_with("running_mean")).count();
        let folded = plan.folded_batch_norms();
        assert!(folded <= bns, "{name}");
        // Every BatchNorm2d of these models directly follows a convolution, except in DenseNet
        // (pre-activation: a norm follows a concatenation) and the norms of the input.
        if !name.starts_with("densenet") {
            assert_eq!(folded, bns, "{name}: {folded} of {bns} batch norms folded");
        }
        // Another batch size runs too.
        let x3 = Tensor::randn([3, shape[1], shape[2], shape[3]], 4);
        assert!(relative_error(&plan.run(&x3), &net.run(&x3, Mode::Eval)) < 1e-4, "{name}");
    }
}

#[test]
fn imported_models_give_the_module_s_outputs() {
    // PyTorch's exporters fold batch norms into convolutions themselves, except where a norm
    // follows something else (DenseNet's pre-activation); the fixtures run through the plan.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    for name in ["resnet_basic_narrow_dynamo_op18", "mobilenet_v2_narrow_ts_op13", "densenet_narrow_ts_op13"] {
        let m = convlab::onnx::load(dir.join(format!("{name}.onnx")), None).unwrap();
        let shape = m.graph().input_shape.clone();
        let x = Tensor::randn(shape.clone(), 7);
        let plan = Plan::compile(&m, &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
        let err = relative_error(&plan.run(&x), &m.run(&x, Mode::Eval));
        assert!(err < 1e-4, "{name}: relative error {err}");
    }
    // ConvLab's own export keeps them: an imported ResNet-18 gets all 20 folded.
    let net = models::build("resnet18_cifar", &ModelConfig::for_model("resnet18_cifar").unwrap(), 0).unwrap();
    no_grad(|| net.forward(&Tensor::randn([4, 3, 32, 32], 11).mul_scalar(2.0), &mut Forward::train(0)));
    let path = std::env::temp_dir().join(format!("convlab-infer-{}.onnx", std::process::id()));
    convlab::onnx::export(net.as_ref(), &[1, 3, 32, 32], &path, &Default::default()).unwrap();
    let m = convlab::onnx::load(&path, None).unwrap();
    std::fs::remove_file(&path).unwrap();
    let plan = Plan::compile(&m, &[1, 3, 32, 32]).unwrap();
    assert_eq!(plan.folded_batch_norms(), 20);
    let x = Tensor::randn([2, 3, 32, 32], 8);
    assert!(relative_error(&plan.run(&x), &net.run(&x, Mode::Eval)) < 1e-4);
    // The plan's module (values dropped with the norms) traces and compiles again.
    let again = Plan::compile(plan.module(), &[1, 3, 32, 32]).unwrap();
    assert_eq!(again.folded_batch_norms(), 0);
    assert!(relative_error(&again.run(&x), &net.run(&x, Mode::Eval)) < 1e-4);
}

/// A model the tracer cannot take (1-D max pooling) still runs through `Plan::or_module`,
/// as it is.
#[test]
fn a_model_that_cannot_be_traced_runs_as_it_is() {
    let m =
        convlab::spec::resolve_model("input(2,16) conv1d(4,3) relu maxpool(2) flatten linear(3)", None, None, None, 1)
            .unwrap();
    assert!(Plan::compile(m.module.as_ref(), &[1, 2, 16]).is_err());
    let x = Tensor::randn([3, 2, 16], 2);
    let want = m.module.run(&x, Mode::Eval);
    let plan = Plan::or_module(m.module, &[1, 2, 16]);
    assert_eq!(plan.folded_batch_norms(), 0);
    assert_eq!(plan.run(&x).to_vec(), want.to_vec());
}
