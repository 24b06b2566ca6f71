//! Layers: PyTorch names and shapes, default initialization, modes, recording, strict loading,
//! and a stack of every layer kind against PyTorch.

mod common;

use std::collections::BTreeMap;

use common::{assert_matches_torch, Fixtures};
use convlab::nn::AvgPool2d;
use convlab::nn::{
    Act, AdaptiveAvgPool2d, BatchNorm, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose2d,
    ConvTranspose2dConfig, Dropout, Flatten, Forward, Linear, MaxPool2d, Mode, Module, ParamRng, Sequential,
    TensorKind,
};
use convlab::{no_grad, Activation, Conv2dParams, Padding2d, PaddingMode, Pool2dParams, Tensor};

fn lenet_like(rng: &mut ParamRng) -> Sequential {
    let mut s = Sequential::new();
    s.push(Conv2d::new(
        Conv2dConfig {
            conv: Conv2dParams { padding: Padding2d::uniform(2), ..Default::default() },
            ..Conv2dConfig::new(1, 6, 5)
        },
        rng,
    ));
    s.push(BatchNorm::new_2d(6));
    s.push(Act(Activation::Relu));
    s.push(MaxPool2d(Pool2dParams::new([2, 2])));
    s.push(Flatten::default());
    s.push(Dropout { p: 0.5 });
    s.push(Linear::new(6 * 14 * 14, 10, true, rng));
    s
}

