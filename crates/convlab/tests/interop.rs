//! PyTorch interop: `state_dict`s saved by `safetensors.torch.save_file` load into the
//! matching ConvLab models and give PyTorch's logits; ConvLab's checkpoints are written for
//! `tools/torchvision_interop.py check` to load back into PyTorch.
//!
//! Always run (committed fixtures from `tools/fixtures/interop.py`): the lecture's LeNet-5 and
//! a small Sequential with trained batch-norm statistics (in f32 and f64).
//! Run when present (large, not committed): torchvision's resnet18, vgg11_bn, densenet121 and
//! alexnet, written by `python3 tools/torchvision_interop.py export` into `target/interop/`
//! (or `$CONVLAB_INTEROP_DIR`).

mod common;

use std::path::PathBuf;

use common::Fixtures;
use convlab::checkpoint::{self, CheckpointMeta};
use convlab::models::{self, ModelConfig};
use convlab::nn::{
    Act, BatchNorm, Conv2d, Conv2dConfig, Flatten, Linear, MaxPool2d, Mode, Module, ParamRng, Sequential,
};
use convlab::{no_grad, Activation, Conv2dParams, Padding2d, Pool2dParams, Tensor};

const TORCHVISION: [&str; 4] = ["resnet18", "vgg11_bn", "densenet121", "alexnet"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.safetensors"))
}

/// Where the large torchvision files live and where ConvLab's checkpoints for the reverse
/// check go.
fn interop_dir() -> PathBuf {
    std::env::var_os("CONVLAB_INTEROP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/interop"))
}

/// `max|got − want| / max|want|`.
fn relative_error(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims(), "logits shape {} vs PyTorch {}", got.shape(), want.shape());
    let scale = want.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = got.to_vec().iter().zip(want.to_vec()).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale.max(f32::MIN_POSITIVE)
}

fn assert_logits(what: &str, got: &Tensor, want: &Tensor) {
    let err = relative_error(got, want);
    assert!(err < 1e-4, "{what}: relative error {err:e} against PyTorch (limit 1e-4)");
}

fn eval(net: &dyn Module, x: &Tensor) -> Tensor {
    no_grad(|| net.run(x, Mode::Eval))
}

/// The `small_seq` of tools/fixtures/interop.py.
fn small_seq(seed: u64) -> Sequential {
    let mut rng = ParamRng::new(seed);
    let mut net = Sequential::new();
    let pad1 = Conv2dParams { padding: Padding2d::uniform(1), ..Default::default() };
    net.push(Conv2d::new(Conv2dConfig { conv: pad1, ..Conv2dConfig::new(3, 8, 3) }, &mut rng));
    net.push(BatchNorm::new_2d(8));
    net.push(Act(Activation::Relu));
    net.push(MaxPool2d(Pool2dParams::new([2, 2])));
    net.push(Conv2d::new(Conv2dConfig { bias: false, ..Conv2dConfig::new(8, 16, 3) }, &mut rng));
    net.push(BatchNorm::new_2d(16));
    net.push(Act(Activation::Relu));
    net.push(MaxPool2d(Pool2dParams::new([2, 2])));
    net.push(Flatten::default());
    net.push(Linear::new(16 * 2 * 2, 10, true, &mut rng));
    net
}

/// Saves `net` as a ConvLab checkpoint plus its input and logits (`<name>.in.x`, `<name>.out`,
/// as the fixtures name them), for `tools/torchvision_interop.py check` (the reverse direction).
fn save_for_pytorch(name: &str, net: &dyn Module, config: serde_json::Value, x: &Tensor) {
    let dir = interop_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let logits = eval(net, x);
    checkpoint::save(dir.join(format!("rust_{name}.safetensors")), net, &CheckpointMeta::new(name, config)).unwrap();
    let io = [(format!("{name}.in.x"), x.clone()), (format!("{name}.out"), logits.clone())].into();
    let meta = [(name.to_string(), serde_json::json!({ "model": name }).to_string())].into();
    checkpoint::save_tensors(dir.join(format!("rust_{name}.io.safetensors")), &io, &meta).unwrap();
    // What was written reads back into a fresh module with the same logits.
    let back = checkpoint::load(dir.join(format!("rust_{name}.safetensors"))).unwrap();
    assert_eq!(back.meta.model, name);
    assert_eq!(back.tensors.len(), net.named_tensors().len());
}

