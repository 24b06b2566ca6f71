//! `convlab train`, `eval`, `predict`, `filters`, `features` and `demo` end to end on tiny
//! runs over the built-in dataset, Ctrl-C and resuming, and one-line errors (exit status 2)
//! for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use convlab::checkpoint::{self, CheckpointMeta};

mod common;
use common::{assert_user_error, ok, s, scratch};

const TINY: [&str; 14] = [
    "--dataset",
    "builtin",
    "--builtin-size",
    "256",
    "--batch-size",
    "32",
    "--optimizer",
    "adam",
    "--log-every",
    "4",
    "--test-limit",
    "200",
    "--threads",
    "1",
];

/// One tiny run shared by the tests that need a trained checkpoint.
fn trained() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("train-cli", "shared");
        let mut args = vec!["train", "--model", "lenet5", "--steps", "12", "--quiet", "--out"];
        let out = s(&dir);
        args.push(&out);
        args.extend(TINY);
        ok(&args);
        dir
    })
}

/// A 40×30 PNG with a vertical bar.
fn bar_png(dir: &Path) -> String {
    let mut img = image::GrayImage::new(30, 40);
    for y in 5..35 {
        for x in 12..18 {
            img.put_pixel(x, y, image::Luma([255]));
        }
    }
    let p = dir.join("bar.png");
    img.save(&p).unwrap();
    s(&p)
}

