//! Checkpoints: round trips, strict and non-strict loading, atomic writes, dtype conversion,
//! and clear errors (never panics) for corrupt, truncated and foreign files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convlab::checkpoint::{self, CheckpointMeta, LoadReport, Normalization};
use convlab::nn::{
    Act, BatchNorm, Conv2d, Conv2dConfig, Flatten, Linear, MaxPool2d, Mode, Module, ParamRng, Sequential,
};
use convlab::{Activation, Error, Pool2dParams, Tensor};

/// A fresh directory under the target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("checkpoint-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Conv(2→4, 3×3) · BN · ReLU · MaxPool · Flatten · Linear(4·3·3 → 5), on [N, 2, 6, 6].
fn small_net(seed: u64, classes: usize) -> Sequential {
    let mut rng = ParamRng::new(seed);
    let mut net = Sequential::new();
    net.push(Conv2d::new(Conv2dConfig::new(2, 4, 3), &mut rng));
    net.push(BatchNorm::new_2d(4));
    net.push(Act(Activation::Relu));
    net.push(MaxPool2d(Pool2dParams::new([2, 2])));
    net.push(Flatten::default());
    net.push(Linear::new(4 * 2 * 2, classes, true, &mut rng));
    net
}

fn trained_net(seed: u64) -> Sequential {
    let net = small_net(seed, 5);
    for step in 0..3 {
        net.run(&Tensor::randn([3, 2, 6, 6], 100 + step), Mode::Train);
    }
    net
}

fn file_list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn save_then_load_restores_every_tensor_and_the_metadata() {
    let dir = scratch("roundtrip");
    let path = dir.join("net.safetensors");
    let net = trained_net(1);
    assert_eq!(net.state_dict()["1.num_batches_tracked"].item(), 3.0);
    let meta = CheckpointMeta {
        epoch: Some(7),
        class_names: (0..5).map(|i| format!("class {i}")).collect(),
        normalization: Some(Normalization { mean: vec![0.5, 0.25], std: vec![0.2, 0.1] }),
        ..CheckpointMeta::new("small", serde_json::json!({ "in_channels": 2, "num_classes": 5 }))
    };
    checkpoint::save(&path, &net, &meta).unwrap();
    assert_eq!(file_list(&dir), ["net.safetensors"], "no temporary file left behind");

    let other = small_net(2, 5);
    let x = Tensor::randn([2, 2, 6, 6], 9);
    assert_ne!(other.run(&x, Mode::Eval).to_vec(), net.run(&x, Mode::Eval).to_vec());
    let back = checkpoint::load_into(&path, &other).unwrap();
    assert_eq!(back, meta);
    assert_eq!(back.convlab_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(back.model_config().map(|c| (c.in_channels, c.num_classes)), Some((2, 5)));
    for ((n, a), (m, b)) in net.state_dict().iter().zip(other.state_dict().iter()) {
        assert_eq!(n, m);
        assert_eq!(a.dims(), b.dims(), "{n}");
        assert_eq!(a.to_vec(), b.to_vec(), "{n}");
    }
    assert_eq!(other.run(&x, Mode::Eval).to_vec(), net.run(&x, Mode::Eval).to_vec());

    // num_batches_tracked is stored as i64 (as torch stores it), the rest as f32.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("1.num_batches_tracked").unwrap().dtype(), safetensors::Dtype::I64);
    assert_eq!(st.tensor("1.num_batches_tracked").unwrap().data(), 3i64.to_le_bytes());
    assert_eq!(st.tensor("0.weight").unwrap().dtype(), safetensors::Dtype::F32);
    let (_, raw) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let raw = raw.metadata().clone().unwrap();
    assert_eq!(raw["model"], "\"small\"");
    assert_eq!(raw["epoch"], "7");
    assert_eq!(raw["config"], r#"{"in_channels":2,"num_classes":5}"#);
}

#[test]
fn strict_load_names_missing_unexpected_and_misshapen_keys_and_changes_nothing() {
    let dir = scratch("strict");
    let path = dir.join("net.safetensors");
    let mut tensors = trained_net(1).state_dict();
    tensors.remove("1.running_var");
    tensors.insert("extra.weight".into(), Tensor::zeros([2]));
    tensors.insert("5.weight".into(), Tensor::zeros([3, 16]));
    checkpoint::save_tensors(&path, &tensors, &BTreeMap::new()).unwrap();

    let net = small_net(3, 5);
    let before = net.state_dict().into_iter().map(|(k, v)| (k, v.to_vec())).collect::<Vec<_>>();
    let err = checkpoint::load_into(&path, &net).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Format { .. }), "{msg}");
    assert!(msg.contains("net.safetensors"), "{msg}");
    assert!(msg.contains("missing keys: 1.running_var"), "{msg}");
    assert!(msg.contains("unexpected keys: extra.weight"), "{msg}");
    assert!(msg.contains("5.weight: file [3, 16] vs module [5, 16]"), "{msg}");
    let after = net.state_dict().into_iter().map(|(k, v)| (k, v.to_vec())).collect::<Vec<_>>();
    assert_eq!(before, after, "a failed strict load changes nothing");

    let (meta, report) = checkpoint::load_into_non_strict(&path, &net).unwrap();
    assert_eq!(meta, CheckpointMeta::default());
    assert_eq!(
        report,
        LoadReport {
            missing: vec!["1.running_var".into()],
            unexpected: vec!["extra.weight".into()],
            mismatched: vec!["5.weight: file [3, 16] vs module [5, 16]".into()],
        }
    );
    assert_eq!(net.state_dict()["0.weight"].to_vec(), tensors["0.weight"].to_vec(), "what fits is loaded");
    assert_eq!(net.state_dict()["1.running_var"].to_vec(), vec![1.0; 4], "missing keys keep their values");
}

