//! `convlab train` fine-tuning end to end: an exported ONNX network trained for the classes
//! of an image folder with a frozen backbone, evaluated from its checkpoint and resumed; and
//! `--init` weights of a zoo model with another class count.

use std::path::{Path, PathBuf};

use convlab::checkpoint::{self, CheckpointMeta};
use convlab::models::{build, ModelConfig};

mod common;
use common::{convlab, ok, s, scratch};

/// A 3-class folder dataset (`train/` and `test/`) of 48×40 RGB PNGs: red, green or blue
/// with some noise; the images are resized to the model's input when read.
fn colour_folder(root: &Path) -> String {
    for (split, count) in [("train", 6), ("test", 2)] {
        for (c, class) in ["blue", "green", "red"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let img = image::RgbImage::from_fn(48, 40, |x, y| {
                    let mut p = [30u8; 3];
                    p[2 - c] = 200 + ((x * 7 + y * 3 + i * 11) % 50) as u8;
                    image::Rgb(p)
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    s(root)
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../convlab/tests/fixtures/onnx").join(name);
    s(&p.canonicalize().unwrap())
}

/// Runs `convlab` and returns its standard error, asserting success.
fn ok_stderr(args: &[&str]) -> String {
    let o = convlab(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "args {args:?}: {err}");
    err
}

const SMALL: [&str; 8] = ["--batch-size", "6", "--optimizer", "adam", "--lr", "0.01", "--threads", "1"];

#[test]
fn an_onnx_model_is_fine_tuned_evaluated_and_resumed() {
    let dir = scratch("finetune-cli", "onnx");
    let data = colour_folder(&dir.join("colours"));
    let out = s(&dir.join("run"));
    let model = fixture("resnet_basic_narrow_ts_op13.onnx");
    let mut args = vec!["train", "--model", &model, "--dataset", &data, "--classes", "3", "--freeze-backbone"];
    args.extend(["--steps", "3", "--quiet", "--out", &out]);
    args.extend(SMALL);
    let err = ok_stderr(&args);
    let line = err.lines().find(|l| l.starts_with("replaced classifier 'fc' (")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("→5) with ") && line.ends_with("→3"), "{line}");

    let ck = dir.join("run/checkpoint.safetensors");
    let first = checkpoint::load(&ck).unwrap();
    let report = ok(&["eval", "--checkpoint", &s(&ck), "--dataset", &data]);
    assert!(report.contains("accuracy"), "{report}");

    // Resuming keeps the new classifier and the frozen backbone (part of the run's settings).
    ok_stderr(&["train", "--resume", &s(&ck), "--steps", "5", "--quiet"]);
    let resumed = checkpoint::load(&ck).unwrap();
    let state: serde_json::Value = serde_json::from_str(&resumed.meta.extra["train_state"]).unwrap();
    assert_eq!(state["step"], 5);
    let config: serde_json::Value = serde_json::from_str(&resumed.meta.extra["train_config"]).unwrap();
    assert_eq!(config["freeze_backbone"], true);
    for (name, t) in &resumed.tensors {
        let same = t.to_vec() == first.tensors[name].to_vec();
        assert_eq!(same, !name.starts_with("fc."), "{name}");
    }

    // A class count the folder does not have is refused.
    let mut args = vec!["train", "--model", &model, "--dataset", &data, "--classes", "4", "--steps", "1"];
    let bad_out = s(&dir.join("bad"));
    args.extend(["--out", &bad_out]);
    common::assert_user_error(&args, &["has 3 classes, not 4"]);
}

#[test]
fn init_weights_of_another_class_count_keep_a_fresh_classifier() {
    let dir = scratch("finetune-cli", "init");
    let data = colour_folder(&dir.join("colours"));
    let weights = dir.join("tinyvgg10.safetensors");
    let pretrained = build("tinyvgg", &ModelConfig { in_channels: 3, num_classes: 10 }, 1).unwrap();
    checkpoint::save(&weights, &*pretrained, &CheckpointMeta::new("tinyvgg", serde_json::json!({}))).unwrap();
    let out = s(&dir.join("run"));
    let w = s(&weights);
    let mut args = vec!["train", "--model", "tinyvgg", "--dataset", &data, "--init", &w, "--steps", "1"];
    args.extend(["--quiet", "--out", &out]);
    args.extend(SMALL);
    let err = ok_stderr(&args);
    assert!(err.contains("replaced classifier 'output' (1690→10) with 1690→3 (freshly initialized"), "{err}");
    // Weights for other input channels are not a classifier to replace: an error.
    let gray = dir.join("gray.safetensors");
    let other = build("tinyvgg", &ModelConfig { in_channels: 1, num_classes: 10 }, 1).unwrap();
    checkpoint::save(&gray, &*other, &CheckpointMeta::new("tinyvgg", serde_json::json!({}))).unwrap();
    let g = s(&gray);
    let mut args = vec!["train", "--model", "tinyvgg", "--dataset", &data, "--init", &g, "--steps", "1"];
    args.extend(["--out", &out]);
    common::assert_user_error(&args, &["conv_1_1.weight"]);
}
