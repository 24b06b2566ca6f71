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
//!
//! # A reference test in one line
//!
//! ```ignore
//! check(&Fixtures::load("nn"), "relu", |t| t("x").relu());
//! ```
//!
//! [`check`] hands the closure the case's inputs (`t("x")` is `in.x`, a leaf that requires
//! gradients when the case records `grad.x`), compares what it returns with `out`, and, when
//! the case has a `grad_out`, backpropagates `Σ out ⊙ grad_out` and compares the gradient of
//! every input the case records one for, all within [`Tol::TORCH`]; [`check_tol`] takes a
//! stated tolerance instead. A family's tests loop over its cases, reading each case's
//! parameters with [`Fixtures::params`] and [`p_usize`] and friends:
//!
//! ```ignore
//! let fx = Fixtures::load("nn");
//! for case in fx.cases_with_prefix("softmax_") {
//!     let axis = p_isize(fx.params(&case), "axis");
//!     check(&fx, &case, |t| t("x").softmax(axis));
//! }
//! ```
//!
//! A new case is one `w.run(case, params, fn, {"x": x}, seed)` in
//! `tools/fixtures/<family>.py`, then `python3 tools/make_fixtures.py <family>`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use convlab::data::{Dataset, MemoryDataset};
use convlab::gradcheck::{gradcheck, GradCheck};
use convlab::Tensor;
use safetensors::SafeTensors;

/// The reference cases of one fixture file (a family's `tests/fixtures/<name>.safetensors`).
pub struct Fixtures {
    pub name: String,
    pub torch_version: String,
    tensors: HashMap<String, Tensor>,
    params: BTreeMap<String, serde_json::Value>,
}

impl Fixtures {
    /// The committed family `tests/fixtures/<name>.safetensors`.
    pub fn load(name: &str) -> Fixtures {
        Fixtures::open(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.safetensors")),
        )
    }

    /// A fixture file anywhere, named in messages by its file name without `.safetensors`.
    pub fn open(path: impl AsRef<Path>) -> Fixtures {
        let path = path.as_ref();
        let name = path.file_name().unwrap().to_string_lossy().trim_end_matches(".safetensors").to_string();
        let bytes =
            std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (run tools/make_fixtures.py)", path.display()));
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
        assert!(
            !params.is_empty(),
            "{name}: no case parameters in the metadata (not written by tools/fixtures/common.py?)"
        );
        Fixtures { name, torch_version, tensors, params }
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

    /// The names under one role of a case, sorted: `names(case, "grad")` gives `["weight",
    /// "x"]` for a case holding `grad.x` and `grad.weight`.
    pub fn names(&self, case: &str, role: &str) -> Vec<String> {
        let prefix = format!("{case}.{role}.");
        let mut names: Vec<String> =
            self.tensors.keys().filter_map(|k| k.strip_prefix(&prefix)).map(str::to_string).collect();
        // Positional operands (`0`, `1`, ..., `10`) in numeric order, named ones by name.
        names.sort_by_key(|n| (n.parse::<usize>().unwrap_or(usize::MAX), n.clone()));
        names
    }
}

/// A case's inputs as [`check`]'s closure sees them: `t("x")` is the case's `in.x`.
pub type Inputs<'a> = dyn Fn(&str) -> Tensor + 'a;

/// Checks one case against PyTorch within [`Tol::TORCH`]: see [`check_tol`].
pub fn check(fx: &Fixtures, case: &str, f: impl FnOnce(&Inputs) -> Tensor) {
    check_tol(fx, case, Tol::TORCH, f);
}

/// Runs `f` on the case's inputs and compares its result with the case's `out`; when the case
/// has a `grad_out`, backpropagates `Σ out ⊙ grad_out` and compares every recorded
/// `grad.<name>` with the gradient of input `<name>`. Everything is compared within `tol`.
///
/// `t(name)` is the case's `in.<name>`, the same leaf at every call; it requires gradients when
/// the case records `grad.<name>`. A recorded gradient of an input that `f` never read, or
/// that the result does not depend on, fails the check, and so does a `grad_out` without any
/// recorded gradient.
pub fn check_tol(fx: &Fixtures, case: &str, tol: Tol, f: impl FnOnce(&Inputs) -> Tensor) {
    let what = format!("{}/{case}", fx.name);
    let grads = fx.names(case, "grad");
    let leaves = RefCell::new(BTreeMap::<String, Tensor>::new());
    let input = |name: &str| {
        let mut leaves = leaves.borrow_mut();
        let leaf = leaves.entry(name.to_string()).or_insert_with(|| {
            let t = fx.tensor(case, &format!("in.{name}"));
            if grads.iter().any(|g| g == name) {
                t.requires_grad_()
            } else {
                t
            }
        });
        leaf.clone()
    };
    let out = f(&input);
    assert_within(&format!("{what}: out"), &out, &fx.tensor(case, "out"), tol);
    let Some(grad_out) = fx.try_tensor(case, "grad_out") else {
        assert!(grads.is_empty(), "{what}: input gradients {grads:?} recorded without a grad_out");
        return;
    };
    assert!(!grads.is_empty(), "{what}: a grad_out but no input gradient to compare");
    let computed = (&out * &grad_out).sum_all().backward();
    let leaves = leaves.borrow();
    for name in &grads {
        let leaf =
            leaves.get(name).unwrap_or_else(|| panic!("{what}: grad.{name} is recorded but in.{name} was never read"));
        let got = computed.get(leaf).unwrap_or_else(|| panic!("{what}: no gradient reached in.{name}"));
        assert_within(&format!("{what}: grad.{name}"), got, &fx.tensor(case, &format!("grad.{name}")), tol);
    }
}

/// How close a result must be to PyTorch's: element-wise
/// `|got − want| <= rtol·|want| + atol·max(floor, max|want|)`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rtol: f32,
    /// Absolute, as a fraction of the reference's largest magnitude (at least `floor`).
    pub atol: f32,
    pub floor: f32,
}

