//! `convlab run`: inference on a tensor file, as a user runs it, with one-line errors
//! (exit status 2) for every mistake in what was given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convlab::checkpoint::{self, CheckpointMeta};
use convlab::Tensor;

mod common;
use common::{assert_user_error, convlab, s, scratch};

fn fixture(name: &str) -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../convlab/tests/fixtures").join(format!("{name}.safetensors"));
    p.to_string_lossy().into_owned()
}

/// LeNet-5's PyTorch reference input `[2, 1, 28, 28]` and logits `[2, 10]` (case `lenet5` of
/// the interop fixture).
fn lenet5_io() -> (Tensor, Tensor) {
    let (io, _) = checkpoint::load_tensors(fixture("interop_lenet5.io")).unwrap();
    (io["lenet5.in.x"].clone(), io["lenet5.out"].clone())
}

/// LeNet-5's reference input as `convlab run` reads it (the tensor `input`), in `dir`.
fn lenet5_input(dir: &Path) -> String {
    tensor_file(dir, "x.safetensors", "input", lenet5_io().0)
}

/// Writes `{key: t}` to `dir/name`.
fn tensor_file(dir: &Path, name: &str, key: &str, t: Tensor) -> String {
    let p = dir.join(name);
    checkpoint::save_tensors(&p, &[(key.to_string(), t)].into(), &BTreeMap::new()).unwrap();
    s(&p)
}

