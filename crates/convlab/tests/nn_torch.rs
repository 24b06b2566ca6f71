//! The neural-network functions against PyTorch (fixtures from `tools/fixtures/nn.py`):
//! outputs and the gradients of every float input, and batch norm's running statistics.

mod common;

use common::{assert_matches_torch, check, p_bool, p_f32, Fixtures};
use convlab::ops::loss::{accuracy, cross_entropy, l1_loss, mse_loss, nll_loss};
use convlab::{Activation, BatchNormParams, CrossEntropyParams, Gelu, NllLossParams, Reduction, RunningStats, Tensor};

fn op(fx: &Fixtures, case: &str) -> String {
    fx.params(case)["op"].as_str().unwrap().to_string()
}

fn reduction(p: &serde_json::Value) -> Reduction {
    match p["reduction"].as_str().unwrap() {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("unknown reduction {other}"),
    }
}

fn targets(t: &Tensor) -> Vec<usize> {
    t.to_vec().iter().map(|&v| v as usize).collect()
}

#[test]
fn activations_match_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        let p = fx.params(&case);
        let act = match op(&fx, &case).as_str() {
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { negative_slope: p_f32(p, "negative_slope") },
            "elu" => Activation::Elu { alpha: p_f32(p, "alpha") },
            "softplus" => Activation::Softplus { beta: p_f32(p, "beta"), threshold: p_f32(p, "threshold") },
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" if p["approximate"] == "none" => Activation::Gelu { approximate: Gelu::None },
            "gelu" => Activation::Gelu { approximate: Gelu::Tanh },
            "silu" => Activation::Silu,
            _ => continue,
        };
        check(&fx, &case, |t| act.apply(&t("x")));
        seen += 1;
    }
    assert_eq!(seen, 16);
}

#[test]
fn softmax_and_log_softmax_match_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        let axis = fx.params(&case)["axis"].as_i64().map(|a| a as isize);
        match op(&fx, &case).as_str() {
            "softmax" => check(&fx, &case, |t| t("x").softmax(axis.unwrap())),
            "log_softmax" => check(&fx, &case, |t| t("x").log_softmax(axis.unwrap())),
            _ => continue,
        }
        seen += 1;
    }
    assert_eq!(seen, 10);
}

#[test]
fn linear_matches_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        if op(&fx, &case) != "linear" {
            continue;
        }
        let bias = p_bool(fx.params(&case), "bias");
        check(&fx, &case, |t| t("x").linear(&t("weight"), bias.then(|| t("bias")).as_ref()));
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn batch_norm_and_running_statistics_match_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        if op(&fx, &case) != "batch_norm" {
            continue;
        }
        let p = fx.params(&case);
        let (train, affine) = (p_bool(p, "train"), p_bool(p, "affine"));
        let params = BatchNormParams { momentum: p["momentum"].as_f64().map(|m| m as f32), eps: p_f32(p, "eps") };
        // Two steps from fresh statistics: a training step on x1, then the case's step on x.
        let c = fx.tensor(&case, "in.x").dims()[1];
        let stats = RunningStats::new(c);
        fx.tensor(&case, "in.x1").batch_norm(Some(&stats), None, None, true, &params);
        assert_matches_torch(
            &format!("{case}: running_mean after step 1"),
            &stats.mean,
            &fx.tensor(&case, "out.x1.running_mean"),
        );
        assert_matches_torch(
            &format!("{case}: running_var after step 1"),
            &stats.var,
            &fx.tensor(&case, "out.x1.running_var"),
        );
        check(&fx, &case, |t| {
            let (w, b) = if affine { (Some(t("weight")), Some(t("bias"))) } else { (None, None) };
            t("x").batch_norm(Some(&stats), w.as_ref(), b.as_ref(), train, &params)
        });
        assert_matches_torch(&format!("{case}: running_mean"), &stats.mean, &fx.tensor(&case, "out.running_mean"));
        assert_matches_torch(&format!("{case}: running_var"), &stats.var, &fx.tensor(&case, "out.running_var"));
        assert_eq!(stats.num_batches_tracked.item(), fx.tensor(&case, "out.num_batches_tracked").item(), "{case}");
        seen += 1;
    }
    assert_eq!(seen, 18);
}

#[test]
fn classification_losses_match_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        let which = op(&fx, &case);
        if which != "cross_entropy" && which != "nll_loss" {
            continue;
        }
        let p = fx.params(&case);
        let t = targets(&fx.tensor(&case, "in.target"));
        let ignore_index = p["ignore_index"].as_i64().and_then(|i| usize::try_from(i).ok());
        let weight = if p_bool(p, "weighted") { Some(fx.tensor(&case, "in.class_weight")) } else { None };
        if which == "cross_entropy" {
            let params = CrossEntropyParams {
                weight,
                ignore_index,
                reduction: reduction(p),
                label_smoothing: p_f32(p, "label_smoothing"),
            };
            check(&fx, &case, |x| cross_entropy(&x("x"), &t, &params));
        } else {
            let params = NllLossParams { weight, ignore_index, reduction: reduction(p) };
            check(&fx, &case, |x| nll_loss(&x("x"), &t, &params));
        }
        seen += 1;
    }
    assert_eq!(seen, 27);
}

#[test]
fn regression_losses_and_accuracy_match_torch() {
    let fx = Fixtures::load("nn");
    let mut seen = 0;
    for case in fx.cases() {
        let p = fx.params(&case);
        match op(&fx, &case).as_str() {
            "l1_loss" => check(&fx, &case, |t| l1_loss(&t("pred"), &t("target"), reduction(p))),
            "mse_loss" => check(&fx, &case, |t| mse_loss(&t("pred"), &t("target"), reduction(p))),
            "accuracy" => {
                let acc = accuracy(&fx.tensor(&case, "in.x"), &targets(&fx.tensor(&case, "in.target")));
                assert_eq!(acc, fx.tensor(&case, "out").item(), "{case}");
            }
            _ => continue,
        }
        seen += 1;
    }
    assert_eq!(seen, 7);
}
