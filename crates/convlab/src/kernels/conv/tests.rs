//! The convolution kernels against the definition, for every path (per sample, banded,
//! batched, Winograd) and the adjoint identities of their gradients.

use super::*;

/// Direct definition: out[n, co, oy, ox] = Σ w[co, c, ki, kj] · x[n, g·Cg + c, oy·s + ki·d - p, ...].
fn naive(g: &Conv2dGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (cg, cog) = (g.c_in() / g.groups(), g.c_out() / g.groups());
    let mut out = vec![0.0f32; g.n() * g.c_out() * g.ho() * g.wo()];
    for n in 0..g.n() {
        for co in 0..g.c_out() {
            let grp = co / cog;
            for oy in 0..g.ho() {
                for ox in 0..g.wo() {
                    let mut s = 0.0f64;
                    for c in 0..cg {
                        for ki in 0..g.kh() {
                            for kj in 0..g.kw() {
                                let iy = (oy * g.stride()[0] + ki * g.dilation()[0]) as isize - g.pad()[0] as isize;
                                let ix = (ox * g.stride()[1] + kj * g.dilation()[1]) as isize - g.pad()[2] as isize;
                                if iy < 0 || ix < 0 || iy >= g.h() as isize || ix >= g.w() as isize {
                                    continue;
                                }
                                let xv = x[((n * g.c_in() + grp * cg + c) * g.h() + iy as usize) * g.w() + ix as usize];
                                s += xv as f64 * w[((co * cg + c) * g.kh() + ki) * g.kw() + kj] as f64;
                            }
                        }
                    }
                    out[((n * g.c_out() + co) * g.ho() + oy) * g.wo() + ox] = s as f32;
                }
            }
        }
    }
    out
}

/// The geometry of a convolution with these settings (dilation 1).
fn geometry(
    input: [usize; 4],
    weight: [usize; 4],
    stride: [usize; 2],
    pad: [usize; 4],
    groups: usize,
) -> Conv2dGeometry {
    let window = Window2d::new([input[2], input[3]], [weight[2], weight[3]], stride, [1, 1], pad).unwrap();
    Conv2dGeometry::new(input, weight, window, groups)
}

fn data(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| (((i * 37 + seed * 11) % 23) as f32 - 11.0) / 8.0).collect()
}

#[test]
fn banded_unfolding_matches_the_definition() {
    // K·Ho·Wo = 100·64·62 > COL_BUDGET: the forward and backward passes run in bands.
    // With one sample (fewer samples than threads), the bands themselves run in parallel.
    for n in [2, 1] {
        let g = geometry([n, 8, 65, 63], [4, 4, 5, 5], [1, 1], [1, 2, 2, 1], 2);
        assert!(g.band_rows() < g.ho());
        let (x, w) = (data(n * 8 * 65 * 63, 1), data(4 * 4 * 25, 2));
        let mut out = vec![0.0; g.n() * g.c_out() * g.ho() * g.wo()];
        conv2d_forward(&g, &x, &w, None, &mut out);
        let want = naive(&g, &x, &w);
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Adjoint identities: <conv(x), r> = <x, dx(r)> and = <w, dw(x, r)>.
        let r = data(out.len(), 3);
        let lhs: f64 = out.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum();
        let mut dx = vec![0.0; x.len()];
        conv2d_backward_input(&g, &r, &w, &mut dx);
        let mut dw = vec![0.0; w.len()];
        conv2d_backward_weight(&g, &x, &r, &mut dw);
        let via_x: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
        let via_w: f64 = w.iter().zip(&dw).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - via_x).abs() < 1e-3 * lhs.abs().max(1.0), "{lhs} vs {via_x}");
        assert!((lhs - via_w).abs() < 1e-3 * lhs.abs().max(1.0), "{lhs} vs {via_w}");
    }
}

