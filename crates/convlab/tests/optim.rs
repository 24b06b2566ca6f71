//! Optimizers against PyTorch: ten steps of each optimizer and option set on a small MLP
//! regression, compared after every step, both fed PyTorch's own gradients (the update rule
//! alone) and training end to end with ConvLab's gradients. Schedules, clipping and the
//! state-dict round trip.

mod common;

use common::{assert_close, assert_matches_torch, p_f32, Fixtures};
use convlab::ops::loss::{mse_loss, Reduction};
use convlab::optim::{
    clip_grad_norm, Adam, AdamParams, AdamW, AdamWParams, Anneal, CosineAnnealingLR, ExponentialLR, LinearLR,
    MultiStepLR, OneCycleLR, Optimizer, RMSprop, RMSpropParams, Schedule, SequentialLR, Sgd, SgdParams, StepLR,
};
use convlab::{Gradients, Tensor};

const NAMES: [&str; 4] = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];

fn fixtures() -> Fixtures {
    Fixtures::load("optim")
}

fn opt_bool(p: &serde_json::Value, key: &str) -> bool {
    p[key].as_bool().unwrap_or(false)
}

fn opt_f32(p: &serde_json::Value, key: &str, default: f32) -> f32 {
    p[key].as_f64().map(|v| v as f32).unwrap_or(default)
}

/// Fresh parameter leaves holding the problem's initial values.
fn init_params(f: &Fixtures) -> Vec<(String, Tensor)> {
    NAMES.iter().map(|n| (n.to_string(), f.tensor("problem", &format!("in.{n}")).detach().requires_grad_())).collect()
}

/// The optimizer a fixture case describes, with PyTorch's defaults for what it leaves out.
fn build(p: &serde_json::Value, params: Vec<(String, Tensor)>) -> Box<dyn Optimizer> {
    let betas = |d: (f32, f32)| match p["betas"].as_array() {
        Some(b) => (b[0].as_f64().unwrap() as f32, b[1].as_f64().unwrap() as f32),
        None => d,
    };
    match p["optimizer"].as_str().unwrap() {
        "SGD" => {
            let d = SgdParams::default();
            Box::new(Sgd::new(
                params,
                SgdParams {
                    lr: p_f32(p, "lr"),
                    momentum: opt_f32(p, "momentum", d.momentum),
                    dampening: opt_f32(p, "dampening", d.dampening),
                    weight_decay: opt_f32(p, "weight_decay", d.weight_decay),
                    nesterov: opt_bool(p, "nesterov"),
                    maximize: opt_bool(p, "maximize"),
                },
            ))
        }
        "Adam" => {
            let d = AdamParams::default();
            Box::new(Adam::new(
                params,
                AdamParams {
                    lr: p_f32(p, "lr"),
                    betas: betas(d.betas),
                    eps: opt_f32(p, "eps", d.eps),
                    weight_decay: opt_f32(p, "weight_decay", d.weight_decay),
                    amsgrad: opt_bool(p, "amsgrad"),
                    maximize: opt_bool(p, "maximize"),
                    decoupled_weight_decay: false,
                },
            ))
        }
        "AdamW" => {
            let d = AdamWParams::default();
            Box::new(AdamW::new(
                params,
                AdamWParams {
                    lr: p_f32(p, "lr"),
                    betas: betas(d.betas),
                    eps: opt_f32(p, "eps", d.eps),
                    weight_decay: opt_f32(p, "weight_decay", d.weight_decay),
                    amsgrad: opt_bool(p, "amsgrad"),
                    maximize: opt_bool(p, "maximize"),
                },
            ))
        }
        "RMSprop" => {
            let d = RMSpropParams::default();
            Box::new(RMSprop::new(
                params,
                RMSpropParams {
                    lr: p_f32(p, "lr"),
                    alpha: opt_f32(p, "alpha", d.alpha),
                    eps: opt_f32(p, "eps", d.eps),
                    weight_decay: opt_f32(p, "weight_decay", d.weight_decay),
                    momentum: opt_f32(p, "momentum", d.momentum),
                    centered: opt_bool(p, "centered"),
                    maximize: opt_bool(p, "maximize"),
                },
            ))
        }
        other => panic!("unknown optimizer {other}"),
    }
}