#[test]
fn pytorch_sequential_with_trained_batchnorm_gives_the_same_logits() {
    let io = Fixtures::load("interop_seq.io");
    let (x, logits) = (io.tensor("interop_seq", "in.x"), io.tensor("interop_seq", "out"));
    for file in ["interop_seq", "interop_seq_f64"] {
        let net = small_seq(99);
        let meta = checkpoint::load_into(fixture(file), &net).unwrap();
        assert_eq!(meta.model, "", "a plain torch state_dict has no ConvLab metadata");
        let sd = net.state_dict();
        assert_eq!(sd["1.num_batches_tracked"].item(), 4.0, "{file}: torch's int64 counter");
        assert_eq!(sd["5.num_batches_tracked"].item(), 4.0, "{file}");
        assert!(sd["1.running_mean"].to_vec().iter().all(|&m| m != 0.0), "{file}: trained statistics");
        assert!(sd["5.running_var"].to_vec().iter().all(|&v| v != 1.0), "{file}: trained statistics");
        assert_logits(file, &eval(&net, &x), &logits);
    }
}

#[test]
fn convlab_checkpoints_are_written_for_the_pytorch_check() {
    // Own initialization and own training-mode statistics, so PyTorch has something to verify.
    let net = small_seq(5);
    for step in 0..3 {
        no_grad(|| net.run(&Tensor::randn([4, 3, 12, 12], 50 + step), Mode::Train));
    }
    let x = Tensor::randn([2, 3, 12, 12], 7);
    save_for_pytorch("interop_seq", &net, serde_json::json!({ "in_channels": 3, "num_classes": 10 }), &x);
    let again = small_seq(6);
    checkpoint::load_into(interop_dir().join("rust_interop_seq.safetensors"), &again).unwrap();
    assert_eq!(eval(&again, &x).to_vec(), eval(&net, &x).to_vec());
}

#[test]
fn pytorch_lenet5_gives_the_same_logits() {
    let config = ModelConfig { in_channels: 1, num_classes: 10 };
    let net = models::build("lenet5", &config, 3).unwrap();
    checkpoint::load_into(fixture("interop_lenet5"), &*net).unwrap();
    let io = Fixtures::load("interop_lenet5.io");
    let x = io.tensor("lenet5", "in.x");
    assert_logits("lenet5", &eval(&*net, &x), &io.tensor("lenet5", "out"));

    let own = models::build("lenet5", &config, 11).unwrap();
    save_for_pytorch("lenet5", &*own, serde_json::json!({ "in_channels": 1, "num_classes": 10 }), &x);
}

#[test]
fn torchvision_models_give_the_same_logits_when_exported() {
    let dir = interop_dir();
    let mut ran = Vec::new();
    for name in TORCHVISION {
        let weights = dir.join(format!("{name}.safetensors"));
        let io = dir.join(format!("{name}.io.safetensors"));
        if !weights.exists() || !io.exists() {
            eprintln!(
                "skipping torchvision {name}: {} not found; to run it: pip install torchvision && python3 tools/torchvision_interop.py export",
                weights.display()
            );
            continue;
        }
        let ck = checkpoint::load(&weights).unwrap();
        let config = ck.meta.model_config().unwrap_or(ModelConfig { in_channels: 3, num_classes: 1000 });
        let net = models::build(name, &config, 0).unwrap();
        if let Err(e) = checkpoint::apply(&*net, &ck.tensors, true) {
            panic!("{name}: torchvision's state_dict {e}");
        }
        let io = Fixtures::open(&io);
        let (x, logits) = (io.tensor(name, "in.x"), io.tensor(name, "out"));
        let err = relative_error(&eval(&*net, &x), &logits);
        eprintln!("torchvision {name}: relative error of the logits {err:e}");
        assert!(err < 1e-4, "{name}: relative error {err:e} against torchvision (limit 1e-4)");
        // The reverse direction: ConvLab's own initialization, for the script's `check`.
        let own = models::build(name, &config, 1).unwrap();
        let config = serde_json::json!({ "in_channels": config.in_channels, "num_classes": config.num_classes });
        save_for_pytorch(name, &*own, config, &x);
        ran.push(name);
    }
    eprintln!("torchvision interop ran for: {ran:?}");
}
