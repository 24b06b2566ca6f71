//! Pooling: the lecture's examples, PyTorch fixtures (outputs, indices, input gradients),
//! finite-difference gradchecks over the same grid of settings, and validation errors.

mod common;

use common::{check, p_bool, p_usizes, Fixtures};
use convlab::gradcheck::{gradcheck, GradCheck};
use convlab::ops::pool::{
    adaptive_pool_output_shape, avg_pool1d_output_shape, avg_pool2d_output_shape, pool1d_output_shape,
    pool2d_output_shape,
};
use convlab::{Pool1dParams, Pool2dParams, Tensor};

// ----- reading a fixture case ---------------------------------------------------------------

fn pair(p: &serde_json::Value, key: &str) -> [usize; 2] {
    let v = p_usizes(p, key);
    [v[0], v[1]]
}

fn scalar(p: &serde_json::Value, key: &str) -> usize {
    p[key].as_u64().unwrap_or_else(|| panic!("param {key} in {p}")) as usize
}

fn divisor(p: &serde_json::Value) -> Option<usize> {
    p["divisor_override"].as_u64().map(|d| d as usize)
}

fn params2d(p: &serde_json::Value) -> Pool2dParams {
    Pool2dParams {
        kernel_size: pair(p, "kernel_size"),
        stride: pair(p, "stride"),
        padding: pair(p, "padding"),
        dilation: pair(p, "dilation"),
        ceil_mode: p_bool(p, "ceil_mode"),
        count_include_pad: p_bool(p, "count_include_pad"),
        divisor_override: divisor(p),
    }
}

fn params1d(p: &serde_json::Value) -> Pool1dParams {
    Pool1dParams {
        kernel_size: scalar(p, "kernel_size"),
        stride: scalar(p, "stride"),
        padding: scalar(p, "padding"),
        dilation: scalar(p, "dilation"),
        ceil_mode: p_bool(p, "ceil_mode"),
        count_include_pad: p_bool(p, "count_include_pad"),
        divisor_override: divisor(p),
    }
}

/// Runs the case's op: (output, indices for max-type ops).
fn run(p: &serde_json::Value, x: &Tensor) -> (Tensor, Option<Tensor>) {
    let op = p["op"].as_str().unwrap();
    let size = || p_usizes(p, "output_size");
    match op {
        "max_pool2d" => {
            let (y, i) = x.max_pool2d_with_indices(&params2d(p));
            (y, Some(i))
        }
        "max_pool1d" => {
            let (y, i) = x.max_pool1d_with_indices(&params1d(p));
            (y, Some(i))
        }
        "avg_pool2d" => (x.avg_pool2d(&params2d(p)), None),
        "avg_pool1d" => (x.avg_pool1d(&params1d(p)), None),
        "adaptive_avg_pool2d" => (x.adaptive_avg_pool2d([size()[0], size()[1]]), None),
        "adaptive_avg_pool1d" => (x.adaptive_avg_pool1d(size()[0]), None),
        "adaptive_max_pool2d" => {
            let (y, i) = x.adaptive_max_pool2d_with_indices([size()[0], size()[1]]);
            (y, Some(i))
        }
        "adaptive_max_pool1d" => {
            let (y, i) = x.adaptive_max_pool1d_with_indices(size()[0]);
            (y, Some(i))
        }
        _ => panic!("unknown op {op}"),
    }
}

// ----- the lecture -------------------------------------------------------------------------

fn lecture_input() -> Tensor {
    let x = vec![1., 1., 2., 0., 0., 1., 1., 2., 0., 0., 1., 3., 0., 0., 1., 1.];
    Tensor::from_vec(x, [1, 1, 4, 4])
}

