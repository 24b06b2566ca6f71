//! Model specs: parsing every layer and argument, canonical text round trips, the JSON and
//! TOML forms, shape inference, build errors naming the layer and shapes, printing modules as
//! specs, and resolving a MODEL argument.

use convlab::nn::{ConvTranspose2d, ConvTranspose2dConfig, Linear, Mode, Module, ParamRng, Sequential};
use convlab::spec::{resolve_model, BatchNormSpec, Conv1dSpec, ConvSpec, LayerSpec, ModelSource, Spec};
use convlab::{Activation, Conv1dParams, Conv2dParams, Gelu, Padding1d, Padding2d, PaddingMode, Pool2dParams, Tensor};

const LENET: &str = "conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)";

fn layer(s: &str) -> LayerSpec {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    s.parse::<Spec>().err().unwrap_or_else(|| panic!("`{s}` should not parse")).to_string()
}

fn build_err(s: &str, input: &[usize]) -> String {
    s.parse::<Spec>().unwrap().build(input, 0).err().unwrap_or_else(|| panic!("`{s}` should not build")).to_string()
}

#[test]
fn conv_arguments() {
    let c = layer("conv(8,(3,5),stride=(2,1),padding=(1,2),dilation=2,groups=2,bias=false,padding_mode=reflect,in=4)");
    let want = ConvSpec {
        out_channels: 8,
        kernel_size: [3, 5],
        conv: Conv2dParams {
            stride: [2, 1],
            padding: Padding2d::pair(1, 2),
            dilation: [2, 2],
            groups: 2,
            padding_mode: PaddingMode::Reflect,
        },
        bias: false,
        in_channels: Some(4),
    };
    assert_eq!(c, LayerSpec::Conv(want));
    assert_eq!(layer("conv(out_channels=6, kernel_size=5)"), layer("conv(6,5)"));
    assert_eq!(layer("conv2d(6, 5, bias=False)"), layer("conv(6,5,bias=false)"));
    let pad = |s: &str| match layer(s) {
        LayerSpec::Conv(c) => (c.conv.padding, c.conv.padding_mode),
        other => panic!("{other:?}"),
    };
    assert_eq!(pad("conv(1,3,padding=valid)").0, Padding2d::Valid);
    assert_eq!(pad("conv(1,3,padding=same)").0, Padding2d::Same);
    assert_eq!(pad("conv(1,3,padding='full')").0, Padding2d::Full);
    assert_eq!(pad("conv(1,3,padding=(1,2,3,4))").0, Padding2d::per_side(1, 2, 3, 4));
    assert_eq!(pad("conv(1,3,padding=1,padding_mode=replicate)"), (Padding2d::uniform(1), PaddingMode::Replicate));
    assert_eq!(pad("conv(1,3,padding=1,padding_mode=circular)").1, PaddingMode::Circular);
    let c = layer("conv1d(4,3,stride=2,padding=same,dilation=2,bias=false,padding_mode=circular)");
    let want = Conv1dSpec {
        out_channels: 4,
        kernel_size: 3,
        conv: Conv1dParams {
            stride: 2,
            padding: Padding1d::Same,
            dilation: 2,
            groups: 1,
            padding_mode: PaddingMode::Circular,
        },
        bias: false,
        in_channels: None,
    };
    assert_eq!(c, LayerSpec::Conv1d(want));
    assert!(
        matches!(layer("conv1d(4,3,padding=(1,2))"), LayerSpec::Conv1d(c) if c.conv.padding == Padding1d::Explicit { start: 1, end: 2 })
    );
}

