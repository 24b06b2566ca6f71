//! Known values and properties of the neural-network functions: closed-form values,
//! numerical stability, batch norm's running statistics worked by hand, dropout statistics
//! and edges, loss and metric values, and the error messages.

use convlab::ops::loss::{accuracy, cross_entropy, l1_loss, mse_loss, try_cross_entropy, zero_one_error};
use convlab::{Activation, BatchNormParams, CrossEntropyParams, Gelu, Reduction, RunningStats, Tensor};

fn close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
    }
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let e = std::panic::catch_unwind(f).expect_err("expected a panic");
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

#[test]
fn activation_known_values() {
    let x = Tensor::from_vec(vec![-1.0, 0.0, 2.0], [3]);
    assert_eq!(x.relu().to_vec(), vec![0.0, 0.0, 2.0]);
    close(&x.leaky_relu(0.2).to_vec(), &[-0.2, 0.0, 2.0], 1e-7);
    close(&x.elu(1.0).to_vec(), &[-0.632_120_56, 0.0, 2.0], 1e-7);
    close(&x.softplus(1.0, 20.0).to_vec(), &[0.313_261_7, std::f32::consts::LN_2, 2.126_928], 1e-6);
    // beta·x = 4 > threshold 3: linear.
    close(&x.softplus(2.0, 3.0).to_vec(), &[0.063_464_3, 0.346_573_6, 2.0], 1e-6);
    close(&x.sigmoid().to_vec(), &[0.268_941_4, 0.5, 0.880_797_1], 1e-7);
    close(&x.tanh().to_vec(), &[-0.761_594_2, 0.0, 0.964_027_6], 1e-7);
    close(&x.gelu(Gelu::None).to_vec(), &[-0.158_655_25, 0.0, 1.954_499_7], 1e-6);
    close(&x.gelu(Gelu::Tanh).to_vec(), &[-0.158_808, 0.0, 1.954_597_7], 1e-6);
    close(&x.silu().to_vec(), &[-0.268_941_4, 0.0, 1.761_594_2], 1e-6);
    // Derivatives at a point, as the plots use them.
    assert_eq!(Activation::Sigmoid.df(0.0), 0.25);
    assert_eq!(Activation::Relu.df(0.0), 0.0);
    assert_eq!(Activation::Tanh.df(0.0), 1.0);
    assert!((Activation::Gelu { approximate: Gelu::None }.df(0.0) - 0.5).abs() < 1e-7);
}

#[test]
fn saturating_functions_stay_finite_with_finite_gradients() {
    let x = Tensor::from_vec(vec![-1e4, -100.0, 100.0, 1e4], [4]).requires_grad_();
    for act in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Silu,
        Activation::Softplus { beta: 1.0, threshold: 20.0 },
        Activation::Gelu { approximate: Gelu::None },
        Activation::Elu { alpha: 1.0 },
    ] {
        let y = act.apply(&x);
        assert!(y.to_vec().iter().all(|v| v.is_finite()), "{act:?}: {y:?}");
        let g = y.sum_all().backward();
        assert!(g.get(&x).unwrap().to_vec().iter().all(|v| v.is_finite()), "{act:?}");
    }
    let s = x.sigmoid().to_vec();
    assert!(s[0] == 0.0 && s[1] > 0.0 && s[1] < 1e-40 && s[2] == 1.0 && s[3] == 1.0, "{s:?}");
}

#[test]
fn softmax_rows_sum_to_one_and_large_logits_are_finite() {
    let x = Tensor::randn([4, 6], 3).mul_scalar(10.0);
    let p = x.softmax(1);
    for s in p.sum(&[1], false).to_vec() {
        assert!((s - 1.0).abs() < 1e-6);
    }
    let big = Tensor::from_vec(vec![1000.0, 1001.0], [1, 2]);
    close(&big.softmax(-1).to_vec(), &[0.268_941_4, 0.731_058_6], 1e-6);
    close(&big.log_softmax(-1).to_vec(), &[-1.313_261_7, -0.313_261_7], 1e-6);
    let tiny = Tensor::from_vec(vec![-1000.0, 0.0], [1, 2]);
    assert_eq!(tiny.softmax(1).to_vec(), vec![0.0, 1.0]);
    close(&tiny.log_softmax(1).to_vec(), &[-1000.0, 0.0], 1e-6);
    // log_softmax = log(softmax) where both are representable.
    close(&x.log_softmax(0).to_vec(), &x.softmax(0).log().to_vec(), 1e-4);
}

#[test]
fn linear_equals_matmul_with_the_transposed_weight() {
    let x = Tensor::randn([5, 4], 1);
    let w = Tensor::randn([3, 4], 2);
    let b = Tensor::randn([3], 3);
    let want = x.matmul(&w.transpose(0, 1)).add(&b);
    close(&x.linear(&w, Some(&b)).to_vec(), &want.to_vec(), 1e-5);
    let msg = panic_message(|| {
        Tensor::zeros([2, 5]).linear(&Tensor::zeros([3, 4]), None);
    });
    assert!(msg.contains("[2, 5]") && msg.contains("[3, 4]"), "{msg}");
}

