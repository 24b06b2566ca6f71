//! An ONNX file as the model of every command that runs a trained model: `predict`, `eval`,
//! `features`, `filters`, `bench` and `explain` take `--model FILE.onnx` (its weights are the
//! model's) with `--classes-file` and `--mean`/`--std`, and give the library's own numbers.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_user_error, ok, s, scratch, Server};
use convlab::nn::{Forward, Module};
use convlab::{no_grad, Tensor};
use serde_json::Value;

/// A narrow MobileNet v2 (TorchScript exporter, opset 13): 3×32×32 inputs, 5 classes.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../convlab/tests/fixtures/onnx/mobilenet_v2_narrow_ts_op13.onnx")
}

/// A 32×32 RGB PNG with a pattern set by `seed`.
fn write_png(path: &Path, seed: u32) {
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([((x * 7 + seed * 40) % 256) as u8, ((y * 5 + seed * 90) % 256) as u8, ((x * y + seed) % 256) as u8])
    });
    img.save(path).unwrap();
}

/// The folder `dir` with `classes.txt` (a..e) and `img0.png`, `img1.png`.
fn setup(dir: &Path) -> (String, String) {
    std::fs::write(dir.join("classes.txt"), "a\nb\nc\nd\ne\n").unwrap();
    for i in 0..2 {
        write_png(&dir.join(format!("img{i}.png")), i);
    }
    (s(&fixture()), s(&dir.join("classes.txt")))
}