#[test]
fn train_writes_its_files_and_resumes() {
    let dir = trained();
    for f in [
        "config.json",
        "metrics.jsonl",
        "checkpoint.safetensors",
        "checkpoint.optimizer.safetensors",
        "best.safetensors",
        "curves.png",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 12 steps, 8 per epoch: steps 4, 8, 12 logged; epochs end at steps 8 and 12.
    assert_eq!(records.iter().filter(|r| r["kind"] == "step").count(), 3);
    assert_eq!(records.iter().filter(|r| r["kind"] == "epoch").count(), 2);
    // Resuming with more steps continues from step 12 in the same folder.
    let copy = scratch("train-cli", "resume");
    for f in ["checkpoint.safetensors", "checkpoint.optimizer.safetensors", "metrics.jsonl"] {
        std::fs::copy(dir.join(f), copy.join(f)).unwrap();
    }
    let out = ok(&["train", "--resume", &s(&copy.join("checkpoint.safetensors")), "--steps", "16", "--quiet"]);
    assert!(out.contains("done: 16 steps"), "{out}");
    let lines = std::fs::read_to_string(copy.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!((last["kind"].as_str(), last["step"].as_u64()), (Some("epoch"), Some(16)));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(copy.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (config["model"].as_str(), config["steps"].as_u64(), config["optimizer"].as_str()),
        (Some("lenet5"), Some(16), Some("adam"))
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_stops() {
    let dir = scratch("train-cli", "ctrlc");
    let mut args = vec!["train", "--model", "lenet5", "--steps", "100000", "--out"];
    let out = s(&dir);
    args.push(&out);
    args.extend(TINY);
    let child = Command::new(env!("CARGO_BIN_EXE_convlab"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Wait for the first logged step, then interrupt.
    while !std::fs::read_to_string(dir.join("metrics.jsonl")).is_ok_and(|t| !t.is_empty()) {
        assert!(start.elapsed() < Duration::from_secs(60), "no metrics written");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("stopped at step") && stdout.contains("--resume"), "{stdout}");
    let meta = checkpoint::load(dir.join("checkpoint.safetensors")).unwrap().meta;
    let state: serde_json::Value = serde_json::from_str(&meta.extra["train_state"]).unwrap();
    assert!(state["step"].as_u64().unwrap() >= 4);
}

#[test]
fn eval_predict_filters_features() {
    let dir = trained();
    let work = scratch("train-cli", "inspect");
    let best = s(&dir.join("best.safetensors"));
    let out = ok(&[
        "eval",
        "--checkpoint",
        &best,
        "--dataset",
        "builtin",
        "--limit",
        "100",
        "--mistakes",
        "8",
        "--out",
        &s(&work),
    ]);
    assert!(out.contains("accuracy") && out.contains("confusion matrix") && out.contains("per class"), "{out}");
    for f in ["confusion.png", "mistakes.png"] {
        assert_eq!(&std::fs::read(work.join(f)).unwrap()[1..4], b"PNG");
    }
    let png = bar_png(&work);
    let out = ok(&["predict", "--checkpoint", &best, &png, "--top-k", "3"]);
    assert_eq!(out.lines().count(), 1);
    assert_eq!(out.matches('%').count(), 3, "{out}");
    let out = ok(&["predict", "--checkpoint", &best, &png, &png, "--json"]);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["top"].as_array().unwrap().len(), 5);
    let total: f64 = first["top"].as_array().unwrap().iter().map(|t| t["probability"].as_f64().unwrap()).sum();
    assert!(total > 0.0 && total <= 1.0 + 1e-5);
    let f = work.join("conv1.png");
    ok(&["filters", "--checkpoint", &best, "--layer", "conv1", "--out", &s(&f)]);
    assert_eq!(&std::fs::read(&f).unwrap()[1..4], b"PNG");
    let feats = work.join("features");
    let out = ok(&["features", "--checkpoint", &best, "--image", &png, "--out", &s(&feats)]);
    assert!(out.contains("conv1") && out.contains("fc3"), "{out}");
    for f in ["00_input.png", "01_conv1.png", "06_pool2.png"] {
        assert!(feats.join(f).exists(), "{f} missing: {out}");
    }
}

#[test]
fn demo_trains_and_says_where_the_checkpoint_is() {
    let dir = scratch("train-cli", "demo");
    let out = ok(&["demo", "--seconds", "1", "--builtin-size", "256", "--threads", "1", "--quiet", "--out", &s(&dir)]);
    assert!(out.contains("checkpoint:") && out.contains("explainer"), "{out}");
    assert!(dir.join("checkpoint.safetensors").exists());
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = trained();
    let work = scratch("train-cli", "errors");
    let best = s(&dir.join("best.safetensors"));
    let o = s(&work.join("x"));
    assert_user_error(
        &["train", "--model", "lenet6", "--dataset", "builtin", "--out", &o],
        &["unknown model 'lenet6'"],
    );
    assert_user_error(&["train", "--model", "lenet5", "--dataset", "nosuchset", "--out", &o], &["nosuchset"]);
    assert_user_error(
        &["train", "--model", "lenet5", "--dataset", "mnist", "--data-dir", &s(&work), "--out", &o],
        &["mnist"],
    );
    assert_user_error(&["train", "--dataset", "builtin"], &["--model"]);
    assert_user_error(&["train", "--model", "lenet5", "--dataset", "builtin", "--optimizer", "adagrad"], &["adagrad"]);
    assert_user_error(&["train", "--model", "lenet5", "--dataset", "builtin", "--schedule", "zigzag"], &["zigzag"]);
    assert_user_error(&["train", "--model", "lenet5", "--dataset", "builtin", "--batch-size", "0"], &["batch size"]);
    // AlexNet cannot take 28×28 images.
    assert_user_error(
        &["train", "--model", "alexnet", "--dataset", "builtin", "--builtin-size", "16", "--out", &o],
        &["alexnet"],
    );
    assert_user_error(&["train", "--resume", &s(&work.join("none.safetensors"))], &["none.safetensors"]);
    assert_user_error(&["train", "--resume", &best], &["--init"]);
    // Corrupt and foreign checkpoints.
    let junk = work.join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint at all").unwrap();
    let other = work.join("other.safetensors");
    let (tensors, raw) = checkpoint::load_tensors(dir.join("best.safetensors")).unwrap();
    let mut meta = CheckpointMeta::from_metadata(&raw).unwrap();
    meta.model = "resnet18_cifar".into();
    let mut m = meta.to_metadata();
    m.extend(meta.extra.clone());
    checkpoint::save_tensors(&other, &tensors, &m).unwrap();
    let png = bar_png(&work);
    for ck in [&junk, &other] {
        let c = s(ck);
        assert_user_error(&["eval", "--checkpoint", &c, "--dataset", "builtin"], &[&c]);
        assert_user_error(&["predict", "--checkpoint", &c, &png], &[&c]);
        assert_user_error(&["filters", "--checkpoint", &c, "--layer", "conv1", "--out", &o], &[&c]);
        assert_user_error(&["features", "--checkpoint", &c, "--image", &png, "--out", &o], &[&c]);
    }
    // Unreadable images.
    let txt = work.join("notes.png");
    std::fs::write(&txt, "hello").unwrap();
    assert_user_error(&["predict", "--checkpoint", &best, &s(&txt)], &["notes.png"]);
    assert_user_error(&["predict", "--checkpoint", &best, &s(&work.join("missing.png"))], &["missing.png"]);
    assert_user_error(&["features", "--checkpoint", &best, "--image", &s(&txt), "--out", &o], &["notes.png"]);
    // A layer that is not a convolution; a dataset of another shape.
    assert_user_error(&["filters", "--checkpoint", &best, "--layer", "fc1", "--out", &o], &["conv1, conv2"]);
    assert_user_error(&["eval", "--checkpoint", &best, "--dataset", "cifar10", "--data-dir", &s(&work)], &["cifar"]);
}

#[test]
fn a_spec_model_trains_and_reloads() {
    let dir = scratch("train-cli", "spec");
    let mut args = vec![
        "train",
        "--model",
        "conv(4,5,padding=2) relu maxpool(2) flatten linear(10)",
        "--steps",
        "4",
        "--quiet",
        "--out",
    ];
    let out = s(&dir);
    args.push(&out);
    args.extend(TINY);
    ok(&args);
    let best = s(&dir.join("best.safetensors"));
    let out = ok(&[
        "eval",
        "--checkpoint",
        &best,
        "--dataset",
        "builtin",
        "--limit",
        "50",
        "--mistakes",
        "0",
        "--out",
        &s(&dir),
    ]);
    assert!(out.contains("input(1,28,28) conv(4,5,padding=2)"), "{out}");
    ok(&["filters", "--checkpoint", &best, "--layer", "0", "--out", &s(&dir.join("f.png"))]);
}

#[test]
fn nesterov_and_label_smoothing_reach_the_run_and_are_checked() {
    let dir = scratch("train-cli", "nesterov");
    let out = s(&dir);
    let common = [
        "--dataset",
        "builtin",
        "--builtin-size",
        "64",
        "--batch-size",
        "32",
        "--steps",
        "2",
        "--threads",
        "1",
        "--quiet",
        "--out",
        &out,
    ];
    let mut args = vec![
        "train",
        "--model",
        "lenet5",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--nesterov",
        "--label-smoothing",
        "0.1",
    ];
    args.extend(common);
    ok(&args);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["nesterov"], true, "{config}");
    assert!((config["label_smoothing"].as_f64().unwrap() - 0.1).abs() < 1e-6, "{config}");
    let mut adam = vec!["train", "--model", "lenet5", "--optimizer", "adam", "--nesterov"];
    adam.extend(common);
    assert_user_error(&adam, &["nesterov needs the sgd optimizer"]);
    let mut smooth = vec!["train", "--model", "lenet5", "--label-smoothing", "1.5"];
    smooth.extend(common);
    assert_user_error(&smooth, &["label_smoothing must be between 0 and 1"]);
}
