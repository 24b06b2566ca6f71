//! ONNX export: every zoo model, spec models and imported ONNX models export; the file
//! imports back with the same layer names and outputs (within 1e-5 of the largest value),
//! exporting that import again writes the same graph, a dynamic-batch file runs at other
//! batch sizes, every opset from 13 to 21 works and others are refused. The six larger
//! ImageNet VGGs (530 MB of weights each, vgg11's graph with more layers) are in an ignored
//! test.
//!
//! ONNX Runtime's verdict on the exported files is in `fixtures/onnx_export/report.json`,
//! written by `tools/onnx_export_check.py` from the files the ignored test
//! `write_export_cases` writes; `committed_files_are_what_convlab_exports` checks that
//! ConvLab still writes the committed small ones byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convlab::models::{self, ModelConfig};
use convlab::nn::{Mode, Module};
use convlab::onnx::{self, ExportOptions, ModelProto};
use convlab::{no_grad, Tensor};

/// A folder of its own for each test (removed at the end).
fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("convlab-export-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The largest `|a - b|` relative to the largest `|b|`.
fn relative_error(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let scale = b.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.to_vec().iter().zip(b.to_vec()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// What must survive a round trip: node names and op types in order, initializer names.
fn signature(m: &ModelProto) -> (Vec<(String, String)>, Vec<String>) {
    let g = m.graph.as_ref().unwrap();
    let nodes = g.node.iter().map(|n| (n.name.clone(), n.op_type.clone())).collect();
    let mut inits: Vec<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
    inits.sort();
    (nodes, inits)
}

/// The input a zoo model is exported for: its own size, smaller for the ImageNet networks.
fn zoo_input(name: &str, batch: usize) -> Vec<usize> {
    let s = models::spec(name).unwrap();
    let [h, w] = match s.input_size {
        [224, 224] if name == "alexnet" => [64, 64],
        [224, 224] => [32, 32],
        hw => hw,
    };
    vec![batch, s.in_channels, h, w]
}

fn zoo(name: &str) -> Box<dyn Module> {
    models::build(name, &ModelConfig::for_model(name).unwrap(), 0).unwrap()
}

fn spec_model(spec: &str, input: &[usize]) -> Box<dyn Module> {
    convlab::spec::resolve_model(spec, None, None, Some(input), 0).unwrap().module
}

/// Exports `model` to `path`, imports it, and checks the outputs and the round trip;
/// returns the imported module.
fn round_trip(label: &str, model: &dyn Module, shape: &[usize], options: &ExportOptions, path: &Path) {
    let proto = onnx::to_model(model, shape, options).unwrap_or_else(|e| panic!("{label}: {e}"));
    onnx::write_model(path, &proto).unwrap();
    let back = onnx::load(path, None).unwrap_or_else(|e| panic!("{label}: import: {e}"));
    let x = Tensor::randn(shape.to_vec(), 11);
    let (want, got) = no_grad(|| (model.run(&x, Mode::Eval), back.run(&x, Mode::Eval)));
    let err = relative_error(&got, &want);
    assert!(err <= 1e-5, "{label}: the imported file differs from ConvLab by {err:e}");
    let again = onnx::to_model(&back, shape, options).unwrap_or_else(|e| panic!("{label}: re-export: {e}"));
    assert_eq!(signature(&again), signature(&proto), "{label}: export → import → export changed the graph");
    let _ = std::fs::remove_file(path);
}

/// The ImageNet VGGs but the smallest two: the same graphs as vgg11 and vgg11_bn with more
/// layers, and 530 MB of weights each (their ONNX Runtime check is in the report).
fn larger_vgg(name: &str) -> bool {
    name.starts_with("vgg") && !name.ends_with("_cifar") && !name.starts_with("vgg11")
}

#[test]
fn every_zoo_model_exports_and_imports_back_with_the_same_outputs_and_names() {
    zoo_round_trips(|name| !larger_vgg(name), "zoo");
}

/// `cargo test --release -p convlab --test onnx_export -- --ignored larger`.
#[test]
#[ignore]
fn the_larger_imagenet_vggs_export_and_import_back() {
    zoo_round_trips(larger_vgg, "vgg");
}

fn zoo_round_trips(which: fn(&str) -> bool, test: &str) {
    let dir = scratch(test);
    for name in models::names().into_iter().filter(|n| which(n)) {
        let net = zoo(name);
        let shape = zoo_input(name, 2);
        round_trip(name, net.as_ref(), &shape, &ExportOptions::default(), &dir.join(format!("{name}.onnx")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn weights_are_named_as_in_the_state_dict() {
    let net = zoo("resnet18_cifar");
    let proto = onnx::to_model(net.as_ref(), &[1, 3, 32, 32], &ExportOptions::default()).unwrap();
    let g = proto.graph.as_ref().unwrap();
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    for key in ["conv1.weight", "layer1.0.conv1.weight", "layer1.0.bn1.running_var", "fc.weight", "fc.bias"] {
        assert!(inits.contains(&key), "{key} in {inits:?}");
    }
    assert!(g.node.iter().any(|n| n.name == "layer1.0.conv1" && n.op_type == "Conv"));
    assert!(g.node.iter().any(|n| n.name == "layer1.0.add" && n.op_type == "Add"));
    // Every parameter of the model is an initializer of the same name.
    for (key, _) in net.named_parameters() {
        assert!(inits.contains(&key.as_str()), "{key}");
    }
}

/// Specs with the layers the zoo lacks, in 2-D and 1-D.
const SPECS: &[(&str, &[usize])] = &[
    (
        "conv(8,3,padding=1,padding_mode=reflect) batchnorm hardswish conv(8,3,padding=same,padding_mode=replicate) gelu \
         avgpool(2,count_include_pad=false) conv(6,3,stride=2,padding=1,dilation=1) silu relu6 adaptiveavgpool(3) \
         dropout(0.3) flatten linear(12) leakyrelu(0.2) elu(0.5) linear(5) softmax",
        &[3, 12, 12],
    ),
    (
        "conv(4,3,padding=full) selu maxpool(3,stride=2,padding=1,ceil_mode=true) conv(4,1,groups=2) tanh sigmoid \
         hardsigmoid softplus avgpool(2,padding=1) adaptiveavgpool(2) flatten linear(3)",
        &[2, 9, 9],
    ),
    ("conv1d(4,3,padding=1) relu batchnorm conv1d(6,3,stride=2) gelu(tanh) flatten linear(4)", &[2, 16]),
];

#[test]
fn every_opset_from_13_to_21_exports_spec_models() {
    let dir = scratch("opsets");
    for (i, (spec, input)) in SPECS.iter().enumerate() {
        let net = spec_model(spec, input);
        let shape = [&[2][..], input].concat();
        for opset in 13..=21 {
            let options = ExportOptions { opset, dynamic_batch: opset % 2 == 0 };
            let label = format!("spec {i} at opset {opset}");
            if i == 2 && opset < 20 {
                // GELU's tanh form is an operator from opset 20 on.
                let e = onnx::to_model(net.as_ref(), &shape, &options).unwrap_err().to_string();
                assert!(e.contains("opset 20") && e.contains("(layer 4, GELU)"), "{e}");
                continue;
            }
            round_trip(&label, net.as_ref(), &shape, &options, &dir.join(format!("spec{i}_{opset}.onnx")));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn identity_and_dropout_nodes_hand_their_input_on() {
    // An imported graph keeps a Dropout node; the file has none, as the model's trace has none.
    let mut g = convlab::graph::Graph::new("g", vec![1, 4]);
    let x = g.input();
    let d = g.push("drop", convlab::graph::Op::Dropout(convlab::nn::Dropout { p: 0.5 }), &[x]).unwrap()[0];
    let r = g.push("relu", convlab::graph::Op::Act(convlab::nn::Act(convlab::Activation::Relu)), &[d]).unwrap()[0];
    let i = g.push("id", convlab::graph::Op::Identity, &[r]).unwrap()[0];
    g.set_outputs(vec![i]);
    let m = onnx::graph_to_model(&g, &ExportOptions::default()).unwrap();
    let nodes: Vec<(String, Vec<String>)> =
        m.graph.unwrap().node.iter().map(|n| (n.op_type.clone(), n.input.clone())).collect();
    // The graph's output is still written (an Identity), its dropout is not.
    assert_eq!(nodes, [("Relu".into(), vec!["input".into()]), ("Identity".into(), vec!["relu".into()])]);
}

#[test]
fn settings_follow_the_opset() {
    let net = spec_model(SPECS[0].0, SPECS[0].1);
    let ops = |opset: i64| -> Vec<String> {
        let m = onnx::to_model(net.as_ref(), &[1, 3, 12, 12], &ExportOptions { opset, ..Default::default() }).unwrap();
        assert_eq!(m.opset_import[0].version, opset);
        m.graph.unwrap().node.iter().map(|n| n.op_type.clone()).collect()
    };
    let (o13, o14, o20) = (ops(13), ops(14), ops(20));
    assert!(o13.contains(&"HardSigmoid".into()) && !o13.contains(&"HardSwish".into()));
    assert!(o14.contains(&"HardSwish".into()) && o14.contains(&"Erf".into()) && !o14.contains(&"Gelu".into()));
    assert!(o20.contains(&"Gelu".into()));
    assert!(o13.contains(&"Pad".into()) && o13.contains(&"Clip".into()));
}

#[test]
fn other_opsets_and_unexportable_layers_are_clear_errors() {
    let net = zoo("lenet5");
    let dir = scratch("errors");
    for opset in [7, 12, 22, 100] {
        let e = onnx::export(
            net.as_ref(),
            &[1, 1, 28, 28],
            dir.join("x.onnx"),
            &ExportOptions { opset, dynamic_batch: false },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, format!("cannot export to opset {opset}: ConvLab writes opsets 13 to 21"));
    }
    assert!(!dir.join("x.onnx").exists());
    let circular = spec_model("conv(2,3,padding=1,padding_mode=circular) relu", &[1, 5, 5]);
    let e = onnx::to_model(circular.as_ref(), &[1, 1, 5, 5], &ExportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("circular") && e.ends_with("(layer 0, Conv2d)"), "{e}");
    let no_stats = spec_model("conv(2,3) batchnorm(track_running_stats=false)", &[1, 5, 5]);
    let e = onnx::to_model(no_stats.as_ref(), &[1, 1, 5, 5], &ExportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("running statistics") && e.ends_with("(layer 1, BatchNorm2d)"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dynamic_batch_file_runs_at_other_batch_sizes() {
    let dir = scratch("dynamic");
    let options = ExportOptions { dynamic_batch: true, ..Default::default() };
    for name in ["lenet5", "resnet18_cifar", "densenet121_cifar", "vgg11"] {
        let net = zoo(name);
        let path = dir.join(format!("{name}.onnx"));
        onnx::export(net.as_ref(), &zoo_input(name, 2), &path, &options).unwrap();
        let file = onnx::read_model(&path).unwrap();
        let input = format!("{:?}", file.graph().unwrap().input[0]);
        assert!(input.contains("DimParam(\"N\")"), "{name}: {input}");
        let back = onnx::load(&path, None).unwrap();
        for batch in [1, 3] {
            let x = Tensor::randn(zoo_input(name, batch), batch as u64);
            let (want, got) = no_grad(|| (net.run(&x, Mode::Eval), back.run(&x, Mode::Eval)));
            let err = relative_error(&got, &want);
            assert!(err <= 1e-5, "{name} at batch {batch}: {err:e}");
        }
        std::fs::remove_file(&path).unwrap();
    }
    // A reshape that follows the batch is written with 0 or -1, not the traced size.
    let net = spec_model("conv(4,3) relu flatten linear(3)", &[1, 6, 6]);
    let m = onnx::to_model(net.as_ref(), &[2, 1, 6, 6], &options).unwrap();
    assert!(m.graph.unwrap().node.iter().any(|n| n.op_type == "Flatten"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// The import fixtures that import (torchvision models from both PyTorch exporters), by
/// file name, with their own input shapes.
fn imported_fixtures() -> Vec<(String, Vec<usize>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let gm = onnx::load(f, None).ok()?;
            Some((f.file_name()?.to_string_lossy().into_owned(), gm.graph().input_shape[1..].to_vec()))
        })
        .collect()
}

/// The imported fixtures: export, import again, same outputs and the same graph once more.
#[test]
fn imported_onnx_models_export_too() {
    let dir = scratch("fixtures");
    let fixtures = imported_fixtures();
    assert!(fixtures.len() >= 40, "{} fixture files import", fixtures.len());
    let mut failures = Vec::new();
    for (i, (file, input)) in fixtures.iter().enumerate() {
        let gm = onnx::load(fixture_dir().join(file), None).unwrap();
        let shape = [&[2][..], input].concat();
        let opset = [13, 17, 18, 21][i % 4];
        let options = ExportOptions { opset, dynamic_batch: i % 3 == 0 };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            round_trip(file, &gm, &shape, &options, &dir.join(file))
        }));
        if result.is_err() {
            failures.push(file.clone());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(failures.is_empty(), "failed: {failures:?}");
}

// ----- the files ONNX Runtime checks -----------------------------------------------------

/// One exported file for the ONNX Runtime check.
struct Case {
    name: String,
    model: String,
    input: Vec<usize>,
    options: ExportOptions,
}

/// Every zoo model at opsets 13 and 17 and with a dynamic batch, the imported fixtures at 13
/// and (with a dynamic batch) 18, and the specs at 13 and 21.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |model: &str, label: &str, input: Vec<usize>, opset: i64, dynamic_batch: bool| {
        let name = format!("{label}_op{opset}{}", if dynamic_batch { "_dyn" } else { "" });
        out.push(Case { name, model: model.into(), input, options: ExportOptions { opset, dynamic_batch } });
    };
    for m in models::names() {
        for (opset, dynamic) in [(13, false), (17, false), (17, true)] {
            add(m, m, zoo_input(m, 2), opset, dynamic);
        }
    }
    for (file, input) in imported_fixtures() {
        let label = format!("fx_{}", file.trim_end_matches(".onnx"));
        for (opset, dynamic) in [(13, false), (18, true)] {
            add(&file, &label, [&[2][..], &input].concat(), opset, dynamic);
        }
    }
    for (i, (spec, input)) in SPECS.iter().enumerate() {
        for (opset, dynamic) in [(13, false), (21, true)] {
            if i < 2 || opset >= 20 {
                add(spec, &format!("spec{i}"), [&[2][..], input].concat(), opset, dynamic);
            }
        }
    }
    out
}

/// The small cases whose files are committed (under 1 MB together).
const COMMITTED: &[&str] = &["tinyvgg_op13", "tinyvgg_op17_dyn", "spec0_op13", "spec1_op21_dyn", "spec2_op21_dyn"];

fn build_case(c: &Case) -> Box<dyn Module> {
    if c.model.ends_with(".onnx") {
        return Box::new(onnx::load(fixture_dir().join(&c.model), None).unwrap());
    }
    match models::names().contains(&c.model.as_str()) {
        true => zoo(&c.model),
        false => spec_model(&c.model, &c.input[1..]),
    }
}

/// Writes `<case>.onnx` and `<case>.io.safetensors` (input, ConvLab's output; for a dynamic
/// batch also at batch 3) and returns the manifest entry.
fn write_case(c: &Case, dir: &Path) -> serde_json::Value {
    let net = build_case(c);
    onnx::export(net.as_ref(), &c.input, dir.join(format!("{}.onnx", c.name)), &c.options).unwrap();
    let mut io = BTreeMap::new();
    let x = Tensor::randn(c.input.clone(), 5);
    io.insert("output".to_string(), no_grad(|| net.run(&x, Mode::Eval)));
    io.insert("input".to_string(), x);
    if c.options.dynamic_batch {
        let mut shape = c.input.clone();
        shape[0] = 3;
        let x = Tensor::randn(shape, 6);
        io.insert("output_b3".to_string(), no_grad(|| net.run(&x, Mode::Eval)));
        io.insert("input_b3".to_string(), x);
    }
    convlab::checkpoint::save_tensors(dir.join(format!("{}.io.safetensors", c.name)), &io, &BTreeMap::new()).unwrap();
    serde_json::json!({"name": c.name, "model": c.model, "opset": c.options.opset, "dynamic_batch": c.options.dynamic_batch, "input": c.input})
}

fn committed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_export")
}

/// Writes every case into `$CONVLAB_EXPORT_OUT` (default `target/onnx-export`) with a
/// manifest, and the committed ones into `fixtures/onnx_export/files`; then
/// `/tmp/torchenv/bin/python tools/onnx_export_check.py target/onnx-export` writes the
/// report. `cargo test --release -p convlab --test onnx_export -- --ignored`.
#[test]
#[ignore]
fn write_export_cases() {
    let out = std::env::var("CONVLAB_EXPORT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/onnx-export"));
    let only: Option<String> = std::env::var("CONVLAB_EXPORT_ONLY").ok();
    std::fs::create_dir_all(&out).unwrap();
    let files = committed_dir().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut manifest = Vec::new();
    for c in cases() {
        if only.as_ref().is_some_and(|o| !c.name.starts_with(o.as_str())) {
            continue;
        }
        manifest.push(write_case(&c, &out));
        if COMMITTED.contains(&c.name.as_str()) {
            write_case(&c, &files);
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::json!({ "cases": manifest })).unwrap();
    std::fs::write(out.join("manifest.json"), text).unwrap();
}

#[test]
fn committed_files_are_what_convlab_exports() {
    let files = committed_dir().join("files");
    let dir = scratch("committed");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_dir().join("report.json")).unwrap()).unwrap();
    for c in cases().iter().filter(|c| COMMITTED.contains(&c.name.as_str())) {
        write_case(c, &dir);
        for file in [format!("{}.onnx", c.name), format!("{}.io.safetensors", c.name)] {
            let (a, b) = (std::fs::read(dir.join(&file)).unwrap(), std::fs::read(files.join(&file)).unwrap());
            assert!(
                a == b,
                "{file}: ConvLab no longer writes the committed file (rerun write_export_cases and the check)"
            );
        }
        let entry = report["results"].as_array().unwrap().iter().find(|r| r["name"] == c.name.as_str());
        assert_eq!(entry.map(|r| r["pass"].as_bool()), Some(Some(true)), "{}: ONNX Runtime's verdict", c.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