#[test]
fn batch_norm_running_statistics_after_two_steps() {
    let x1 = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [4, 1]);
    let x2 = Tensor::from_vec(vec![2.0, 4.0, 6.0, 8.0], [4, 1]);
    // momentum 0.1: mean 0.1·2.5 = 0.25, var 0.9 + 0.1·(5/3); then 0.9·those + 0.1·(5, 20/3).
    let s = RunningStats::new(1);
    let p = BatchNormParams::default();
    x1.batch_norm(Some(&s), None, None, true, &p);
    close(&s.mean.to_vec(), &[0.25], 1e-6);
    close(&s.var.to_vec(), &[0.9 + 0.1 * 5.0 / 3.0], 1e-6);
    x2.batch_norm(Some(&s), None, None, true, &p);
    close(&s.mean.to_vec(), &[0.725], 1e-6);
    close(&s.var.to_vec(), &[0.9 * (0.9 + 0.5 / 3.0) + 2.0 / 3.0], 1e-6);
    assert_eq!(s.num_batches_tracked.item(), 2.0);
    // momentum None: the plain average of the batch statistics.
    let s = RunningStats::new(1);
    let p = BatchNormParams { momentum: None, ..Default::default() };
    x1.batch_norm(Some(&s), None, None, true, &p);
    x2.batch_norm(Some(&s), None, None, true, &p);
    close(&s.mean.to_vec(), &[3.75], 1e-6);
    close(&s.var.to_vec(), &[25.0 / 6.0], 1e-5);
    // Evaluation normalises with them and leaves them alone.
    let y = x2.batch_norm(Some(&s), None, None, false, &p);
    let sd = (25.0f32 / 6.0 + 1e-5).sqrt();
    close(&y.to_vec(), &[-1.75 / sd, 0.25 / sd, 2.25 / sd, 4.25 / sd], 1e-5);
    close(&s.mean.to_vec(), &[3.75], 1e-6);
    assert_eq!(s.num_batches_tracked.item(), 2.0);
}

#[test]
fn batch_norm_training_output_is_normalised_per_channel() {
    let x = Tensor::randn([4, 3, 5, 5], 9).mul_scalar(3.0).add_scalar(2.0);
    let w = Tensor::from_vec(vec![1.0, 2.0, 0.5], [3]);
    let b = Tensor::from_vec(vec![0.0, -1.0, 3.0], [3]);
    let y = x.batch_norm(None, Some(&w), Some(&b), true, &BatchNormParams::default());
    let mean = y.mean(&[0, 2, 3], false).to_vec();
    let var = y.sub(&y.mean(&[0, 2, 3], true)).square().mean(&[0, 2, 3], false).to_vec();
    close(&mean, &[0.0, -1.0, 3.0], 1e-4);
    close(&var, &[1.0, 4.0, 0.25], 1e-3);
}

#[test]
fn batch_norm_errors_name_the_problem() {
    let msg = panic_message(|| {
        Tensor::zeros([2, 3]).batch_norm(None, None, None, false, &BatchNormParams::default());
    });
    assert!(msg.contains("evaluation"), "{msg}");
    let msg = panic_message(|| {
        Tensor::zeros([1, 3]).batch_norm(None, None, None, true, &BatchNormParams::default());
    });
    assert!(msg.contains("more than 1 value per channel") && msg.contains("[1, 3]"), "{msg}");
    let msg = panic_message(|| {
        Tensor::zeros([2, 3, 4]).batch_norm(None, Some(&Tensor::ones([4])), None, true, &BatchNormParams::default());
    });
    assert!(msg.contains("weight") && msg.contains("[4]") && msg.contains("[2, 3, 4]"), "{msg}");
}

#[test]
fn dropout_statistics_and_edges() {
    let x = Tensor::ones([20000]).requires_grad_();
    let y = x.dropout(0.3, true, 5);
    let v = y.to_vec();
    let zeros = v.iter().filter(|&&a| a == 0.0).count() as f32 / v.len() as f32;
    assert!((zeros - 0.3).abs() < 0.015, "dropped fraction {zeros}");
    assert!(v.iter().all(|&a| a == 0.0 || (a - 1.0 / 0.7).abs() < 1e-6));
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
    // The backward pass uses the same mask and scale.
    let g = y.sum_all().backward();
    assert_eq!(g.get(&x).unwrap().to_vec(), v);
    // Same seed, same mask; another seed, another.
    assert_eq!(x.dropout(0.3, true, 5).to_vec(), v);
    assert_ne!(x.dropout(0.3, true, 6).to_vec(), v);
    // p = 0 and evaluation: identity; p = 1: zeros with zero gradient.
    let r = Tensor::randn([3, 4], 1);
    assert_eq!(r.dropout(0.0, true, 1).to_vec(), r.to_vec());
    assert_eq!(r.dropout(0.9, false, 1).to_vec(), r.to_vec());
    let x = r.requires_grad_();
    let y = x.dropout(1.0, true, 1);
    assert_eq!(y.to_vec(), vec![0.0; 12]);
    assert_eq!(y.sum_all().backward().get(&x).unwrap().to_vec(), vec![0.0; 12]);
}

