//! Batch normalization over `x: [N, C, L]` (every axis but the channel axis flattened into
//! `L`), per channel, accumulated in f64. Per-channel buffers are `[C]`.
//!
//! Channels (for the sums) and planes (for the element-wise passes) run in parallel; the
//! loops are written so that they vectorise (f64 arithmetic, 8 lanes with AVX-512) inside
//! [`simd::dispatch`].

use rayon::prelude::*;

use crate::kernels::simd;

/// Elements below which a pass stays on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;

/// `Σ f(v)` over one plane, in f64.
#[inline(always)]
fn plane_sum(p: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    // Eight independent partial sums, so the additions vectorise without reassociating a
    // single chain.
    let mut acc = [0.0f64; 8];
    let chunks = p.chunks_exact(8);
    let rest = chunks.remainder();
    for ch in chunks {
        for k in 0..8 {
            acc[k] += f(ch[k] as f64);
        }
    }
    let mut s: f64 = acc.iter().sum();
    for &v in rest {
        s += f(v as f64);
    }
    s
}

/// Runs `f(ch)` for every channel, in parallel when the tensor is large, collecting results.
fn per_channel<T: Send>(c: usize, numel: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if numel >= PARALLEL_MIN {
        (0..c)
            .into_par_iter()
            .map(|ch| {
                simd::dispatch(
                    #[inline(always)]
                    || f(ch),
                )
            })
            .collect()
    } else {
        simd::dispatch(
            #[inline(always)]
            || (0..c).map(&f).collect(),
        )
    }
}

/// Runs `f(plane index, plane)` over the `[L]` planes of a `[N, C, L]` output.
fn per_plane(y: &mut [f32], l: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if l == 0 {
        return;
    }
    if y.len() >= PARALLEL_MIN {
        y.par_chunks_mut(l).enumerate().for_each(|(i, p)| {
            simd::dispatch(
                #[inline(always)]
                || f(i, p),
            )
        });
    } else {
        simd::dispatch(
            #[inline(always)]
            || y.chunks_mut(l).enumerate().for_each(|(i, p)| f(i, p)),
        );
    }
}

/// The sizes of a batch-normalized buffer `[N, C, L]` (`L`: the positions of one plane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchNormShape {
    pub n: usize,
    pub c: usize,
    pub l: usize,
}

/// Where the statistics of a batch normalization came from, which decides its input gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistics {
    /// The batch's own mean and variance (training): the gradient flows through them too.
    Batch,
    /// Running statistics (evaluation): constants for the gradient.
    Running,
}

/// Per-channel `(mean, biased variance)` of `x: [N, C, L]`.
pub fn batch_norm_stats(shape: &BatchNormShape, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let BatchNormShape { n, c, l } = *shape;
    let count = (n * l) as f64;
    let plane = |b: usize, ch: usize| &x[(b * c + ch) * l..(b * c + ch + 1) * l];
    per_channel(
        c,
        x.len(),
        #[inline(always)]
        |ch| {
            let m = (0..n).map(|b| plane_sum(plane(b, ch), |v| v)).sum::<f64>() / count;
            let var = (0..n).map(|b| plane_sum(plane(b, ch), |v| (v - m) * (v - m))).sum::<f64>() / count;
            (m, var)
        },
    )
    .into_iter()
    .unzip()
}

/// `y = (x − mean)·invstd·gamma + beta`. `y`, `x`: `[N, C, L]`; `mean`, `invstd`, `gamma`,
/// `beta`: `[C]`.
pub fn batch_norm_forward(
    shape: &BatchNormShape,
    x: &[f32],
    (mean, invstd): (&[f64], &[f64]),
    (gamma, beta): (&[f64], &[f64]),
    y: &mut [f32],
) {
    let BatchNormShape { n, c, l } = *shape;
    assert!(
        y.len() == n * c * l && x.len() == y.len(),
        "batch_norm_forward: buffers of {} and {} values for [{n}, {c}, {l}]",
        y.len(),
        x.len()
    );
    per_plane(
        y,
        l,
        #[inline(always)]
        |i, yp| {
            let ch = i % c;
            let (m, scale, shift) = (mean[ch], invstd[ch] * gamma[ch], beta[ch]);
            for (o, &v) in yp.iter_mut().zip(&x[i * l..(i + 1) * l]) {
                *o = ((v as f64 - m) * scale + shift) as f32;
            }
        },
    );
}