#[test]
fn names_kinds_and_shapes_follow_pytorch() {
    let net = lenet_like(&mut ParamRng::new(0));
    let got: Vec<(String, Vec<usize>, TensorKind)> =
        net.named_tensors().into_iter().map(|(n, t, k)| (n, t.dims().to_vec(), k)).collect();
    let p = TensorKind::Parameter;
    let b = TensorKind::Buffer;
    let want = vec![
        ("0.weight".to_string(), vec![6, 1, 5, 5], p),
        ("0.bias".into(), vec![6], p),
        ("1.weight".into(), vec![6], p),
        ("1.bias".into(), vec![6], p),
        ("1.running_mean".into(), vec![6], b),
        ("1.running_var".into(), vec![6], b),
        ("1.num_batches_tracked".into(), vec![], b),
        ("6.weight".into(), vec![10, 1176], p),
        ("6.bias".into(), vec![10], p),
    ];
    assert_eq!(got, want);
    assert_eq!(net.num_parameters(), 150 + 6 + 12 + 11760 + 10);
    let kinds: Vec<&str> = net.children().iter().map(|(_, m)| m.kind()).collect();
    assert_eq!(kinds, ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten", "Dropout", "Linear"]);
    assert_eq!(net.children()[0].1.describe(), "1, 6, kernel_size=(5, 5), padding=(2, 2)");
    assert_eq!(net.children()[6].1.describe(), "in_features=1176, out_features=10, bias=True");
}

#[test]
fn other_layers_have_torch_shapes() {
    let mut rng = ParamRng::new(1);
    let c1 = Conv1d::new(Conv1dConfig::new(4, 8, 3), &mut rng);
    assert_eq!(c1.weight.dims(), &[8, 4, 3]);
    let mut cfg = ConvTranspose2dConfig::new(4, 6, 3);
    cfg.conv.groups = 2;
    let ct = ConvTranspose2d::new(cfg, &mut rng);
    assert_eq!(ct.weight.dims(), &[4, 3, 3, 3]);
    let y = ct.run(&Tensor::randn([1, 4, 5, 5], 2), Mode::Eval);
    assert_eq!(y.dims(), &[1, 6, 7, 7]);
    let dw = Conv2d::new(
        Conv2dConfig {
            conv: Conv2dParams { groups: 8, ..Default::default() },
            bias: false,
            ..Conv2dConfig::new(8, 8, 3)
        },
        &mut rng,
    );
    assert_eq!(dw.weight.dims(), &[8, 1, 3, 3]);
    assert!(dw.bias.is_none());
    assert_eq!(
        AdaptiveAvgPool2d { output_size: [1, 1] }.run(&Tensor::ones([2, 3, 5, 7]), Mode::Eval).dims(),
        &[2, 3, 1, 1]
    );
}

#[test]
fn default_initialization_matches_torch_bounds() {
    // torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias of conv and linear layers.
    let mut rng = ParamRng::new(3);
    let conv = Conv2d::new(Conv2dConfig::new(16, 32, 3), &mut rng);
    let bound = 1.0 / (16.0f32 * 9.0).sqrt();
    for t in [&conv.weight, conv.bias.as_ref().unwrap()] {
        let v = t.to_vec();
        assert!(v.iter().all(|x| x.abs() <= bound));
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(max > 0.9 * bound, "values spread over the range: {max} vs {bound}");
    }
    // Uniform on [-b, b] has std b/sqrt(3).
    let v = conv.weight.to_vec();
    let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!((std - bound / 3f32.sqrt()).abs() < 0.05 * bound, "{std}");
    let bn = BatchNorm::new_2d(4);
    assert_eq!(bn.weight.as_ref().unwrap().to_vec(), vec![1.0; 4]);
    assert_eq!(bn.running.as_ref().unwrap().var.to_vec(), vec![1.0; 4]);
    // Same seed, same model.
    let a = lenet_like(&mut ParamRng::new(5)).state_dict();
    let b = lenet_like(&mut ParamRng::new(5)).state_dict();
    assert!(a.iter().all(|(k, v)| b[k].to_vec() == v.to_vec()));
}

#[test]
fn mode_selects_batch_statistics_and_dropout() {
    let net = lenet_like(&mut ParamRng::new(0));
    let x = Tensor::randn([4, 1, 28, 28], 9);
    let eval1 = no_grad(|| net.run(&x, Mode::Eval));
    let eval2 = no_grad(|| net.run(&x, Mode::Eval));
    assert_eq!(eval1.to_vec(), eval2.to_vec(), "evaluation is deterministic");
    let sd = net.state_dict();
    assert_eq!(sd["1.num_batches_tracked"].item(), 0.0, "evaluation does not touch running statistics");
    let t1 = net.forward(&x, &mut Forward::train(1));
    let t2 = net.forward(&x, &mut Forward::train(1));
    let t3 = net.forward(&x, &mut Forward::train(2));
    assert_eq!(t1.to_vec(), t2.to_vec(), "same seed, same dropout mask");
    assert_ne!(t1.to_vec(), t3.to_vec(), "another seed, another mask");
    assert_eq!(sd["1.num_batches_tracked"].item(), 3.0, "three training passes");
    assert_ne!(sd["1.running_mean"].to_vec(), vec![0.0; 6]);
    // Gradients reach every parameter in training.
    let grads = t1.sum_all().backward();
    for (name, p) in net.named_parameters() {
        assert!(grads.get(&p).is_some(), "no gradient for {name}");
    }
}

#[test]
fn recording_names_every_output_by_its_path() {
    let mut outer = Sequential::new();
    outer.push_named("features", Box::new(lenet_like(&mut ParamRng::new(0))));
    outer.push_named("head", Box::new(Act(Activation::Sigmoid)));
    let mut ctx = Forward::recording(Mode::Eval, 0);
    let y = no_grad(|| outer.forward(&Tensor::randn([2, 1, 28, 28], 1), &mut ctx));
    let rec = ctx.take_recorded();
    let paths: Vec<&str> = rec.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "features.0",
            "features.1",
            "features.2",
            "features.3",
            "features.4",
            "features.5",
            "features.6",
            "features",
            "head"
        ]
    );
    assert_eq!(rec[0].kind, "Conv2d");
    assert_eq!(rec[0].output.dims(), &[2, 6, 28, 28]);
    assert_eq!(rec[3].input_shape, vec![2, 6, 28, 28]);
    assert_eq!(rec[3].output.dims(), &[2, 6, 14, 14]);
    assert_eq!(rec.last().unwrap().output.to_vec(), y.to_vec());
    assert!(outer.state_dict().contains_key("features.1.running_var"));
}

#[test]
fn strict_loading_names_missing_unexpected_and_misshaped_keys() {
    let a = lenet_like(&mut ParamRng::new(0));
    let b = lenet_like(&mut ParamRng::new(1));
    b.load_state_dict(&a.state_dict()).unwrap();
    let x = Tensor::randn([2, 1, 28, 28], 3);
    assert_eq!(no_grad(|| a.run(&x, Mode::Eval)).to_vec(), no_grad(|| b.run(&x, Mode::Eval)).to_vec());

    let mut sd: BTreeMap<String, Tensor> = a.state_dict();
    sd.remove("0.bias");
    sd.insert("7.weight".into(), Tensor::zeros([3]));
    sd.insert("6.weight".into(), Tensor::zeros([10, 5]));
    let before = b.state_dict()["6.bias"].to_vec();
    let err = b.load_state_dict(&sd).unwrap_err().to_string();
    assert!(err.contains("missing keys: 0.bias"), "{err}");
    assert!(err.contains("unexpected keys: 7.weight"), "{err}");
    assert!(err.contains("6.weight: checkpoint [10, 5] vs model [10, 1176]"), "{err}");
    assert_eq!(b.state_dict()["6.bias"].to_vec(), before, "nothing changes when loading fails");
}