#[test]
fn dropout2d_zeroes_whole_channels() {
    let x = Tensor::ones([8, 16, 3, 3]);
    let v = x.dropout2d(0.5, true, 3).to_vec();
    let mut dropped = 0;
    for ch in v.chunks(9) {
        assert!(ch.iter().all(|&a| a == ch[0]) && (ch[0] == 0.0 || ch[0] == 2.0), "{ch:?}");
        dropped += (ch[0] == 0.0) as usize;
    }
    assert!((40..=88).contains(&dropped), "{dropped} of 128 channels dropped");
    assert_eq!(Tensor::ones([4, 2, 2]).dropout2d(1.0, true, 0).to_vec(), vec![0.0; 16]);
}

#[test]
fn cross_entropy_known_values() {
    // Uniform logits: ln C whatever the targets, smoothing or reduction.
    let z = Tensor::zeros([3, 5]);
    for label_smoothing in [0.0, 0.3] {
        let p = CrossEntropyParams { label_smoothing, ..Default::default() };
        assert!((cross_entropy(&z, &[0, 4, 2], &p).item() - 5f32.ln()).abs() < 1e-6);
    }
    let p = CrossEntropyParams { reduction: Reduction::Sum, ..Default::default() };
    assert!((cross_entropy(&z, &[0, 4, 2], &p).item() - 3.0 * 5f32.ln()).abs() < 1e-5);
    // Two classes, logits (0, ln 3): p = (1/4, 3/4).
    let x = Tensor::from_vec(vec![0.0, 3f32.ln()], [1, 2]);
    assert!((cross_entropy(&x, &[1], &CrossEntropyParams::default()).item() + 0.75f32.ln()).abs() < 1e-6);
    // Smoothing ε = 0.2 over C = 2: target (0.1, 0.9).
    let p = CrossEntropyParams { label_smoothing: 0.2, ..Default::default() };
    let want = -(0.1 * 0.25f32.ln() + 0.9 * 0.75f32.ln());
    assert!((cross_entropy(&x, &[1], &p).item() - want).abs() < 1e-6);
    // A very confident right answer costs ~0 and stays finite.
    let x = Tensor::from_vec(vec![1000.0, -1000.0], [1, 2]);
    assert_eq!(cross_entropy(&x, &[0], &CrossEntropyParams::default()).item(), 0.0);
}

#[test]
fn out_of_range_targets_are_reported() {
    let z = Tensor::zeros([2, 3]);
    let msg = panic_message(|| {
        cross_entropy(&Tensor::zeros([2, 3]), &[1, 7], &CrossEntropyParams::default());
    });
    assert!(msg.contains('7') && msg.contains("3 classes"), "{msg}");
    assert!(try_cross_entropy(&z, &[1, 3], &CrossEntropyParams::default()).is_err());
    let p = CrossEntropyParams { label_smoothing: 1.5, ..Default::default() };
    assert!(try_cross_entropy(&z, &[1, 2], &p).unwrap_err().to_string().contains("1.5"));
}

#[test]
fn regression_losses_known_values() {
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], [3]);
    let b = Tensor::from_vec(vec![2.0, 2.0, 0.0], [3]);
    assert_eq!(l1_loss(&a, &b, Reduction::Mean).item(), 4.0 / 3.0);
    assert_eq!(l1_loss(&a, &b, Reduction::Sum).item(), 4.0);
    assert_eq!(mse_loss(&a, &b, Reduction::None).to_vec(), vec![1.0, 0.0, 9.0]);
    assert!((mse_loss(&a, &b, Reduction::Mean).item() - 10.0 / 3.0).abs() < 1e-6);
}

#[test]
fn accuracy_and_zero_one_error() {
    // argmax per row: 1, 0 (first of a tie), 2, 2
    let x = Tensor::from_vec(vec![0.0, 5.0, 1.0, 3.0, 3.0, 0.0, -1.0, -2.0, 0.5, 0.0, 0.0, 9.0], [4, 3]);
    assert_eq!(accuracy(&x, &[1, 0, 2, 0]), 0.75);
    assert_eq!(zero_one_error(&x, &[1, 0, 2, 0]), 0.25);
    assert_eq!(zero_one_error(&x, &[0, 1, 0, 1]), 1.0);
    // [N, C, d]: one prediction per position.
    let s = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0], [1, 2, 2]);
    assert_eq!(accuracy(&s, &[0, 1]), 1.0);
}
