//! Convolution against PyTorch fixtures (forward and every input gradient) and against finite
//! differences, over the option grid: stride, padding kinds, padding modes, dilation, groups,
//! bias, unbatched inputs; true convolution, flip, pad, and transposed convolution.

mod common;

use common::{check, p_bool, p_f32, p_usize, p_usizes, Fixtures, Inputs};
use convlab::gradcheck::{gradcheck, GradCheck};
use convlab::ops::conv::{Conv1dParams, Conv2dParams, ConvTranspose2dParams, Padding1d, Padding2d, PaddingMode};
use convlab::Tensor;
use serde_json::Value;

fn mode(p: &Value) -> PaddingMode {
    p["padding_mode"].as_str().unwrap().parse().unwrap()
}

fn conv2d_params(p: &Value) -> Conv2dParams {
    let pad = p_usizes(p, "pad");
    let padding = match p["padding"].as_str().unwrap() {
        "valid" => Padding2d::Valid,
        "same" => Padding2d::Same,
        "full" => Padding2d::Full,
        _ if pad[0] == pad[1] && pad[2] == pad[3] && pad[0] == pad[2] => Padding2d::uniform(pad[0]),
        _ if pad[0] == pad[1] && pad[2] == pad[3] => Padding2d::pair(pad[0], pad[2]),
        _ => Padding2d::per_side(pad[0], pad[1], pad[2], pad[3]),
    };
    let s = p_usizes(p, "stride");
    let d = p_usizes(p, "dilation");
    Conv2dParams {
        stride: [s[0], s[1]],
        padding,
        dilation: [d[0], d[1]],
        groups: p_usize(p, "groups"),
        padding_mode: mode(p),
    }
}

fn conv1d_params(p: &Value) -> Conv1dParams {
    let pad = p_usizes(p, "pad");
    let padding = match p["padding"].as_str().unwrap() {
        "valid" => Padding1d::Valid,
        "same" => Padding1d::Same,
        "full" => Padding1d::Full,
        _ => Padding1d::Explicit { start: pad[0], end: pad[1] },
    };
    Conv1dParams {
        stride: p_usize(p, "stride"),
        padding,
        dilation: p_usize(p, "dilation"),
        groups: p_usize(p, "groups"),
        padding_mode: mode(p),
    }
}

fn transpose_params(p: &Value) -> ConvTranspose2dParams {
    let a = |k: &str| {
        let v = p_usizes(p, k);
        [v[0], v[1]]
    };
    ConvTranspose2dParams {
        stride: a("stride"),
        padding: a("padding"),
        output_padding: a("output_padding"),
        dilation: a("dilation"),
        groups: p_usize(p, "groups"),
    }
}

/// Runs a fixture case's op on its inputs `x`, `weight` and, when the case has one, `bias`.
fn run(p: &Value, t: &Inputs) -> Tensor {
    let (x, w, b) = (t("x"), t("weight"), p_bool(p, "bias").then(|| t("bias")));
    let b = b.as_ref();
    match p["op"].as_str().unwrap() {
        "conv2d" => x.conv2d(&w, b, &conv2d_params(p)),
        "convolve2d" => x.convolve2d(&w, b, &conv2d_params(p)),
        "conv1d" => x.conv1d(&w, b, &conv1d_params(p)),
        "convolve1d" => x.convolve1d(&w, b, &conv1d_params(p)),
        "conv_transpose2d" => x.conv_transpose2d(&w, b, &transpose_params(p)),
        op => panic!("unknown op {op}"),
    }
}

#[test]
fn conv_ops_match_torch() {
    let f = Fixtures::load("conv");
    let cases: Vec<String> = f.cases().into_iter().filter(|c| !c.starts_with("pad")).collect();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    for case in &cases {
        check(&f, case, |t| run(f.params(case), t));
    }
}

#[test]
fn pad_matches_torch() {
    let f = Fixtures::load("conv");
    for case in f.cases_with_prefix("pad") {
        let p = f.params(&case);
        let (pad, value) = (p_usizes(p, "pad"), p_f32(p, "value"));
        check(&f, &case, |t| match pad[..] {
            // F.pad order: (left, right, top, bottom).
            [l, r, top, bottom] => t("x").pad2d(top, bottom, l, r, mode(p), value),
            [start, end] => t("x").pad1d(start, end, mode(p), value),
            _ => panic!("{case}: pad {pad:?}"),
        });
    }
}