#[test]
fn other_layers_and_arguments() {
    assert_eq!(
        layer("linear(10,bias=false,in=20)"),
        LayerSpec::Linear { out_features: 10, bias: false, in_features: Some(20) }
    );
    assert_eq!(layer("linear(out_features=10)"), LayerSpec::Linear { out_features: 10, bias: true, in_features: None });
    let p = Pool2dParams {
        stride: [2, 2],
        padding: [1, 1],
        dilation: [2, 2],
        ceil_mode: true,
        ..Pool2dParams::new([3, 3])
    };
    assert_eq!(layer("maxpool(3,stride=2,padding=1,dilation=2,ceil_mode=true)"), LayerSpec::MaxPool(p));
    let p = Pool2dParams {
        stride: [1, 1],
        padding: [1, 1],
        ceil_mode: true,
        count_include_pad: false,
        divisor_override: Some(3),
        ..Pool2dParams::new([2, 2])
    };
    assert_eq!(
        layer("avgpool(2,stride=1,padding=1,ceil_mode=True,count_include_pad=false,divisor_override=3)"),
        LayerSpec::AvgPool(p)
    );
    assert_eq!(layer("maxpool(kernel_size=(2,3))"), LayerSpec::MaxPool(Pool2dParams::new([2, 3])));
    assert_eq!(layer("adaptiveavgpool(3)"), LayerSpec::AdaptiveAvgPool([3, 3]));
    assert_eq!(layer("adaptiveavgpool(3,5)"), LayerSpec::AdaptiveAvgPool([3, 5]));
    assert_eq!(layer("adaptiveavgpool(output_size=(2,4))"), LayerSpec::AdaptiveAvgPool([2, 4]));
    assert_eq!(layer("globalavgpool"), LayerSpec::AdaptiveAvgPool([1, 1]));
    assert_eq!(layer("batchnorm"), LayerSpec::BatchNorm(BatchNormSpec::default()));
    assert_eq!(
        layer("batchnorm(eps=0.001,momentum=none,affine=false,track_running_stats=false)"),
        LayerSpec::BatchNorm(BatchNormSpec { eps: 0.001, momentum: None, affine: false, track_running_stats: false })
    );
    assert_eq!(
        layer("batchnorm(momentum=0.01)"),
        LayerSpec::BatchNorm(BatchNormSpec { momentum: Some(0.01), ..Default::default() })
    );
    assert_eq!(layer("dropout"), LayerSpec::Dropout(0.5));
    assert_eq!(layer("dropout(0.25)"), LayerSpec::Dropout(0.25));
    assert_eq!(layer("dropout(p=0)"), LayerSpec::Dropout(0.0));
    assert_eq!(layer("flatten"), LayerSpec::Flatten);
    assert_eq!(layer("softmax"), LayerSpec::Softmax { dim: 1 });
    assert_eq!(layer("softmax(dim=-1)"), LayerSpec::Softmax { dim: -1 });
    let acts = [
        ("relu", Activation::Relu),
        ("leakyrelu", Activation::LeakyRelu { negative_slope: 0.01 }),
        ("leakyrelu(0.2)", Activation::LeakyRelu { negative_slope: 0.2 }),
        ("leaky_relu(negative_slope=0.1)", Activation::LeakyRelu { negative_slope: 0.1 }),
        ("elu(0.5)", Activation::Elu { alpha: 0.5 }),
        ("elu", Activation::Elu { alpha: 1.0 }),
        ("softplus(2,10)", Activation::Softplus { beta: 2.0, threshold: 10.0 }),
        ("softplus(beta=2)", Activation::Softplus { beta: 2.0, threshold: 20.0 }),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("gelu", Activation::Gelu { approximate: Gelu::None }),
        ("gelu(approximate=tanh)", Activation::Gelu { approximate: Gelu::Tanh }),
        ("silu", Activation::Silu),
        ("identity", Activation::Identity),
    ];
    for (text, act) in acts {
        assert_eq!(layer(text), LayerSpec::Act(act), "{text}");
    }
}