/// Gradients of [`batch_norm_forward`]: `gx: [N, C, L]`, `gw` (of gamma) and `gb` (of beta):
/// `[C]`, from `g: [N, C, L]`. With [`Statistics::Batch`] the gradient also flows through the
/// batch's statistics: `gx = γ·invstd/M · (M·g − Σg − x̂·Σ(g·x̂))` with `M = N·L` and
/// `x̂ = (x − mean)·invstd`; with [`Statistics::Running`] `gx = γ·invstd·g`.
pub fn batch_norm_backward(
    shape: &BatchNormShape,
    stats: Statistics,
    (g, x): (&[f32], &[f32]),
    (mean, invstd, gamma): (&[f64], &[f64], &[f64]),
    (gx, gw, gb): (&mut [f32], &mut [f32], &mut [f32]),
) {
    let BatchNormShape { n, c, l } = *shape;
    let m = (n * l) as f64;
    let plane = |b: usize, ch: usize| (b * c + ch) * l..(b * c + ch + 1) * l;
    // Σ g and Σ g·x̂ over each channel: [C] each.
    let sums: Vec<(f64, f64)> = per_channel(
        c,
        g.len(),
        #[inline(always)]
        |ch| {
            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
            for b in 0..n {
                let r = plane(b, ch);
                let (gp, xp) = (&g[r.clone()], &x[r]);
                let mut acc_g = [0.0f64; 8];
                let mut acc_gx = [0.0f64; 8];
                let (gc, xc) = (gp.chunks_exact(8), xp.chunks_exact(8));
                let (gr, xr) = (gc.remainder(), xc.remainder());
                for (g8, x8) in gc.zip(xc) {
                    for k in 0..8 {
                        acc_g[k] += g8[k] as f64;
                        acc_gx[k] += g8[k] as f64 * (x8[k] as f64 - mean[ch]);
                    }
                }
                sum_g += acc_g.iter().sum::<f64>();
                sum_gx += acc_gx.iter().sum::<f64>();
                for (&gv, &xv) in gr.iter().zip(xr) {
                    sum_g += gv as f64;
                    sum_gx += gv as f64 * (xv as f64 - mean[ch]);
                }
            }
            (sum_g, sum_gx * invstd[ch])
        },
    );
    for (ch, &(sg, sgx)) in sums.iter().enumerate() {
        gw[ch] = sgx as f32;
        gb[ch] = sg as f32;
    }
    per_plane(
        gx,
        l,
        #[inline(always)]
        |i, gxp| {
            let ch = i % c;
            let (k, is, mu) = (gamma[ch] * invstd[ch], invstd[ch], mean[ch]);
            let (sum_g, sum_gx) = sums[ch];
            let (gp, xp) = (&g[i * l..(i + 1) * l], &x[i * l..(i + 1) * l]);
            if stats == Statistics::Batch {
                for ((o, &gv), &xv) in gxp.iter_mut().zip(gp).zip(xp) {
                    let xhat = (xv as f64 - mu) * is;
                    *o = (k / m * (m * gv as f64 - sum_g - xhat * sum_gx)) as f32;
                }
            } else {
                for (o, &gv) in gxp.iter_mut().zip(gp) {
                    *o = (k * gv as f64) as f32;
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large enough for the parallel paths: against the formulas evaluated plainly in f64.
    #[test]
    fn parallel_passes_match_the_formulas() {
        let (n, c, l) = (3, 5, 2311); // 34,665 values, above PARALLEL_MIN
        let x: Vec<f32> =
            (0..n * c * l).map(|i| ((i * 7919) % 1009) as f32 / 100.0 - 5.0 + (i / l % c) as f32).collect();
        let g: Vec<f32> = (0..n * c * l).map(|i| ((i * 104_729) % 997) as f32 / 500.0 - 1.0).collect();
        let at = |b: usize, ch: usize, j: usize| (b * c + ch) * l + j;
        let shape = BatchNormShape { n, c, l };
        let (mean, var) = batch_norm_stats(&shape, &x);
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-5).sqrt()).collect();
        let (gamma, beta) = (vec![1.5f64; c], vec![-0.5f64; c]);
        let mut y = vec![0.0; x.len()];
        batch_norm_forward(&shape, &x, (&mean, &invstd), (&gamma, &beta), &mut y);
        let (mut gx, mut gw, mut gb) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        let outputs = (&mut gx[..], &mut gw[..], &mut gb[..]);
        batch_norm_backward(&shape, Statistics::Batch, (&g, &x), (&mean, &invstd, &gamma), outputs);
        let m = (n * l) as f64;
        for ch in 0..c {
            let idx: Vec<usize> = (0..n).flat_map(|b| (0..l).map(move |j| at(b, ch, j))).collect();
            let mu = idx.iter().map(|&i| x[i] as f64).sum::<f64>() / m;
            let v = idx.iter().map(|&i| (x[i] as f64 - mu).powi(2)).sum::<f64>() / m;
            assert!((mean[ch] - mu).abs() < 1e-9 && (var[ch] - v).abs() < 1e-9, "channel {ch}: stats");
            let xhat = |i: usize| (x[i] as f64 - mu) * invstd[ch];
            let (sg, sgx) = (
                idx.iter().map(|&i| g[i] as f64).sum::<f64>(),
                idx.iter().map(|&i| g[i] as f64 * xhat(i)).sum::<f64>(),
            );
            assert!(
                (gb[ch] as f64 - sg).abs() < 1e-3 && (gw[ch] as f64 - sgx).abs() < 1e-3,
                "channel {ch}: gamma/beta gradients"
            );
            for &i in &idx {
                assert!((y[i] as f64 - (xhat(i) * 1.5 - 0.5)).abs() < 1e-5, "y[{i}]");
                let want = 1.5 * invstd[ch] / m * (m * g[i] as f64 - sg - xhat(i) * sgx);
                assert!((gx[i] as f64 - want).abs() < 1e-5, "gx[{i}]");
            }
        }
    }
}
