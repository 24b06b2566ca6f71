//! `convlab summary`, run as a user runs it.

use std::process::{Command, Output};

const LENET: &str = "conv(6,5,padding=2) relu maxpool(2) conv(16,5) relu maxpool(2) flatten linear(120) relu linear(84) relu linear(10)";

fn convlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convlab")).args(args).output().expect("the convlab binary runs")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The cells of the table row for `path`.
fn row(text: &str, path: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(path))
        .unwrap_or_else(|| panic!("no row {path} in\n{text}"));
    // The output shape holds spaces: put it back together.
    let cells: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    cells.into_iter().map(String::from).collect()
}

fn assert_user_error(args: &[&str], needle: &str) {
    let o = convlab(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(err.contains(needle), "args {args:?}: expected '{needle}' in {err}");
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn lenet5_table() {
    let text = stdout(&convlab(&["summary", LENET]));
    assert!(text.starts_with(&format!("Model: input(1,28,28) {LENET}\nInput: [1, 1, 28, 28]")), "{text}");
    assert_eq!(row(&text, "0"), ["0", "Conv2d", "[1, 6, 28, 28]", "156", "117,600", "5", "1"]);
    assert_eq!(row(&text, "2"), ["2", "MaxPool2d", "[1, 6, 14, 14]", "0", "0", "6", "2"]);
    assert_eq!(row(&text, "3"), ["3", "Conv2d", "[1, 16, 10, 10]", "2,416", "240,000", "14", "2"]);
    assert_eq!(row(&text, "5"), ["5", "MaxPool2d", "[1, 16, 5, 5]", "0", "0", "16", "4"]);
    assert_eq!(row(&text, "7"), ["7", "Linear", "[1, 120]", "48,120", "48,000", "all", "-"]);
    assert_eq!(row(&text, "11"), ["11", "Linear", "[1, 10]", "850", "840", "all", "-"]);
    for line in [
        "Total params: 61,706",
        "Trainable params: 61,706",
        "Multiply-adds (per input): 416,520",
        "Weights (f32): 246,824 bytes",
        "Activations (forward pass, per input): 60,008 bytes",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(text.contains("count 0"), "the multiply-add rule is stated");
}

#[test]
fn json_output() {
    let o = convlab(&["summary", LENET, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("--json prints JSON");
    assert_eq!(v["total_params"], 61_706);
    assert_eq!(v["total_macs"], 416_520);
    assert_eq!(v["source"], "spec");
    assert_eq!(v["input_shape"], serde_json::json!([1, 1, 28, 28]));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[3]["kind"], "Conv2d");
    assert_eq!(rows[3]["params"], 2416);
    assert_eq!(rows[3]["output_shape"], serde_json::json!([1, 16, 10, 10]));
    assert_eq!(rows[5]["receptive_field"], serde_json::json!({"window": {"size": [16, 16], "jump": [4, 4]}}));
    assert_eq!(rows[7]["receptive_field"], "whole");
}

#[test]
fn input_files_and_spec_output() {
    // The lecture's point: 307,200 weights for 100 units on a 3x32x32 image.
    let text = stdout(&convlab(&["summary", "flatten linear(100)", "--input", "3x32x32"]));
    assert_eq!(row(&text, "1"), ["1", "Linear", "[1, 100]", "307,300", "307,200", "all", "-"]);
    let text = stdout(&convlab(&["summary", "conv(16,3,padding=1)", "--input", "3×32×32"]));
    assert_eq!(row(&text, "0"), ["0", "Conv2d", "[1, 16, 32, 32]", "448", "442,368", "3", "1"]);

    let dir = std::env::temp_dir().join(format!("convlab-summary-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("net.json");
    std::fs::write(&path, r#"{"layers": [{"type": "conv", "out": 4, "k": 3}, {"type": "relu"}, "flatten", {"type": "linear", "out": 2}], "input": [2, 5, 5]}"#).unwrap();
    let p = path.to_str().unwrap();
    let spec = stdout(&convlab(&["summary", p, "--spec"]));
    assert_eq!(spec.trim(), "input(2,5,5) conv(4,3) relu flatten linear(2)");
    // The printed spec rebuilds the same model.
    let again = stdout(&convlab(&["summary", spec.trim(), "--spec"]));
    assert_eq!(again, spec);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&convlab(&["summary", p, "--json", "--classes", "2"]))).unwrap();
    assert_eq!(v["total_params"], 4 * 2 * 9 + 4 + 36 * 2 + 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_are_one_line_with_status_2() {
    assert_user_error(&["summary", "no_such_model"], "unknown model 'no_such_model'");
    assert_user_error(&["summary", "conv(6,5) bogus(1)"], "layer 1 `bogus(1)`");
    assert_user_error(&["summary", "conv(6,5,strid=2)"], "unknown argument 'strid'");
    assert_user_error(&["summary", LENET, "--input", "1x8x8"], "layer 3 `conv(16,5)`: input [6, 4, 4]");
    assert_user_error(&["summary", "conv(6,5) linear(3)"], "put `flatten` before it");
    assert_user_error(&["summary", LENET, "--input", "1x28"], "layer 0 `conv(6,5,padding=2)`");
    assert_user_error(&["summary", LENET, "--input", "one"], "--input 'one'");
    assert_user_error(&["summary", LENET, "--classes", "7"], "7 classes");
    assert_user_error(&["summary", "missing_net.toml"], "missing_net.toml");
}

#[test]
fn zoo_models() {
    let text = stdout(&convlab(&["summary", "lenet5"]));
    assert!(text.starts_with("Model: lenet5\nInput: [1, 1, 28, 28]"), "{text}");
    assert_eq!(row(&text, "pool2"), ["pool2", "MaxPool2d", "[1, 16, 5, 5]", "0", "0", "16", "4"]);
    assert!(text.contains("Total params: 61,706"), "{text}");
    let spec = stdout(&convlab(&["summary", "tinyvgg", "--spec"]));
    assert!(spec.starts_with("input(3,64,64) conv(10,3) relu"), "{spec}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&convlab(&["summary", "tinyvgg", "--json", "--classes", "5"]))).unwrap();
    assert_eq!((v["source"].clone(), v["output_shape"].clone()), (serde_json::json!("zoo"), serde_json::json!([1, 5])));
    assert_user_error(&["summary", "resnet18_cifar", "--spec"], "resnet18_cifar: ");
    assert_user_error(&["summary", "lenet5", "--input", "1x8x8"], "LeNet on input [1, 1, 8, 8]");
    assert_user_error(&["summary", "tinyvgg", "--input", "3x32x32"], "TinyVGG on input [1, 3, 32, 32]: linear");
}
