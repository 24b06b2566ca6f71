//! The ops that imported ONNX graphs use beyond the layers, against PyTorch fixtures
//! (`tools/fixtures/onnx_ops.py`) and finite differences.

mod common;

use common::{check, Fixtures};
use convlab::gradcheck::{gradcheck, GradCheck};
use convlab::ops::activation::{HARDSIGMOID_ALPHA, HARDSIGMOID_BETA};
use convlab::{Activation, Tensor};

fn ok(what: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    if let Err(e) = gradcheck(f, inputs, &GradCheck::default()) {
        panic!("{what}: {e}");
    }
}

/// Moves every value closer than `margin` to a kink `k` out to `k ± margin`.
fn away_from(t: &Tensor, kinks: &[f32], margin: f32) -> Tensor {
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

#[test]
fn activations_match_pytorch_at_and_between_the_kinks() {
    let fx = Fixtures::load("onnx_ops");
    check(&fx, "relu6", |t| t("x").relu6());
    check(&fx, "hardsigmoid", |t| t("x").hardsigmoid(HARDSIGMOID_ALPHA, HARDSIGMOID_BETA));
    check(&fx, "hardsigmoid_onnx", |t| t("x").hardsigmoid(0.2, 0.5));
    check(&fx, "hardswish", |t| t("x").hardswish());
    check(&fx, "selu", |t| t("x").selu());
}

#[test]
fn erf_and_one_sided_clamps_match_pytorch() {
    let fx = Fixtures::load("onnx_ops");
    check(&fx, "erf", |t| t("x").erf());
    check(&fx, "erf_random", |t| t("x").erf());
    check(&fx, "clamp_min", |t| t("x").clamp_min(-1.0));
    check(&fx, "clamp_max", |t| t("x").clamp_max(3.0));
}

#[test]
fn erf_and_one_sided_clamps_pass_gradcheck() {
    let x = Tensor::randn([3, 7], 2).mul_scalar(1.5);
    ok("erf", |t| t[0].erf(), std::slice::from_ref(&x));
    ok("clamp_min", |t| t[0].clamp_min(-0.5), &[away_from(&x, &[-0.5], 0.05)]);
    ok("clamp_max", |t| t[0].clamp_max(0.7), &[away_from(&x, &[0.7], 0.05)]);
    // NaN passes through both, as through PyTorch's.
    let nan = Tensor::from_vec(vec![f32::NAN], [1]);
    assert!(nan.clamp_min(0.0).item().is_nan() && nan.clamp_max(0.0).item().is_nan());
}

#[test]
fn activations_pass_gradcheck() {
    let x = Tensor::randn([3, 7], 1).mul_scalar(4.0);
    let acts = [
        (Activation::Relu6, vec![0.0, 6.0]),
        (Activation::Hardsigmoid { alpha: HARDSIGMOID_ALPHA, beta: HARDSIGMOID_BETA }, vec![-3.0, 3.0]),
        (Activation::Hardsigmoid { alpha: 0.2, beta: 0.5 }, vec![-2.5, 2.5]),
        (Activation::Hardswish, vec![-3.0, 3.0]),
        (Activation::Selu, vec![0.0]),
    ];
    for (act, kinks) in acts {
        let x = away_from(&x, &kinks, 0.05);
        ok(&format!("{act:?}"), |t| act.apply(&t[0]), &[x]);
    }
}