/// The same stack as `tools/fixtures/layers.py`.
fn torch_stack(rng: &mut ParamRng) -> Sequential {
    let mut s = Sequential::new();
    s.push(Conv2d::new(
        Conv2dConfig {
            conv: Conv2dParams { padding: Padding2d::uniform(1), ..Default::default() },
            ..Conv2dConfig::new(2, 4, 3)
        },
        rng,
    ));
    s.push(BatchNorm::new_2d(4));
    s.push(Act(Activation::Relu));
    s.push(MaxPool2d(Pool2dParams::new([2, 2])));
    let reflect = Conv2dParams {
        stride: [2, 2],
        padding: Padding2d::uniform(1),
        padding_mode: PaddingMode::Reflect,
        ..Default::default()
    };
    s.push(Conv2d::new(Conv2dConfig { conv: reflect, ..Conv2dConfig::new(4, 6, 3) }, rng));
    s.push(Act(Activation::LeakyRelu { negative_slope: 0.1 }));
    let grouped = Conv2dParams { padding: Padding2d::uniform(1), groups: 3, ..Default::default() };
    s.push(Conv2d::new(Conv2dConfig { conv: grouped, bias: false, ..Conv2dConfig::new(6, 6, 3) }, rng));
    s.push(Act(Activation::Elu { alpha: 1.0 }));
    s.push(AvgPool2d(Pool2dParams { ceil_mode: true, ..Pool2dParams::new([2, 2]) }));
    s.push(Flatten::default());
    s.push(Linear::new(24, 8, true, rng));
    s.push(BatchNorm::new_1d(8));
    s.push(Act(Activation::Tanh));
    s.push(Linear::new(8, 5, true, rng));
    s
}

#[test]
fn a_stack_of_every_layer_kind_matches_pytorch() {
    let fx = Fixtures::load("layers");
    let case = "sequential";
    let keys: Vec<String> =
        fx.params(case)["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let net = torch_stack(&mut ParamRng::new(0));
    let own: Vec<String> = net.named_tensors().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(own, keys, "state_dict keys and their order");
    let state: BTreeMap<String, Tensor> =
        keys.iter().map(|k| (k.clone(), fx.tensor(case, &format!("in.{k}")))).collect();
    net.load_state_dict(&state).unwrap();

    let x = fx.tensor(case, "in.x");
    let out = net.forward(&x, &mut Forward::train(0));
    assert_matches_torch("training output", &out, &fx.tensor(case, "out"));
    let grads = (&out * &fx.tensor(case, "grad_out")).sum_all().backward();
    for (name, p) in net.named_parameters() {
        let want = fx.tensor(case, &format!("grad.{name}"));
        let got = grads.get(&p).unwrap();
        if name == "10.bias" {
            // A bias right before training-mode batch norm is cancelled by the mean: its true
            // gradient is 0, and both libraries return rounding noise around it.
            assert!(got.storage().iter().chain(want.storage().iter()).all(|v| v.abs() < 1e-4), "{got:?} vs {want:?}");
            continue;
        }
        assert_matches_torch(&format!("gradient of {name}"), got, &want);
    }
    for (name, t) in net.state_dict() {
        if let Some(want) = fx.try_tensor(case, &format!("out.{name}")) {
            assert_matches_torch(&format!("{name} after the training pass"), &t, &want);
        }
    }
    let eval = no_grad(|| net.run(&x, Mode::Eval));
    assert_matches_torch("evaluation output", &eval, &fx.tensor(case, "out.eval"));
}

#[test]
fn a_layer_stack_passes_gradcheck() {
    use convlab::gradcheck::{gradcheck, GradCheck};
    let net = torch_stack(&mut ParamRng::new(4));
    // Evaluation mode (fixed statistics), so finite differences see a smooth function; the
    // training-mode batch-norm backward is checked in the ops tests.
    let inputs = vec![Tensor::randn([2, 2, 10, 10], 5)];
    // The layers hold their own parameter handles, so the check differentiates with respect to
    // the input; the parameter gradients are compared with PyTorch above.
    let f = |t: &[Tensor]| net.run(&t[0], Mode::Eval);
    let opts = GradCheck { check: Some(vec![0]), ..GradCheck::default() };
    gradcheck(f, &inputs, &opts).unwrap();
}
