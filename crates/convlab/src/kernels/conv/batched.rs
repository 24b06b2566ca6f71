//! Small convolutions: a block of `B` samples lowered into one GEMM.
//!
//! When one sample's GEMM is tiny (LeNet's `[16, 150]·[150, 100]`), per-call overhead and
//! packing the weight again for every sample dominate. Here the unfolded matrices of `B`
//! samples sit side by side, so each GEMM has `B·Ho·Wo` columns (for one group, `P = Ho·Wo`):
//!
//! ```text
//! forward          tmp  [Cog, B·P] = W_g [Cog, K] · col [K, B·P]          -> out[n, g] per sample
//! backward_input   dcol [K, B·P]   = W_gᵀ [K, Cog] · d [Cog, B·P]          -> col2im per sample
//! backward_weight  dW_g [Cog, K]  += d [Cog, B·P] · colᵀ [B·P, K]
//! ```
//!
//! `d` is `dout` of the block gathered into one matrix. Blocks run in parallel (serial GEMMs),
//! each with its own scratch; the weight gradient sums one partial per parallel task.

use rayon::prelude::*;

use super::im2col::{col2im_strided, im2col_strided};
use super::{Conv2dGeometry, COL_BUDGET};
use crate::kernels::gemm::{sgemm, Gemm, MatRef, Threads};

/// Largest unfolded block, in floats (1 MiB; the col matrix and the GEMM's panels stay in
/// L2). 4 MiB measured slower for LeNet-5 (train step 2.2 -> 2.9 ms) and no faster for
/// ResNet-18.
const BLOCK_BUDGET: usize = COL_BUDGET;

/// Samples per block, or 1 when the per-sample path suits the shape better: the batched path
/// runs when one sample's GEMM is narrow (`Ho·Wo` < 256 columns; with LeNet conv1's 784
/// columns, blocks measured slower than one sample at a time), at least two samples'
/// unfolded matrices fit [`BLOCK_BUDGET`], and there are at least as many
/// samples as threads. Blocks are sized so their count is a multiple of the thread count.
pub(super) fn block_size(g: &Conv2dGeometry) -> usize {
    let t = rayon::current_num_threads().max(1);
    let (p, k) = (g.ho() * g.wo(), g.k());
    let kp = k * p;
    if g.n() < 2 || g.n() < t || kp == 0 || p >= 256 {
        return 1;
    }
    let max_b = (BLOCK_BUDGET / kp).min(g.n());
    if max_b < 2 {
        return 1;
    }
    let blocks = g.n().div_ceil(max_b).div_ceil(t) * t;
    g.n().div_ceil(blocks).max(1)
}

/// `out` [N, Cout, Ho, Wo] = conv(x [N, C, H, W], weight) in blocks of `b` samples (no bias).
pub(super) fn forward(g: &Conv2dGeometry, b: usize, x: &[f32], weight: &[f32], out: &mut [f32]) {
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    out.par_chunks_mut(b * os).enumerate().for_each_init(Vec::new, |ws, (blk, out_b)| {
        let nb = out_b.len() / os;
        forward_block(g, nb, &x[blk * b * xs..(blk * b + nb) * xs], weight, out_b, ws);
    });
}

/// `x_b` [nb, C, H, W] -> `out_b` [nb, Cout, Ho·Wo]; `ws` is scratch.
fn forward_block(g: &Conv2dGeometry, nb: usize, x_b: &[f32], weight: &[f32], out_b: &mut [f32], ws: &mut Vec<f32>) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let (xs, os, cols) = (g.c_in() * hw, g.c_out() * p, nb * p);
    ws.resize(k * cols + cog * cols, 0.0);
    let (col, tmp) = ws.split_at_mut(k * cols); // col: [K, nb·P], tmp: [Cog, nb·P]
    for grp in 0..g.groups() {
        for s in 0..nb {
            let x_g = &x_b[s * xs + grp * cg * hw..s * xs + (grp + 1) * cg * hw]; // [Cg, H, W]
            im2col_strided(g, 0..g.ho(), cols, x_g, &mut col[s * p..]);
        }
        let w_g = MatRef::row_major(&weight[grp * cog * k..(grp + 1) * cog * k], k); // [Cog, K]
        sgemm(
            &Gemm { m: cog, n: cols, k, accumulate: false, threads: Threads::Serial },
            w_g,
            MatRef::row_major(col, cols),
            tmp,
        );
        for s in 0..nb {
            for co in 0..cog {
                let o = s * os + (grp * cog + co) * p;
                out_b[o..o + p].copy_from_slice(&tmp[co * cols + s * p..co * cols + (s + 1) * p]);
            }
        }
    }
}

