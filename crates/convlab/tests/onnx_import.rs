//! ONNX import against ONNX Runtime: every model `tools/onnx_fixtures.py` exported from
//! torchvision (both PyTorch exporters, several opsets) loads, and ConvLab's output on the
//! recorded input equals ONNX Runtime's within 1e-4 of its largest value.

use std::path::PathBuf;

use convlab::nn::{Mode, Module};
use convlab::{no_grad, Tensor};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

fn manifest() -> Vec<Value> {
    manifest_in(&dir())
}

fn manifest_in(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}: {e} (run tools/onnx_fixtures.py)", dir.join("manifest.json").display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    // Cases whose graph equals an earlier one's were checked but not written again.
    let written = |c: &&Value| c["status"] == "ok" && c["files"].as_object().is_some_and(|f| !f.is_empty());
    v["cases"].as_array().unwrap().iter().filter(written).cloned().collect()
}

/// The largest `|a - b|` relative to the largest `|b|`.
fn relative_error(a: &Tensor, b: &Tensor) -> f32 {
    let scale = b.to_vec().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.to_vec().iter().zip(b.to_vec()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn every_exported_torchvision_model_matches_onnx_runtime() {
    let cases = manifest();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    compare_all(&dir(), &cases);
}

/// The full-size torchvision models (standard widths, 224×224), written by
/// `/tmp/torchenv/bin/python tools/onnx_fixtures.py --full` into `target/onnx-full/`
/// (`CONVLAB_ONNX_FULL` names another folder). Run with
/// `cargo test --release -p convlab --test onnx_import -- --ignored --nocapture`.
#[test]
#[ignore]
fn full_size_torchvision_models_match_onnx_runtime() {
    let d = std::env::var("CONVLAB_ONNX_FULL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/onnx-full"));
    let cases = manifest_in(&d);
    compare_all(&d, &cases);
}

/// Loads every case of a manifest in `dir` and compares its output with ONNX Runtime's.
fn compare_all(dir: &std::path::Path, cases: &[Value]) {
    let mut failures = Vec::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let path = dir.join(format!("{name}.onnx"));
        let (io, _) = convlab::checkpoint::load_tensors(dir.join(format!("{name}.io.safetensors"))).unwrap();
        let (x, want) = (io[&format!("{name}.in.x")].clone(), io[&format!("{name}.out")].clone());
        let result = convlab::onnx::load(&path, Some(&x.dims()[1..]));
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let t = std::time::Instant::now();
        let y = no_grad(|| m.run(&x, Mode::Eval));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let err = if y.dims() == want.dims() { relative_error(&y, &want) } else { f32::INFINITY };
        eprintln!("{name}: relative error {err:.2e} ({ms:.0} ms)");
        if err.is_nan() || err > 1e-4 {
            failures.push(format!("{name}: output {:?} vs {:?}, relative error {err:e}", y.dims(), want.dims()));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// A 10 KB file (found by the `onnx_graph` fuzz target) whose shape arithmetic asks for a
/// constant of 16.8 million values: refused before it is allocated, by the budget a file of
/// that size gets, with the node named.
#[test]
fn a_small_file_cannot_fold_a_huge_constant() {
    let path = dir().join("hostile/huge_folded_constant.onnx");
    let err = convlab::onnx::load(&path, None).err().expect("refused").to_string();
    assert!(err.contains("huge_folded_constant.onnx") && err.contains("ConstantOfShape"), "{err}");
    assert!(err.contains("too large to compute at import"), "{err}");
}

/// A graph `x + Reshape(Range(start, limit, delta) as floats, [1, -1])`, all constants.
fn range_model(start: &[i64], limit: i64, delta: i64) -> convlab::onnx::Model {
    use convlab::onnx::{self, DataType, Dim};
    let c = |name: &str, v: &[i64]| onnx::node("Constant", name, &[], &[name], vec![onnx::attr_ints("value_ints", v)]);
    let graph = onnx::GraphProto {
        name: "range".into(),
        node: vec![
            c("s", start),
            onnx::node("Squeeze", "sq", &["s"], &["s0"], vec![]),
            onnx::node("Constant", "l", &[], &["l"], vec![onnx::attr_int("value_int", limit)]),
            onnx::node("Constant", "d", &[], &["d"], vec![onnx::attr_int("value_int", delta)]),
            onnx::node("Range", "r", &["s0", "l", "d"], &["r"], vec![]),
            onnx::node("Cast", "f", &["r"], &["rf"], vec![onnx::attr_int("to", 1)]),
            onnx::node("Add", "y", &["x", "rf"], &["y"], vec![]),
        ],
        input: vec![onnx::value_info("x", DataType::Float, &[Dim::Param("N"), 1.into(), 1.into(), 2.into()])],
        output: vec![onnx::value_info("y", DataType::Float, &[Dim::Param("N"), 1.into(), 1.into(), 2.into()])],
        ..Default::default()
    };
    let bytes = prost::Message::encode_to_vec(&onnx::model(graph, 17));
    onnx::decode_model(bytes, "range.onnx").unwrap()
}

/// Range's length is computed exactly, without overflow (a wrapping sequence once grew
/// without end), and an empty operand is an error, not a panic.
#[test]
fn range_lengths_cannot_overflow() {
    // ceil(i64::MAX / 2^62) = 2 values: 0, 2^62 (the third would overflow).
    let g = convlab::onnx::import(&range_model(&[0], i64::MAX, 1 << 62), None).unwrap();
    assert_eq!(g.output_shape(&[1, 1, 1, 2]).unwrap(), [1, 1, 1, 2]);
    // ceil(5 / 4) = 2 values near i64::MAX: the second would overflow an i64 step past the limit.
    let g = convlab::onnx::import(&range_model(&[i64::MAX - 5], i64::MAX, 4), None).unwrap();
    assert_eq!(g.output_shape(&[3, 1, 1, 2]).unwrap(), [3, 1, 1, 2]);
    let err = convlab::onnx::import(&range_model(&[], 4, 1), None).err().unwrap().to_string();
    assert!(err.contains("range.onnx"), "{err}");
}
