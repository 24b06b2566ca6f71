//! The ops that imported ONNX graphs use beyond the layers, against PyTorch fixtures
//! (`tools/fixtures/onnx_ops.py`) and finite differences.

mod common;

use common::{away_from, check, ok, Fixtures};
use convlab::ops::activation::{HARDSIGMOID_ALPHA, HARDSIGMOID_BETA};
use convlab::ops::layout::{slice_step_output_shape, SliceRange};
use convlab::ops::pad::pad_output_shape;
use convlab::{Activation, PaddingMode, Tensor};

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

#[test]
fn padding_any_axes_matches_pytorch() {
    let fx = Fixtures::load("onnx_ops");
    use PaddingMode::{Circular, Reflect, Replicate, Zeros};
    check(&fx, "pad_constant_all", |t| t("x").pad(&[(1, 0), (0, 2), (2, 1)], Zeros, 1.5));
    check(&fx, "pad_constant_last", |t| t("x").pad(&[(3, 1)], Zeros, -2.0));
    check(&fx, "pad_reflect_limit", |t| t("x").pad(&[(2, 2), (3, 1)], Reflect, 0.0));
    check(&fx, "pad_reflect_3", |t| t("x").pad(&[(1, 2), (2, 2), (0, 3)], Reflect, 0.0));
    check(&fx, "pad_reflect_all", |t| t("x").pad(&[(2, 1), (1, 2), (3, 0)], Reflect, 0.0));
    check(&fx, "pad_edge_last", |t| t("x").pad(&[(3, 5)], Replicate, 0.0));
    check(&fx, "pad_edge_all", |t| t("x").pad(&[(1, 2), (2, 0), (1, 1)], Replicate, 0.0));
    check(&fx, "pad_wrap_limit", |t| t("x").pad(&[(3, 1), (2, 4)], Circular, 0.0));
    check(&fx, "pad_wrap_all", |t| t("x").pad(&[(2, 1), (0, 3), (4, 0)], Circular, 0.0));
}

#[test]
fn padding_passes_gradcheck_and_agrees_with_pad2d() {
    let x = Tensor::randn([2, 3, 4], 3);
    for mode in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        ok(&format!("pad {mode:?}"), |t| t[0].pad(&[(1, 1), (2, 0), (0, 3)], mode, 0.5), std::slice::from_ref(&x));
        let (a, b) = (x.pad(&[(2, 1), (3, 2)], mode, 0.5), x.pad2d(2, 1, 3, 2, mode, 0.5));
        assert_eq!((a.dims(), a.to_vec()), (b.dims(), b.to_vec()), "{mode:?}");
    }
    // No pairs, a 0-dimensional tensor, an empty axis.
    assert_eq!(x.pad(&[], PaddingMode::Reflect, 0.0).to_vec(), x.to_vec());
    assert_eq!(Tensor::scalar(2.0).pad(&[], PaddingMode::Zeros, 0.0).item(), 2.0);
    let e = Tensor::zeros([2, 0]).pad(&[(1, 0), (1, 1)], PaddingMode::Zeros, 3.0);
    assert_eq!((e.dims(), e.to_vec()), (&[3, 2][..], vec![3.0; 6]));
}

#[test]
fn impossible_padding_names_the_shape() {
    let err =
        |input: &[usize], pads: &[(usize, usize)], mode| pad_output_shape(input, pads, mode).unwrap_err().to_string();
    assert_eq!(
        err(&[2, 3], &[(1, 1), (1, 1), (0, 0)], PaddingMode::Zeros),
        "pad: 3 (before, after) pairs for input shape [2, 3], which has 2 dimensions"
    );
    assert!(err(&[2, 3], &[(3, 0)], PaddingMode::Reflect)
        .contains("along axis 1 needs each amount smaller than the size 3"));
    assert!(err(&[2, 3], &[(0, 4), (0, 0)], PaddingMode::Circular)
        .contains("along axis 0 needs each amount at most the size 2"));
    assert!(err(&[0, 3], &[(1, 0), (0, 0)], PaddingMode::Replicate).contains("input shape [0, 3]"));
    let r = std::panic::catch_unwind(|| Tensor::zeros([2, 3]).pad(&[(3, 0)], PaddingMode::Reflect, 0.0));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.starts_with("pad: input shape [2, 3]: reflect padding of 3 and 0 along axis 1"), "{msg}");
}