/// Row `k` of a `[steps, ...]` fixture tensor, shaped like `like`.
fn row(t: &Tensor, k: usize, like: &Tensor) -> Tensor {
    let n = like.numel();
    Tensor::from_vec(t.to_vec()[k * n..(k + 1) * n].to_vec(), like.shape().clone())
}

/// The regression's loss: a 3-5-2 MLP with tanh and mean squared error.
fn loss_of(f: &Fixtures, params: &[(String, Tensor)]) -> Tensor {
    let (x, y) = (f.tensor("problem", "in.x"), f.tensor("problem", "in.target"));
    let h = x.linear(&params[0].1, Some(&params[1].1)).tanh();
    mse_loss(&h.linear(&params[2].1, Some(&params[3].1)), &y, Reduction::Mean)
}

fn optimizer_cases(f: &Fixtures) -> Vec<String> {
    let cases: Vec<String> = f.cases().into_iter().filter(|c| f.params(c).get("optimizer").is_some()).collect();
    assert!(cases.len() >= 19, "expected every optimizer case, found {cases:?}");
    cases
}

/// The update rule alone: fed PyTorch's gradient at every step, the parameters follow
/// PyTorch's after each of ten steps.
#[test]
fn optimizers_match_torch_given_torch_gradients() {
    let f = fixtures();
    for case in optimizer_cases(&f) {
        let params = init_params(&f);
        let mut opt = build(f.params(&case), params.clone());
        for k in 0..10 {
            let mut grads = Gradients::default();
            for (name, p) in &params {
                grads.insert(p, row(&f.tensor(&case, &format!("grad.{name}")), k, p));
            }
            opt.step(&grads);
            for (name, p) in &params {
                let want = row(&f.tensor(&case, &format!("out.{name}")), k, p);
                assert_matches_torch(&format!("{case}: {name} after step {}", k + 1), &p.detach(), &want);
                // SGD uses only multiplies and fused multiply-adds, as PyTorch's CPU kernels do
                // (on CPUs with FMA, where the fixtures were made): bit-for-bit equal. Adam and
                // RMSprop take square roots, which PyTorch's vectorized CPU kernels do not
                // always round correctly, so they agree to a few ulp instead.
                if case.starts_with("sgd") {
                    assert_eq!(
                        p.to_vec(),
                        want.to_vec(),
                        "{case}: {name} after step {} is not bit-for-bit PyTorch's",
                        k + 1
                    );
                }
            }
        }
    }
}

/// End to end: ConvLab's own forward, backward and update for ten steps follow PyTorch's
/// loss trajectory and parameters.
#[test]
fn optimizers_match_torch_training_end_to_end() {
    let f = fixtures();
    for case in optimizer_cases(&f) {
        let params = init_params(&f);
        let mut opt = build(f.params(&case), params.clone());
        let losses = f.tensor(&case, "out.loss").to_vec();
        for (k, &want_loss) in losses.iter().enumerate() {
            let loss = loss_of(&f, &params);
            assert_matches_torch(
                &format!("{case}: loss at step {}", k + 1),
                &loss.reshape([1]),
                &Tensor::from_vec(vec![want_loss], [1]),
            );
            opt.step(&loss.backward());
            for (name, p) in &params {
                let want = row(&f.tensor(&case, &format!("out.{name}")), k, p);
                assert_matches_torch(
                    &format!("{case}: {name} after step {} (own gradients)", k + 1),
                    &p.detach(),
                    &want,
                );
            }
        }
    }
}