#[test]
fn lecture_max_pool_2x2_stride_2() {
    let (y, idx) = lecture_input().max_pool2d_with_indices(&Pool2dParams::new([2, 2]));
    assert_eq!(y.dims(), &[1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![1., 2., 0., 3.]);
    // The 0 window is all zeros: the first position in scan order wins the tie, as in torch.
    assert_eq!(idx.to_vec(), vec![0., 2., 8., 11.]);
    // Unbatched [C, H, W] gives the same values.
    assert_eq!(lecture_input().reshape([1, 4, 4]).max_pool2d(&Pool2dParams::new([2, 2])).to_vec(), y.to_vec());
}

#[test]
fn lecture_avg_pool_2x2_stride_2() {
    let y = lecture_input().avg_pool2d(&Pool2dParams::new([2, 2]));
    assert_eq!(y.to_vec(), vec![0.75, 1.25, 0.0, 1.5]);
}

#[test]
fn lecture_224x224x64_to_112x112x64() {
    let p = Pool2dParams::new([2, 2]);
    let shape = pool2d_output_shape(&[1, 64, 224, 224], &p).unwrap();
    assert_eq!(shape.output, vec![1, 64, 112, 112]);
    assert_eq!(shape.arithmetic(), vec!["O = (I - F + P_start + P_end)/S + 1 = (224 - 2 + 0 + 0)/2 + 1 = 112"; 2]);
    // Run it (64 planes: the parallel path) and compare two planes with single-plane runs.
    let x = Tensor::randn([1, 64, 224, 224], 5);
    let y = x.max_pool2d(&p);
    assert_eq!(y.dims(), &[1, 64, 112, 112]);
    for c in [0, 63] {
        let single = x.narrow(1, c, 1).max_pool2d(&p);
        assert_eq!(y.narrow(1, c, 1).to_vec(), single.to_vec(), "plane {c}");
    }
    let a = x.avg_pool2d(&p);
    assert_eq!(a.dims(), &[1, 64, 112, 112]);
    assert_eq!(a.narrow(1, 7, 1).to_vec(), x.narrow(1, 7, 1).avg_pool2d(&p).to_vec());
}

// ----- PyTorch fixtures --------------------------------------------------------------------

#[test]
fn pool_matches_torch() {
    let fx = Fixtures::load("pool");
    assert!(fx.cases().len() >= 39, "{} cases", fx.cases().len());
    for case in fx.cases() {
        let mut indices = None;
        check(&fx, &case, |t| {
            let (y, i) = run(fx.params(&case), &t("x"));
            indices = i;
            y
        });
        if let Some(want) = fx.try_tensor(&case, "out.indices") {
            assert_eq!(indices.expect("indices").to_vec(), want.to_vec(), "{case}: indices");
        }
    }
}

// ----- finite differences -----------------------------------------------------------------

fn grad_check(what: &str, f: impl Fn(&Tensor) -> Tensor, x: &Tensor) {
    let r = gradcheck(|t| f(&t[0]), std::slice::from_ref(x), &GradCheck::default());
    if let Err(e) = r {
        panic!("{what}: {e}");
    }
}

/// Every fixture case (their max-pooling inputs are tie-free permutations).
#[test]
fn pool_gradcheck_every_case() {
    let fx = Fixtures::load("pool");
    for case in fx.cases() {
        let p = fx.params(&case).clone();
        grad_check(&case, |x| run(&p, x).0, &fx.tensor(&case, "in.x"));
    }
}

/// Distinct values in [-3, 3), in a scrambled order.
fn distinct(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n).map(|i| ((i * 37 + 11) % n) as f32 / n as f32 * 6.0 - 3.0).collect();
    Tensor::from_vec(data, shape.to_vec())
}

#[test]
fn pool_gradcheck_options_beyond_torch_fixtures() {
    // 1-D divisor_override (torch's avg_pool1d has none).
    let p = Pool1dParams { stride: 2, padding: 1, ceil_mode: true, divisor_override: Some(2), ..Pool1dParams::new(3) };
    grad_check("avg_pool1d divisor", |x| x.avg_pool1d(&p), &Tensor::randn([2, 2, 9], 1));
    // Global average pooling, odd sizes.
    grad_check("global_avg_pool2d", |x| x.global_avg_pool2d(), &Tensor::randn([2, 3, 5, 7], 2));
    // Unbatched 1-D max with dilation and ceil mode.
    let p = Pool1dParams { stride: 3, padding: 2, dilation: 2, ceil_mode: true, ..Pool1dParams::new(4) };
    grad_check("max_pool1d unbatched", |x| x.max_pool1d(&p), &distinct(&[2, 11]));
    // Adaptive max pooling 1-D to a size larger than the input.
    grad_check("adaptive_max_pool1d up", |x| x.adaptive_max_pool1d(7), &distinct(&[2, 5]));
    // A chain: overlapping max pooling feeding an average pooling.
    let m = Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) };
    let a = Pool2dParams { padding: [1, 1], count_include_pad: false, ..Pool2dParams::new([2, 2]) };
    grad_check("max then avg", |x| x.max_pool2d(&m).avg_pool2d(&a), &distinct(&[1, 2, 9, 11]));
}