#[test]
fn canonical_text_round_trips() {
    let cases = [
        ("conv(6, 5, padding=2)", "conv(6,5,padding=2)"),
        ("conv(8,(3,5),stride=(2,1),padding=(1,2),dilation=2,groups=2,bias=false,padding_mode=reflect,in=4)", ""),
        ("conv(1,3,padding=valid)", ""),
        ("conv(1,3,padding=same,stride=2)", "conv(1,3,stride=2,padding=same)"),
        ("conv(1,3,padding=(1,2,3,4))", ""),
        ("conv(1,3,padding=0,stride=1,dilation=1,groups=1,bias=true,padding_mode=zeros)", "conv(1,3)"),
        ("conv1d(4,3,stride=2,padding=(1,2),dilation=2,bias=false,padding_mode=circular)", ""),
        ("linear(10,bias=false,in=20)", ""),
        ("maxpool(2,stride=2)", "maxpool(2)"),
        ("maxpool(3,stride=2,padding=1,dilation=2,ceil_mode=true)", ""),
        ("avgpool((2,3),stride=1,padding=1,ceil_mode=true,count_include_pad=false,divisor_override=3)", ""),
        ("adaptiveavgpool(1)", "globalavgpool"),
        ("adaptiveavgpool(3,5)", ""),
        ("adaptiveavgpool(4,4)", "adaptiveavgpool(4)"),
        ("batchnorm(eps=0.001,momentum=none,affine=false,track_running_stats=false)", ""),
        ("batchnorm(eps=1e-5,momentum=0.1)", "batchnorm"),
        ("dropout(0.5)", "dropout"),
        ("dropout(0.3)", ""),
        ("leakyrelu(0.2)", ""),
        ("leakyrelu(0.01)", "leakyrelu"),
        ("elu(0.5)", ""),
        ("softplus(2)", ""),
        ("softplus(1,10)", ""),
        ("gelu(approximate=tanh)", ""),
        ("softmax(-1)", ""),
        ("softmax(dim=1)", "softmax"),
    ];
    for (text, canonical) in cases {
        let l = layer(text);
        let want = if canonical.is_empty() { text } else { canonical };
        assert_eq!(l.to_string(), want, "{text}");
        assert_eq!(layer(&l.to_string()), l, "{text}");
    }
    let spec: Spec = LENET.parse().unwrap();
    assert_eq!(spec.to_string(), LENET);
    let with_input: Spec = format!("input(1,28,28) {LENET}").parse().unwrap();
    assert_eq!(with_input.input, Some(vec![1, 28, 28]));
    assert_eq!(with_input.to_string().parse::<Spec>().unwrap(), with_input);
    // Other separators and comments.
    let loose: Spec = "conv(6,5,padding=2) -> relu, maxpool(2); conv(16,5)|relu\nmaxpool (2) # block 2\nflatten linear(120) relu linear(84) relu linear(10)".parse().unwrap();
    assert_eq!(loose, spec);
}

#[test]
fn the_mobile_activations_parse_and_print() {
    let third = 1.0 / 6.0;
    let acts = [
        ("relu6", Activation::Relu6, "relu6"),
        ("hardswish", Activation::Hardswish, "hardswish"),
        ("selu", Activation::Selu, "selu"),
        ("hardsigmoid", Activation::Hardsigmoid { alpha: third, beta: 0.5 }, "hardsigmoid"),
        ("hardsigmoid(0.2)", Activation::Hardsigmoid { alpha: 0.2, beta: 0.5 }, "hardsigmoid(0.2,0.5)"),
        ("hardsigmoid(alpha=0.2,beta=0.4)", Activation::Hardsigmoid { alpha: 0.2, beta: 0.4 }, "hardsigmoid(0.2,0.4)"),
    ];
    for (text, act, canonical) in acts {
        let l = layer(text);
        assert_eq!(l, LayerSpec::Act(act), "{text}");
        assert_eq!(l.to_string(), canonical, "{text}");
        assert_eq!(layer(canonical), l, "{text}");
    }
    assert!(err("relu6(1)").contains("no positional arguments"), "{}", err("relu6(1)"));
    let net = "conv(4,3) relu6 hardswish hardsigmoid selu".parse::<Spec>().unwrap().build(&[3, 8, 8], 0).unwrap();
    let kinds: Vec<&str> = net.layers().map(|(_, m)| m.kind()).collect();
    assert_eq!(kinds, ["Conv2d", "ReLU6", "Hardswish", "Hardsigmoid", "SELU"]);
}