#[test]
fn slicing_with_a_step_matches_pytorch() {
    let fx = Fixtures::load("onnx_ops");
    check(&fx, "slice_step_pos", |t| t("x").slice_step(1, 1, 8, 3));
    check(&fx, "slice_step_pos_from_end", |t| t("x").slice_step(-1, -7, -1, 2));
    check(&fx, "slice_step_pos_clamped", |t| t("x").slice_step(1, -100, 100, 4));
    check(&fx, "slice_step_pos_to_end", |t| t("x").slice_step(0, 1, isize::MAX, 2));
    check(&fx, "slice_step_reverse", |t| t("x").slice_step(1, -1, isize::MIN, -1));
    check(&fx, "slice_step_neg", |t| t("x").slice_step(1, 7, 1, -2));
    check(&fx, "slice_step_neg_clamped", |t| t("x").slice_step(1, 100, -100, -3));
    check(&fx, "slice_step_neg_from_end", |t| t("x").slice_step(-1, -2, -8, -2));
    check(&fx, "slice_step_neg_axis0", |t| t("x").slice_step(0, 3, 0, -2));
    check(&fx, "slice_step_middle_neg", |t| t("x").slice_step(1, 4, isize::MIN, -3));
    check(&fx, "slice_step_middle_one", |t| t("x").slice_step(-2, 3, 2, -1));
    check(&fx, "split", |t| {
        let parts = t("x").split(1, &[2, 0, 3, 4]);
        let scaled: Vec<Tensor> = parts.iter().enumerate().map(|(i, p)| p.mul_scalar((i + 1) as f32)).collect();
        Tensor::cat(&scaled.iter().collect::<Vec<_>>(), 1)
    });
}

#[test]
fn slicing_and_splitting_pass_gradcheck() {
    let x = Tensor::randn([3, 7, 2], 4);
    for (start, end, step) in [(1, 6, 2), (-1, isize::MIN, -1), (5, 0, -3), (-100, 100, 3), (6, 2, -1)] {
        ok(
            &format!("slice_step({start}, {end}, {step})"),
            |t| t[0].slice_step(1, start, end, step),
            std::slice::from_ref(&x),
        );
    }
    ok("split", |t| t[0].split(-2, &[3, 4])[1].square(), std::slice::from_ref(&x));
}

#[test]
fn slice_ranges_follow_onnx_and_errors_name_the_shape() {
    // Each range against Python's `range(*slice(start, end, step).indices(size))`, but for
    // ONNX's clamp of a negative step's start into [0, size − 1] (Python's would be −1).
    let python = |size: usize, start: isize, end: isize, step: isize| -> Vec<usize> {
        let n = size as isize;
        let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
        let fix = |v: isize| (if v < 0 { v.saturating_add(n) } else { v }).clamp(lo, hi);
        let (mut i, e) = (fix(start), fix(end));
        if step < 0 && n > 0 {
            i = i.max(0);
        }
        let mut out = vec![];
        while (step > 0 && i < e) || (step < 0 && i > e) {
            out.push(i as usize);
            i = match i.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        out
    };
    for size in [0, 1, 2, 5] {
        for start in [isize::MIN, -7, -5, -2, -1, 0, 1, 3, 5, 9, isize::MAX] {
            for end in [isize::MIN, -6, -1, 0, 2, 4, 5, 8, isize::MAX] {
                for step in [isize::MIN, -3, -1, 1, 2, 7, isize::MAX] {
                    let r = SliceRange::new(size, start, end, step).unwrap();
                    let got: Vec<usize> = (0..r.count).map(|k| r.index(k)).collect();
                    assert_eq!(got, python(size, start, end, step), "size {size}, {start}:{end}:{step}");
                }
            }
        }
    }
    // An empty slice, and its gradient.
    let x = Tensor::randn([2, 4], 5).requires_grad_();
    let e = x.slice_step(1, 3, 1, 1);
    assert_eq!(e.dims(), &[2, 0]);
    assert_eq!(e.sum_all().backward().get(&x).unwrap().to_vec(), vec![0.0; 8]);
    let msg = slice_step_output_shape(&[2, 4], 1, 0, 4, 0).unwrap_err().to_string();
    assert!(msg.contains("[2, 4]") && msg.contains("step must not be 0"), "{msg}");
    let msg = slice_step_output_shape(&[2, 4], -3, 0, 4, 1).unwrap_err().to_string();
    assert_eq!(msg, "slice_step: axis -3 is out of range for shape [2, 4]");
    let r = std::panic::catch_unwind(|| Tensor::zeros([2, 5]).split(1, &[2, 2]));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("add up to 4") && msg.contains("[2, 5]"), "{msg}");
}

#[test]
fn where_and_gather_nd_match_pytorch_and_finite_differences() {
    let fx = Fixtures::load("onnx_ops");
    check(&fx, "where", |t| Tensor::where_cond(&t("cond"), &t("a"), &t("b")));
    let idx: Vec<usize> = fx.params("gather_nd")["indices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize))
        })
        .collect();
    check(&fx, "gather_nd", |t| t("x").gather_nd(&idx, &[3, 2, 2]));
    let cond = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0], [2, 3]);
    ok(
        "where_cond",
        |x| Tensor::where_cond(&cond, &x[0], &x[1]),
        &[Tensor::randn([2, 3], 1), Tensor::randn([1, 3], 2)],
    );
    // Index tuples that repeat a block: its gradient adds up.
    ok("gather_nd", |x| x[0].gather_nd(&[1, 0, 1, 0, 2, 1], &[3, 2]), &[Tensor::randn([3, 2, 4], 3)]);
}