/// Five steps, save, rebuild over fresh parameter tensors, load, five more: exactly the
/// parameters and state of ten uninterrupted steps.
#[test]
fn state_dict_round_trip_resumes_exactly() {
    let f = fixtures();
    for case in optimizer_cases(&f) {
        let p = f.params(&case);
        let straight = init_params(&f);
        let mut opt = build(p, straight.clone());
        for _ in 0..10 {
            opt.step(&loss_of(&f, &straight).backward());
        }

        let first = init_params(&f);
        let mut opt1 = build(p, first.clone());
        for _ in 0..5 {
            opt1.step(&loss_of(&f, &first).backward());
        }
        let saved = opt1.state_dict();
        let stateless = p["optimizer"] == "SGD" && opt_f32(p, "momentum", 0.0) == 0.0;
        assert_eq!(saved.is_empty(), stateless, "{case}: state after five steps: {:?}", names(&saved));
        let resumed: Vec<(String, Tensor)> =
            first.iter().map(|(n, t)| (n.clone(), t.detach().requires_grad_())).collect();
        let mut opt2 = build(p, resumed.clone());
        opt2.load_state_dict(&saved).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(names(&opt2.state_dict()), names(&saved), "{case}: state keys after loading");
        for _ in 0..5 {
            opt2.step(&loss_of(&f, &resumed).backward());
        }
        for ((name, a), (_, b)) in straight.iter().zip(&resumed) {
            assert_eq!(a.to_vec(), b.to_vec(), "{case}: {name} differs after resuming");
        }
        let (s1, s2) = (opt.state_dict(), opt2.state_dict());
        assert_eq!(names(&s1), names(&s2), "{case}: state keys");
        for ((k, a), (_, b)) in s1.iter().zip(&s2) {
            assert_eq!(a.to_vec(), b.to_vec(), "{case}: state {k} differs after resuming");
        }
    }
}

fn names(state: &[(String, Tensor)]) -> Vec<String> {
    state.iter().map(|(k, _)| k.clone()).collect()
}

#[test]
fn state_dict_keys_follow_parameter_names() {
    let f = fixtures();
    let params = init_params(&f);
    let mut opt = Adam::new(params.clone(), AdamParams { amsgrad: true, ..AdamParams::default() });
    assert!(opt.state_dict().is_empty(), "no state before the first step");
    opt.step(&loss_of(&f, &params).backward());
    let keys = names(&opt.state_dict());
    assert_eq!(
        &keys[..4],
        &["fc1.weight.exp_avg", "fc1.weight.exp_avg_sq", "fc1.weight.max_exp_avg_sq", "fc1.weight.step"]
    );
    assert_eq!(keys.len(), 16);
    assert_eq!(opt.state_dict()[3].1.to_vec(), vec![1.0]);

    let mut sgd = Sgd::new(params.clone(), SgdParams { lr: 0.1, momentum: 0.9, ..SgdParams::default() });
    sgd.step(&loss_of(&f, &params).backward());
    assert_eq!(names(&sgd.state_dict()), NAMES.iter().map(|n| format!("{n}.momentum_buffer")).collect::<Vec<_>>());
    let plain = Sgd::new(params.clone(), SgdParams::default());
    assert!(plain.state_dict().is_empty());
}

#[test]
fn load_state_dict_rejects_mismatches() {
    let f = fixtures();
    let params = init_params(&f);
    let mut opt = RMSprop::new(params.clone(), RMSpropParams { momentum: 0.9, ..RMSpropParams::default() });
    opt.step(&loss_of(&f, &params).backward());
    let good = opt.state_dict();
    let mut other = RMSprop::new(init_params(&f), RMSpropParams { momentum: 0.9, ..RMSpropParams::default() });
    assert!(other.load_state_dict(&good).is_ok());

    let with = |key: &str, t: Tensor| -> Vec<(String, Tensor)> {
        let mut s = good.clone();
        s.push((key.to_string(), t));
        s
    };
    let e = other.load_state_dict(&with("fc3.weight.square_avg", Tensor::zeros([2]))).unwrap_err().to_string();
    assert!(e.contains("fc3.weight.square_avg") && e.contains("no parameter"), "{e}");
    let wrong_shape: Vec<(String, Tensor)> = good
        .iter()
        .map(|(k, t)| if k == "fc1.bias.square_avg" { (k.clone(), Tensor::zeros([4])) } else { (k.clone(), t.clone()) })
        .collect();
    let e = other.load_state_dict(&wrong_shape).unwrap_err().to_string();
    assert!(e.contains("fc1.bias.square_avg") && e.contains("[4]") && e.contains("[5]"), "{e}");
    let e = other.load_state_dict(&with("fc1.bias.exp_avg", Tensor::zeros([5]))).unwrap_err().to_string();
    assert!(e.contains("unknown state") && e.contains("exp_avg"), "{e}");
    let missing: Vec<(String, Tensor)> =
        good.iter().filter(|(k, _)| k != "fc2.bias.momentum_buffer").cloned().collect();
    let e = other.load_state_dict(&missing).unwrap_err().to_string();
    assert!(e.contains("fc2.bias.momentum_buffer"), "{e}");
    // A failed load changes nothing: the state is still the good one loaded above.
    assert_eq!(names(&other.state_dict()), names(&good));
}