#[test]
fn predict_gives_the_library_s_probabilities_with_the_named_classes() {
    let dir = scratch("onnx-models", "predict");
    let (model, classes) = setup(&dir);
    let img = s(&dir.join("img1.png"));
    let norm = ["--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3"];
    let out = ok(&[
        &["predict", "--model", &model, "--classes-file", &classes, "--json", "--top-k", "5"][..],
        &norm,
        &[&img],
    ]
    .concat());
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    // The same image through the library: pixels / 255, normalized per channel.
    let rgb = image::open(&img).unwrap().to_rgb8();
    let (mean, std) = ([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]);
    let mut x = vec![0.0f32; 3 * 32 * 32];
    for (i, p) in rgb.pixels().enumerate() {
        for c in 0..3 {
            x[c * 1024 + i] = (p.0[c] as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    let net = convlab::onnx::load(fixture(), None).unwrap();
    let probs =
        no_grad(|| net.forward(&Tensor::from_vec(x, [1, 3, 32, 32]), &mut Forward::eval()).softmax(-1).to_vec());
    for t in top {
        let k = t["class"].as_u64().unwrap() as usize;
        assert_eq!(t["name"], ["a", "b", "c", "d", "e"][k]);
        let p = t["probability"].as_f64().unwrap() as f32;
        assert!((p - probs[k]).abs() < 1e-5, "class {k}: {p} vs {}", probs[k]);
    }
}

#[test]
fn eval_features_filters_and_bench_take_the_file() {
    let dir = scratch("onnx-models", "commands");
    let (model, classes) = setup(&dir);
    // A folder dataset of the model's five classes, two images each.
    for split in ["train", "test"] {
        for (k, c) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let d = dir.join("data").join(split).join(c);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..2 {
                write_png(&d.join(format!("{i}.png")), (k * 2 + i) as u32);
            }
        }
    }
    let data = s(&dir.join("data"));
    let out_dir = s(&dir.join("eval"));
    let out = ok(&["eval", "--model", &model, "--classes-file", &classes, "--dataset", &data, "--out", &out_dir]);
    assert!(out.contains("accuracy") && out.contains("10 test images"), "{out}");
    assert!(dir.join("eval/confusion.png").is_file());
    let feats = s(&dir.join("features"));
    let out = ok(&["features", "--model", &model, "--image", &s(&dir.join("img0.png")), "--out", &feats]);
    assert!(out.contains("wrote") && std::fs::read_dir(&feats).unwrap().count() > 10, "{out}");
    let first_conv = "/features/features.0/features.0.0/Conv";
    let png = s(&dir.join("filters.png"));
    let out = ok(&["filters", "--model", &model, "--layer", first_conv, "--out", &png]);
    assert!(out.contains("8 kernels") && Path::new(&png).is_file(), "{out}");
    let out = ok(&["bench", "--model", &model, "--batch", "2", "--quick", "--json"]);
    let row: Value = out.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap();
    assert_eq!(row["name"], "mobilenet_v2_narrow_ts_op13_infer/b2");
    assert!(row["median_ms"].as_f64().unwrap() > 0.0 && row["gflops"].as_f64().unwrap() > 0.0);
}

#[test]
fn mistakes_are_one_line_errors() {
    let dir = scratch("onnx-models", "errors");
    let (model, _) = setup(&dir);
    let img = s(&dir.join("img0.png"));
    std::fs::write(dir.join("three.txt"), "x\ny\nz\n").unwrap();
    let three = s(&dir.join("three.txt"));
    assert_user_error(
        &["predict", "--model", &model, "--classes-file", &three, &img],
        &["three.txt", "names 3 classes"],
    );
    assert_user_error(&["predict", "--model", &model, "--mean", "0.5", "--std", "0.2", &img], &["3 input channels"]);
    assert_user_error(&["predict", "--model", &model, "--mean", "0,0,0", "--std", "1,0,1", &img], &["std[1] = 0"]);
    assert_user_error(&["predict", "--model", "lenet5", &img], &["no trained weights", "--checkpoint"]);
    assert_user_error(&["predict", "--model", &s(&dir.join("missing.onnx")), &img], &["missing.onnx"]);
}

#[test]
fn the_explainer_shows_an_onnx_model_without_a_dataset() {
    let dir = scratch("onnx-models", "explain");
    let (model, classes) = setup(&dir);
    let server = Server::start_args(&["--model", &model, "--classes-file", &classes]);
    let get = |p: &str| -> Value { ureq::get(&format!("{}{p}", server.url)).call().unwrap().into_json().unwrap() };
    let m = get("/api/model");
    assert_eq!(m["classes"], serde_json::json!(["a", "b", "c", "d", "e"]));
    assert_eq!(m["input_shape"], serde_json::json!([3, 32, 32]));
    assert!(m["dataset"].is_null());
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers[0]["path"], "/features/features.0/features.0.0/Conv");
    assert_eq!(layers[0]["kind"], "Conv2d");
    let png = std::fs::read(dir.join("img0.png")).unwrap();
    let r: Value = ureq::post(&format!("{}/api/run", server.url))
        .set("Content-Type", "image/png")
        .send_bytes(&png)
        .unwrap()
        .into_json()
        .unwrap();
    let probs: Vec<f64> = r["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 5);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probs:?}");
    drop(server);
    // With a folder of larger images as --dataset: its test images, resized to 32×32.
    for split in ["train", "test"] {
        let d = dir.join("photos").join(split).join("a");
        std::fs::create_dir_all(&d).unwrap();
        image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 90]))
            .save(d.join("0.png"))
            .unwrap();
    }
    let photos = s(&dir.join("photos"));
    let server = Server::start_args(&["--model", &model, "--dataset", &photos]);
    let get = |p: &str| -> Value { ureq::get(&format!("{}{p}", server.url)).call().unwrap().into_json().unwrap() };
    let samples = get("/api/samples?offset=0&count=4");
    assert_eq!(samples["samples"].as_array().unwrap().len(), 1, "{samples}");
    let r: Value = ureq::post(&format!("{}/api/run", server.url))
        .set("Content-Type", "application/json")
        .send_string(r#"{"sample": 0}"#)
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(r["probs"].as_array().unwrap().len(), 5, "{r}");
    // Its labels name the dataset's classes, not the model's: no confusion matrix.
    match ureq::get(&format!("{}/api/confusion", server.url)).call() {
        Err(ureq::Error::Status(_, r)) => assert!(r.into_string().unwrap().contains("not the model's")),
        other => panic!("a confusion matrix over other classes: {:?}", other.map(|r| r.status())),
    }
}