impl Tol {
    /// The tolerance used against PyTorch: 1e-5 relative, with an absolute floor of 1e-5 times
    /// the largest magnitude of the reference, or of 1 (f32 sums of many terms round
    /// differently in any two libraries).
    pub const TORCH: Tol = Tol { rtol: 1e-5, atol: 1e-5, floor: 1.0 };

    /// `r` relative and `r` times the reference's largest magnitude absolute, without a floor.
    pub const fn of_max(r: f32) -> Tol {
        Tol { rtol: r, atol: r, floor: 0.0 }
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

/// Asserts `got` matches `want` within `tol`.
pub fn assert_within(what: &str, got: &Tensor, want: &Tensor, tol: Tol) {
    let scale = want.storage().iter().fold(tol.floor, |m, v| m.max(v.abs()));
    assert_close(what, got, want, tol.rtol, tol.atol * scale);
}

/// Asserts `got` matches `want` within [`Tol::TORCH`].
pub fn assert_matches_torch(what: &str, got: &Tensor, want: &Tensor) {
    assert_within(what, got, want, Tol::TORCH);
}

/// Parameters as usize / isize / f32 / bool, with a clear panic naming the case.
pub fn p_usize(p: &serde_json::Value, key: &str) -> usize {
    p[key].as_u64().unwrap_or_else(|| panic!("param {key} missing or not an integer in {p}")) as usize
}

pub fn p_isize(p: &serde_json::Value, key: &str) -> isize {
    p[key].as_i64().unwrap_or_else(|| panic!("param {key} missing or not an integer in {p}")) as isize
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

/// Asserts that `f`'s gradients at `inputs` match finite differences ([`GradCheck::default`]).
pub fn ok(what: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    if let Err(e) = gradcheck(f, inputs, &GradCheck::default()) {
        panic!("{what}: {e}");
    }
}

/// Moves every value closer than `margin` to a kink `k` out to `k ± margin`.
pub fn away_from(t: &Tensor, kinks: &[f32], margin: f32) -> Tensor {
    let d = t
        .to_vec()
        .into_iter()
        .map(|mut v| {
            for &k in kinks {
                if (v - k).abs() < margin {
                    v = if v >= k { k + margin } else { k - margin };
                }
            }
            v
        })
        .collect();
    Tensor::from_vec(d, t.shape().clone())
}

/// The input a zoo model is tested on (batch 2): its own size, smaller for the ImageNet
/// networks (their adaptive pools make the classifier independent of the size).
pub fn zoo_input(name: &str) -> Vec<usize> {
    let s = convlab::models::spec(name).unwrap();
    let [h, w] = match s.input_size {
        [224, 224] if name == "alexnet" => [64, 64],
        [224, 224] => [32, 32],
        hw => hw,
    };
    vec![2, s.in_channels, h, w]
}
