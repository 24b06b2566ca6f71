//! The model zoo: parameter counts (torchvision's published numbers, and torch's for the other
//! forms from tests/fixtures/zoo_keys.json), configs and names, output shapes and recordings in
//! both modes, initialization statistics. Comparisons with PyTorch are in zoo_torch.rs.
//!
//! Building the seven ImageNet VGGs not built by default takes ≈6 s; that test is `#[ignore]`d:
//! `cargo test --release -p convlab --test zoo -- --ignored`.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use convlab::models::{build, names, ModelConfig};
use convlab::nn::{Forward, Mode, Module, TensorKind};
use convlab::Tensor;

fn keys_fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zoo_keys.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("zoo_keys.json (run tools/make_fixtures.py zoo_keys)"))
        .unwrap()
}

fn default_build(name: &str, seed: u64) -> Box<dyn Module> {
    build(name, &ModelConfig::for_model(name).unwrap(), seed).unwrap()
}

/// Parameter counts: torchvision's published numbers for the ImageNet networks; for the
/// other forms, computed with torch by tools/fixtures/zoo_keys.py (also checked against the
/// JSON below) and by hand for lenet5 / tinyvgg / allcnn_c.
const COUNTS: &[(&str, usize)] = &[
    ("lenet5", 61_706),
    ("alexnet", 61_100_840),
    ("vgg11", 132_863_336),
    ("vgg11_bn", 132_868_840),
    ("vgg13", 133_047_848),
    ("vgg13_bn", 133_053_736),
    ("vgg16", 138_357_544),
    ("vgg16_bn", 138_365_992),
    ("vgg19", 143_667_240),
    ("vgg19_bn", 143_678_248),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("densenet121", 7_978_856),
    // CIFAR forms (10 classes): VGG features + Linear(512, 10).
    ("vgg11_cifar", 9_225_610),
    ("vgg11_bn_cifar", 9_231_114),
    ("vgg13_cifar", 9_410_122),
    ("vgg13_bn_cifar", 9_416_010),
    ("vgg16_cifar", 14_719_818),
    ("vgg16_bn_cifar", 14_728_266),
    ("vgg19_cifar", 20_029_514),
    ("vgg19_bn_cifar", 20_040_522),
    // resnet18: 11,689,512 − 64·3·(49 − 9) − 512·990 − 990.
    ("resnet18_cifar", 11_173_962),
    ("resnet34_cifar", 21_282_122),
    ("resnet50_cifar", 23_520_842),
    ("densenet121_cifar", 6_956_426),
    ("resnet9_cifar", 6_575_370),
    ("resnet9_slim_cifar", 1_647_242),
    // 2,688 + 2·83,040 + 166,080 + 3·331,968 + 37,056 + 1,930.
    ("allcnn_c", 1_369_738),
    // 280 + 3·910 + 16,910.
    ("tinyvgg", 19_920),
];

#[test]
fn every_name_has_a_count_and_the_counts_match_torch() {
    let listed: BTreeSet<&str> = names().into_iter().collect();
    let counted: BTreeSet<&str> = COUNTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(listed, counted);
    let fx = keys_fixture();
    for (name, want) in COUNTS {
        assert_eq!(fx["num_parameters"][name].as_u64(), Some(*want as u64), "{name}: torch's count");
    }
}

/// The ImageNet VGGs built by default (≈0.8 s each in release, for their 133-144M random
/// values); the others are in `remaining_imagenet_vgg_parameter_counts` (ignored), and
/// vgg11_bn's shapes are checked in zoo_torch.rs.
const DEFAULT_VGGS: [&str; 1] = ["vgg16"];

fn is_imagenet(name: &str) -> bool {
    convlab::models::spec(name).unwrap().input_size == [224, 224]
}

