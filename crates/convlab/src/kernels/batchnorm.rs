//! Batch normalization over `x: [N, C, L]` (every axis but the channel axis flattened into
//! `L`), per channel, accumulated in f64. Per-channel buffers are `[C]`.

/// Per-channel `(mean, biased variance)` of `x: [N, C, L]`.
pub fn batch_norm_stats(x: &[f32], n: usize, c: usize, l: usize) -> (Vec<f64>, Vec<f64>) {
    let count = (n * l) as f64;
    let mut mean = vec![0.0f64; c];
    let mut var = vec![0.0f64; c];
    for ch in 0..c {
        let lanes = || (0..n).flat_map(move |b| x[(b * c + ch) * l..(b * c + ch + 1) * l].iter());
        let m = lanes().map(|&v| v as f64).sum::<f64>() / count;
        mean[ch] = m;
        var[ch] = lanes().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / count;
    }
    (mean, var)
}

/// `y = (x − mean)·invstd·gamma + beta`. `y`, `x`: `[N, C, L]`; `mean`, `invstd`, `gamma`,
/// `beta`: `[C]`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward(y: &mut [f32], x: &[f32], mean: &[f64], invstd: &[f64], gamma: &[f64], beta: &[f64], n: usize, c: usize, l: usize) {
    for bi in 0..n {
        for ch in 0..c {
            let (scale, shift) = (invstd[ch] * gamma[ch], beta[ch]);
            let o = (bi * c + ch) * l;
            for j in o..o + l {
                y[j] = ((x[j] as f64 - mean[ch]) * scale + shift) as f32;
            }
        }
    }
}

/// Gradients of [`batch_norm_forward`]: `gx: [N, C, L]`, `gw` (of gamma) and `gb` (of beta):
/// `[C]`, from `g: [N, C, L]`. With `train` the statistics were the batch's own, so `gx`
/// also flows through them: `gx = γ·invstd/M · (M·g − Σg − x̂·Σ(g·x̂))` with `M = N·L` and
/// `x̂ = (x − mean)·invstd`; otherwise `gx = γ·invstd·g`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    gx: &mut [f32],
    gw: &mut [f32],
    gb: &mut [f32],
    g: &[f32],
    x: &[f32],
    mean: &[f64],
    invstd: &[f64],
    gamma: &[f64],
    train: bool,
    n: usize,
    c: usize,
    l: usize,
) {
    let m = (n * l) as f64;
    for ch in 0..c {
        let lane = |bi: usize| (bi * c + ch) * l..(bi * c + ch + 1) * l;
        // Σ g and Σ g·x̂ over the channel
        let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
        for bi in 0..n {
            for j in lane(bi) {
                sum_g += g[j] as f64;
                sum_gx += g[j] as f64 * (x[j] as f64 - mean[ch]) * invstd[ch];
            }
        }
        gw[ch] = sum_gx as f32;
        gb[ch] = sum_g as f32;
        let k = gamma[ch] * invstd[ch];
        for bi in 0..n {
            for j in lane(bi) {
                gx[j] = if train {
                    let xhat = (x[j] as f64 - mean[ch]) * invstd[ch];
                    (k / m * (m * g[j] as f64 - sum_g - xhat * sum_gx)) as f32
                } else {
                    (k * g[j] as f64) as f32
                };
            }
        }
    }
}