#[test]
fn parse_errors_name_the_layer() {
    let e = err("conv(6,5) foo(1) relu");
    assert!(
        e.contains("layer 1 `foo(1)`") && e.contains("unknown layer type 'foo'") && e.contains("conv, conv1d"),
        "{e}"
    );
    let e = err("conv(6,5,strid=2)");
    assert!(
        e.contains("layer 0 `conv(6,5,strid=2)`") && e.contains("unknown argument 'strid'") && e.contains("stride"),
        "{e}"
    );
    for (text, needle) in [
        ("conv(0,3)", "out=0: expected a positive integer"),
        ("conv(6)", "missing argument 'k'"),
        ("conv(6,3,stride=0)", "stride=0"),
        ("conv(6,3,groups=0)", "groups=0"),
        ("conv(6,3,padding=middle)", "padding=middle"),
        ("conv(6,3,padding=(1,2,3))", "padding=(1,2,3)"),
        ("conv(6,3,padding_mode=mirror)", "padding_mode=mirror"),
        ("conv(6,3,bias=maybe)", "bias=maybe: expected true or false"),
        ("conv(6,3,k=3)", "given twice"),
        ("linear(1,2)", "at most 1 positional"),
        ("linear(out=2.5)", "out=2.5"),
        ("dropout(1.5)", "[0, 1]"),
        ("relu(1)", "relu takes no positional arguments"),
        ("flatten(start_dim=2)", "unknown argument 'start_dim'"),
        ("batchnorm(eps=0)", "eps"),
        ("gelu(approximate=exact)", "approximate=exact"),
        ("softplus(0)", "beta=0"),
        ("maxpool(2,count_include_pad=false)", "unknown argument 'count_include_pad'"),
        ("avgpool(2,dilation=2)", "unknown argument 'dilation'"),
    ] {
        let e = err(text);
        assert!(e.contains(&format!("`{text}`")) && e.contains(needle), "{text}: {e}");
    }
    for (text, needle) in [
        ("conv(6,5", "expected ',' or ')'"),
        ("conv(6,,5)", "expected a value"),
        ("relu 3", "layer 1 `3`: unknown layer type '3'"),
        ("relu =3", "expected a layer name"),
        ("", "no layers"),
    ] {
        let e = err(text);
        assert!(e.contains(needle), "{text}: {e}");
    }
    assert!(err("relu input(1,2,3)").contains("must come first"));
    assert!(err("input(0,28,28) relu").contains("positive"));
}

