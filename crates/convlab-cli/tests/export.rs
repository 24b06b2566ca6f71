//! `convlab export`: zoo models, specs and checkpoints as ONNX files that import back with
//! the same outputs, and one-line errors (exit status 2) for what cannot be exported.

use convlab::models::{build, ModelConfig};
use convlab::nn::{Mode, Module};
use convlab::{no_grad, onnx, Tensor};

mod common;
use common::{assert_user_error, make_checkpoint, ok, s, scratch};

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.allclose(b, 1e-5, 1e-5)
}

#[test]
fn a_zoo_model_exports_and_imports_back() {
    let dir = scratch("export-tests", "zoo");
    let out = dir.join("lenet5.onnx");
    let text = ok(&["export", "--model", "lenet5", "--output", &s(&out), "--opset", "13"]);
    assert!(text.contains("lenet5: written to") && text.contains("opset 13, input [1, 1, 28, 28]"), "{text}");
    let net = build("lenet5", &ModelConfig::for_model("lenet5").unwrap(), 0).unwrap();
    let back = onnx::load(&out, None).unwrap();
    let x = Tensor::randn([1, 1, 28, 28], 3);
    assert!(no_grad(|| same(&back.run(&x, Mode::Eval), &net.run(&x, Mode::Eval))));
    assert_eq!(onnx::read_model(&out).unwrap().opset_version(""), Some(13));
}

#[test]
fn a_spec_exports_with_a_dynamic_batch_and_an_onnx_file_exports_again() {
    let dir = scratch("export-tests", "spec");
    let (a, b) = (dir.join("a.onnx"), dir.join("b.onnx"));
    let spec = "conv(4,3,padding=1) relu maxpool(2) flatten linear(5)";
    let text = ok(&["export", "--model", spec, "--input", "2,8,8", "--dynamic-batch", "--output", &s(&a)]);
    assert!(text.contains("input [N, 2, 8, 8]"), "{text}");
    // The exported file is a model like any other: it exports again, to the same graph.
    ok(&["export", "--model", &s(&a), "--output", &s(&b), "--dynamic-batch"]);
    let (ga, gb) = (onnx::read_model(&a).unwrap(), onnx::read_model(&b).unwrap());
    let names = |m: &onnx::Model| -> Vec<String> { m.graph().unwrap().node.iter().map(|n| n.name.clone()).collect() };
    assert_eq!(names(&ga), names(&gb));
    let back = onnx::load(&b, None).unwrap();
    assert_eq!(back.run(&Tensor::randn([3, 2, 8, 8], 1), Mode::Eval).dims(), &[3, 5]);
}

#[test]
fn a_checkpoint_exports_its_own_model_and_weights() {
    let dir = scratch("export-tests", "checkpoint");
    let ck = make_checkpoint(&dir, 3);
    let out = dir.join("trained.onnx");
    ok(&["export", "--checkpoint", &s(&ck), "--output", &s(&out)]);
    let (model, _) = convlab::train::state::load_model(&ck).unwrap();
    let back = onnx::load(&out, None).unwrap();
    let x = Tensor::randn([2, 1, 28, 28], 4);
    assert!(no_grad(|| same(&back.run(&x, Mode::Eval), &model.run(&x, Mode::Eval))));
}

#[test]
fn mistakes_are_one_line_errors() {
    let dir = scratch("export-tests", "errors");
    let out = s(&dir.join("x.onnx"));
    assert_user_error(&["export", "--model", "lenet5", "--output", &out, "--opset", "12"], &["opset 12", "13 to 21"]);
    assert_user_error(&["export", "--output", &out], &["--model or --checkpoint"]);
    assert_user_error(&["export", "--model", "lenet6", "--output", &out], &["lenet6", "lenet5"]);
    assert_user_error(
        &["export", "--model", "conv(2,3,padding=1,padding_mode=circular)", "--output", &out],
        &["circular", "layer 0, Conv2d"],
    );
    assert_user_error(&["export", "--model", "lenet5", "--input", "1x0x5", "--output", &out], &["--input"]);
    assert!(!dir.join("x.onnx").exists());
}