fn count(name: &str) -> usize {
    COUNTS.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Runs `net` on `x` in `mode` with recording; checks the output shape, that every module
/// owning tensors was recorded under its parameter prefix, and that the last record is the
/// output.
fn check_run(name: &str, net: &dyn Module, x: &Tensor, mode: Mode, classes: usize) {
    let mut ctx = Forward::recording(mode, 7);
    let y = net.forward(x, &mut ctx);
    assert_eq!(y.dims(), &[x.dims()[0], classes], "{name} {mode:?}: output shape");
    assert!(y.to_vec().iter().all(|v| v.is_finite()), "{name} {mode:?}: non-finite output");
    let rec = ctx.take_recorded();
    let paths: BTreeSet<&str> = rec.iter().map(|r| r.path.as_str()).collect();
    for (param, _, kind) in net.named_tensors() {
        let prefix = param.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        assert!(
            paths.contains(prefix),
            "{name} {mode:?}: no recorded output for '{prefix}' (owner of {param}, {kind:?})"
        );
    }
    assert_eq!(rec.last().unwrap().output.dims(), y.dims(), "{name}: last record is the output");
    // Shape inference agrees with the forward pass, for the model and for every module in it.
    assert_eq!(net.output_shape(x.dims()).unwrap(), y.dims(), "{name}: output_shape");
    let mut by_path = std::collections::HashMap::new();
    modules(net, String::new(), &mut by_path);
    for r in &rec {
        let m = by_path.get(r.path.as_str()).unwrap_or_else(|| panic!("{name}: no module at {}", r.path));
        assert_eq!(m.output_shape(&r.input_shape).unwrap(), r.output.dims(), "{name}: output_shape of {}", r.path);
    }
}

/// Every module under its path (the top module is `""`).
fn modules<'a>(m: &'a dyn Module, path: String, out: &mut std::collections::HashMap<String, &'a dyn Module>) {
    for (name, child) in m.children() {
        let p = if path.is_empty() { name } else { format!("{path}.{name}") };
        modules(child, p, out);
    }
    out.insert(path, m);
}

/// An input a model cannot take is an error naming the layer and the shapes, found without
/// running the model.
#[test]
fn output_shape_names_the_layer_an_input_does_not_fit() {
    let e = default_build("lenet5", 0).output_shape(&[1, 1, 8, 8]).unwrap_err().to_string();
    assert!(
        e.ends_with("(layer conv2, Conv2d)") && e.contains("[1, 6, 4, 4]") && e.contains("kernel of size 5"),
        "{e}"
    );
    let e = default_build("lenet5", 0).output_shape(&[1, 3, 28, 28]).unwrap_err().to_string();
    assert!(e.ends_with("(layer conv1, Conv2d)") && e.contains("3 channels"), "{e}");
    let e = default_build("resnet18", 0).output_shape(&[1, 3, 224]).unwrap_err().to_string();
    assert!(e.ends_with("(layer conv1, Conv2d)") && e.contains("[1, 3, 224]"), "{e}");
    let e = default_build("resnet18_cifar", 0).output_shape(&[2, 3, 32, 31]).unwrap();
    assert_eq!(e, vec![2, 10]);
    let e = default_build("tinyvgg", 0).output_shape(&[1, 3, 64, 63]).unwrap_err().to_string();
    assert!(e.ends_with("(layer output, Linear)") && e.contains("1690"), "{e}");
    let e = default_build("densenet121", 0).output_shape(&[1, 3, 16, 16]).unwrap_err().to_string();
    assert!(e.contains("(layer features.") && e.contains("too small"), "{e}");
}

