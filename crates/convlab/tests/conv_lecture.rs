//! The lecture's worked convolution examples, with their exact values, and its output-size
//! formulas (valid / same / full, stride 1 and 2).

use convlab::ops::conv::{
    conv2d_output_shape, conv_output_size, same_padding, Conv1dParams, Conv2dParams, Padding1d, Padding2d,
};
use convlab::Tensor;

fn img(rows: &[&[f32]]) -> Tensor {
    let (h, w) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), [1, 1, h, w])
}

#[test]
fn true_convolution_flips_the_kernel() {
    // y_ij = Σ w_uv x_{i-u+1, j-v+1}: the 5×5 example.
    let x = img(&[
        &[1., 1., 1., 1., 1.],
        &[-1., 0., -3., 0., 1.],
        &[2., 1., 1., -1., 0.],
        &[0., -1., 1., 2., 1.],
        &[1., 2., 1., 1., 1.],
    ]);
    let w = img(&[&[1., 0., 0.], &[0., 0., 0.], &[0., 0., -1.]]);
    let y = x.convolve2d(&w, None, &Conv2dParams::default());
    assert_eq!(y.to_vec(), vec![0., -2., -1., 2., 2., 4., -1., 0., 0.]);
    // Cross-correlation with the same kernel differs (it is the negation here).
    let c = x.conv2d(&w, None, &Conv2dParams::default());
    assert_eq!(c.to_vec(), vec![0., 2., 1., -2., -2., -4., 1., 0., 0.]);
}

#[test]
fn cross_correlation_6x6() {
    let x = img(&[
        &[2., 3., 1., 5., 2., 3.],
        &[7., 4., 5., 2., 3., 1.],
        &[3., 9., 6., 0., 4., 2.],
        &[0., 6., 4., 7., 1., 2.],
        &[4., 1., 0., 8., 0., 6.],
        &[7., 0., 2., 1., 6., 3.],
    ]);
    let w = img(&[&[1., 0., 1.], &[4., -3., 2.], &[3., 0., -1.]]);
    let y = x.conv2d(&w, None, &Conv2dParams::default());
    assert_eq!(y.dims(), &[1, 1, 4, 4]);
    #[rustfmt::skip]
    let want = vec![32., 40., 37., 7.,
                    5., 35., 51., 14.,
                    11., 30., 7., 49.,
                    36., 32., -19., 53.];
    assert_eq!(y.to_vec(), want);
}

#[test]
fn vertical_edge_detector() {
    let row: &[f32] = &[10., 10., 10., 0., 0., 0.];
    let x = img(&[row; 6]);
    let k: &[f32] = &[1., 0., -1.];
    let w = img(&[k; 3]);
    let y = x.conv2d(&w, None, &Conv2dParams::default());
    assert_eq!(y.to_vec(), [0., 30., 30., 0.].repeat(4));
}

#[test]
fn diagonal_edge_detector() {
    let x = img(&[
        &[10., 10., 10., 10., 10., 0.],
        &[10., 10., 10., 10., 0., 0.],
        &[10., 10., 10., 0., 0., 0.],
        &[10., 10., 0., 0., 0., 0.],
        &[10., 0., 0., 0., 0., 0.],
        &[0., 0., 0., 0., 0., 0.],
    ]);
    let w = img(&[&[1., 1., 0.], &[1., 0., -1.], &[0., -1., -1.]]);
    let y = x.conv2d(&w, None, &Conv2dParams::default());
    #[rustfmt::skip]
    let want = vec![0., 10., 30., 30.,
                    10., 30., 30., 10.,
                    30., 30., 10., 0.,
                    30., 10., 0., 0.];
    assert_eq!(y.to_vec(), want);
}

#[test]
fn three_channel_window_sums_over_channels() {
    let patch = [
        [0., 0., 0., 0., 2., 2., 0., 1., 2.],
        [0., 0., 0., 0., 0., 2., 0., 1., 2.],
        [0., 0., 0., 0., 1., 1., 0., 0., 2.],
    ];
    let kernels = [
        [-1., 1., 1., -1., 1., -1., 1., -1., 1.],
        [1., -1., -1., -1., 0., -1., -1., 0., 1.],
        [1., -1., -1., -1., -1., 0., -1., 1., 1.],
    ];
    let x = Tensor::from_vec(patch.concat(), [1, 3, 3, 3]);
    let w = Tensor::from_vec(kernels.concat(), [1, 3, 3, 3]);
    assert_eq!(x.conv2d(&w, None, &Conv2dParams::default()).to_vec(), vec![2.0]);
    // Per channel: 1 + 0 + 1.
    let per_channel = x.conv2d(
        &Tensor::from_vec(kernels.concat(), [3, 1, 3, 3]),
        None,
        &Conv2dParams { groups: 3, ..Default::default() },
    );
    assert_eq!(per_channel.to_vec(), vec![1.0, 0.0, 1.0]);
    // With a bias, Z = W ⊗ X + b.
    let b = Tensor::from_vec(vec![0.5], [1]);
    assert_eq!(x.conv2d(&w, Some(&b), &Conv2dParams::default()).to_vec(), vec![2.5]);
}

