//! Finite-difference gradient checks of every neural-network function and option, on small
//! odd shapes with inputs kept away from kinks.

mod common;

use common::{away_from, ok};

use convlab::ops::loss::{cross_entropy, l1_loss, mse_loss, nll_loss};
use convlab::{Activation, BatchNormParams, CrossEntropyParams, Gelu, NllLossParams, Reduction, RunningStats, Tensor};

#[test]
fn activations() {
    let x = Tensor::randn([3, 7], 1).mul_scalar(2.0);
    let acts = [
        (Activation::Relu, vec![0.0]),
        (Activation::LeakyRelu { negative_slope: 0.01 }, vec![0.0]),
        (Activation::LeakyRelu { negative_slope: 0.3 }, vec![0.0]),
        (Activation::Elu { alpha: 1.0 }, vec![0.0]),
        (Activation::Elu { alpha: 0.5 }, vec![0.0]),
        (Activation::Softplus { beta: 1.0, threshold: 20.0 }, vec![20.0]),
        // Both regimes: linear above x = 0.5, log(1 + e^(2x))/2 below.
        (Activation::Softplus { beta: 2.0, threshold: 1.0 }, vec![0.5]),
        (Activation::Softplus { beta: 0.5, threshold: 0.3 }, vec![0.6]),
        (Activation::Sigmoid, vec![]),
        (Activation::Tanh, vec![]),
        (Activation::Gelu { approximate: Gelu::None }, vec![]),
        (Activation::Gelu { approximate: Gelu::Tanh }, vec![]),
        (Activation::Silu, vec![]),
        (Activation::Identity, vec![]),
    ];
    for (act, kinks) in acts {
        let x = away_from(&x, &kinks, 0.05);
        ok(&format!("{act:?}"), |t| act.apply(&t[0]), &[x]);
    }
}

#[test]
fn softmax_and_log_softmax_on_every_axis() {
    let x = Tensor::randn([3, 5, 3], 2);
    for axis in [0, 1, 2, -1] {
        ok(&format!("softmax({axis})"), |t| t[0].softmax(axis), std::slice::from_ref(&x));
        ok(&format!("log_softmax({axis})"), |t| t[0].log_softmax(axis), std::slice::from_ref(&x));
    }
}

#[test]
fn linear_with_and_without_bias() {
    let w = Tensor::randn([3, 5], 4);
    let b = Tensor::randn([3], 5);
    for x in [Tensor::randn([7, 5], 3), Tensor::randn([2, 3, 5], 6), Tensor::randn([5], 7)] {
        ok("linear+bias", |t| t[0].linear(&t[1], Some(&t[2])), &[x.clone(), w.clone(), b.clone()]);
        ok("linear", |t| t[0].linear(&t[1], None), &[x, w.clone()]);
    }
}

#[test]
fn dropout_with_a_fixed_mask() {
    let x = Tensor::randn([3, 7], 8);
    ok("dropout", |t| t[0].dropout(0.4, true, 11), std::slice::from_ref(&x));
    ok("dropout eval", |t| t[0].dropout(0.4, false, 11), &[x]);
    ok("dropout2d", |t| t[0].dropout2d(0.5, true, 12), &[Tensor::randn([2, 3, 3, 3], 9)]);
}

#[test]
fn batch_norm_every_rank_mode_and_option() {
    let stats = RunningStats::new(3);
    // Non-trivial running statistics for evaluation mode.
    Tensor::randn([5, 3, 3], 20).mul_scalar(2.0).add_scalar(1.0).batch_norm(
        Some(&stats),
        None,
        None,
        true,
        &BatchNormParams::default(),
    );
    let (w, b) = (Tensor::randn([3], 21), Tensor::randn([3], 22));
    let shapes: [&[usize]; 3] = [&[5, 3], &[3, 3, 5], &[2, 3, 3, 3]];
    for (i, &shape) in shapes.iter().enumerate() {
        let x = Tensor::randn(shape.to_vec(), 30 + i as u64).mul_scalar(1.5).add_scalar(0.3);
        for train in [true, false] {
            for momentum in [Some(0.1), None] {
                let params = BatchNormParams { momentum, eps: 1e-5 };
                let what = format!("batch_norm {shape:?} train={train} momentum={momentum:?}");
                let s = stats.clone();
                ok(
                    &what,
                    |t| t[0].batch_norm(Some(&s), Some(&t[1]), Some(&t[2]), train, &params),
                    &[x.clone(), w.clone(), b.clone()],
                );
                if train {
                    // Without affine parameters or running statistics.
                    ok(&what, |t| t[0].batch_norm(None, None, None, true, &params), std::slice::from_ref(&x));
                } else {
                    ok(&what, |t| t[0].batch_norm(Some(&s), None, None, false, &params), std::slice::from_ref(&x));
                }
            }
        }
    }
}

#[test]
fn cross_entropy_every_option() {
    let x = Tensor::randn([5, 4], 40).mul_scalar(2.0);
    let t = [0, 3, 1, 1, 2];
    let cw = Tensor::from_vec(vec![0.5, 2.0, 1.0, 1.5], [4]);
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for (weight, ignore_index, label_smoothing) in [
            (None, None, 0.0),
            (Some(cw.clone()), None, 0.0),
            (Some(cw.clone()), Some(1), 0.0),
            (None, None, 0.1),
            (Some(cw.clone()), Some(3), 0.3),
        ] {
            let p = CrossEntropyParams { weight, ignore_index, reduction, label_smoothing };
            ok(&format!("cross_entropy {p:?}"), |x| cross_entropy(&x[0], &t, &p), std::slice::from_ref(&x));
            let p = NllLossParams { weight: p.weight, ignore_index, reduction };
            ok(&format!("nll_loss {p:?}"), |x| nll_loss(&x[0].log_softmax(1), &t, &p), std::slice::from_ref(&x));
        }
    }
    // [N, C, d1, d2]
    let xs = Tensor::randn([2, 3, 2, 3], 41);
    let ts = [0, 1, 2, 2, 2, 0, 1, 0, 0, 2, 1, 1];
    let p = CrossEntropyParams {
        weight: Some(Tensor::from_vec(vec![1.0, 0.5, 2.0], [3])),
        ignore_index: Some(0),
        label_smoothing: 0.2,
        ..Default::default()
    };
    ok("cross_entropy spatial", |x| cross_entropy(&x[0], &ts, &p), std::slice::from_ref(&xs));
    let p = NllLossParams { reduction: Reduction::None, ..Default::default() };
    ok("nll_loss spatial", |x| nll_loss(&x[0], &ts, &p), &[xs]);
}

#[test]
fn l1_and_mse_losses() {
    let a = Tensor::randn([3, 5], 50);
    let b = Tensor::randn([3, 5], 51);
    // Keep pred − target away from 0 (the kink of |·|).
    let d = away_from(&a.sub(&b), &[0.0], 0.05);
    let a = b.add(&d);
    for r in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        ok(&format!("l1_loss {r:?}"), |t| l1_loss(&t[0], &t[1], r), &[a.clone(), b.clone()]);
        ok(&format!("mse_loss {r:?}"), |t| mse_loss(&t[0], &t[1], r), &[a.clone(), b.clone()]);
    }
}