/// Each ImageNet network (built once): its parameter count; one 224×224 image in eval mode
/// (0.03-0.5 s each in release); and, recorded, 2 images at a reduced size in both modes (the
/// adaptive average pools make the classifier independent of the input size; 2 images so that
/// batch norm has statistics at 1×1 in training).
#[test]
fn imagenet_models_counts_full_size_and_recordings() {
    for name in convlab::models::names().into_iter().filter(|n| is_imagenet(n)) {
        if name.starts_with("vgg") && !DEFAULT_VGGS.contains(&name) {
            continue;
        }
        let t = Instant::now();
        let net = default_build(name, 0);
        let built = t.elapsed().as_secs_f64();
        assert_eq!(net.num_parameters(), count(name), "{name}");
        let t = Instant::now();
        let y = net.run(&Tensor::randn([1, 3, 224, 224], 0), Mode::Eval);
        assert_eq!(y.dims(), &[1, 1000], "{name}");
        assert!(y.to_vec().iter().all(|v| v.is_finite()), "{name}");
        eprintln!("{name}: built in {built:.2} s, 224×224 forward {:.2} s", t.elapsed().as_secs_f64());
        let hw = if name == "alexnet" { 64 } else { 32 };
        let x = Tensor::randn([2, 3, hw, hw], 4);
        for mode in [Mode::Train, Mode::Eval] {
            check_run(name, net.as_ref(), &x, mode, 1000);
        }
    }
}

/// The other networks: parameter count, and 2 images of the intended size in both modes.
#[test]
fn small_models_counts_and_recordings() {
    for name in convlab::models::names().into_iter().filter(|n| !is_imagenet(n)) {
        let spec = convlab::models::spec(name).unwrap();
        let net = default_build(name, 1);
        assert_eq!(net.num_parameters(), count(name), "{name}");
        let [h, w] = spec.input_size;
        let x = Tensor::randn([2, spec.in_channels, h, w], 3);
        for mode in [Mode::Train, Mode::Eval] {
            check_run(name, net.as_ref(), &x, mode, spec.num_classes);
        }
    }
}

/// Run with `cargo test --release -p convlab --test zoo -- --ignored remaining_imagenet_vgg`.
#[test]
#[ignore]
fn remaining_imagenet_vgg_parameter_counts() {
    for (name, want) in
        COUNTS.iter().filter(|(n, _)| n.starts_with("vgg") && is_imagenet(n) && !DEFAULT_VGGS.contains(n))
    {
        assert_eq!(default_build(name, 0).num_parameters(), *want, "{name}");
    }
}

#[test]
fn configs_and_unknown_names() {
    let c = |n| ModelConfig::for_model(n).unwrap();
    assert_eq!(c("lenet5"), ModelConfig { in_channels: 1, num_classes: 10 });
    for n in ["alexnet", "vgg16_bn", "resnet50", "densenet121"] {
        assert_eq!(c(n), ModelConfig { in_channels: 3, num_classes: 1000 }, "{n}");
    }
    for n in ["resnet18_cifar", "vgg11_cifar", "vgg19_bn_cifar", "densenet121_cifar", "allcnn_c", "tinyvgg"] {
        assert_eq!(c(n), ModelConfig { in_channels: 3, num_classes: 10 }, "{n}");
    }
    let err = build("resnet101", &c("resnet18"), 0).err().expect("unknown name").to_string();
    assert!(err.contains("unknown model 'resnet101'") && err.contains("resnet18") && err.contains("tinyvgg"), "{err}");
    assert!(ModelConfig::for_model("lenet").unwrap_err().to_string().contains("lenet5"));
    assert!(build("lenet5", &ModelConfig { in_channels: 0, num_classes: 10 }, 0).is_err());
    // Other channel and class counts change the first and last layers.
    let net = build("resnet18", &ModelConfig { in_channels: 1, num_classes: 7 }, 0).unwrap();
    let sd = net.state_dict();
    assert_eq!(sd["conv1.weight"].dims(), &[64, 1, 7, 7]);
    assert_eq!(sd["fc.weight"].dims(), &[7, 512]);
}