#[test]
fn parameters_without_gradients_are_skipped() {
    let a = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let frozen = Tensor::from_vec(vec![3.0], [1]).requires_grad_();
    let mut opt = Adam::new(vec![("a".into(), a.clone()), ("frozen".into(), frozen.clone())], AdamParams::default());
    opt.step(&(&a * &a).sum_all().backward());
    assert_eq!(frozen.to_vec(), vec![3.0]);
    assert!(names(&opt.state_dict()).iter().all(|k| k.starts_with("a.")));
    // The identity is kept: the same handle sees the new values and keys the next gradients.
    let id = a.id();
    opt.step(&(&a * &a).sum_all().backward());
    assert_eq!(a.id(), id);
    assert!(a.to_vec()[0] < 1.0 - 1.5e-3);
}

#[test]
fn invalid_settings_are_reported() {
    let p = vec![("w".to_string(), Tensor::zeros([1]).requires_grad_())];
    let e = Sgd::try_new(p.clone(), SgdParams { nesterov: true, ..SgdParams::default() }).err().unwrap().to_string();
    assert!(e.contains("nesterov"), "{e}");
    assert!(Sgd::try_new(p.clone(), SgdParams { lr: -1.0, ..SgdParams::default() }).is_err());
    assert!(Adam::try_new(p.clone(), AdamParams { betas: (1.0, 0.999), ..AdamParams::default() }).is_err());
    assert!(AdamW::try_new(p.clone(), AdamWParams { eps: -1.0, ..AdamWParams::default() }).is_err());
    assert!(RMSprop::try_new(p.clone(), RMSpropParams { alpha: -0.5, ..RMSpropParams::default() }).is_err());
    let twice = vec![p[0].clone(), ("w".to_string(), Tensor::zeros([2]).requires_grad_())];
    let e = Adam::try_new(twice, AdamParams::default()).err().unwrap().to_string();
    assert!(e.contains("\"w\" appears twice"), "{e}");
    assert_eq!(AdamWParams::default().weight_decay, 0.01);
    assert_eq!(SgdParams::default().lr, 1e-3);
}

#[test]
fn set_lr_changes_the_step() {
    let w = Tensor::from_vec(vec![1.0], [1]).requires_grad_();
    let mut opt = Sgd::new(vec![("w".into(), w.clone())], SgdParams { lr: 0.1, ..SgdParams::default() });
    opt.set_lr(0.25);
    assert_eq!(opt.lr(), 0.25);
    opt.step(&(&w * &w).sum_all().backward());
    assert_eq!(w.to_vec(), vec![0.5]);
}

// ----- schedules --------------------------------------------------------------------------------

fn schedule_of(p: &serde_json::Value) -> Schedule {
    let us = |k: &str| p[k].as_u64().unwrap() as usize;
    match p["kind"].as_str().unwrap() {
        "step" => StepLR { step_size: us("step_size"), gamma: p_f32(p, "gamma") }.into(),
        "multistep" => MultiStepLR { milestones: common::p_usizes(p, "milestones"), gamma: p_f32(p, "gamma") }.into(),
        "exponential" => ExponentialLR { gamma: p_f32(p, "gamma") }.into(),
        "cosine" => CosineAnnealingLR { t_max: us("t_max"), eta_min: p_f32(p, "eta_min") }.into(),
        "linear" => LinearLR {
            start_factor: p_f32(p, "start_factor"),
            end_factor: p_f32(p, "end_factor"),
            total_iters: us("total_iters"),
        }
        .into(),
        "onecycle" => OneCycleLR {
            max_lr: p_f32(p, "max_lr"),
            total_steps: us("total_steps"),
            pct_start: p_f32(p, "pct_start"),
            anneal_strategy: if p["anneal"] == "cos" { Anneal::Cos } else { Anneal::Linear },
            div_factor: p_f32(p, "div_factor"),
            final_div_factor: p_f32(p, "final_div_factor"),
            three_phase: p["three_phase"].as_bool().unwrap(),
        }
        .into(),
        "warmup_cosine" => SequentialLR {
            schedules: vec![
                LinearLR { start_factor: p_f32(p, "start_factor"), end_factor: 1.0, total_iters: us("warmup") }.into(),
                CosineAnnealingLR { t_max: us("t_max"), eta_min: p_f32(p, "eta_min") }.into(),
            ],
            milestones: vec![us("warmup")],
        }
        .into(),
        "warmup_step" => SequentialLR {
            schedules: vec![
                LinearLR { start_factor: p_f32(p, "start_factor"), end_factor: 1.0, total_iters: us("warmup") }.into(),
                StepLR { step_size: us("step_size"), gamma: p_f32(p, "gamma") }.into(),
            ],
            milestones: vec![us("warmup")],
        }
        .into(),
        k => panic!("unknown schedule {k}"),
    }
}

