//! The core tensor ops against PyTorch fixtures and finite differences.

mod common;

use common::{check, p_f32, p_isize, p_usize, p_usizes, Fixtures};
use convlab::gradcheck::{gradcheck, GradCheck};
use convlab::Tensor;
use serde_json::Value;

/// A list of possibly negative axes.
fn isizes(p: &Value, key: &str) -> Vec<isize> {
    p[key].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as isize).collect()
}

/// Applies the op a fixture case describes.
fn apply(p: &Value, x: &[Tensor]) -> Tensor {
    let op = p["op"].as_str().unwrap();
    match op {
        "add" => &x[0] + &x[1],
        "sub" => &x[0] - &x[1],
        "mul" => &x[0] * &x[1],
        "div" => &x[0] / &x[1],
        "maximum" => x[0].maximum(&x[1]),
        "minimum" => x[0].minimum(&x[1]),
        "exp" => x[0].exp(),
        "log" => x[0].log(),
        "sqrt" => x[0].sqrt(),
        "neg" => -&x[0],
        "abs" => x[0].abs(),
        "square" => x[0].square(),
        "powf" => x[0].powf(p_f32(p, "p")),
        "clamp" => x[0].clamp(p_f32(p, "min"), p_f32(p, "max")),
        "add_scalar" => &x[0] + p_f32(p, "c"),
        "mul_scalar" => &x[0] * p_f32(p, "c"),
        "sum" if isizes(p, "axes").is_empty() => x[0].sum_all(),
        "sum" => x[0].sum(&isizes(p, "axes"), p["keepdim"].as_bool().unwrap()),
        "mean" => x[0].mean(&isizes(p, "axes"), p["keepdim"].as_bool().unwrap()),
        "max" => x[0].max(p_isize(p, "axis"), p["keepdim"].as_bool().unwrap()),
        "min" => x[0].min(p_isize(p, "axis"), p["keepdim"].as_bool().unwrap()),
        "argmax" => x[0].argmax(p_isize(p, "axis"), false),
        "permute" => x[0].permute(&p_usizes(p, "perm")),
        "transpose" => x[0].transpose(p_isize(p, "a"), p_isize(p, "b")),
        "narrow" => x[0].narrow(p_isize(p, "axis"), p_usize(p, "start"), p_usize(p, "len")),
        "flatten" => x[0].flatten(p_isize(p, "start"), p_isize(p, "end")),
        "reshape" => x[0].reshape(p_usizes(p, "shape")),
        "cat" => Tensor::cat(&[&x[0], &x[1]], p_isize(p, "axis")),
        "stack" => Tensor::stack(&[&x[0], &x[1]], p_usize(p, "axis")),
        "broadcast_to" => x[0].broadcast_to(p_usizes(p, "shape")),
        "matmul" => x[0].matmul(&x[1]),
        other => panic!("unknown op {other}"),
    }
}

/// A case's operands `in.0`, `in.1`, ... in order.
fn inputs(fx: &Fixtures, case: &str) -> Vec<Tensor> {
    fx.names(case, "in").iter().map(|n| fx.tensor(case, &format!("in.{n}"))).collect()
}

#[test]
fn forward_and_gradients_match_pytorch() {
    let fx = Fixtures::load("tensor_ops");
    assert!(fx.torch_version.starts_with("2."), "fixtures record the torch version");
    let cases = fx.cases();
    assert!(cases.len() > 70);
    for case in &cases {
        let operands = fx.names(case, "in");
        check(&fx, case, |t| apply(fx.params(case), &operands.iter().map(|n| t(n)).collect::<Vec<_>>()));
    }
}