fn grad_check(what: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    if let Err(e) = gradcheck(f, inputs, &GradCheck::default()) {
        panic!("{what}: {e}");
    }
}

#[test]
fn conv2d_gradcheck_over_options() {
    let base = Conv2dParams::default();
    let grid: Vec<(&str, Conv2dParams, [usize; 4], [usize; 4])> = vec![
        ("plain", base, [2, 2, 5, 4], [3, 2, 3, 2]),
        ("stride2_uniform", Conv2dParams { stride: [2, 2], padding: 1.into(), ..base }, [1, 2, 7, 6], [2, 2, 3, 3]),
        ("pair", Conv2dParams { stride: [1, 2], padding: Padding2d::pair(2, 1), ..base }, [1, 2, 5, 5], [2, 2, 3, 2]),
        ("per_side", Conv2dParams { padding: Padding2d::per_side(1, 0, 2, 1), ..base }, [1, 2, 5, 4], [2, 2, 3, 3]),
        ("valid_s2", Conv2dParams { stride: [2, 2], padding: Padding2d::Valid, ..base }, [1, 2, 7, 6], [2, 2, 3, 3]),
        ("same_s1", Conv2dParams { padding: Padding2d::Same, ..base }, [1, 2, 5, 4], [2, 2, 3, 2]),
        ("same_s2", Conv2dParams { stride: [2, 2], padding: Padding2d::Same, ..base }, [1, 2, 6, 5], [2, 2, 3, 3]),
        ("full", Conv2dParams { padding: Padding2d::Full, ..base }, [1, 2, 4, 3], [2, 2, 3, 2]),
        (
            "reflect",
            Conv2dParams { padding: Padding2d::pair(2, 1), padding_mode: PaddingMode::Reflect, ..base },
            [1, 2, 5, 4],
            [2, 2, 3, 3],
        ),
        (
            "replicate",
            Conv2dParams { stride: [2, 1], padding: 1.into(), padding_mode: PaddingMode::Replicate, ..base },
            [1, 2, 5, 4],
            [2, 2, 3, 3],
        ),
        (
            "circular",
            Conv2dParams { padding: Padding2d::per_side(1, 2, 2, 0), padding_mode: PaddingMode::Circular, ..base },
            [1, 2, 4, 3],
            [2, 2, 3, 3],
        ),
        ("dilation", Conv2dParams { padding: 2.into(), dilation: [2, 1], ..base }, [1, 2, 6, 5], [2, 2, 3, 3]),
        ("groups", Conv2dParams { padding: 1.into(), groups: 2, ..base }, [1, 4, 4, 3], [4, 2, 3, 3]),
        (
            "depthwise",
            Conv2dParams { stride: [2, 2], padding: 1.into(), groups: 3, ..base },
            [2, 3, 5, 4],
            [3, 1, 3, 3],
        ),
        ("pointwise", base, [2, 4, 3, 3], [3, 4, 1, 1]),
    ];
    for (name, p, xs, ws) in grid {
        let x = Tensor::randn(xs, 1);
        let w = Tensor::randn(ws, 2);
        let b = Tensor::randn([ws[0]], 3);
        grad_check(
            &format!("conv2d {name} +bias"),
            |t| t[0].conv2d(&t[1], Some(&t[2]), &p),
            &[x.clone(), w.clone(), b],
        );
        grad_check(&format!("conv2d {name}"), |t| t[0].conv2d(&t[1], None, &p), &[x, w]);
    }
    // Unbatched input.
    grad_check(
        "conv2d unbatched",
        |t| t[0].conv2d(&t[1], None, &Conv2dParams { padding: 1.into(), ..base }),
        &[Tensor::randn([2, 4, 3], 4), Tensor::randn([3, 2, 3, 3], 5)],
    );
}