#[test]
fn recordings_name_the_layers() {
    let net = default_build("resnet18_cifar", 0);
    let mut ctx = Forward::recording(Mode::Eval, 0);
    net.forward(&Tensor::randn([1, 3, 32, 32], 0), &mut ctx);
    let rec = ctx.take_recorded();
    let find = |p: &str| rec.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("no record {p}"));
    assert_eq!(find("conv1").kind, "Conv2d");
    assert_eq!(find("layer1.0").kind, "BasicBlock");
    assert_eq!(find("layer2.0.downsample.0").output.dims(), &[1, 128, 16, 16]);
    assert_eq!(find("layer4").output.dims(), &[1, 512, 4, 4]);
    assert_eq!(find("avgpool").output.dims(), &[1, 512, 1, 1]);

    let net = default_build("densenet121_cifar", 0);
    let mut ctx = Forward::recording(Mode::Eval, 0);
    net.forward(&Tensor::randn([1, 3, 32, 32], 0), &mut ctx);
    let rec = ctx.take_recorded();
    let find = |p: &str| rec.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("no record {p}"));
    assert_eq!(find("features.denseblock1.denselayer6").output.dims(), &[1, 32, 32, 32]);
    assert_eq!(find("features.denseblock1").output.dims(), &[1, 256, 32, 32]);
    assert_eq!(find("features.transition3").output.dims(), &[1, 512, 4, 4]);
    assert_eq!(find("features.norm5").output.dims(), &[1, 1024, 4, 4]);

    let net = default_build("tinyvgg", 0);
    let mut ctx = Forward::recording(Mode::Eval, 0);
    net.forward(&Tensor::randn([1, 3, 64, 64], 0), &mut ctx);
    let paths: Vec<String> =
        ctx.take_recorded().into_iter().map(|r| format!("{} {:?}", r.path, r.output.dims())).collect();
    assert_eq!(
        paths,
        [
            "conv_1_1 [1, 10, 62, 62]",
            "relu_1_1 [1, 10, 62, 62]",
            "conv_1_2 [1, 10, 60, 60]",
            "relu_1_2 [1, 10, 60, 60]",
            "max_pool_1 [1, 10, 30, 30]",
            "conv_2_1 [1, 10, 28, 28]",
            "relu_2_1 [1, 10, 28, 28]",
            "conv_2_2 [1, 10, 26, 26]",
            "relu_2_2 [1, 10, 26, 26]",
            "max_pool_2 [1, 10, 13, 13]",
            "flatten [1, 1690]",
            "output [1, 10]",
        ]
    );
}

#[test]
fn dropout_is_active_only_in_training() {
    let net = default_build("allcnn_c", 0);
    let x = Tensor::randn([2, 3, 32, 32], 1);
    let e1 = net.run(&x, Mode::Eval).to_vec();
    let e2 = net.run(&x, Mode::Eval).to_vec();
    assert_eq!(e1, e2);
    let t1 = net.forward(&x, &mut Forward::train(1)).to_vec();
    let t2 = net.forward(&x, &mut Forward::train(2)).to_vec();
    assert_ne!(t1, t2);
    assert_ne!(t1, e1);
}

fn std_mean(t: &Tensor) -> (f64, f64) {
    let v = t.to_vec();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (var.sqrt(), mean)
}

