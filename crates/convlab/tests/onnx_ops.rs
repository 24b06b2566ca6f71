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