// ----- semantics ---------------------------------------------------------------------------

#[test]
fn max_pool_ties_send_the_gradient_to_the_first_maximum() {
    let x = Tensor::ones([1, 1, 3, 3]).requires_grad_();
    let p = Pool2dParams { stride: [1, 1], ..Pool2dParams::new([2, 2]) };
    let (y, idx) = x.max_pool2d_with_indices(&p);
    assert_eq!(idx.to_vec(), vec![0., 1., 3., 4.]);
    let g = y.sum_all().backward().get(&x).unwrap().to_vec();
    assert_eq!(g, vec![1., 1., 0., 1., 1., 0., 0., 0., 0.]);
}

#[test]
fn max_pool_pads_with_minus_infinity_and_propagates_nan() {
    let p = Pool2dParams { stride: [1, 1], padding: [1, 1], ..Pool2dParams::new([3, 3]) };
    assert_eq!(Tensor::full([1, 1, 3, 3], -1.0).max_pool2d(&p).to_vec(), vec![-1.0; 9]);
    let mut v = vec![0.0; 9];
    v[4] = f32::NAN;
    let y = Tensor::from_vec(v, [1, 3, 3]).max_pool2d(&p).to_vec();
    assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
    // A dilated window with no tap inside the input gives -inf (as in PyTorch) and no gradient.
    let p = Pool2dParams { padding: [1, 1], dilation: [3, 3], ..Pool2dParams::new([2, 2]) };
    let x = Tensor::randn([1, 1, 2, 2], 3).requires_grad_();
    let y = x.max_pool2d(&p);
    assert_eq!(y.to_vec(), vec![f32::NEG_INFINITY]);
    assert_eq!(y.sum_all().backward().get(&x).unwrap().to_vec(), vec![0.0; 4]);
}

#[test]
fn avg_pool_padding_counts_as_zeros() {
    let x = Tensor::ones([1, 1, 3, 3]);
    let p = Pool2dParams { stride: [1, 1], padding: [1, 1], ..Pool2dParams::new([3, 3]) };
    let y = x.avg_pool2d(&p).to_vec();
    assert!((y[0] - 4.0 / 9.0).abs() < 1e-6 && (y[1] - 6.0 / 9.0).abs() < 1e-6 && y[4] == 1.0, "{y:?}");
    let y = x.avg_pool2d(&Pool2dParams { count_include_pad: false, ..p.clone() }).to_vec();
    assert!(y.iter().all(|&v| (v - 1.0).abs() < 1e-6), "{y:?}");
    let y = x.avg_pool2d(&Pool2dParams { divisor_override: Some(2), ..p }).to_vec();
    assert_eq!(y[0], 2.0);
}

#[test]
fn overlapping_windows_accumulate_gradients() {
    // AlexNet's 3/2 windows on 5x5: the centre column/row is shared by two windows.
    let x = Tensor::ones([1, 1, 5, 5]).requires_grad_();
    let p = Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) };
    let g = x.avg_pool2d(&p).sum_all().backward().get(&x).unwrap().to_vec();
    let n = 1.0 / 9.0;
    assert!((g[12] - 4.0 * n).abs() < 1e-6 && (g[2] - 2.0 * n).abs() < 1e-6 && (g[0] - n).abs() < 1e-6, "{g:?}");
}

#[test]
fn global_avg_pool_is_the_plane_mean() {
    let x = Tensor::randn([2, 3, 5, 7], 9);
    let y = x.global_avg_pool2d();
    assert_eq!(y.dims(), &[2, 3, 1, 1]);
    let want = x.mean(&[2, 3], true).to_vec();
    for (a, b) in y.to_vec().iter().zip(want) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(Tensor::randn([3, 4, 4], 1).global_avg_pool2d().dims(), &[3, 1, 1]);
}