#[test]
fn conv1d_gradcheck_over_options() {
    let base = Conv1dParams::default();
    let grid: Vec<(&str, Conv1dParams)> = vec![
        ("plain", base),
        ("stride2", Conv1dParams { stride: 2, padding: Padding1d::Explicit { start: 1, end: 2 }, ..base }),
        ("same_s2", Conv1dParams { stride: 2, padding: Padding1d::Same, ..base }),
        ("full", Conv1dParams { padding: Padding1d::Full, ..base }),
        ("reflect", Conv1dParams { padding: 2.into(), padding_mode: PaddingMode::Reflect, ..base }),
        ("replicate", Conv1dParams { padding: 2.into(), padding_mode: PaddingMode::Replicate, ..base }),
        (
            "circular",
            Conv1dParams {
                padding: Padding1d::Explicit { start: 3, end: 1 },
                padding_mode: PaddingMode::Circular,
                ..base
            },
        ),
        ("dilation_groups", Conv1dParams { padding: 1.into(), dilation: 2, groups: 2, ..base }),
    ];
    for (name, p) in grid {
        let x = Tensor::randn([2, 4, 7], 6);
        let w = Tensor::randn([2, 4 / p.groups, 3], 7);
        let b = Tensor::randn([2], 8);
        grad_check(&format!("conv1d {name}"), |t| t[0].conv1d(&t[1], Some(&t[2]), &p), &[x, w, b]);
    }
}

#[test]
fn true_convolution_flip_and_pad_gradcheck() {
    let x = Tensor::randn([1, 2, 5, 4], 9);
    let w = Tensor::randn([2, 2, 3, 2], 10);
    grad_check(
        "convolve2d",
        |t| t[0].convolve2d(&t[1], None, &Conv2dParams { padding: 1.into(), ..Default::default() }),
        &[x.clone(), w],
    );
    grad_check(
        "convolve1d",
        |t| t[0].convolve1d(&t[1], None, &Conv1dParams::default()),
        &[Tensor::randn([1, 2, 7], 11), Tensor::randn([3, 2, 3], 12)],
    );
    grad_check("flip", |t| t[0].flip(&[0, 2]), &[Tensor::randn([3, 2, 5], 13)]);
    for mode in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        grad_check(&format!("pad2d {mode:?}"), |t| t[0].pad2d(2, 1, 3, 2, mode, 0.5), std::slice::from_ref(&x));
        grad_check(&format!("pad1d {mode:?}"), |t| t[0].pad1d(3, 1, mode, 0.0), &[Tensor::randn([2, 5], 14)]);
    }
}

#[test]
fn conv_transpose2d_gradcheck() {
    let base = ConvTranspose2dParams::default();
    let grid: Vec<(&str, ConvTranspose2dParams, usize)> = vec![
        ("plain", base, 1),
        (
            "stride2_outpad",
            ConvTranspose2dParams { stride: [2, 2], padding: [1, 1], output_padding: [1, 1], ..base },
            1,
        ),
        ("stride_mixed", ConvTranspose2dParams { stride: [2, 3], padding: [0, 1], output_padding: [1, 2], ..base }, 1),
        ("dilation", ConvTranspose2dParams { padding: [1, 1], dilation: [2, 2], output_padding: [1, 0], ..base }, 1),
        ("groups", ConvTranspose2dParams { stride: [2, 1], padding: [1, 0], groups: 2, ..base }, 2),
    ];
    for (name, p, g) in grid {
        let x = Tensor::randn([2, 4, 3, 4], 15);
        let w = Tensor::randn([4, 4 / g, 3, 2], 16);
        let b = Tensor::randn([4], 17);
        grad_check(&format!("conv_transpose2d {name}"), |t| t[0].conv_transpose2d(&t[1], Some(&t[2]), &p), &[x, w, b]);
    }
}

#[test]
fn conv_transpose2d_is_the_input_gradient_of_conv2d() {
    // <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for matching settings.
    let x = Tensor::randn([2, 3, 7, 6], 18);
    let w = Tensor::randn([4, 3, 3, 3], 19);
    let p = Conv2dParams { stride: [2, 2], padding: 1.into(), ..Default::default() };
    let y = x.conv2d(&w, None, &p);
    let r = Tensor::randn(y.shape().clone(), 20);
    let tp = ConvTranspose2dParams { stride: [2, 2], padding: [1, 1], output_padding: [0, 1], ..Default::default() };
    let xt = r.conv_transpose2d(&w, None, &tp);
    assert_eq!(xt.dims(), x.dims());
    let lhs = (&y * &r).sum_all().item();
    let rhs = (&x * &xt).sum_all().item();
    assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
}
