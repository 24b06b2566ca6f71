//! The model zoo against PyTorch: state-dict keys and shapes equal torchvision's (and those of
//! the CIFAR forms built from torchvision's classes), and forward outputs equal PyTorch's when
//! both sides fill their weights and inputs with the same deterministic values (which checks
//! the wiring that names and shapes cannot: strides, padding, skip connections, concatenation
//! order, batch norm in eval mode).
//!
//! Fixtures: `python3 tools/make_fixtures.py zoo_keys zoo_forward` (needs torchvision;
//! definitions in tools/fixtures/zoo_models.py).

mod common;

use std::time::Instant;

use common::{check_tol, p_usizes, Fixtures, Tol};
use convlab::models::{build, ModelConfig};
use convlab::nn::{Mode, Module};
use convlab::Tensor;

fn keys_fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zoo_keys.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("zoo_keys.json (run tools/make_fixtures.py zoo_keys)"))
        .unwrap()
}

fn default_build(name: &str, seed: u64) -> Box<dyn Module> {
    build(name, &ModelConfig::for_model(name).unwrap(), seed).unwrap()
}

#[test]
fn state_dict_keys_and_shapes_equal_torchvision() {
    let fx = keys_fixture();
    let keyed = fx["keys"].as_object().unwrap();
    assert!(keyed.len() >= 10);
    for (name, want) in keyed {
        let want: Vec<(String, Vec<usize>)> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_str().unwrap().to_string(),
                    e[1].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect(),
                )
            })
            .collect();
        let got: Vec<(String, Vec<usize>)> =
            default_build(name, 0).named_tensors().into_iter().map(|(n, t, _)| (n, t.dims().to_vec())).collect();
        // Same order as torch's state_dict, names and shapes.
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: entry {i}");
        }
        assert_eq!(got.len(), want.len(), "{name}: number of state-dict entries");
    }
}

/// The deterministic values of tools/fixtures/zoo_models.py `fill_value`.
fn fill_value(name: &str, dims: &[usize]) -> Vec<f32> {
    let n: usize = dims.iter().product();
    let phase = (name.bytes().map(|b| b as u64).sum::<u64>() % 997) as f64 * 0.01;
    (0..n)
        .map(|j| {
            let base = (0.618 * j as f64 + phase).sin();
            let v = if name.ends_with("running_var") {
                1.0 + 0.25 * base
            } else if name.ends_with("running_mean") {
                0.1 * base
            } else if dims.len() >= 2 {
                base * (2.0 / ((n / dims[0]) as f64).sqrt())
            } else if name.ends_with("weight") {
                1.0 + 0.2 * base
            } else {
                0.1 * base
            };
            v as f32
        })
        .collect()
}

fn fill_input(dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::from_vec((0..n).map(|j| (0.37 * j as f64 + 0.5).sin() as f32).collect(), dims.to_vec())
}

#[test]
fn forward_matches_torch_with_deterministic_weights() {
    let fx = Fixtures::load("zoo_forward");
    for case in fx.cases() {
        let p = fx.params(&case);
        let name = p["model"].as_str().unwrap();
        let shape = p_usizes(p, "input");
        let net = default_build(name, 0);
        for (n, t, _) in net.named_tensors() {
            if !n.ends_with("num_batches_tracked") {
                t.set_data(fill_value(&n, t.dims()));
            }
        }
        let t = Instant::now();
        // Deep networks sum long f32 chains in another order: 1e-4 relative and of the largest output.
        check_tol(&fx, &case, Tol::of_max(1e-4), |_| net.run(&fill_input(&shape), Mode::Eval));
        let scale = fx.tensor(&case, "out").storage().iter().fold(0f32, |m, v| m.max(v.abs()));
        eprintln!("{name} {shape:?}: forward {:.3} s, max |out| {scale:.3e}", t.elapsed().as_secs_f64());
    }
}