#[test]
fn ceil_mode_arithmetic_shows_the_extra_end_padding() {
    let p = Pool2dParams { stride: [2, 2], ceil_mode: true, ..Pool2dParams::new([3, 3]) };
    let s = pool2d_output_shape(&[2, 3, 8, 8], &p).unwrap();
    assert_eq!(s.output, vec![2, 3, 4, 4]);
    assert_eq!(s.pad_end(), [1, 1]);
    assert_eq!(s.arithmetic()[1], "O = (I - F + P_start + P_end)/S + 1 = (8 - 3 + 0 + 1)/2 + 1 = 4");
    // The rule that drops a window starting in the right padding.
    let p = Pool2dParams { padding: [1, 1], ceil_mode: true, ..Pool2dParams::new([2, 2]) };
    let s = pool2d_output_shape(&[1, 5, 5], &p).unwrap();
    assert_eq!((s.pad_end(), s.output), ([1, 1], vec![1, 3, 3]));
    // Floor arithmetic is written with floor().
    let s = pool1d_output_shape(&[3, 8], &Pool1dParams { stride: 2, ..Pool1dParams::new(3) }).unwrap();
    assert_eq!(s.output, vec![3, 3]);
    assert_eq!(s.arithmetic(), vec!["O = floor((I - F + P_start + P_end)/S) + 1 = floor((8 - 3 + 0 + 0)/2) + 1 = 3"]);
}

// ----- validation --------------------------------------------------------------------------

fn err(r: Result<impl std::fmt::Debug, convlab::Error>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn invalid_settings_are_errors_naming_the_shapes() {
    let e = err(pool2d_output_shape(&[1, 3, 4, 5], &Pool2dParams::new([6, 6])));
    assert!(e.contains("[1, 3, 4, 5]") && e.contains("[6, 6]") && e.contains("[4, 5]"), "{e}");
    let e = err(pool2d_output_shape(&[1, 3, 3, 3], &Pool2dParams { padding: [1, 1], ..Pool2dParams::new([6, 6]) }));
    assert!(e.contains("padded input [5, 5]") && e.contains("[6, 6]") && e.contains("[1, 3, 3, 3]"), "{e}");
    let e = err(pool2d_output_shape(&[1, 3, 8, 8], &Pool2dParams { stride: [0, 2], ..Pool2dParams::new([2, 2]) }));
    assert!(e.contains("stride") && e.contains("[0, 2]"), "{e}");
    let e = err(pool2d_output_shape(&[1, 3, 8, 8], &Pool2dParams { padding: [2, 1], ..Pool2dParams::new([3, 3]) }));
    assert!(e.contains("padding [2, 1]") && e.contains("kernel size [3, 3]") && e.contains("[1, 3, 8, 8]"), "{e}");
    let e = err(pool2d_output_shape(&[3, 8], &Pool2dParams::new([2, 2])));
    assert!(e.contains("[3, 8]") && e.contains("[N, C, H, W]"), "{e}");
    let e = err(pool2d_output_shape(&[1, 3, 8, 8], &Pool2dParams::new([0, 2])));
    assert!(e.contains("kernel size"), "{e}");
    let e =
        err(avg_pool2d_output_shape(&[1, 3, 8, 8], &Pool2dParams { dilation: [2, 2], ..Pool2dParams::new([2, 2]) }));
    assert!(e.contains("dilation [2, 2]"), "{e}");
    let e = err(avg_pool2d_output_shape(
        &[1, 3, 8, 8],
        &Pool2dParams { divisor_override: Some(0), ..Pool2dParams::new([2, 2]) },
    ));
    assert!(e.contains("divisor_override"), "{e}");
    // 1-D messages show scalars.
    let e = err(avg_pool1d_output_shape(&[2, 3, 4], &Pool1dParams { padding: 2, ..Pool1dParams::new(3) }));
    assert!(e.contains("padding 2") && e.contains("kernel size 3") && e.contains("[2, 3, 4]"), "{e}");
    let e = err(pool1d_output_shape(&[2, 3, 4], &Pool1dParams::new(5)));
    assert!(e.contains("[2, 3, 4]") && e.contains("kernel 5"), "{e}");
    let e = err(adaptive_pool_output_shape(&[2, 0, 4, 4], &[2, 2]));
    assert!(e.contains("[2, 0, 4, 4]"), "{e}");
    assert_eq!(adaptive_pool_output_shape(&[3, 7], &[4]).unwrap(), vec![3, 4]);
}

#[test]
#[should_panic(expected = "max_pool2d: input [1, 1, 2, 2] is too small")]
fn tensor_methods_panic_with_the_validation_message() {
    let p = Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) };
    let _ = Tensor::zeros([1, 1, 2, 2]).max_pool2d(&p);
}

#[test]
#[should_panic(expected = "average pooling has no dilation")]
fn avg_pool_rejects_dilation() {
    let _ = Tensor::zeros([1, 1, 6, 6]).avg_pool2d(&Pool2dParams { dilation: [2, 2], ..Pool2dParams::new([2, 2]) });
}
