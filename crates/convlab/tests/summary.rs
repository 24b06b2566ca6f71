//! Model summaries: the lecture's LeNet-5 row by row (parameters, shapes, multiply-adds,
//! receptive fields), the dense-versus-convolution parameter count, receptive fields through
//! a residual block, and errors.

use convlab::nn::{Conv2d, Conv2dConfig, Forward, Module, ParamRng, Sequential};
use convlab::spec::Spec;
use convlab::summary::{summarize, ReceptiveField, Summary};
use convlab::{Conv2dParams, Padding2d, Tensor};

const LENET: &str = "conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)";

fn summary_of(spec: &str, input: &[usize]) -> Summary {
    let net = spec.parse::<Spec>().unwrap().build(input, 0).unwrap();
    summarize(&net, input, 0).unwrap()
}

fn rf(size: usize, jump: usize) -> ReceptiveField {
    ReceptiveField::Window { size: [size, size], jump: [jump, jump] }
}

#[test]
fn lenet5_rows() {
    let s = summary_of(LENET, &[1, 28, 28]);
    let paths: Vec<&str> = s.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    let kinds: Vec<&str> = s.rows.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            "Conv2d",
            "ReLU",
            "MaxPool2d",
            "Conv2d",
            "ReLU",
            "MaxPool2d",
            "Flatten",
            "Linear",
            "ReLU",
            "Linear",
            "ReLU",
            "Linear"
        ]
    );
    let params: Vec<usize> = s.rows.iter().map(|r| r.params).collect();
    assert_eq!(params, [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]);
    assert_eq!((s.total_params, s.trainable_params, s.buffer_values), (61_706, 61_706, 0));
    let shapes: Vec<Vec<usize>> = s.rows.iter().map(|r| r.output_shape.clone()).collect();
    assert_eq!(shapes[0], [1, 6, 28, 28]);
    assert_eq!(shapes[2], [1, 6, 14, 14]);
    assert_eq!(shapes[3], [1, 16, 10, 10]);
    assert_eq!(shapes[5], [1, 16, 5, 5]);
    assert_eq!(shapes[6], [1, 400]);
    assert_eq!(shapes[11], [1, 10]);
    assert_eq!((s.input_shape.clone(), s.output_shape.clone()), (vec![1, 1, 28, 28], vec![1, 10]));
    // Multiply-adds: conv1 = 6·28·28·25, conv2 = 16·10·10·150, then 400·120, 120·84, 84·10.
    let macs: Vec<u64> = s.rows.iter().map(|r| r.macs).collect();
    assert_eq!(macs, [117_600, 0, 0, 240_000, 0, 0, 0, 48_000, 0, 10_080, 0, 840]);
    assert_eq!(s.total_macs, 416_520);
    // Receptive fields: conv1 5, pool1 6, conv2 14, pool2 16; jumps 1, 2, 2, 4.
    let fields: Vec<ReceptiveField> = s.rows.iter().map(|r| r.receptive_field).collect();
    assert_eq!(&fields[..6], &[rf(5, 1), rf(5, 1), rf(6, 2), rf(14, 2), rf(14, 2), rf(16, 4)]);
    assert!(fields[6..].iter().all(|f| *f == ReceptiveField::Whole));
    assert_eq!(
        (fields[2].size_text(), fields[5].jump_text(), fields[7].size_text(), fields[7].jump_text()),
        ("6".into(), "4".into(), "all".into(), "-".into())
    );
    // Memory: weights as f32, activations of one forward pass.
    assert_eq!(s.param_bytes, 61_706 * 4);
    assert_eq!(s.input_bytes, 28 * 28 * 4);
    let values = 2 * 4704 + 1176 + 2 * 1600 + 2 * 400 + 2 * 120 + 2 * 84 + 10;
    assert_eq!(s.activation_bytes, values * 4);
    assert!(s.chain);
}

#[test]
fn a_dense_layer_on_an_image_has_many_weights_a_convolution_few() {
    let dense = summary_of("flatten linear(100)", &[3, 32, 32]);
    assert_eq!(dense.rows[1].params, 307_200 + 100);
    assert_eq!(dense.rows[1].macs, 307_200);
    let conv = summary_of("conv(100,3,padding=1)", &[3, 32, 32]);
    assert_eq!(conv.rows[0].params, 100 * 3 * 3 * 3 + 100);
    assert_eq!(conv.rows[0].macs, 100 * 32 * 32 * 27);
    assert_eq!(conv.rows[0].receptive_field, rf(3, 1));
}

#[test]
fn receptive_fields_of_strided_dilated_and_adaptive_layers() {
    let s = summary_of("conv(4,3,stride=2,padding=same) conv(4,3,dilation=2) maxpool(3,stride=2,padding=1) conv(4,(3,1)) globalavgpool flatten linear(2)", &[1, 32, 32]);
    let f: Vec<ReceptiveField> = s.rows.iter().map(|r| r.receptive_field).collect();
    assert_eq!(f[0], rf(3, 2));
    assert_eq!(f[1], rf(3 + 4 * 2, 2));
    assert_eq!(f[2], rf(11 + 2 * 2, 4));
    assert_eq!(f[3], ReceptiveField::Window { size: [15 + 2 * 4, 15], jump: [4, 4] });
    // The map before global pooling is 4x6: one window of 4x6 positions.
    assert_eq!(s.rows[3].output_shape, [1, 4, 4, 6]);
    assert_eq!(f[4], ReceptiveField::Window { size: [23 + 3 * 4, 15 + 5 * 4], jump: [16, 24] });
    // Flattening a 1x1 map keeps the field.
    assert_eq!(f[5], f[4]);
    assert_eq!((f[4].size_text(), f[4].jump_text(), f[3].size_text()), ("35".into(), "16x24".into(), "23x15".into()));
}