#[test]
fn every_fixture_op_passes_gradcheck() {
    // The same op grid as the fixtures, on the fixture inputs, against finite differences.
    let fx = Fixtures::load("tensor_ops");
    for case in fx.cases() {
        let p = fx.params(&case).clone();
        if p["op"] == "argmax" {
            continue;
        }
        let xs = inputs(&fx, &case);
        gradcheck(|t| apply(&p, t), &xs, &GradCheck::default()).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

#[test]
fn a_tensor_used_twice_accumulates_and_leaves_are_kept_apart() {
    let a = Tensor::from_vec(vec![2.0, 3.0], [2]).requires_grad_();
    let b = Tensor::from_vec(vec![5.0, 7.0], [2]).requires_grad_();
    // loss = Σ a·a·b + a  => dL/da = 2ab + 1, dL/db = a²
    let loss = (&(&(&a * &a) * &b) + &a).sum_all();
    let g = loss.backward();
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![21.0, 43.0]);
    assert_eq!(g.get(&b).unwrap().to_vec(), vec![4.0, 9.0]);
    // A second backward gives the same values: nothing accumulates between calls.
    let g2 = loss.backward();
    assert_eq!(g2.get(&a).unwrap().to_vec(), vec![21.0, 43.0]);
}

#[test]
fn no_grad_records_nothing_and_intermediates_can_be_retained() {
    let w = Tensor::ones([3]).requires_grad_();
    let y = convlab::no_grad(|| (&w * 2.0).sum_all());
    assert!(!y.requires_grad());
    assert!(y.backward().is_empty());
    let h = &w * 3.0;
    let loss = h.square().sum_all();
    let g = loss.backward_retaining(&[&h]);
    assert_eq!(g.get(&h).unwrap().to_vec(), vec![6.0, 6.0, 6.0]);
    assert_eq!(g.get(&w).unwrap().to_vec(), vec![18.0, 18.0, 18.0]);
}

#[test]
fn shape_errors_name_both_shapes() {
    let r = std::panic::catch_unwind(|| Tensor::zeros([2, 3]).matmul(&Tensor::zeros([4, 5])));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("[2, 3]") && msg.contains("[4, 5]"), "{msg}");
    let r = std::panic::catch_unwind(|| &Tensor::zeros([2, 3]) + &Tensor::zeros([4]));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("[2, 3]") && msg.contains("[4]"), "{msg}");
}

#[test]
fn comparisons_and_slicing() {
    let x = Tensor::from_vec(vec![1.0, 5.0, 3.0, 4.0, 2.0, 6.0], [2, 3]);
    assert_eq!(x.ge(&Tensor::scalar(3.0)).to_vec(), vec![0.0, 1.0, 1.0, 1.0, 0.0, 1.0]);
    assert_eq!(x.lt(&Tensor::from_vec(vec![2.0, 2.0, 2.0], [3])).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(x.slice(1, 1, 99).to_vec(), vec![5.0, 3.0, 2.0, 6.0]);
    assert_eq!(x.unsqueeze(0).dims(), &[1, 2, 3]);
    assert_eq!(x.reshape_infer(&[-1, 2]).dims(), &[3, 2]);
    assert_eq!(x.max_all(), 6.0);
    assert_eq!(x.argmin(1, false).to_vec(), vec![0.0, 1.0]);
}

#[test]
fn edge_cases_empty_rank0_and_nan() {
    // Empty tensors: sums are 0, means NaN (as in PyTorch), matmul with k = 0 gives zeros.
    let e = Tensor::zeros([0, 3]);
    assert_eq!(e.sum(&[0], false).to_vec(), vec![0.0; 3]);
    assert!(e.mean(&[0], false).to_vec().iter().all(|v| v.is_nan()));
    assert!(e.mean_all().item().is_nan());
    assert_eq!(Tensor::ones([2, 0]).matmul(&Tensor::ones([0, 3])).to_vec(), vec![0.0; 6]);
    assert_eq!(Tensor::ones([0, 2]).matmul(&Tensor::ones([2, 3])).dims(), &[0, 3]);
    // Rank 0: axis 0 / -1 reduce the single element, softmax of a scalar is 1.
    let s = Tensor::scalar(2.5).requires_grad_();
    assert_eq!(s.max(0, false).item(), 2.5);
    assert_eq!(s.argmax(-1, false).item(), 0.0);
    assert_eq!(s.softmax(0).item(), 1.0);
    assert_eq!(s.log_softmax(-1).item(), 0.0);
    assert_eq!(s.max(0, false).backward().get(&s).unwrap().item(), 1.0);
    assert_eq!(s.mean(&[0], false).item(), 2.5);
    let r = std::panic::catch_unwind(|| Tensor::cat(&[&Tensor::scalar(1.0), &Tensor::scalar(2.0)], 0));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("zero-dimensional"), "{msg}");
    // NaN propagates through max, min and their whole-tensor forms.
    let n = Tensor::from_vec(vec![1.0, f32::NAN, 3.0], [3]);
    assert!(n.max(0, false).item().is_nan() && n.min(0, false).item().is_nan());
    assert!(n.max_all().is_nan() && n.min_all().is_nan());
    assert_eq!(n.argmax(0, false).item(), 1.0);
    // Negative axes everywhere an axis is taken.
    let x = Tensor::arange(6).reshape([2, 3]);
    assert_eq!(x.sum(&[-1], false).to_vec(), vec![3.0, 12.0]);
    assert_eq!(x.softmax(-1).to_vec(), x.softmax(1).to_vec());
    assert_eq!(x.narrow(-2, 1, 1).to_vec(), vec![3.0, 4.0, 5.0]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.sum(&[2], false)));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("axis 2") && msg.contains("[2, 3]"), "{msg}");
}