#[test]
fn winograd_convolutions_match_the_definition() {
    // 3×3 stride 1, enough channels and tiles: the Winograd path, with partial tiles at
    // the bottom/right edge, a partial last block, asymmetric and zero padding.
    // Few tiles (stages split over threads) and many (blocks in parallel).
    for (input, c_out, pad) in [
        ([6, 16, 13, 11], 20, [1, 1, 1, 1]),
        ([6, 24, 10, 17], 16, [0, 2, 2, 0]),
        ([16, 16, 8, 8], 32, [0, 0, 0, 0]),
        ([5, 16, 33, 31], 24, [1, 1, 1, 1]),
        ([4, 16, 16, 20], 24, [1, 1, 1, 1]),
    ] {
        let g = geometry(input, [c_out, input[1], 3, 3], [1, 1], pad, 1);
        assert!(winograd::applies(&g), "{g:?}");
        let (x, w) = (data(input.iter().product(), 8), data(c_out * input[1] * 9, 9));
        let bias: Vec<f32> = (0..c_out).map(|i| i as f32 * 0.25 - 2.0).collect();
        let mut out = vec![f32::NAN; g.n() * g.c_out() * g.ho() * g.wo()];
        conv2d_forward(&g, &x, &w, Some(&bias), &mut out);
        let want = naive(&g, &x, &w);
        let p = g.ho() * g.wo();
        for (i, (a, b)) in out.iter().zip(&want).enumerate() {
            let b = b + bias[i / p % c_out];
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{g:?} at {i}: {a} vs {b}");
        }
        // The input gradient (Winograd too where it applies) by the adjoint identity, and
        // element by element against the im2col path.
        let r = data(out.len(), 10);
        let mut dx = vec![f32::NAN; x.len()];
        conv2d_backward_input(&g, &r, &w, &mut dx);
        let lhs: f64 = want.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum();
        let via_x: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - via_x).abs() < 1e-4 * lhs.abs().max(1.0), "{g:?}: {lhs} vs {via_x}");
        // The weight gradient, element by element against the definition
        // dW[o, c, a, b] = Σ r[n, o, y, x] · x[n, c, y + a - pt, x + b - pl].
        let mut dw = vec![f32::NAN; w.len()];
        conv2d_backward_weight(&g, &x, &r, &mut dw);
        // The Winograd weight gradient (which the dispatcher keeps for ≥ 128 channels),
        // called directly on these small shapes.
        let mut dw_winograd = vec![f32::NAN; w.len()];
        winograd::weight::backward_weight(&g, &x, &r, &mut dw_winograd);
        for o in 0..c_out {
            for c in 0..input[1] {
                for (a, b) in (0..3).flat_map(|a| (0..3).map(move |b| (a, b))) {
                    let mut s = 0.0f64;
                    for n in 0..g.n() {
                        for oy in 0..g.ho() {
                            for ox in 0..g.wo() {
                                let (iy, ix) =
                                    ((oy + a) as isize - pad[0] as isize, (ox + b) as isize - pad[2] as isize);
                                if iy >= 0 && ix >= 0 && (iy as usize) < g.h() && (ix as usize) < g.w() {
                                    s += r[((n * c_out + o) * g.ho() + oy) * g.wo() + ox] as f64
                                        * x[((n * input[1] + c) * g.h() + iy as usize) * g.w() + ix as usize] as f64;
                                }
                            }
                        }
                    }
                    let got = dw[(o * input[1] + c) * 9 + a * 3 + b] as f64;
                    assert!(
                        (got - s).abs() < 1e-4 * s.abs().max(1.0),
                        "{g:?}: dW[{o}, {c}, {a}, {b}] = {got}, want {s}"
                    );
                    let got = dw_winograd[(o * input[1] + c) * 9 + a * 3 + b] as f64;
                    assert!(
                        (got - s).abs() < 1e-4 * s.abs().max(1.0),
                        "{g:?}: Winograd dW[{o}, {c}, {a}, {b}] = {got}, want {s}"
                    );
                }
            }
        }
    }
}

#[test]
fn batched_small_convolutions_match_the_definition() {
    // Tiny per-sample GEMMs: samples are lowered in blocks; 7 samples leave a short last block.
    for (input, weight, stride, pad, groups) in
        [([7, 4, 9, 8], [6, 2, 3, 3], [1, 2], [1, 0, 2, 1], 2), ([7, 3, 10, 10], [5, 3, 5, 5], [1, 1], [2, 2, 2, 2], 1)]
    {
        let g = geometry(input, weight, stride, pad, groups);
        assert!(batched::block_size(&g) > 1 || rayon::current_num_threads() > g.n());
        let (x, w) = (data(input.iter().product(), 5), data(weight.iter().product(), 6));
        let mut out = vec![0.0; g.n() * g.c_out() * g.ho() * g.wo()];
        conv2d_forward(&g, &x, &w, None, &mut out);
        for (a, b) in out.iter().zip(&naive(&g, &x, &w)) {
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
        let r = data(out.len(), 7);
        let lhs: f64 = out.iter().zip(&r).map(|(a, b)| (a * b) as f64).sum();
        let (mut dx, mut dw) = (vec![1.0; x.len()], vec![1.0; w.len()]);
        conv2d_backward_input(&g, &r, &w, &mut dx);
        conv2d_backward_weight(&g, &x, &r, &mut dw);
        let via_x: f64 = x.iter().zip(&dx).map(|(a, b)| (a * b) as f64).sum();
        let via_w: f64 = w.iter().zip(&dw).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - via_x).abs() < 1e-4 * lhs.abs().max(1.0), "{lhs} vs {via_x}");
        assert!((lhs - via_w).abs() < 1e-4 * lhs.abs().max(1.0), "{lhs} vs {via_w}");
    }
}
