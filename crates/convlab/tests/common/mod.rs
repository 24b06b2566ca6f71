//! Helpers shared by the integration tests: reading the PyTorch fixtures written by
//! `tools/make_fixtures.py`, comparing tensors with a stated tolerance, and small synthetic
//! datasets for the training tests.
//!
//! # Fixture files
//!
//! `tests/fixtures/<family>.safetensors` holds the cases of one family, written by
//! `tools/fixtures/<family>.py`. Its metadata holds `torch_version` and, under each case's
//! name, the case's parameters as JSON ([`Fixtures::params`]). Its tensors are f32 and named by
//! case and role, in every family:
//!
//! - `<case>.in.<name>`: an input, by the name the Rust call gives it (`x`, `weight`, `bias`,
//!   `target`, ...; `0`, `1`, ... for positional operands);
//! - `<case>.out`: the output;
//! - `<case>.out.<name>`: a further result (max-pooling `indices`, batch norm's
//!   `running_mean`, a buffer after a training pass, ...);
//! - `<case>.grad_out`: the upstream gradient; gradients are those of `Σ out ⊙ grad_out`;
//! - `<case>.grad.<name>`: the gradient with respect to input `<name>`.
//!
//! Case names contain no `.`; input and result names may (state-dict names such as
//! `fc1.weight`). [`Fixtures::tensor`] takes the part after the case: `fx.tensor(case, "in.x")`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use convlab::data::{Dataset, MemoryDataset};
use convlab::Tensor;
use safetensors::SafeTensors;

/// The reference cases of one fixture family (one `tests/fixtures/<name>.safetensors`).
pub struct Fixtures {
    pub name: String,
    pub torch_version: String,
    tensors: HashMap<String, Tensor>,
    params: BTreeMap<String, serde_json::Value>,
}

impl Fixtures {
    pub fn load(name: &str) -> Fixtures {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.safetensors"));
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run tools/make_fixtures.py)", path.display()));
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let meta = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut tensors = HashMap::new();
        for (key, view) in st.tensors() {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{key}: fixtures hold f32");
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            tensors.insert(key.clone(), Tensor::from_vec(data, view.shape().to_vec()));
        }
        let mut params = BTreeMap::new();
        let mut torch_version = String::new();
        for (k, v) in meta {
            match k.as_str() {
                "torch_version" => torch_version = v,
                "generator" => {}
                _ => {
                    params.insert(k, serde_json::from_str(&v).expect("case params are JSON"));
                }
            }
        }
        assert!(!params.is_empty(), "{name}: no cases");
        Fixtures { name: name.to_string(), torch_version, tensors, params }
    }

    /// Case names, sorted.
    pub fn cases(&self) -> Vec<String> {
        self.params.keys().cloned().collect()
    }

    /// Case names starting with `prefix`.
    pub fn cases_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.params.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    pub fn params(&self, case: &str) -> &serde_json::Value {
        self.params.get(case).unwrap_or_else(|| panic!("{}: no case {case}", self.name))
    }

    pub fn tensor(&self, case: &str, name: &str) -> Tensor {
        self.try_tensor(case, name).unwrap_or_else(|| panic!("{}: case {case} has no tensor {name}", self.name))
    }

    pub fn try_tensor(&self, case: &str, name: &str) -> Option<Tensor> {
        self.tensors.get(&format!("{case}.{name}")).cloned()
    }
}

/// Asserts `|got - want| <= atol + rtol·|want|` element-wise, naming the first offender.
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f32, atol: f32) {
    assert_eq!(got.dims(), want.dims(), "{what}: shape {} vs expected {}", got.shape(), want.shape());
    let (g, w) = (got.storage(), want.storage());
    for (i, (&a, &b)) in g.iter().zip(w.iter()).enumerate() {
        let ok = (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan());
        assert!(ok, "{what}: element {i} is {a}, PyTorch has {b} (rtol {rtol}, atol {atol})");
    }
}

/// The tolerance used against PyTorch: 1e-5 relative, with an absolute floor scaled to the
/// magnitude of the reference (f32 sums of many terms round differently in any two libraries).
pub fn assert_matches_torch(what: &str, got: &Tensor, want: &Tensor) {
    let scale = want.storage().iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    assert_close(what, got, want, 1e-5, 1e-5 * scale);
}

/// Parameters as usize / f32 / bool, with a clear panic naming the case.
pub fn p_usize(p: &serde_json::Value, key: &str) -> usize {
    p[key].as_u64().unwrap_or_else(|| panic!("param {key} missing or not an integer in {p}")) as usize
}

pub fn p_f32(p: &serde_json::Value, key: &str) -> f32 {
    p[key].as_f64().unwrap_or_else(|| panic!("param {key} missing or not a number in {p}")) as f32
}

pub fn p_bool(p: &serde_json::Value, key: &str) -> bool {
    p[key].as_bool().unwrap_or_else(|| panic!("param {key} missing or not a bool in {p}"))
}

pub fn p_usizes(p: &serde_json::Value, key: &str) -> Vec<usize> {
    p[key]
        .as_array()
        .unwrap_or_else(|| panic!("param {key} missing or not a list in {p}"))
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// The layout of a [`stripes`] dataset: `side`×`side` grey images, labels cycling through
/// `classes`; label `l` puts a bright two-row bar at row `first_row + spacing·l`, moved down
/// by a random `0..jitter` rows.
pub struct Stripes {
    pub side: usize,
    pub classes: usize,
    pub first_row: usize,
    pub spacing: usize,
    pub jitter: u32,
}

/// `n` noisy images laid out by `spec`, from a 64-bit LCG started at `state` (the same
/// `state`, the same bytes), named "toy" with classes "a", "b", ...
pub fn stripes(n: usize, spec: &Stripes, state: u64) -> Arc<dyn Dataset> {
    let mut s = state;
    let mut rnd = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let (mut pixels, mut labels) = (Vec::with_capacity(n * spec.side * spec.side), Vec::with_capacity(n));
    for i in 0..n {
        let label = (i % spec.classes) as u8;
        let row = spec.first_row + spec.spacing * label as usize + (rnd() % spec.jitter) as usize;
        for y in 0..spec.side {
            for _ in 0..spec.side {
                let noise = (rnd() % 90) as u8;
                pixels.push(if y == row || y == row + 1 { 140 + noise } else { noise });
            }
        }
        labels.push(label);
    }
    let classes = ["a", "b", "c", "d", "e", "f", "g", "h"][..spec.classes].iter().map(|c| c.to_string()).collect();
    Arc::new(MemoryDataset::new("toy", [1, spec.side, spec.side], classes, pixels, labels))
}
