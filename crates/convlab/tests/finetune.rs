//! Fine-tuning: the classifier of every zoo model and of imported ONNX models replaced for
//! another class count (the backbone computing what it did before), a frozen backbone
//! (only the classifier changes in a step; batch norm statistics still update), an ONNX
//! model trained and rebuilt from its checkpoint, and `--init` weights of another class count.

use std::path::PathBuf;
use std::sync::Arc;

use convlab::checkpoint::{self, CheckpointMeta};
use convlab::data::{Dataset, MemoryDataset};
use convlab::models::{build, names, spec, ModelConfig};
use convlab::nn::{find_classifier, replace_classifier, Forward, Mode, Module};
use convlab::train::finetune::{load_init, REPLACED_CLASSIFIER};
use convlab::train::metrics::Collect;
use convlab::train::{state, OptimizerKind, TrainConfig, Trainer};
use convlab::{Error, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("finetune-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The input of the layer at `path` and the network's output, in evaluation mode.
fn classifier_input(net: &dyn Module, path: &str, x: &Tensor) -> (Vec<f32>, Vec<usize>) {
    let mut fwd = Forward::recording(Mode::Eval, 0);
    let y = net.forward(x, &mut fwd);
    let rec = fwd.take_recorded();
    let r = rec.iter().find(|r| r.path == path).unwrap_or_else(|| panic!("{path} is not recorded"));
    (r.input.to_vec(), y.dims().to_vec())
}

/// Replaces the classifier of `net` with 3 outputs; checks the output shape, that the
/// backbone (the classifier's input) is unchanged, and the names and initialization of the
/// new layer. Returns the classifier's path.
fn check_replacement(label: &str, net: &mut dyn Module, x: &Tensor) -> String {
    let head = find_classifier(net).unwrap_or_else(|e| panic!("{label}: {e}"));
    let (before, _) = classifier_input(net, &head.path, x);
    let keys: Vec<String> = net.state_dict().into_keys().collect();
    let r = replace_classifier(net, 3, 7).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(r.classifier.path, head.path, "{label}");
    assert_eq!((r.old_classes, r.classifier.classes), (head.classes, 3), "{label}");
    let (after, dims) = classifier_input(net, &head.path, x);
    assert_eq!(dims, [x.dims()[0], 3], "{label}: {r}");
    assert_eq!(before, after, "{label}: the backbone changed");
    assert_eq!(net.state_dict().into_keys().collect::<Vec<_>>(), keys, "{label}: the names changed");
    // PyTorch's default: U(±1/√fan_in) for weight and bias.
    let w = &net.state_dict()[&format!("{}.weight", head.path)];
    let bound = 1.0 / (head.in_features as f32).sqrt();
    assert_eq!(w.dims()[0], 3, "{label}");
    assert!(w.to_vec().iter().all(|v| v.abs() <= bound), "{label}: weights beyond ±{bound}");
    head.path
}

#[test]
fn every_zoo_model_gets_a_new_classifier() {
    for name in names() {
        let s = spec(name).unwrap();
        // The ImageNet networks take 64×64 inputs (adaptive pooling), AlexNet at least 63.
        let hw = if s.input_size[0] == 224 { 64 } else { s.input_size[0] };
        let mut net = build(name, &ModelConfig { in_channels: s.in_channels, num_classes: s.num_classes }, 0).unwrap();
        let x = Tensor::randn([2, s.in_channels, hw, hw], 3);
        let path = check_replacement(name, &mut *net, &x);
        let expected = match name {
            "lenet5" => "fc3",
            "tinyvgg" => "output",
            "allcnn_c" => "conv9",
            n if n.starts_with("resnet9") => "classifier.3",
            n if n.starts_with("resnet") => "fc",
            "alexnet" => "classifier.6",
            n if n.starts_with("vgg") && !n.ends_with("_cifar") => "classifier.6",
            _ => "classifier",
        };
        assert_eq!(path, expected, "{name}");
    }
}

#[test]
fn imported_models_get_a_new_classifier() {
    for (file, layer) in [
        ("resnet_basic_narrow_ts_op13.onnx", "Linear"),
        ("resnet_bottleneck_narrow_dynamo_op18.onnx", "Linear"),
        ("mobilenet_v2_narrow_ts_op13.onnx", "Linear"),
        ("squeezenet1_1_narrow_ts_op13.onnx", "Conv2d"),
        ("squeezenet1_0_narrow_dynamo_op18.onnx", "Conv2d"),
    ] {
        let mut net = convlab::onnx::load(fixture(file), None).unwrap();
        let shape = net.graph().input_shape.clone();
        assert_eq!(find_classifier(&net).unwrap().kind, layer, "{file}");
        let x = Tensor::randn(&shape[..], 5);
        check_replacement(file, &mut net, &x);
        // The graph's own shape inference agrees (a Flatten or Reshape after the layer).
        assert_eq!(net.output_shape(&shape).unwrap(), [shape[0], 3], "{file}");
    }
}

#[test]
fn a_network_without_a_classifier_is_an_error() {
    let resolved = convlab::spec::resolve_model("input(3,8,8) conv(4,3) relu batchnorm", None, None, None, 0).unwrap();
    let mut net = resolved.module;
    let e = replace_classifier(&mut *net, 3, 0).err().unwrap().to_string();
    assert!(e.contains("no classifier to replace") && e.contains("'2'") && e.contains("BatchNorm2d"), "{e}");
    let e = find_classifier(&convlab::nn::Act(convlab::Activation::Relu)).err().unwrap().to_string();
    assert!(e.contains("no layer with parameters"), "{e}");
}

/// `n` 3×32×32 images of 3 classes: one of three brightness levels.
fn bright(n: usize) -> Arc<dyn Dataset> {
    let hw = 32 * 32 * 3;
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let pixels: Vec<u8> = labels.iter().enumerate().flat_map(|(i, &l)| vec![40 + 80 * l + (i % 7) as u8; hw]).collect();
    let classes = vec!["dark".into(), "grey".into(), "bright".into()];
    Arc::new(MemoryDataset::new("bright", [3, 32, 32], classes, pixels, labels))
}

fn onnx_config(freeze: bool) -> TrainConfig {
    TrainConfig {
        model: fixture("resnet_basic_narrow_ts_op13.onnx").display().to_string(),
        dataset: "bright".into(),
        steps: Some(2),
        batch_size: 8,
        optimizer: OptimizerKind::Adam,
        lr: 1e-2,
        threads: Some(1),
        workers: 0,
        freeze_backbone: freeze,
        ..TrainConfig::default()
    }
}

#[test]
fn a_frozen_backbone_trains_the_classifier_alone() {
    // An imported network (its batch norms folded into the convolutions by the exporter) and
    // a spec with batch norm.
    let spec = "input(3,32,32) conv(4,3) batchnorm relu globalavgpool flatten linear(3)";
    for (model, head, has_bn) in [(onnx_config(true).model, "fc.", false), (spec.to_string(), "5.", true)] {
        let mut t = Trainer::new(TrainConfig { model, ..onnx_config(true) }, bright(16), None, None).unwrap();
        if !has_bn {
            let r = t.replaced.clone().expect("the 5-class file gets a 3-class classifier");
            let c = r.classifier.in_features;
            assert_eq!(r.to_string(), format!("replaced classifier 'fc' ({c}→5) with {c}→3"));
        }
        let before: Vec<(String, Vec<f32>)> = t.model.state_dict().into_iter().map(|(k, v)| (k, v.to_vec())).collect();
        t.run(&mut Collect::default()).unwrap();
        let after = t.model.state_dict();
        let mut running_stats_moved = false;
        for (name, old) in &before {
            let changed = after[name].to_vec() != *old;
            if name.starts_with(head) {
                assert!(changed, "{name} was not trained");
            } else if name.ends_with("running_mean") || name.ends_with("running_var") {
                running_stats_moved |= changed;
            } else if !name.ends_with("num_batches_tracked") {
                assert!(!changed, "{name} changed with a frozen backbone");
            }
        }
        // NOTE (TrainConfig::freeze_backbone): training mode, so batch norm adapts its statistics.
        assert_eq!(running_stats_moved, has_bn);
    }
}

#[test]
fn an_imported_model_trains_saves_and_rebuilds_for_new_classes() {
    let dir = scratch("onnx");
    let mut t = Trainer::new(onnx_config(false), bright(16), Some(bright(6)), None).unwrap();
    t.set_output(&dir);
    t.run(&mut Collect::default()).unwrap();
    let ck = dir.join("checkpoint.safetensors");
    let saved = checkpoint::load(&ck).unwrap();
    let note: serde_json::Value = serde_json::from_str(&saved.meta.extra[REPLACED_CLASSIFIER]).unwrap();
    assert_eq!(
        (note["layer"].as_str(), note["classes_before"].as_u64(), note["classes"].as_u64()),
        (Some("fc"), Some(5), Some(3))
    );
    let (model, info) = state::load_model(&ck).unwrap();
    assert_eq!(info.class_names.len(), 3);
    let x = Tensor::randn([2, 3, 32, 32], 9);
    let y = model.run(&x, Mode::Eval);
    assert_eq!(y.to_vec(), t.model.run(&x, Mode::Eval).to_vec());
    // The explainer rebuilds it too (the dataset, in memory here, is not found: a warning).
    let ex = convlab::explain::Explainer::from_checkpoint(&ck, None, &Default::default()).unwrap();
    assert_eq!(ex.warnings.len(), 1, "{:?}", ex.warnings);
    // Resuming rebuilds the same model (same classifier) and continues.
    let mut more = Trainer::new(TrainConfig { steps: Some(4), ..onnx_config(false) }, bright(16), None, None).unwrap();
    more.resume_from(&ck).unwrap();
    assert_eq!(more.run(&mut Collect::default()).unwrap().state.step, 4);
    // Another class count than the dataset's is refused.
    let e = Trainer::new(TrainConfig { classes: Some(5), ..onnx_config(false) }, bright(16), None, None);
    assert!(e.err().unwrap().to_string().contains("has 3 classes, not 5"));
}

#[test]
fn init_weights_of_another_class_count_keep_the_fresh_classifier() {
    let dir = scratch("init");
    let path = dir.join("pretrained.safetensors");
    let pretrained = build("resnet18_cifar", &ModelConfig { in_channels: 3, num_classes: 10 }, 1).unwrap();
    checkpoint::save(&path, &*pretrained, &CheckpointMeta::new("resnet18_cifar", serde_json::json!({}))).unwrap();
    let net = build("resnet18_cifar", &ModelConfig { in_channels: 3, num_classes: 4 }, 2).unwrap();
    let fresh = net.state_dict()["fc.weight"].to_vec();
    let kept = load_init(&path, &*net).unwrap().expect("the classifier differs");
    assert_eq!(kept.to_string(), "replaced classifier 'fc' (512→10) with 512→4");
    let (mine, theirs) = (net.state_dict(), pretrained.state_dict());
    assert_eq!(mine["fc.weight"].to_vec(), fresh);
    for (k, v) in &mine {
        if !k.starts_with("fc.") {
            assert_eq!(v.to_vec(), theirs[k].to_vec(), "{k} was not loaded");
        }
    }
    // Same classes: a plain strict load.
    let same = build("resnet18_cifar", &ModelConfig { in_channels: 3, num_classes: 10 }, 2).unwrap();
    assert!(load_init(&path, &*same).unwrap().is_none());
    // Any other mismatch stays an error naming the tensor, and nothing is loaded.
    let gray = build("resnet18_cifar", &ModelConfig { in_channels: 1, num_classes: 4 }, 2).unwrap();
    let bn = gray.state_dict()["layer1.0.conv1.weight"].to_vec();
    let e = load_init(&path, &*gray).err().unwrap();
    assert!(matches!(e, Error::Format { .. }) && e.to_string().contains("conv1.weight"), "{e}");
    assert_eq!(gray.state_dict()["layer1.0.conv1.weight"].to_vec(), bn);
}