#[test]
fn output_size_formulas() {
    // O = (I - F + P_start + P_end) / S + 1.
    let cases = [
        // (I, F, S, padding, expected P, expected O)
        (5, 3, 1, Padding1d::Valid, (0, 0), 3),
        (5, 3, 2, Padding1d::Valid, (0, 0), 2),
        (5, 3, 1, Padding1d::Same, (1, 1), 5),
        (5, 3, 2, Padding1d::Same, (1, 1), 3), // ⌈5/2⌉
        (6, 3, 2, Padding1d::Same, (0, 1), 3), // ⌈6/2⌉, the odd unit at the end
        (7, 4, 1, Padding1d::Same, (1, 2), 7),
        (5, 3, 1, Padding1d::Full, (2, 2), 7),
        (5, 3, 2, Padding1d::Full, (2, 2), 4),
    ];
    for (i, f, s, pad, p, o) in cases {
        assert_eq!(pad.resolve(i, f, s), p, "{pad:?} I={i} F={f} S={s}");
        assert_eq!(conv_output_size(i, f, p.0, p.1, s, "x").unwrap(), o, "{pad:?} I={i} F={f} S={s}");
        // And the op agrees.
        let x = Tensor::randn([1, 1, i], 0);
        let w = Tensor::randn([1, 1, f], 1);
        let y = x.conv1d(&w, None, &Conv1dParams { stride: s, padding: pad, ..Default::default() });
        assert_eq!(y.dims(), &[1, 1, o], "{pad:?} I={i} F={f} S={s}");
    }
    for i in 1..20 {
        for f in 1..6 {
            for s in 1..4 {
                let (a, b) = same_padding(i, f, s);
                assert_eq!(conv_output_size(i, f, a, b, s, "x").unwrap(), i.div_ceil(s), "I={i} F={f} S={s}");
                assert!(b == a || b == a + 1);
            }
        }
    }
    // LeNet's first layer: 28 + 2·2 - 5 + 1 = 28.
    let g = conv2d_output_shape(
        &[64, 1, 28, 28],
        &[6, 1, 5, 5],
        &Conv2dParams { padding: Padding2d::uniform(2), ..Default::default() },
    )
    .unwrap();
    assert_eq!((g.ho(), g.wo()), (28, 28));
    assert_eq!(g.arithmetic().lines().next().unwrap(), "height: (28 - 5 + 2 + 2) / 1 + 1 = 28");
}

#[test]
fn validation_errors_name_the_shapes() {
    let p = Conv2dParams::default();
    let err = |i: &[usize], w: &[usize], p: &Conv2dParams| conv2d_output_shape(i, w, p).unwrap_err().to_string();
    let e = err(&[1, 3, 2, 2], &[4, 3, 3, 3], &p);
    assert!(e.contains("[1, 3, 2, 2]") && e.contains("[4, 3, 3, 3]") && e.contains("height"), "{e}");
    let e = err(&[1, 3, 8, 8], &[4, 2, 3, 3], &p);
    assert!(e.contains("channels"), "{e}");
    let e = err(&[1, 4, 8, 8], &[4, 2, 3, 3], &Conv2dParams { groups: 3, ..p });
    assert!(e.contains("groups"), "{e}");
    let e = err(&[1, 3, 8, 8], &[4, 3, 3, 3], &Conv2dParams { stride: [0, 1], ..p });
    assert!(e.contains("stride"), "{e}");
    let e = err(
        &[1, 3, 3, 8],
        &[4, 3, 3, 3],
        &Conv2dParams { padding: Padding2d::uniform(3), padding_mode: convlab::PaddingMode::Reflect, ..p },
    );
    assert!(e.contains("reflect") && e.contains("[1, 3, 3, 8]"), "{e}");
    let e = err(&[1, 3, 8], &[4, 3, 3], &p);
    assert!(e.contains("dimensions"), "{e}");
    assert!(Tensor::zeros([3, 8, 8]).try_conv2d(&Tensor::zeros([4, 3, 3, 3]), Some(&Tensor::zeros([3])), &p).is_err());
}

#[test]
fn absurd_sizes_are_errors_not_overflows() {
    let m = usize::MAX;
    let d = Conv2dParams { dilation: [m, 1], ..Default::default() };
    assert!(conv2d_output_shape(&[1, 1, 3, 3], &[1, 1, 2, 2], &d).unwrap_err().to_string().contains("too large"));
    let p = Conv2dParams { padding: Padding2d::uniform(m), ..Default::default() };
    assert!(conv2d_output_shape(&[1, 1, 3, 3], &[1, 1, 2, 2], &p).unwrap_err().to_string().contains("too large"));
    let s = Conv2dParams { stride: [m, m], padding: Padding2d::Same, ..Default::default() };
    assert_eq!(conv2d_output_shape(&[1, 1, 3, 3], &[1, 1, 2, 2], &s).map(|g| (g.ho(), g.wo())).unwrap(), (1, 1));
    assert!(conv_output_size(3, 2, m, m, 1, "width").is_err());
    let t = convlab::ConvTranspose2dParams::default();
    assert!(convlab::ops::conv::conv_transpose2d_output_shape(&[1, 1, 0, 3], &[1, 1, 2, 2], &t).is_err());
    let t = convlab::ConvTranspose2dParams { stride: [m, 1], ..Default::default() };
    assert!(convlab::ops::conv::conv_transpose2d_output_shape(&[1, 1, 3, 3], &[1, 1, 2, 2], &t).is_err());
    let k = convlab::Pool2dParams { stride: [1, 1], ..convlab::Pool2dParams::new([m, m]) };
    assert!(convlab::ops::pool::pool2d_output_shape(&[1, 3, 3], &k).is_err());
    let k = convlab::Pool2dParams { dilation: [m, 1], ..convlab::Pool2dParams::new([2, 2]) };
    assert!(convlab::ops::pool::pool2d_output_shape(&[1, 3, 3], &k).is_err());
}