/// `x + body(x)`, as in a residual block.
struct Residual {
    body: Sequential,
}

impl Module for Residual {
    fn kind(&self) -> &'static str {
        "Residual"
    }
    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let y = ctx.child("body", &self.body, x);
        &y + x
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("body".into(), &self.body as &dyn Module)]
    }
}

fn conv3(rng: &mut ParamRng) -> Conv2d {
    Conv2d::new(
        Conv2dConfig {
            conv: Conv2dParams { padding: Padding2d::uniform(1), ..Default::default() },
            ..Conv2dConfig::new(2, 2, 3)
        },
        rng,
    )
}

#[test]
fn residual_blocks_follow_the_main_path() {
    let mut rng = ParamRng::new(0);
    let mut body = Sequential::new();
    body.push(conv3(&mut rng));
    body.push(conv3(&mut rng));
    let mut net = Sequential::new();
    net.push(conv3(&mut rng));
    net.push(Residual { body });
    net.push(conv3(&mut rng));
    let s = summarize(&net, &[2, 9, 9], 0).unwrap();
    let paths: Vec<&str> = s.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["0", "1.body.0", "1.body.1", "2"]);
    let f: Vec<ReceptiveField> = s.rows.iter().map(|r| r.receptive_field).collect();
    // 3, then 5 and 7 inside the block; the sum keeps the larger field (7); the last conv 9.
    assert_eq!(f, [rf(3, 1), rf(5, 1), rf(7, 1), rf(9, 1)]);
    assert!(!s.chain, "the last conv reads the block's sum, not the previous conv");
    assert_eq!(s.total_params, 4 * (2 * 2 * 9 + 2));
}

#[test]
fn buffers_and_errors() {
    let s = summary_of("conv(4,3) batchnorm relu", &[1, 8, 8]);
    assert_eq!(s.rows[1].params, 8);
    assert_eq!(s.buffer_values, 4 + 4 + 1);
    assert_eq!(s.buffer_bytes, 9 * 4);
    // A model given an input it cannot take: an error, not a panic.
    let net = LENET.parse::<Spec>().unwrap().build(&[1, 28, 28], 0).unwrap();
    let e = summarize(&net, &[1, 32, 32], 0).unwrap_err().to_string();
    assert!(e.contains("Sequential on input [1, 1, 32, 32]") && e.contains("linear"), "{e}");
    // A single layer summarizes as one row.
    let one = summarize(&conv3(&mut ParamRng::new(0)), &[2, 5, 5], 0).unwrap();
    assert_eq!((one.rows.len(), one.rows[0].params, one.rows[0].macs), (1, 38, 2 * 25 * 18));
}

#[test]
fn zoo_lenet5_summarizes_like_the_spec() {
    let zoo = convlab::spec::resolve_model("lenet5", None, None, None, 0).unwrap();
    assert_eq!(zoo.input, vec![1, 28, 28]);
    let z = summarize(zoo.module.as_ref(), &zoo.input, 0).unwrap();
    let s = summary_of(LENET, &[1, 28, 28]);
    let paths: Vec<&str> = z.rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2", "relu4", "fc3"]
    );
    let strip = |s: &Summary| {
        s.rows.iter().map(|r| (r.kind, r.output_shape.clone(), r.params, r.macs, r.receptive_field)).collect::<Vec<_>>()
    };
    assert_eq!(strip(&z), strip(&s));
    assert_eq!((z.total_params, z.total_macs, z.activation_bytes), (s.total_params, s.total_macs, s.activation_bytes));
}

#[test]
fn zoo_models_print_as_specs_when_they_are_chains() {
    let m = convlab::spec::resolve_model("tinyvgg", None, None, None, 0).unwrap();
    assert_eq!(m.input, vec![3, 64, 64]);
    let spec = Spec::from_module(m.module.as_ref())
        .or_else(|_| Spec::from_module_traced(m.module.as_ref(), &m.input))
        .unwrap();
    assert_eq!(spec.to_string(), "input(3,64,64) conv(10,3) relu conv(10,3) relu maxpool(2) conv(10,3) relu conv(10,3) relu maxpool(2) flatten linear(10)");
    // The spec rebuilds a network with the same parameter count.
    assert_eq!(spec.build(&m.input, 0).unwrap().num_parameters(), m.module.num_parameters());
    // The lecture's LeNet-5 from the zoo prints as the lecture's spec.
    let lenet = convlab::spec::resolve_model("lenet5", None, None, None, 0).unwrap();
    let spec = Spec::from_module_traced(lenet.module.as_ref(), &lenet.input).unwrap();
    assert_eq!(
        spec.to_string(),
        "input(1,28,28) conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)"
    );
    // A residual network is not a chain: the error names the first layer that breaks it.
    let resnet = convlab::spec::resolve_model("resnet18_cifar", None, None, None, 0).unwrap();
    assert!(Spec::from_module_traced(resnet.module.as_ref(), &resnet.input).is_err());
}