#[test]
fn initialization_follows_torchvision() {
    // ResNet: kaiming_normal(fan_out, relu) convolutions; BN weight 1, bias 0.
    let net = default_build("resnet18", 0);
    let mut convs = 0;
    for (n, t, kind) in net.named_tensors() {
        let d = t.dims().to_vec();
        if d.len() == 4 {
            let want = (2.0 / (d[0] * d[2] * d[3]) as f64).sqrt();
            let (s, m) = std_mean(&t);
            let tol = if t.numel() > 10_000 { 0.03 } else { 0.1 };
            assert!((s / want - 1.0).abs() < tol && m.abs() < 0.1 * want, "{n}: std {s} mean {m}, want std {want}");
            convs += 1;
        } else if n.ends_with("weight") && !n.starts_with("fc") {
            assert!(t.to_vec().iter().all(|&v| v == 1.0), "{n}");
        } else if n.ends_with("bias") && !n.starts_with("fc") || n.ends_with("running_mean") {
            assert!(t.to_vec().iter().all(|&v| v == 0.0), "{n}");
        }
        assert_eq!(kind == TensorKind::Buffer, n.contains("running") || n.contains("num_batches"), "{n}");
    }
    assert_eq!(convs, 20);

    // VGG: the same convolutions with zero bias; linear layers N(0, 0.01²), zero bias.
    let net = default_build("vgg11_bn_cifar", 0);
    let sd = net.state_dict();
    let (s, _) = std_mean(&sd["features.0.weight"]);
    assert!((s / (2.0f64 / (64.0 * 9.0)).sqrt() - 1.0).abs() < 0.1, "{s}");
    assert!(sd["features.0.bias"].to_vec().iter().all(|&v| v == 0.0));
    let (s, _) = std_mean(&sd["classifier.weight"]);
    assert!((s / 0.01 - 1.0).abs() < 0.1, "{s}");
    assert!(sd["classifier.bias"].to_vec().iter().all(|&v| v == 0.0));

    // DenseNet: kaiming_normal (fan_in, gain √2); classifier bias 0 with a default weight.
    let net = default_build("densenet121_cifar", 0);
    let sd = net.state_dict();
    let w = &sd["features.denseblock3.denselayer10.conv1.weight"];
    let (s, _) = std_mean(w);
    let want = (2.0 / w.dims()[1] as f64).sqrt();
    assert!((s / want - 1.0).abs() < 0.03, "{s} vs {want}");
    assert!(sd["classifier.bias"].to_vec().iter().all(|&v| v == 0.0));
    let bound = 1.0 / 1024f32.sqrt();
    assert!(sd["classifier.weight"].to_vec().iter().all(|v| v.abs() <= bound));

    // AlexNet / LeNet-5: PyTorch's layer defaults, U(±1/√fan_in) for weights and biases.
    let net = default_build("lenet5", 0);
    let sd = net.state_dict();
    for (n, fan_in) in [("conv1", 25), ("conv2", 150), ("fc1", 400), ("fc3", 84)] {
        let bound = 1.0 / (fan_in as f32).sqrt();
        for suffix in ["weight", "bias"] {
            let v = sd[&format!("{n}.{suffix}")].to_vec();
            assert!(v.iter().all(|x| x.abs() <= bound), "{n}.{suffix}");
        }
        let (s, _) = std_mean(&sd[&format!("{n}.weight")]);
        assert!((s / (bound as f64 / 3f64.sqrt()) - 1.0).abs() < 0.15, "{n}: {s}");
    }
}

#[test]
fn seeds_reproduce_weights() {
    let a = default_build("tinyvgg", 5).state_dict();
    let b = default_build("tinyvgg", 5).state_dict();
    let c = default_build("tinyvgg", 6).state_dict();
    for (k, v) in &a {
        assert_eq!(v.to_vec(), b[k].to_vec(), "{k}");
    }
    assert_ne!(a["conv_1_1.weight"].to_vec(), c["conv_1_1.weight"].to_vec());
}

#[test]
fn torch_style_state_dicts_load_by_name() {
    // A state dict with torchvision's keys (here: another zoo instance) loads strictly.
    let src = default_build("resnet18_cifar", 1);
    let dst = default_build("resnet18_cifar", 2);
    dst.load_state_dict(&src.state_dict()).unwrap();
    let x = Tensor::randn([1, 3, 32, 32], 0);
    assert_eq!(src.run(&x, Mode::Eval).to_vec(), dst.run(&x, Mode::Eval).to_vec());
    // The ImageNet stem does not fit the CIFAR form.
    let err = default_build("resnet18_cifar", 0)
        .load_state_dict(&build("resnet18", &ModelConfig { in_channels: 3, num_classes: 10 }, 0).unwrap().state_dict())
        .unwrap_err();
    assert!(err.to_string().contains("conv1.weight"), "{err}");
}