#[test]
fn lenet5_with_pytorch_weights_reproduces_pytorch_logits() {
    let dir = scratch("run-tests", "lenet5");
    let input = lenet5_input(&scratch("run-tests", "lenet5-input"));
    let out = dir.join("y.safetensors");
    let o = convlab(&[
        "run",
        "--model",
        "lenet5",
        "--weights",
        &fixture("interop_lenet5"),
        "--input",
        &input,
        "--output",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("output [2, 10]"));
    let (got, meta) = checkpoint::load_tensors(&out).unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["output"]);
    assert_eq!(meta.get("model").map(String::as_str), Some("lenet5"));
    let (y, want) = (got["output"].to_vec(), lenet5_io().1.to_vec());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = y.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    assert!(err < 1e-4, "relative error {err:e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
}

#[test]
fn a_convlab_checkpoint_carries_its_configuration() {
    // Saved with 3 classes and 2 input channels: `run` needs neither flag.
    let dir = scratch("run-tests", "config");
    let config = convlab::models::ModelConfig { in_channels: 2, num_classes: 3 };
    let net = convlab::models::build("lenet5", &config, 4).unwrap();
    let weights = dir.join("w.safetensors");
    checkpoint::save(&weights, &*net, &CheckpointMeta::for_model("lenet5", &config)).unwrap();
    let input = tensor_file(&dir, "x.safetensors", "input", Tensor::randn([1, 2, 28, 28], 0));
    let out = dir.join("y.safetensors");
    let o = convlab(&["run", "--model", "lenet5", "--weights", &s(&weights), "--input", &input, "--output", &s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let y = checkpoint::load_tensors(&out).unwrap().0["output"].clone();
    let want = convlab::no_grad(|| net.run(&Tensor::randn([1, 2, 28, 28], 0), convlab::nn::Mode::Eval));
    assert_eq!(y.dims(), &[1, 3]);
    assert_eq!(y.to_vec(), want.to_vec());

    // Without weights: the seeded initialization, with the flags' configuration.
    let o = convlab(&[
        "run",
        "--model",
        "lenet5",
        "--in-channels",
        "2",
        "--classes",
        "3",
        "--seed",
        "4",
        "--input",
        &input,
        "--output",
        &s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(checkpoint::load_tensors(&out).unwrap().0["output"].to_vec(), want.to_vec());
}

#[test]
fn a_spec_model_checkpoint_rebuilds_from_its_metadata() {
    let dir = scratch("run-tests", "spec");
    let spec = "conv(4,3,padding=1) relu maxpool(2) flatten linear(5)";
    let m = convlab::spec::resolve_model(spec, Some(1), None, Some(&[1, 8, 8]), 7).unwrap();
    let config = convlab::models::ModelConfig { in_channels: 1, num_classes: 5 };
    let weights = dir.join("w.safetensors");
    checkpoint::save(&weights, &*m.module, &CheckpointMeta::for_model(&m.description, &config)).unwrap();
    let x = Tensor::randn([2, 1, 8, 8], 1);
    let input = tensor_file(&dir, "x.safetensors", "input", x.clone());
    let out = dir.join("y.safetensors");
    // No --model: the checkpoint's spec rebuilds the network.
    let o = convlab(&["run", "--weights", &s(&weights), "--input", &input, "--output", &s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = convlab::no_grad(|| m.module.run(&x, convlab::nn::Mode::Eval));
    assert_eq!(checkpoint::load_tensors(&out).unwrap().0["output"].to_vec(), want.to_vec());
    // The same spec given on the command line is accepted; another model is refused.
    let o = convlab(&["run", "--model", spec, "--weights", &s(&weights), "--input", &input, "--output", &s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_user_error(
        &["run", "--model", "lenet5", "--weights", &s(&weights), "--input", &input, "--output", &s(&out)],
        &["weights are for model"],
    );
}

#[test]
fn mistakes_are_one_line_errors_naming_the_file_key_or_shape() {
    let dir = scratch("run-tests", "errors");
    let out = s(&dir.join("y.safetensors"));
    let good = lenet5_input(&scratch("run-tests", "errors-input"));
    let weights = fixture("interop_lenet5");
    // The weights file has no `input` tensor.
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &weights, "--output", &out],
        &["interop_lenet5.safetensors", "no tensor 'input'", "conv1.weight"],
    );
    let flat = tensor_file(&dir, "flat.safetensors", "input", Tensor::zeros([2, 784]));
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &flat, "--output", &out],
        &["flat.safetensors", "[2, 784]", "N×C×H×W"],
    );
    let rgb = tensor_file(&dir, "rgb.safetensors", "input", Tensor::zeros([1, 3, 28, 28]));
    assert_user_error(
        &["run", "--model", "lenet5", "--weights", &weights, "--input", &rgb, "--output", &out],
        &["rgb.safetensors", "[1, 3, 28, 28]", "1 input channel"],
    );
    let big = tensor_file(&dir, "big.safetensors", "input", Tensor::zeros([1, 1, 32, 32]));
    assert_user_error(
        &["run", "--model", "lenet5", "--weights", &weights, "--input", &big, "--output", &out],
        &["big.safetensors", "[1, 1, 32, 32]", "does not fit lenet5"],
    );
    let mut values = vec![0.0f32; 784];
    values[30] = f32::NAN;
    let nan = tensor_file(&dir, "nan.safetensors", "input", Tensor::from_vec(values, [1, 1, 28, 28]));
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &nan, "--output", &out],
        &["nan.safetensors", "tensor 'input' holds NaN at index [0, 0, 1, 2]"],
    );
    // Weights of another network: named by the metadata, or found by the keys.
    assert_user_error(
        &["run", "--model", "lenet5", "--weights", &fixture("interop_seq"), "--input", &good, "--output", &out],
        &["interop_seq.safetensors", "does not fit LeNet", "missing keys: conv1.weight"],
    );
    let other = dir.join("resnet.safetensors");
    checkpoint::save_tensors(
        &other,
        &BTreeMap::new(),
        &CheckpointMeta::new("resnet18", serde_json::Value::Null).to_metadata(),
    )
    .unwrap();
    assert_user_error(
        &["run", "--model", "lenet5", "--weights", &s(&other), "--input", &good, "--output", &out],
        &["resnet.safetensors", "weights are for model 'resnet18', not 'lenet5'"],
    );
    // Files that are missing or not safetensors.
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &s(&dir.join("absent.safetensors")), "--output", &out],
        &["absent.safetensors"],
    );
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a tensor file").unwrap();
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &s(&text), "--output", &out],
        &["notes.txt", "not a safetensors file"],
    );
    assert_user_error(
        &["run", "--model", "lenet5", "--input", &good, "--output", &s(&dir.join("no/dir/y.safetensors"))],
        &["no/dir/y.safetensors"],
    );
    assert!(!dir.join("y.safetensors").exists(), "nothing written on error");
}

#[test]
fn an_unknown_model_is_a_one_line_error() {
    let dir = scratch("run-tests", "unknown");
    let out = s(&dir.join("y.safetensors"));
    assert_user_error(
        &[
            "run",
            "--model",
            "lenet6",
            "--input",
            &lenet5_input(&scratch("run-tests", "unknown-input")),
            "--output",
            &out,
        ],
        &["unknown model 'lenet6'", "available"],
    );
    assert!(!dir.join("y.safetensors").exists());
}