#[test]
fn schedules_match_torch() {
    let f = fixtures();
    let cases = f.cases_with_prefix("sched_");
    assert!(cases.len() >= 13, "{cases:?}");
    for case in cases {
        let s = schedule_of(f.params(&case));
        let want = f.tensor(&case, "out");
        let got = Tensor::from_vec((0..want.numel()).map(|k| s.lr(0.1, k)).collect(), want.shape().clone());
        assert_close(&format!("{case}: learning rates"), &got, &want, 2e-6, 1e-10);
    }
}

#[test]
fn schedule_defaults_and_checks() {
    assert_eq!(StepLR::new(3), StepLR { step_size: 3, gamma: 0.1 });
    assert_eq!(LinearLR::default().total_iters, 5);
    let one = OneCycleLR::new(1.0, 100);
    assert_eq!((one.pct_start, one.div_factor, one.final_div_factor, one.three_phase), (0.3, 25.0, 1e4, false));
    let s = Schedule::from(one);
    assert!((s.lr(123.0, 0) - 0.04).abs() < 1e-7, "OneCycleLR ignores the base rate");
    assert!((s.lr(0.0, 1000) - 4e-6).abs() < 1e-10, "past the end it stays at the final rate");
    assert_eq!(Schedule::Constant.lr(0.5, 99), 0.5);
    let bad = Schedule::from(SequentialLR { schedules: vec![Schedule::Constant], milestones: vec![3] });
    assert!(bad.check().unwrap_err().to_string().contains("milestones"));
    assert!(Schedule::from(StepLR::new(0)).check().is_err());
}

// ----- clipping ---------------------------------------------------------------------------------

#[test]
fn clip_grad_norm_matches_torch() {
    let f = fixtures();
    let cases = f.cases_with_prefix("clip_");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let p = f.params(&case);
        let max_norm = p_f32(p, "max_norm");
        let norm_type = if p["norm_type"] == "inf" { f32::INFINITY } else { p_f32(p, "norm_type") };
        let gs: Vec<Tensor> = (0..3).map(|i| f.tensor(&case, &format!("in.{i}"))).collect();
        let params: Vec<Tensor> = gs.iter().map(|g| Tensor::zeros(g.shape().clone()).requires_grad_()).collect();
        let mut grads = Gradients::default();
        for (p, g) in params.iter().zip(&gs) {
            grads.insert(p, g.clone());
        }
        let unrelated = Tensor::zeros([3]).requires_grad_();
        let total =
            clip_grad_norm(&mut grads, &[params.clone(), vec![unrelated.clone()]].concat(), max_norm, norm_type);
        assert_matches_torch(
            &format!("{case}: total norm"),
            &Tensor::from_vec(vec![total], [1]),
            &f.tensor(&case, "out"),
        );
        for (i, p) in params.iter().enumerate() {
            assert_matches_torch(
                &format!("{case}: clipped gradient {i}"),
                grads.get(p).unwrap(),
                &f.tensor(&case, &format!("out.{i}")),
            );
        }
        assert!(grads.get(&unrelated).is_none());
    }
    assert_eq!(clip_grad_norm(&mut Gradients::default(), &[Tensor::zeros([1])], 1.0, 2.0), 0.0);
}