#[test]
fn a_failed_write_leaves_the_old_file_intact() {
    let dir = scratch("atomic");
    let path = dir.join("model.safetensors");
    let net = trained_net(1);
    checkpoint::save(&path, &net, &CheckpointMeta::new("small", serde_json::Value::Null)).unwrap();
    let old = std::fs::read(&path).unwrap();

    // The writer fails half-way: the old file stays, the temporary file is removed.
    let err = checkpoint::write_atomic(&path, |w| {
        w.write_all(&old[..old.len() / 2])?;
        Err(std::io::Error::other("device full"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("device full"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(file_list(&dir), ["model.safetensors"]);

    // The rename fails (the target is a directory): nothing is left behind either.
    let blocked = dir.join("blocked.safetensors");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    assert!(checkpoint::save(&blocked, &net, &CheckpointMeta::default()).is_err());
    assert_eq!(file_list(&dir), ["blocked.safetensors", "model.safetensors"]);

    // A directory that does not exist: an error naming the path.
    let err = checkpoint::save(dir.join("no/such/dir/x.safetensors"), &net, &CheckpointMeta::default()).unwrap_err();
    assert!(err.to_string().contains("no/such/dir/x.safetensors"), "{err}");

    // A successful save replaces the file.
    let other = small_net(5, 5);
    checkpoint::save(&path, &other, &CheckpointMeta::default()).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), old);
    assert_eq!(checkpoint::load(&path).unwrap().tensors["0.weight"].to_vec(), other.state_dict()["0.weight"].to_vec());
}

#[test]
fn save_tensors_round_trips_arbitrary_state_and_metadata() {
    let dir = scratch("tensors");
    let path = dir.join("optim.safetensors");
    let mut tensors = BTreeMap::new();
    tensors.insert("state.0.momentum_buffer".to_string(), Tensor::from_vec(vec![1.5, -2.0, 3.25], [3]));
    tensors.insert("step".to_string(), Tensor::scalar(11.0));
    tensors.insert("empty".to_string(), Tensor::zeros([0, 4]));
    let meta: BTreeMap<String, String> = [("optimizer".to_string(), "sgd".to_string())].into();
    checkpoint::save_tensors(&path, &tensors, &meta).unwrap();
    let (back, back_meta) = checkpoint::load_tensors(&path).unwrap();
    assert_eq!(back_meta, meta);
    assert_eq!(back.len(), 3);
    for (k, v) in &tensors {
        assert_eq!(back[k].dims(), v.dims(), "{k}");
        assert_eq!(back[k].to_vec(), v.to_vec(), "{k}");
    }
    // Metadata that is not ConvLab's is kept in `extra`.
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.meta.extra.get("optimizer").map(String::as_str), Some("sgd"));
    assert_eq!(ck.meta.model, "");
}

// ---- crafted files ------------------------------------------------------------------------

/// A safetensors file from a header (JSON text, used verbatim) and the data bytes.
fn craft(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn other_dtypes_are_converted_to_f32() {
    let dir = scratch("dtypes");
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let mut add = |name: &str, dtype: &str, shape: &str, bytes: Vec<u8>| {
        let start = data.len();
        data.extend_from_slice(&bytes);
        entries
            .push(format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{start},{}]}}"#, data.len()));
    };
    add("f64", "F64", "[3]", [0.1f64, -2.5, 1e10].iter().flat_map(|v| v.to_le_bytes()).collect());
    // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, 2^-24 (smallest subnormal) = 0x0001, 0.333 ≈ 0x3555
    add(
        "f16",
        "F16",
        "[5]",
        [0x3c00u16, 0xc000, 0x7bff, 0x0001, 0x3555].iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    // bf16: the top half of an f32.
    add(
        "bf16",
        "BF16",
        "[2]",
        [1.5f32, -3.0].iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect(),
    );
    add("nbt", "I64", "[]", 1234i64.to_le_bytes().to_vec());
    add("i32", "I32", "[2]", [-7i32, 40000].iter().flat_map(|v| v.to_le_bytes()).collect());
    add("u8", "U8", "[2]", vec![0, 255]);
    add("flags", "BOOL", "[2]", vec![1, 0]);
    let header = format!("{{{}}}", entries.join(","));
    let path = write(&dir, "dtypes.safetensors", &craft(&header, &data));

    let (t, _) = checkpoint::load_tensors(&path).unwrap();
    assert_eq!(t["f64"].to_vec(), vec![0.1f32, -2.5, 1e10]);
    assert_eq!(t["f16"].to_vec(), vec![1.0, -2.0, 65504.0, 2f32.powi(-24), 0.33325195]);
    assert_eq!(t["bf16"].to_vec(), vec![1.5, -3.0]);
    assert_eq!(t["nbt"].dims(), &[] as &[usize]);
    assert_eq!(t["nbt"].item(), 1234.0);
    assert_eq!(t["i32"].to_vec(), vec![-7.0, 40000.0]);
    assert_eq!(t["u8"].to_vec(), vec![0.0, 255.0]);
    assert_eq!(t["flags"].to_vec(), vec![1.0, 0.0]);
}

#[test]
fn corrupt_truncated_and_foreign_files_are_errors_naming_the_file() {
    let dir = scratch("corrupt");
    let good = craft(r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, &[0u8; 16]);
    assert!(checkpoint::load_tensors(write(&dir, "good.safetensors", &good)).is_ok());

    let mut huge_len = good.clone();
    huge_len[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut long_len = good.clone();
    long_len[..8].copy_from_slice(&1000u64.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "too short"),
        ("four_bytes", vec![1, 2, 3, 4], "too short"),
        ("text", b"hello, this is not a checkpoint at all\n".to_vec(), "not a safetensors file"),
        ("torch_zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl".to_vec(), "not a safetensors file"),
        ("huge_header_length", huge_len, "not a safetensors file"),
        ("header_longer_than_file", long_len, "not a safetensors file"),
        ("header_not_json", craft("{not json at all", &[]), "not a valid JSON"),
        ("header_not_utf8", [2u64.to_le_bytes().as_slice(), &[0xff, 0xfe]].concat(), "not a valid JSON"),
        ("truncated", good[..good.len() - 5].to_vec(), "truncated"),
        ("trailing_bytes", [good.clone(), vec![0; 8]].concat(), "truncated or corrupt"),
        (
            "shape_lies",
            craft(r#"{"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#, &[0u8; 16]),
            "does not match its shape",
        ),
        ("offsets_gap", craft(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, &[0u8; 16]), "tensor 'w'"),
        (
            "offsets_backwards",
            craft(r#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}"#, &[0u8; 16]),
            "tensor 'w'",
        ),
        (
            "shape_overflow",
            craft(r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}"#, &[0u8; 16]),
            "overflow",
        ),
        (
            "unknown_dtype",
            craft(r#"{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, &[0u8; 16]),
            "not a valid JSON",
        ),
        (
            "fp8",
            craft(r#"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, &[0u8; 4]),
            "cannot be converted",
        ),
        (
            "bad_epoch",
            craft(
                r#"{"__metadata__":{"epoch":"\"soon\""},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &[0u8; 4],
            ),
            "metadata 'epoch'",
        ),
    ];
    for (name, bytes, needle) in cases {
        let file = format!("{name}.safetensors");
        let path = write(&dir, &file, &bytes);
        let err = checkpoint::load(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Format { .. }), "{name}: {msg}");
        assert!(msg.contains(&file), "{name}: the error names the file: {msg}");
        assert!(msg.contains(needle), "{name}: expected '{needle}' in: {msg}");
        assert_eq!(msg.lines().count(), 1, "{name}: one line: {msg}");
    }
    let err = checkpoint::load(dir.join("absent.safetensors")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("absent.safetensors"), "{err}");
}

#[test]
fn metadata_values_that_are_not_json_are_read_as_strings() {
    let dir = scratch("meta");
    let header = r#"{"__metadata__":{"model":"resnet18","format":"pt","class_names":"[\"a\",\"b\"]"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let path = write(&dir, "m.safetensors", &craft(header, &1.0f32.to_le_bytes()));
    let meta = checkpoint::load(&path).unwrap().meta;
    assert_eq!(meta.model, "resnet18");
    assert_eq!(meta.class_names, ["a", "b"]);
    assert_eq!(meta.extra.get("format").map(String::as_str), Some("pt"));
    assert_eq!(CheckpointMeta::from_metadata(&meta.to_metadata()).unwrap(), meta);
}

/// A checkpoint of a spec model whose metadata gives channels and classes but no input shape
/// is rebuilt at the size the spec's `input(...)` names (not MNIST's 28×28).
#[test]
fn a_spec_checkpoint_without_an_input_shape_uses_the_spec_s() {
    let spec = "input(1,16,16) conv(3,3,padding=1) relu maxpool(2) flatten linear(4)";
    let m = convlab::spec::resolve_model(spec, None, None, None, 3).unwrap();
    let meta = convlab::checkpoint::CheckpointMeta::new(
        &m.description,
        serde_json::json!({ "in_channels": 1, "num_classes": 4 }),
    );
    let dir = std::env::temp_dir().join(format!("convlab-spec-ck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spec.safetensors");
    convlab::checkpoint::save(&path, &*m.module, &meta).unwrap();
    let (_, info) = convlab::train::state::load_model(&path).unwrap();
    assert_eq!(info.input_shape, [1, 16, 16]);
    std::fs::remove_dir_all(&dir).unwrap();
}
