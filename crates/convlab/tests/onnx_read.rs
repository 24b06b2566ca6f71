//! ONNX files: the committed reference files (written by ONNX's Python library and by
//! PyTorch's exporter, `tools/onnx_reader_fixtures.py`) decode to the values ONNX reads from
//! them; hostile files (built here with ConvLab's writer or as raw bytes) are each refused with
//! one line naming the file and the tensor; written models read back, with external data too.

use std::path::{Path, PathBuf};

use convlab::onnx::{
    self, tensor_shape_proto::dimension, type_proto, AttrValue, DataType, ExternalData, GraphProto, Limits, ModelProto,
    StringStringEntryProto, TensorProto, WriteOptions,
};
use convlab::{Error, Tensor};
use prost::bytes::Bytes;
use prost::Message;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("convlab-onnx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_names(err: &Error, file: &str, needle: &str) {
    let err = err.to_string();
    assert!(err.contains(file), "the error names {file}: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

fn model_of(initializer: Vec<TensorProto>) -> ModelProto {
    onnx::model(GraphProto { name: "g".into(), initializer, ..Default::default() }, 17)
}

/// Writes `model` as raw protobuf (no checks) to `dir/name`.
fn write_raw(dir: &Path, name: &str, model: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

fn float_tensor(name: &str, dims: &[i64], raw: usize) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: Bytes::from(vec![0u8; raw]),
        ..Default::default()
    }
}

fn external(name: &str, dims: &[i64], entries: &[(&str, &str)]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        data_location: onnx::DataLocation::External as i32,
        external_data: entries
            .iter()
            .map(|&(k, v)| StringStringEntryProto { key: k.into(), value: v.into() })
            .collect(),
        ..Default::default()
    }
}

// ----- reference files --------------------------------------------------------------------------