#[test]
fn json_and_toml_forms() {
    let spec: Spec = LENET.parse().unwrap();
    let json = r#"[{"type": "conv", "out": 6, "k": 5, "padding": 2}, {"type": "relu"}, {"type": "maxpool", "k": 2},
        {"type": "conv", "out_channels": 16, "kernel_size": 5}, "relu", "maxpool(2)", {"type": "flatten"},
        {"type": "linear", "out": 120}, {"type": "relu"}, {"type": "linear", "out": 84}, {"type": "relu"}, {"type": "linear", "out": 10, "bias": true}]"#;
    assert_eq!(Spec::from_json(json).unwrap(), spec);
    let wrapped = format!(r#"{{"layers": {json}, "input": [1, 28, 28]}}"#);
    let s = Spec::from_json(&wrapped).unwrap();
    assert_eq!((s.input.clone(), s.layers.clone()), (Some(vec![1, 28, 28]), spec.layers.clone()));
    assert_eq!(Spec::from_json(&format!(r#"{{"spec": "{LENET}", "input": [1, 28, 28]}}"#)).unwrap(), s);
    let pads = Spec::from_json(r#"[{"type": "conv", "out": 2, "k": [3, 5], "padding": "same", "padding_mode": "reflect", "bias": false}, {"type": "batchnorm", "momentum": null}]"#).unwrap();
    assert_eq!(pads.to_string(), "conv(2,(3,5),padding=same,bias=false,padding_mode=reflect) batchnorm(momentum=none)");
    let e = Spec::from_json(r#"[{"type": "conv", "out": 6}, {"type": "relu"}]"#).unwrap_err().to_string();
    assert!(e.contains("layer 0 `{\"out\":6,\"type\":\"conv\"}`") && e.contains("missing argument 'k'"), "{e}");
    let e = Spec::from_json(r#"[{"out": 6}]"#).unwrap_err().to_string();
    assert!(e.contains("needs a \"type\""), "{e}");
    assert!(Spec::from_json(r#"{"layers": [], "shape": 1}"#)
        .unwrap_err()
        .to_string()
        .contains("unknown key \"shape\""));
    assert!(Spec::from_json("[1, 2").unwrap_err().to_string().contains("spec JSON"));

    let toml = r#"
input = [1, 28, 28]
[[layers]]
type = "conv"
out = 6
k = 5
padding = 2
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
k = 2
[[layers]]
type = "flatten"
[[layers]]
type = "linear"
out = 10
"#;
    let t = Spec::from_toml(toml).unwrap();
    assert_eq!(t.to_string(), "input(1,28,28) conv(6,5,padding=2) relu maxpool(2) flatten linear(10)");
    assert_eq!(Spec::from_toml(&format!("spec = \"{LENET}\"")).unwrap(), spec);
    assert!(Spec::from_toml("input = [1, 28").unwrap_err().to_string().contains("spec TOML"));

    let dir = std::env::temp_dir().join(format!("convlab-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (j, t_path, txt) = (dir.join("lenet.json"), dir.join("net.toml"), dir.join("lenet.spec"));
    std::fs::write(&j, &wrapped).unwrap();
    std::fs::write(&t_path, toml).unwrap();
    std::fs::write(&txt, LENET).unwrap();
    assert_eq!(Spec::from_file(&j).unwrap(), s);
    assert_eq!(Spec::from_file(&t_path).unwrap(), t);
    assert_eq!(Spec::from_file(&txt).unwrap(), spec);
    std::fs::write(&j, "[{\"type\": \"conv\"}]").unwrap();
    let e = Spec::from_file(&j).unwrap_err().to_string();
    assert!(e.starts_with(&j.display().to_string()) && e.contains("missing argument 'out'"), "{e}");
    assert!(Spec::from_file(dir.join("missing.json")).unwrap_err().to_string().contains("missing.json"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shape_inference_and_building() {
    let spec: Spec = LENET.parse().unwrap();
    let shapes = spec.infer_shapes(&[1, 28, 28]).unwrap();
    let outputs: Vec<Vec<usize>> = shapes.iter().map(|s| s.output.clone()).collect();
    let want: Vec<Vec<usize>> = vec![
        vec![6, 28, 28],
        vec![6, 28, 28],
        vec![6, 14, 14],
        vec![16, 10, 10],
        vec![16, 10, 10],
        vec![16, 5, 5],
        vec![400],
        vec![120],
        vec![120],
        vec![84],
        vec![84],
        vec![10],
    ];
    assert_eq!(outputs, want);
    let params: Vec<usize> = shapes.iter().map(|s| s.params).collect();
    assert_eq!(params, [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]);
    assert_eq!(shapes[7].layer, "linear(120)");
    assert_eq!(shapes[7].input, vec![400]);

    let net = spec.build(&[1, 28, 28], 7).unwrap();
    assert_eq!(net.num_parameters(), 61_706);
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "3.weight",
            "3.bias",
            "7.weight",
            "7.bias",
            "9.weight",
            "9.bias",
            "11.weight",
            "11.bias"
        ]
    );
    let sd = net.state_dict();
    assert_eq!(sd["3.weight"].dims(), &[16, 6, 5, 5]);
    assert_eq!(sd["7.weight"].dims(), &[120, 400]);
    let y = net.run(&Tensor::randn([2, 1, 28, 28], 1), Mode::Eval);
    assert_eq!(y.dims(), &[2, 10]);
    // Same seed, same weights; another seed, others.
    assert_eq!(spec.build(&[1, 28, 28], 7).unwrap().state_dict()["0.weight"].to_vec(), sd["0.weight"].to_vec());
    assert_ne!(spec.build(&[1, 28, 28], 8).unwrap().state_dict()["0.weight"].to_vec(), sd["0.weight"].to_vec());

    // Input channels come from the input; same padding with stride; grouped convolution.
    let s: Spec = "conv(8,3,stride=2,padding=same) batchnorm relu conv(8,3,groups=4,padding=1) globalavgpool flatten batchnorm dropout linear(5) softmax".parse().unwrap();
    let shapes = s.infer_shapes(&[4, 9, 9]).unwrap();
    assert_eq!(shapes[0].output, vec![8, 5, 5]);
    assert_eq!(shapes[0].params, 8 * 4 * 9 + 8);
    assert_eq!(shapes[1].params, 16);
    assert_eq!(shapes[3].params, 8 * 2 * 9 + 8);
    assert_eq!(shapes[4].output, vec![8, 1, 1]);
    assert_eq!(shapes[6].params, 16);
    let net = s.build(&[4, 9, 9], 0).unwrap();
    let kinds: Vec<&str> = net.layers().map(|(_, m)| m.kind()).collect();
    assert_eq!(
        kinds,
        [
            "Conv2d",
            "BatchNorm2d",
            "ReLU",
            "Conv2d",
            "AdaptiveAvgPool2d",
            "Flatten",
            "BatchNorm1d",
            "Dropout",
            "Linear",
            "Softmax"
        ]
    );
    let y = net.run(&Tensor::randn([3, 4, 9, 9], 2), Mode::Eval);
    let sums: Vec<f32> = y.sum(&[1], false).to_vec();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");

    // One-dimensional networks: conv1d and pooling over [C, L].
    let s: Spec =
        "conv1d(4,5,padding=2) batchnorm relu maxpool(2) avgpool(3,stride=1) conv1d(2,3,dilation=2) flatten linear(3)"
            .parse()
            .unwrap();
    let shapes = s.infer_shapes(&[2, 50]).unwrap();
    let outputs: Vec<Vec<usize>> = shapes.iter().map(|s| s.output.clone()).collect();
    assert_eq!(
        outputs,
        [vec![4, 50], vec![4, 50], vec![4, 50], vec![4, 25], vec![4, 23], vec![2, 19], vec![38], vec![3]]
    );
    let net = s.build(&[2, 50], 0).unwrap();
    let kinds: Vec<&str> = net.layers().map(|(_, m)| m.kind()).collect();
    assert_eq!(kinds, ["Conv1d", "BatchNorm1d", "ReLU", "MaxPool1d", "AvgPool1d", "Conv1d", "Flatten", "Linear"]);
    assert_eq!(net.run(&Tensor::randn([2, 2, 50], 3), Mode::Eval).dims(), &[2, 3]);
}

#[test]
fn impossible_specs_name_the_layer_and_shapes() {
    // A kernel larger than its input.
    let e = build_err("conv(6,5) maxpool(2) conv(16,5) maxpool(2) conv(32,5)", &[1, 28, 28]);
    assert!(e.contains("layer 4 `conv(32,5)`: input [16, 4, 4]") && e.contains("kernel of size 5"), "{e}");
    // A dense layer whose stated input does not match.
    let e = build_err("conv(16,5) flatten linear(120,in=400)", &[1, 28, 28]);
    assert!(e.contains("layer 2 `linear(120,in=400)`: input [9216]") && e.contains("400") && e.contains("9216"), "{e}");
    let e = build_err("conv(6,5,in=3)", &[1, 28, 28]);
    assert!(e.contains("layer 0 `conv(6,5,in=3)`: input [1, 28, 28]") && e.contains("3 input channels"), "{e}");
    // A dense layer on a map.
    let e = build_err(LENET.replace(" flatten", "").as_str(), &[1, 28, 28]);
    assert!(e.contains("layer 6 `linear(120)`: input [16, 5, 5]") && e.contains("flatten"), "{e}");
    // A pool that empties the map.
    let e = build_err("maxpool(2) maxpool(2) maxpool(2) maxpool(2) maxpool(2)", &[1, 28, 28]);
    assert!(e.contains("layer 4 `maxpool(2)`: input [1, 1, 1]"), "{e}");
    let e = build_err("avgpool(3,padding=2)", &[1, 8, 8]);
    assert!(e.contains("layer 0 `avgpool(3,padding=2)`") && e.contains("padding"), "{e}");
    // Groups, ranks, padding modes.
    let e = build_err("conv(6,3,groups=4)", &[3, 8, 8]);
    assert!(e.contains("layer 0 `conv(6,3,groups=4)`: input [3, 8, 8]") && e.contains("groups 4"), "{e}");
    let e = build_err("flatten conv(6,3)", &[3, 8, 8]);
    assert!(e.contains("layer 1 `conv(6,3)`: input [192]") && e.contains("[C, H, W]"), "{e}");
    let e = build_err("conv1d(6,3)", &[3, 8, 8]);
    assert!(e.contains("layer 0 `conv1d(6,3)`") && e.contains("[C, L]"), "{e}");
    let e = build_err("conv(6,3,padding=4,padding_mode=reflect)", &[3, 4, 4]);
    assert!(e.contains("layer 0") && e.contains("reflect"), "{e}");
    let e = build_err("maxpool((2,3))", &[3, 8]);
    assert!(e.contains("layer 0 `maxpool((2,3))`: input [3, 8]") && e.contains("pairs"), "{e}");
    let e = build_err("flatten softmax(3)", &[3, 8, 8]);
    assert!(e.contains("layer 1 `softmax(3)`: input [192]") && e.contains("dim 3"), "{e}");
    let e = build_err("globalavgpool", &[3, 8]);
    assert!(e.contains("layer 0 `globalavgpool`"), "{e}");
    assert!(build_err("relu", &[0, 3]).contains("[0, 3]"));
}

#[test]
fn modules_print_as_specs() {
    let spec: Spec = LENET.parse().unwrap();
    let net = spec.build(&[1, 28, 28], 0).unwrap();
    assert_eq!(Spec::from_module(&net).unwrap(), spec);
    let all = "conv(8,(3,5),stride=(2,1),padding=same,dilation=2,groups=2,bias=false,padding_mode=replicate) batchnorm(momentum=none,affine=false) leakyrelu(0.2) maxpool(3,stride=1,padding=1,ceil_mode=true) avgpool(2,count_include_pad=false,divisor_override=3) adaptiveavgpool(3,2) dropout(0.1) gelu(approximate=tanh) flatten linear(7,bias=false) elu(0.5) softplus(2,10) sigmoid tanh silu identity softmax(-1)";
    let spec: Spec = all.parse().unwrap();
    let net = spec.build(&[4, 20, 20], 0).unwrap();
    assert_eq!(Spec::from_module(&net).unwrap().to_string(), all);
    let one_d: Spec = "conv1d(4,3,padding=(1,2),stride=2) maxpool(2) avgpool(2,padding=1) batchnorm flatten linear(2)"
        .parse()
        .unwrap();
    assert_eq!(Spec::from_module(&one_d.build(&[3, 40], 0).unwrap()).unwrap(), one_d);
    // A single layer is a one-layer spec.
    let lin = Linear::new(4, 3, true, &mut ParamRng::new(0));
    assert_eq!(Spec::from_module(&lin).unwrap().to_string(), "linear(3)");

    let mut bad = Sequential::new();
    bad.push(Linear::new(4, 3, true, &mut ParamRng::new(0)));
    bad.push(ConvTranspose2d::new(ConvTranspose2dConfig::new(3, 2, 2), &mut ParamRng::new(0)));
    let e = Spec::from_module(&bad).unwrap_err().to_string();
    assert!(e.contains("layer 1 (ConvTranspose2d(3, 2, kernel_size=(2, 2)"), "{e}");
    let mut named = Sequential::new();
    named.push_named("fc", Box::new(Linear::new(4, 3, true, &mut ParamRng::new(0))));
    let e = Spec::from_module(&named).unwrap_err().to_string();
    assert!(e.contains("layer 0 'fc'") && e.contains("by position"), "{e}");
    let mut nested = Sequential::new();
    nested.push(Sequential::new());
    assert!(Spec::from_module(&nested).unwrap_err().to_string().contains("layer 0 (Sequential)"));
}

#[test]
fn resolving_model_arguments() {
    let m = resolve_model(LENET, None, Some(10), None, 0).unwrap();
    assert_eq!(m.input, vec![1, 28, 28]);
    assert_eq!(m.description, format!("input(1,28,28) {LENET}"));
    assert_eq!(m.module.num_parameters(), 61_706);
    assert!(matches!(&m.source, ModelSource::Spec(s) if s.input == Some(vec![1, 28, 28])));
    // The description rebuilds the same model.
    let again = resolve_model(&m.description, None, None, None, 0).unwrap();
    assert_eq!(again.module.state_dict()["0.weight"].to_vec(), m.module.state_dict()["0.weight"].to_vec());

    let m =
        resolve_model("conv(8,3) relu globalavgpool flatten linear(4)", Some(3), None, Some(&[3, 32, 32]), 0).unwrap();
    assert_eq!(m.input, vec![3, 32, 32]);
    let m = resolve_model("input(3,16,16) conv(8,3)", None, None, None, 0).unwrap();
    assert_eq!(m.input, vec![3, 16, 16]);

    let dir = std::env::temp_dir().join(format!("convlab-resolve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.json");
    std::fs::write(&path, r#"{"layers": [{"type": "conv", "out": 4, "k": 3}, "flatten", {"type": "linear", "out": 2}], "input": [2, 5, 5]}"#).unwrap();
    let m = resolve_model(path.to_str().unwrap(), None, Some(2), None, 0).unwrap();
    assert_eq!(
        (m.input.clone(), m.description.clone()),
        (vec![2, 5, 5], "input(2,5,5) conv(4,3) flatten linear(2)".to_string())
    );
    std::fs::remove_dir_all(&dir).ok();

    let msg = |r: Result<convlab::spec::ResolvedModel, convlab::Error>| r.err().expect("an error").to_string();
    let e = msg(resolve_model("no_such_net", None, None, None, 0));
    assert!(e.contains("unknown model 'no_such_net'") && e.contains("zoo"), "{e}");
    assert!(msg(resolve_model("missing.json", None, None, None, 0)).contains("missing.json"));
    assert!(msg(resolve_model(LENET, None, Some(5), None, 0)).contains("[10] but 5 classes"));
    assert!(msg(resolve_model(LENET, Some(3), None, Some(&[1, 28, 28]), 0)).contains("in_channels 3"));
    assert!(msg(resolve_model("input(1,28,28) conv(6,5)", Some(3), None, None, 0)).contains("in_channels 3"));
    assert!(msg(resolve_model("conv(6,5) bogus", None, None, None, 0)).contains("layer 1 `bogus`"));
    assert!(msg(resolve_model(LENET, None, None, Some(&[1, 8, 8]), 0)).contains("layer 3 `conv(16,5)`"));
}