/// Copies `dout_b` [nb, Cout, P] of group `grp` into `d` [Cog, nb·P].
fn gather(g: &Conv2dGeometry, grp: usize, nb: usize, dout_b: &[f32], d: &mut [f32]) {
    let (cog, p) = (g.c_out() / g.groups(), g.ho() * g.wo());
    let (os, cols) = (g.c_out() * p, nb * p);
    for s in 0..nb {
        for co in 0..cog {
            let o = s * os + (grp * cog + co) * p;
            d[co * cols + s * p..co * cols + (s + 1) * p].copy_from_slice(&dout_b[o..o + p]);
        }
    }
}

/// `dx` [N, C, H, W] (overwritten) from `dout` [N, Cout, Ho, Wo] in blocks of `b` samples.
pub(super) fn backward_input(g: &Conv2dGeometry, b: usize, dout: &[f32], weight: &[f32], dx: &mut [f32]) {
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    dx.par_chunks_mut(b * xs).enumerate().for_each_init(Vec::new, |ws, (blk, dx_b)| {
        let nb = dx_b.len() / xs;
        backward_input_block(g, nb, &dout[blk * b * os..(blk * b + nb) * os], weight, dx_b, ws);
    });
}

/// `dout_b` [nb, Cout, Ho·Wo] -> `dx_b` [nb, C, H, W].
fn backward_input_block(
    g: &Conv2dGeometry,
    nb: usize,
    dout_b: &[f32],
    weight: &[f32],
    dx_b: &mut [f32],
    ws: &mut Vec<f32>,
) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let (xs, cols) = (g.c_in() * hw, nb * p);
    ws.resize(cog * cols + k * cols, 0.0);
    let (d, dcol) = ws.split_at_mut(cog * cols); // d: [Cog, nb·P], dcol: [K, nb·P]
    dx_b.fill(0.0);
    for grp in 0..g.groups() {
        gather(g, grp, nb, dout_b, d);
        let w_g = MatRef::transposed(&weight[grp * cog * k..(grp + 1) * cog * k], k); // Wᵀ: [K, Cog]
        sgemm(
            &Gemm { m: k, n: cols, k: cog, accumulate: false, threads: Threads::Serial },
            w_g,
            MatRef::row_major(d, cols),
            dcol,
        );
        for s in 0..nb {
            let dx_g = &mut dx_b[s * xs + grp * cg * hw..s * xs + (grp + 1) * cg * hw]; // [Cg, H, W]
            col2im_strided(g, 0..g.ho(), cols, &dcol[s * p..], dx_g);
        }
    }
}

/// `dweight` [Cout, C/groups, kH, kW] (overwritten) in blocks of `b` samples.
pub(super) fn backward_weight(g: &Conv2dGeometry, b: usize, x: &[f32], dout: &[f32], dweight: &mut [f32]) {
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    let blocks = g.n().div_ceil(b);
    let t = rayon::current_num_threads().max(1);
    let per = blocks.div_ceil(t); // blocks per parallel task
    let partials: Vec<Vec<f32>> = (0..blocks.div_ceil(per))
        .into_par_iter()
        .map(|task| {
            let mut part = vec![0.0f32; dweight.len()]; // [Cout, C/groups, kH, kW]
            let mut ws = Vec::new();
            for blk in task * per..((task + 1) * per).min(blocks) {
                let (n0, n1) = (blk * b, ((blk + 1) * b).min(g.n()));
                backward_weight_block(g, n1 - n0, &x[n0 * xs..n1 * xs], &dout[n0 * os..n1 * os], &mut part, &mut ws);
            }
            part
        })
        .collect();
    dweight.fill(0.0);
    for part in &partials {
        dweight.iter_mut().zip(part).for_each(|(d, p)| *d += p);
    }
}

/// Accumulates the block's `d` [Cog, nb·P] · colᵀ [nb·P, K] into `dw` [Cout, K].
fn backward_weight_block(
    g: &Conv2dGeometry,
    nb: usize,
    x_b: &[f32],
    dout_b: &[f32],
    dw: &mut [f32],
    ws: &mut Vec<f32>,
) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let (xs, cols) = (g.c_in() * hw, nb * p);
    ws.resize(k * cols + cog * cols, 0.0);
    let (col, d) = ws.split_at_mut(k * cols); // col: [K, nb·P], d: [Cog, nb·P]
    for grp in 0..g.groups() {
        for s in 0..nb {
            let x_g = &x_b[s * xs + grp * cg * hw..s * xs + (grp + 1) * cg * hw]; // [Cg, H, W]
            im2col_strided(g, 0..g.ho(), cols, x_g, &mut col[s * p..]);
        }
        gather(g, grp, nb, dout_b, d);
        let dw_g = &mut dw[grp * cog * k..(grp + 1) * cog * k]; // [Cog, K]
        sgemm(
            &Gemm { m: cog, n: k, k: cols, accumulate: true, threads: Threads::Serial },
            MatRef::row_major(d, cols),
            MatRef::transposed(col, cols),
            dw_g,
        );
    }
}