#[test]
fn reference_files_decode_to_the_values_onnx_reads() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (file, tensors) in expected["files"].as_object().unwrap() {
        let model = onnx::read_model(Path::new(FIXTURES).join(file)).unwrap();
        for (name, want) in tensors.as_object().unwrap() {
            let t = model.initializer(name).unwrap_or_else(|| panic!("{file}: no initializer {name}"));
            let dims: Vec<usize> =
                want["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            let got = model.tensor(t).unwrap();
            assert_eq!(got.dims(), dims, "{file} {name}");
            let values = want["values"].as_array().unwrap();
            let integer = values.iter().all(|v| v.is_i64() || v.is_u64());
            let as_f32: Vec<f32> = values
                .iter()
                .map(|v| match (v.as_i64(), v.as_u64()) {
                    (Some(i), _) => i as f32,
                    (None, Some(u)) => u as f32,
                    _ => v.as_f64().unwrap() as f32,
                })
                .collect();
            assert_eq!(got.to_vec(), as_f32, "{file} {name}");
            if integer && !values.is_empty() {
                let ints: Vec<i64> = values.iter().map(|v| v.as_i64().unwrap()).collect();
                assert_eq!(model.tensor_i64(t).unwrap(), ints, "{file} {name}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 36);
}

#[test]
fn the_tiny_model_decodes_whole() {
    let model = onnx::read_model(Path::new(FIXTURES).join("tiny.onnx")).unwrap();
    let p = model.proto();
    assert_eq!(
        (p.ir_version, p.producer_name.as_str(), model.opset_version("ai.onnx")),
        (8, "onnx_reader_fixtures", Some(17))
    );
    let g = model.graph().unwrap();
    let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Conv", "LeakyRelu", "Reshape", "Constant", "Pad", "ReduceSum", "Greater", "If"]);
    let conv = &g.node[0];
    assert_eq!(conv.attr("pads").unwrap().value(), AttrValue::Ints(&[1, 1, 1, 1]));
    assert_eq!(conv.attr("group").unwrap().value(), AttrValue::Int(1));
    assert_eq!(g.node[1].attr("alpha").unwrap().value(), AttrValue::Float(0.0));
    assert_eq!(g.node[4].attr("mode").unwrap().value(), AttrValue::String(b"constant"));
    let AttrValue::Tensor(k) = g.node[3].attr("value").unwrap().value() else { panic!("Constant value") };
    assert_eq!((model.tensor_i64(k).unwrap(), model.tensor_dims(k).unwrap()), (vec![3], vec![]));
    let AttrValue::Graph(then) = g.node[7].attr("then_branch").unwrap().value() else { panic!("If branch") };
    assert_eq!(model.tensor(&then.initializer[0]).unwrap().to_vec(), [1.0]);
    let AttrValue::Graph(els) = g.node[7].attr("else_branch").unwrap().value() else { panic!("If branch") };
    assert_eq!(els.node[0].attr("value_floats").unwrap().value(), AttrValue::Floats(&[2.0]));
    // float_data rather than raw_data; the sparse initializer decodes (not converted here).
    assert!(model.initializer("conv.bias").unwrap().raw_data.is_empty());
    assert_eq!(g.sparse_initializer[0].dims, [4]);
    let Some(type_proto::Value::TensorType(x)) = &g.input[0].r#type.as_ref().unwrap().value else { panic!("x type") };
    let dims: Vec<_> = x.shape.as_ref().unwrap().dim.iter().map(|d| d.value.clone().unwrap()).collect();
    assert_eq!(dims[0], dimension::Value::DimParam("N".into()));
    assert_eq!(dims[3], dimension::Value::DimValue(4));
}

#[test]
fn the_pytorch_export_reads_with_its_external_data() {
    let model = onnx::read_model(Path::new(FIXTURES).join("torch.onnx")).unwrap();
    assert_eq!((model.proto().producer_name.as_str(), model.opset_version("")), ("pytorch", Some(20)));
    let w = model.initializer("5.weight").unwrap();
    assert_eq!(w.data_location, onnx::DataLocation::External as i32);
    assert_eq!(model.tensor(w).unwrap().dims(), [40, 8]);
    let ops: Vec<&str> = model.graph().unwrap().node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(&ops[..4], ["Conv", "BatchNormalization", "Relu", "MaxPool"]);
}

#[test]
fn a_string_tensor_is_not_a_float_tensor() {
    let path = Path::new(FIXTURES).join("types.onnx");
    let model = onnx::read_model(&path).unwrap();
    let e = model.tensor(model.initializer("string").unwrap()).unwrap_err();
    assert_names(&e, "types.onnx", "tensor \"string\": has type STRING;");
    let e = model.tensor_i64(model.initializer("double.raw").unwrap()).unwrap_err();
    assert_names(&e, "types.onnx", "tensor \"double.raw\": has type DOUBLE, where integers");
}

// ----- hostile files ------------------------------------------------------------------------------

#[test]
fn truncated_files_are_refused_and_no_prefix_panics() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(Path::new(FIXTURES).join("tiny.onnx")).unwrap();
    let path = dir.join("cut.onnx");
    let mut refused = 0;
    for len in 0..bytes.len() {
        std::fs::write(&path, &bytes[..len]).unwrap();
        if let Err(e) = onnx::read_model(&path) {
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
            assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
            refused += 1;
        }
    }
    // Only a cut between two top-level fields leaves a (smaller) valid model.
    assert!(refused > bytes.len() * 9 / 10, "{refused} of {}", bytes.len());
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_names(&onnx::read_model(&path).unwrap_err(), "cut.onnx", "not a valid ONNX model");
    std::fs::write(&path, b"").unwrap();
    assert_names(&onnx::read_model(&path).unwrap_err(), "cut.onnx", "the file is empty");
}

#[test]
fn a_length_prefix_past_the_end_is_refused() {
    let dir = scratch("length");
    // ir_version 8, then ModelProto.graph claiming 1 MiB with 3 bytes left.
    let path = dir.join("long.onnx");
    std::fs::write(&path, [0x08, 8, 0x3a, 0x80, 0x80, 0x40, 0x0a, 0x00, 0x00]).unwrap();
    assert_names(&onnx::read_model(&path).unwrap_err(), "long.onnx", "claims 1048576 bytes, but only 3 remain");
    // The same inside a tensor: raw_data claiming more than its message holds.
    let mut t = float_tensor("w", &[1], 4).encode_to_vec();
    let at = t.iter().position(|&b| b == 0x4a).unwrap();
    t[at + 1] = 100;
    let mut graph = vec![0x2a, t.len() as u8];
    graph.extend(&t);
    let mut file = vec![0x08, 8, 0x3a, graph.len() as u8];
    file.extend(&graph);
    std::fs::write(&path, &file).unwrap();
    assert_names(&onnx::read_model(&path).unwrap_err(), "long.onnx", "TensorProto field 9");
}

#[test]
fn dims_that_lie_are_refused() {
    let dir = scratch("dims");
    let cases = [
        (
            float_tensor("huge", &[1 << 40, 1 << 40], 4),
            "tensor \"huge\": dims [1099511627776, 1099511627776] claim more elements",
        ),
        (float_tensor("neg", &[2, -1], 8), "tensor \"neg\": dimension 1 of dims [2, -1] is negative"),
        (
            float_tensor("short", &[2, 3], 20),
            "tensor \"short\": raw_data holds 20 bytes, but FLOAT dims [2, 3] need 24",
        ),
        (
            TensorProto { float_data: vec![1.0, 2.0], ..float_tensor("few", &[1000], 0) },
            "tensor \"few\": float_data holds 2 values, but FLOAT dims [1000] need 1000",
        ),
        (float_tensor("none", &[1 << 30], 0), "tensor \"none\": holds no data, but FLOAT dims [1073741824] need"),
    ];
    for (i, (t, want)) in cases.into_iter().enumerate() {
        let path = write_raw(&dir, &format!("m{i}.onnx"), &model_of(vec![t]));
        assert_names(&onnx::read_model(&path).unwrap_err(), &format!("m{i}.onnx"), want);
    }
    // In a Constant node inside a subgraph: the error says where.
    let bad = onnx::attr_tensor("value", float_tensor("c", &[3], 4));
    let body = GraphProto { node: vec![onnx::node("Constant", "k", &[], &["c"], vec![bad])], ..Default::default() };
    let iff = onnx::node("If", "branch", &["cond"], &["y"], vec![onnx::attr_graph("then_branch", body)]);
    let m = onnx::model(GraphProto { node: vec![iff], ..Default::default() }, 17);
    let path = write_raw(&dir, "sub.onnx", &m);
    assert_names(
        &onnx::read_model(&path).unwrap_err(),
        "sub.onnx",
        "node \"branch\" (If) attribute \"then_branch\", node \"k\" (Constant) attribute \"value\", tensor \"c\": raw_data holds 4 bytes",
    );
}

/// A model with one external tensor `w` of 4 floats, and the data file `w.bin` (32 bytes).
fn external_case(dir: &Path, entries: &[(&str, &str)]) -> Result<onnx::Model, Error> {
    std::fs::write(dir.join("w.bin"), [0u8; 32]).unwrap();
    let path = write_raw(dir, "model.onnx", &model_of(vec![external("w", &[4], entries)]));
    onnx::read_model(path)
}

#[test]
fn external_locations_stay_in_the_model_folder() {
    let dir = scratch("external");
    std::fs::create_dir(dir.join("folder")).unwrap();
    let m = external_case(&dir, &[("location", "w.bin"), ("offset", "16"), ("length", "16")]).unwrap();
    assert_eq!(m.tensor(m.initializer("w").unwrap()).unwrap().to_vec(), [0.0; 4]);
    for (entries, want) in [
        (
            &[("location", "../w.bin")][..],
            "tensor \"w\": external data location \"../w.bin\" leaves the model's folder",
        ),
        (
            &[("location", "/etc/passwd")][..],
            "tensor \"w\": external data location \"/etc/passwd\" is an absolute path",
        ),
        (
            &[("location", "w.bin"), ("offset", "24"), ("length", "16")][..],
            "offset 24 + length 16 runs past the end of \"w.bin\" (32 bytes)",
        ),
        (&[("location", "w.bin"), ("offset", "40")][..], "offset 40 is past the end of \"w.bin\""),
        (&[("location", "w.bin"), ("length", "8")][..], "holds 8 bytes, but the dims need 16"),
        (&[("location", "w.bin")][..], "holds 32 bytes, but the dims need 16"),
        (&[("location", "missing.bin")][..], "external data \"missing.bin\": No such file"),
        (&[("location", "folder")][..], "external data \"folder\" is not a regular file"),
        (&[("offset", "0")][..], "external_data has no location"),
    ] {
        assert_names(&external_case(&dir, entries).unwrap_err(), "model.onnx", want);
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_folder_are_refused() {
    let dir = scratch("symlink");
    let outside = scratch("symlink-outside");
    std::fs::write(outside.join("secret.bin"), [1u8; 16]).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.bin"), dir.join("link.bin")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("sub")).unwrap();
    for loc in ["link.bin", "sub/secret.bin"] {
        let e = external_case(&dir, &[("location", loc)]).unwrap_err();
        assert_names(&e, "model.onnx", "outside the model's folder");
    }
    // A symlink that stays inside is followed.
    std::os::unix::fs::symlink(dir.join("w.bin"), dir.join("inside.bin")).unwrap();
    assert!(external_case(&dir, &[("location", "inside.bin"), ("length", "16")]).is_ok());
    // A FIFO is not a data file (and opening it does not block).
    assert!(std::process::Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    assert_names(&external_case(&dir, &[("location", "fifo")]).unwrap_err(), "model.onnx", "not a regular file");
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn overlapping_external_ranges_are_refused() {
    let dir = scratch("overlap");
    std::fs::write(dir.join("w.bin"), [0u8; 32]).unwrap();
    let a = external("a", &[4], &[("location", "w.bin"), ("offset", "0"), ("length", "16")]);
    let b = external("b", &[4], &[("location", "./w.bin"), ("offset", "8"), ("length", "16")]);
    let path = write_raw(&dir, "model.onnx", &model_of(vec![a, b]));
    assert_names(&onnx::read_model(path).unwrap_err(), "model.onnx", "tensor \"a\" and tensor \"b\" overlap");
}

#[test]
fn external_data_changed_after_reading_is_checked_again() {
    let dir = scratch("changed");
    let m = external_case(&dir, &[("location", "w.bin"), ("offset", "16"), ("length", "16")]).unwrap();
    std::fs::write(dir.join("w.bin"), [0u8; 20]).unwrap();
    let e = m.tensor(m.initializer("w").unwrap()).unwrap_err();
    assert_names(&e, "model.onnx", "offset 16 + length 16 runs past the end of \"w.bin\" (20 bytes)");
}

#[test]
fn models_in_memory_have_no_external_data() {
    let bytes = model_of(vec![external("w", &[4], &[("location", "w.bin")])]).encode_to_vec();
    let e = onnx::decode_model(bytes, "mem.onnx").unwrap_err();
    assert_names(&e, "mem.onnx", "tensor \"w\": has external data, but the model was decoded from memory");
}

#[test]
fn limits_bound_files_nesting_and_counts() {
    let dir = scratch("limits");
    let path = write_raw(&dir, "m.onnx", &model_of(vec![float_tensor("w", &[256], 1024)]));
    let small = Limits { max_model_bytes: 100, ..Limits::default() };
    assert_names(
        &onnx::read_model_with(&path, &small).unwrap_err(),
        "m.onnx",
        "more than the 100 a model file may have",
    );
    let few = Limits { max_tensors: 0, ..Limits::default() };
    assert_names(&onnx::read_model_with(&path, &few).unwrap_err(), "m.onnx", "more than 0 tensors");
    let mut g = GraphProto::default();
    for _ in 0..20 {
        g = GraphProto {
            node: vec![onnx::node("Loop", "", &[], &["o"], vec![onnx::attr_graph("body", g)])],
            ..Default::default()
        };
    }
    let path = write_raw(&dir, "deep.onnx", &onnx::model(g, 17));
    assert_names(&onnx::read_model(&path).unwrap_err(), "deep.onnx", "subgraphs nest deeper than 16 levels");
    #[cfg(unix)]
    assert_names(&onnx::read_model("/dev/zero").unwrap_err(), "/dev/zero", "not a regular file");
    // Not ONNX at all: text decodes as unknown fields, but has no ir_version.
    std::fs::write(dir.join("text.onnx"), b"hello").unwrap();
    assert_names(&onnx::read_model(dir.join("text.onnx")).unwrap_err(), "text.onnx", "not");
}

// ----- writing ------------------------------------------------------------------------------------

fn sample_model(weight: &Tensor) -> ModelProto {
    let graph = GraphProto {
        name: "net".into(),
        node: vec![
            onnx::node("Conv", "conv", &["x", "w", "b"], &["y"], vec![onnx::attr_int("group", 1)]),
            onnx::node("Reshape", "flat", &["y", "shape"], &["z"], vec![]),
        ],
        initializer: vec![
            onnx::float_tensor("w", weight),
            onnx::float_tensor("b", &Tensor::from_vec(vec![0.5, -0.5], [2])),
            onnx::int64_tensor("shape", &[1, -1]),
        ],
        input: vec![onnx::value_info("x", DataType::Float, &["N".into(), 3.into(), 16.into(), 16.into()])],
        ..Default::default()
    };
    onnx::model(graph, 17)
}

#[test]
fn written_models_read_back() {
    let dir = scratch("write");
    let w = Tensor::randn([2, 3, 3, 3], 0);
    let m = sample_model(&w);
    let path = dir.join("net.onnx");
    onnx::write_model(&path, &m).unwrap();
    let back = onnx::read_model(&path).unwrap();
    assert_eq!(back.proto(), &m);
    assert_eq!(back.tensor(back.initializer("w").unwrap()).unwrap().to_vec(), w.to_vec());
    assert!(!dir.join("net.onnx.data").exists());
    // Nothing but the model is left in the folder (no temporary files).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn large_initializers_go_to_external_data() {
    let dir = scratch("write-external");
    let w = Tensor::randn([64, 3, 3, 3], 1); // 6912 bytes: moved
    let m = sample_model(&w);
    let path = dir.join("net.onnx");
    let options = WriteOptions { external_data: ExternalData::Always, ..WriteOptions::default() };
    let data = onnx::write_model_with(&path, &m, &options).unwrap().unwrap();
    assert_eq!(data, dir.join("net.onnx.data"));
    let back = onnx::read_model(&path).unwrap();
    let t = back.initializer("w").unwrap();
    assert_eq!(t.data_location, onnx::DataLocation::External as i32);
    let entries: Vec<(&str, &str)> = t.external_data.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
    assert_eq!(entries, [("location", "net.onnx.data"), ("offset", "0"), ("length", "6912")]);
    assert_eq!(back.tensor(t).unwrap().to_vec(), w.to_vec());
    // The small ones stay in the model.
    assert_eq!(back.initializer("b").unwrap().raw_data.len(), 8);
    assert_eq!(back.tensor_i64(back.initializer("shape").unwrap()).unwrap(), [1, -1]);
    // However small the threshold, shapes stay in the model (shape inference reads them).
    let all = WriteOptions { external_data: ExternalData::Always, min_tensor_bytes: 0, ..WriteOptions::default() };
    onnx::write_model_with(&path, &m, &all).unwrap().unwrap();
    let back = onnx::read_model(&path).unwrap();
    assert_eq!(back.initializer("b").unwrap().data_location, onnx::DataLocation::External as i32);
    assert_eq!(back.initializer("shape").unwrap().data_location, onnx::DataLocation::Default as i32);
    // Auto moves them past the threshold only; offsets are 4096-aligned.
    let two = GraphProto {
        initializer: vec![onnx::float_tensor("a", &Tensor::ones([300])), onnx::float_tensor("c", &Tensor::ones([300]))],
        ..Default::default()
    };
    let m2 = onnx::model(two, 17);
    let auto = WriteOptions { threshold: 4096, ..WriteOptions::default() };
    assert_eq!(onnx::write_model_with(dir.join("small.onnx"), &m2, &auto).unwrap(), None);
    let auto = WriteOptions { threshold: 2000, ..WriteOptions::default() };
    onnx::write_model_with(dir.join("two.onnx"), &m2, &auto).unwrap().unwrap();
    let back = onnx::read_model(dir.join("two.onnx")).unwrap();
    assert_eq!(back.initializer("c").unwrap().external_data[1].value, "4096");
    assert_eq!(std::fs::metadata(dir.join("two.onnx.data")).unwrap().len(), 4096 + 1200);
    assert_eq!(back.tensor(back.initializer("c").unwrap()).unwrap().to_vec(), vec![1.0; 300]);
}

#[test]
fn the_writer_refuses_a_broken_initializer() {
    let dir = scratch("write-broken");
    let e = onnx::write_model(dir.join("bad.onnx"), &model_of(vec![float_tensor("w", &[3], 4)])).unwrap_err();
    assert_names(&e, "bad.onnx", "tensor \"w\": raw_data holds 4 bytes");
    assert!(!dir.join("bad.onnx").exists());
}
