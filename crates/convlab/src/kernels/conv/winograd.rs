//! 3×3 stride-1 convolutions by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2016).
//!
//! The output is cut into 4×4 tiles; tile `t` reads a 6×6 input patch `d` (zeros outside the
//! image). With the constant matrices `Bᵀ` (6×6), `G` (6×3) and `Aᵀ` (4×6) below, for one
//! input channel `c` and output channel `o`:
//!
//! ```text
//! U[ξ, o, c] = (G · w[o, c] · Gᵀ)[ξ]          weight transform, ξ ∈ 6×6, once per call
//! V[ξ, c, t] = (Bᵀ · d[c, t] · B)[ξ]           input transform
//! M[ξ, o, t] = Σ_c U[ξ, o, c] · V[ξ, c, t]     36 GEMMs [Cout, C] · [C, T]
//! y[o, t]    = Aᵀ · M[·, o, t] · A  (+ bias)   output transform, 4×4 outputs
//! ```
//!
//! The GEMMs do 36 multiplications per 16 outputs and input channel instead of 144: 4× fewer
//! than the direct / im2col form, paid for with the transforms (cheap, vectorised over 16
//! tiles at a time) and a small loss of precision (relative error ~1e-6 instead of ~1e-7 for
//! f32 with unit-scale data; tested against the im2col path). Tiles are processed in blocks
//! of `T` tiles (across samples) so that `V` and `M` of a block stay in L2; blocks run in
//! parallel, each with its own scratch and single-threaded GEMMs.
//!
//! The input gradient of a 3×3 stride-1 convolution is itself such a convolution (of `dout`
//! with the weight rotated by 180° and its channel axes swapped, padding `2 - p`), so
//! [`backward_input`] reuses the forward path.

use rayon::prelude::*;

use super::Conv2dGeometry;
use crate::kernels::gemm::{sgemm, MatRef};
use crate::kernels::simd;

/// Output tile side (`m`) and input patch side (`α = m + 2`).
pub(super) const M: usize = 4;
pub(super) const A: usize = 6;
/// Fewest tiles per block when blocks run in parallel: below that, the GEMMs re-read the
/// transformed weight too often for too little work.
const MIN_BLOCK: usize = 64;
/// Tiles transformed together (one SIMD lane each).
pub(super) const LANES: usize = 16;
/// Floats of `V` and `M` per block: 2 MiB, about one core's L2.
const BLOCK_BUDGET: usize = 1 << 19;

#[rustfmt::skip]
#[cfg_attr(not(test), allow(dead_code))] // the explicit formulas in `bt6`; checked against it in the tests
const BT: [[f32; A]; A] = [
    [4.0,  0.0, -5.0,  0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0,  1.0, 1.0, 0.0],
    [0.0,  4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0,  2.0, 1.0, 0.0],
    [0.0,  2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0,  4.0,  0.0, -5.0, 0.0, 1.0],
];
#[rustfmt::skip]
pub(super) const G: [[f32; 3]; A] = [
    [ 1.0 / 4.0,   0.0,         0.0],
    [-1.0 / 6.0,  -1.0 / 6.0,  -1.0 / 6.0],
    [-1.0 / 6.0,   1.0 / 6.0,  -1.0 / 6.0],
    [ 1.0 / 24.0,  1.0 / 12.0,  1.0 / 6.0],
    [ 1.0 / 24.0, -1.0 / 12.0,  1.0 / 6.0],
    [ 0.0,         0.0,         1.0],
];
#[rustfmt::skip]
#[cfg_attr(not(test), allow(dead_code))] // the explicit formulas in `at6`; checked against it in the tests
const AT: [[f32; A]; M] = [
    [1.0, 1.0,  1.0, 1.0,  1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0,  1.0, 4.0,  4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Whether the Winograd path suits `g`: a 3×3 kernel, stride 1, no dilation, one group,
/// padding at most 2 per side (so the input gradient is one too), enough channels for the
/// transforms to pay off and enough tiles to fill the GEMMs.
pub(super) fn applies(g: &Conv2dGeometry) -> bool {
    let tiles = g.n * g.ho.div_ceil(M) * g.wo.div_ceil(M);
    g.kh == 3 && g.kw == 3 && g.stride == [1, 1] && g.dilation == [1, 1] && g.groups == 1 && g.pad.iter().all(|&p| p <= 2) && g.c_in >= 16 && g.c_out >= 16 && tiles >= 4 * LANES
}

/// Tiles per block: a multiple of [`LANES`], `V` and `M` within [`BLOCK_BUDGET`], and at
/// least two blocks per thread where the batch allows.
fn block_tiles(g: &Conv2dGeometry, tiles: usize) -> usize {
    let by_cache = (BLOCK_BUDGET / (A * A * (g.c_in + g.c_out))).max(LANES);
    let by_threads = tiles.div_ceil(2 * rayon::current_num_threads()).max(LANES);
    (by_cache.min(by_threads).min(256) / LANES * LANES).max(MIN_BLOCK)
}

/// `out` [N, Cout, Ho, Wo] = conv(x [N, C, H, W], weight [Cout, C, 3, 3]) + bias; requires
/// [`applies`].
pub(super) fn forward(g: &Conv2dGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let u = transform_weight(weight, g.c_out, g.c_in); // [36, Cout, C]
    let tiles = g.n * g.ho.div_ceil(M) * g.wo.div_ceil(M);
    let threads = rayon::current_num_threads();
    let out_ptr = SharedOut(out.as_mut_ptr(), out.len());
    // M[ξ] [Cout, t] = U[ξ] [Cout, C] · V[ξ] [C, t]
    let gemm = |v: &[f32], m_xi: &mut [f32], t: usize, xi: usize| {
        let uxi = MatRef::row_major(&u[xi * g.c_out * g.c_in..(xi + 1) * g.c_out * g.c_in], g.c_in);
        let vxi = MatRef::row_major(&v[xi * g.c_in * t..(xi + 1) * g.c_in * t], t);
        sgemm(g.c_out, t, g.c_in, uxi, vxi, m_xi, false, false);
    };
    if tiles >= 2 * threads * MIN_BLOCK || threads == 1 {
        // Many tiles: blocks in parallel, each with its own scratch.
        let t = block_tiles(g, tiles);
        (0..tiles.div_ceil(t)).into_par_iter().for_each_init(Vec::new, |ws, b| {
            let (t0, nt) = (b * t, t.min(tiles - b * t));
            ws.resize(A * A * (g.c_in + g.c_out) * t, 0.0);
            let (v, m) = ws.split_at_mut(A * A * g.c_in * t); // v: [36, C, t], m: [36, Cout, t]
            let v_ptr = SharedOut(v.as_mut_ptr(), v.len());
            simd::dispatch(#[inline(always)] || input_transform(g, x, t0, nt, t, 0..g.c_in, v_ptr));
            for (xi, m_xi) in m.chunks_mut(g.c_out * t).enumerate() {
                gemm(v, m_xi, t, xi);
            }
            simd::dispatch(#[inline(always)] || output_transform(g, m, t0, nt, t, 0..g.c_out, bias, out_ptr));
        });
    } else {
        // Few tiles (small images or batches): one block after another, each stage split over
        // the threads (input channels, then the 36 GEMMs, then output channels).
        let t = (tiles.div_ceil(LANES) * LANES).min(256);
        let mut ws = vec![0.0f32; A * A * (g.c_in + g.c_out) * t];
        let (v, m) = ws.split_at_mut(A * A * g.c_in * t); // v: [36, C, t], m: [36, Cout, t]
        let v_ptr = SharedOut(v.as_mut_ptr(), v.len());
        for t0 in (0..tiles).step_by(t) {
            let nt = t.min(tiles - t0);
            par_channel_ranges(g.c_in, |cr| simd::dispatch(#[inline(always)] || input_transform(g, x, t0, nt, t, cr, v_ptr)));
            let v: &[f32] = v;
            m.par_chunks_mut(g.c_out * t).enumerate().for_each(|(xi, m_xi)| gemm(v, m_xi, t, xi));
            let m: &[f32] = m;
            par_channel_ranges(g.c_out, |or| simd::dispatch(#[inline(always)] || output_transform(g, m, t0, nt, t, or, bias, out_ptr)));
        }
    }
}

/// Runs `f` on `0..c` cut into about two ranges per thread, the ranges in parallel (the
/// transforms of a single block, split by channel).
pub(super) fn par_channel_ranges(c: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let per = c.div_ceil(2 * rayon::current_num_threads()).max(1);
    (0..c.div_ceil(per)).into_par_iter().for_each(|k| f(k * per..((k + 1) * per).min(c)));
}

/// `dx` [N, C, H, W] = input gradient of a convolution that [`applies`], from `dout`
/// [N, Cout, Ho, Wo]: the forward path with the rotated, transposed weight and padding `2 - p`.
pub(super) fn backward_input(g: &Conv2dGeometry, dout: &[f32], weight: &[f32], dx: &mut [f32]) {
    let mut wt = vec![0.0f32; weight.len()]; // [C, Cout, 3, 3]
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for k in 0..9 {
                wt[(c * g.c_out + o) * 9 + 8 - k] = weight[(o * g.c_in + c) * 9 + k];
            }
        }
    }
    let p = g.pad.map(|p| 2 - p);
    let gt = Conv2dGeometry::new([g.n, g.c_out, g.ho, g.wo], [g.c_in, g.c_out, 3, 3], [1, 1], p, [1, 1], 1);
    debug_assert_eq!((gt.ho, gt.wo), (g.h, g.w));
    forward(&gt, dout, &wt, None, dx);
}

/// Whether the transposed problem of `g`'s input gradient also suits the Winograd path.
pub(super) fn applies_to_backward_input(g: &Conv2dGeometry) -> bool {
    applies(g) && g.n * g.h.div_ceil(M) * g.w.div_ceil(M) >= 2 * LANES
}

/// `U` [36, Cout, C] from `weight` [Cout, C, 3, 3]: `G · w · Gᵀ` per channel pair,
/// vectorised over input channels (each output channel's `[C, 9]` block is first transposed
/// to `[9, C]`).
fn transform_weight(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; A * A * c_out * c_in];
    let u_ptr = SharedOut(u.as_mut_ptr(), u.len());
    (0..c_out).into_par_iter().for_each_init(Vec::new, |wt, o| {
        simd::dispatch(
            #[inline(always)]
            || {
                let w = &weight[o * c_in * 9..(o + 1) * c_in * 9]; // [C, 9]
                wt.resize(9 * c_in, 0.0);
                for c in 0..c_in {
                    for k in 0..9 {
                        wt[k * c_in + c] = w[c * 9 + k]; // [9, C]
                    }
                }
                let tap = |k: usize| &wt[k * c_in..(k + 1) * c_in];
                let mut gw = vec![0.0f32; A * 3 * c_in]; // G · w: [6, 3, C]
                for (i, gi) in G.iter().enumerate() {
                    for j in 0..3 {
                        let dst = &mut gw[(i * 3 + j) * c_in..(i * 3 + j + 1) * c_in];
                        for (k, &gk) in gi.iter().enumerate() {
                            if gk != 0.0 {
                                for (d, &v) in dst.iter_mut().zip(tap(k * 3 + j)) {
                                    *d += gk * v;
                                }
                            }
                        }
                    }
                }
                let mut row = vec![0.0f32; c_in];
                for i in 0..A {
                    for (j, gj) in G.iter().enumerate() {
                        row.fill(0.0);
                        for (k, &gk) in gj.iter().enumerate() {
                            if gk != 0.0 {
                                for (d, &v) in row.iter_mut().zip(&gw[(i * 3 + k) * c_in..(i * 3 + k + 1) * c_in]) {
                                    *d += gk * v;
                                }
                            }
                        }
                        let at = ((i * A + j) * c_out + o) * c_in;
                        // SAFETY: each output channel o writes only its own rows.
                        unsafe { u_ptr.write_slice_unchecked(at, &row) };
                    }
                }
            },
        )
    });
    u
}

/// Sample, tile row and tile column of tile index `t`.
#[inline(always)]
pub(super) fn tile_origin(g: &Conv2dGeometry, t: usize) -> (usize, usize, usize) {
    let (th, tw) = (g.ho.div_ceil(M), g.wo.div_ceil(M));
    (t / (th * tw), (t / tw) % th * M, t % tw * M)
}

/// One value per lane (tile).
pub(super) type Lanes = [f32; LANES];

/// `Bᵀ d` along one axis: six lane vectors in, six out.
#[inline(always)]
fn bt6(d: [&Lanes; A], r: &mut [Lanes; A]) {
    for l in 0..LANES {
        let (d0, d1, d2, d3, d4, d5) = (d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]);
        r[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        r[1][l] = -4.0 * (d1 + d2) + d3 + d4;
        r[2][l] = 4.0 * (d1 - d2) - d3 + d4;
        r[3][l] = 2.0 * (d3 - d1) - d2 + d4;
        r[4][l] = 2.0 * (d1 - d3) - d2 + d4;
        r[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
}

/// `Aᵀ m` along one axis: six lane vectors in, four out (each starting from `init`).
#[inline(always)]
fn at6(m: [&Lanes; A], init: f32, y: &mut [Lanes; M]) {
    for l in 0..LANES {
        let (m0, m1, m2, m3, m4, m5) = (m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]);
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        y[0][l] = init + m0 + s12 + s34;
        y[1][l] = init + d12 + 2.0 * d34;
        y[2][l] = init + s12 + 4.0 * s34;
        y[3][l] = init + d12 + 8.0 * d34 + m5;
    }
}

/// `v` [36, C, ldt]: `Bᵀ d B` of tiles `t0..t0+nt` for every input channel (lanes past `nt`
/// in the last lane group are zeros).
#[inline(always)]
pub(super) fn input_transform(g: &Conv2dGeometry, x: &[f32], t0: usize, nt: usize, ldt: usize, channels: std::ops::Range<usize>, v: SharedOut) {
    // A local copy: stores through the raw output pointer cannot alias it, so its fields stay
    // in registers.
    let g = &{ *g };
    let hw = g.h * g.w;
    // Scratch, fully rewritten for every channel (declared once: no per-channel zeroing).
    let mut d = [[[0.0f32; LANES]; A]; A]; // patches [6, 6, lanes]
    let mut bd = [[[0.0f32; LANES]; A]; A]; // Bᵀ d, [j][i][lanes]
    let mut r = [[0.0f32; LANES]; A]; // one row of Bᵀ d B
    let mut padded = [[[0.0f32; ROW]; A]; LANES]; // zero-padded patches of border lanes
    for l0 in (0..nt).step_by(LANES) {
        let lanes = LANES.min(nt - l0);
        // Per lane: the patch's first row and column (possibly outside the image) and the
        // offset of its sample; lanes past `nt` get an origin far outside (all zeros).
        let (mut y0, mut x0, mut po) = ([-(2 * A as isize); LANES], [0isize; LANES], [0isize; LANES]);
        for l in 0..lanes {
            let (n, oy, ox) = tile_origin(g, t0 + l0 + l);
            (y0[l], x0[l], po[l]) = (oy as isize - g.pad[0] as isize, ox as isize - g.pad[2] as isize, (n * g.c_in * hw) as isize);
        }
        // Lanes whose patch lies wholly inside the image (and can be read as rows of 8 floats
        // without leaving `x`) are read in place; the others from a zero-padded copy.
        let inside: [bool; LANES] = std::array::from_fn(|l| {
            y0[l] >= 0 && x0[l] >= 0 && y0[l] + A as isize <= g.h as isize && x0[l] + A as isize <= g.w as isize && po[l] as usize + (g.c_in - 1) * hw + (y0[l] as usize + A - 1) * g.w + x0[l] as usize + ROW <= x.len()
        });
        for c in channels.clone() {
            let mut rows = [std::ptr::null::<f32>(); LANES]; // first patch row of each lane
            let mut stride = [ROW; LANES]; // floats between its rows
            for l in 0..LANES {
                let plane = po[l] as usize + c * hw; // channel c of lane l's sample
                if inside[l] {
                    rows[l] = x.as_ptr().wrapping_add(plane + y0[l] as usize * g.w + x0[l] as usize);
                    stride[l] = g.w;
                    continue;
                }
                let pad = &mut padded[l];
                *pad = [[0.0; ROW]; A];
                if l < lanes {
                    for (i, prow) in pad.iter_mut().enumerate() {
                        let y = y0[l] + i as isize;
                        if y < 0 || y >= g.h as isize {
                            continue;
                        }
                        for (j, cell) in prow.iter_mut().enumerate().take(A) {
                            let xx = x0[l] + j as isize;
                            if xx >= 0 && xx < g.w as isize {
                                *cell = x[plane + y as usize * g.w + xx as usize];
                            }
                        }
                    }
                }
                rows[l] = pad.as_ptr().cast();
            }
            // SAFETY: every lane's pointer addresses 6 rows of at least 8 readable floats
            // `stride` apart: inside `x` (checked in `inside`) or in `padded`.
            unsafe { gather_rows(&rows, &stride, &mut d) };
            // Columns: bd[·][j] = Bᵀ d[·][j]; rows: v[i][·] = bd[i][·] B.
            for (j, out) in bd.iter_mut().enumerate() {
                bt6([&d[0][j], &d[1][j], &d[2][j], &d[3][j], &d[4][j], &d[5][j]], out);
            }
            for i in 0..A {
                bt6([&bd[0][i], &bd[1][i], &bd[2][i], &bd[3][i], &bd[4][i], &bd[5][i]], &mut r);
                for (j, rj) in r.iter().enumerate() {
                    let at = ((i * A + j) * g.c_in + c) * ldt + l0;
                    assert!(at + LANES <= v.1, "winograd: transformed input out of bounds");
                    for (l, &val) in rj.iter().enumerate() {
                        // SAFETY: in bounds (asserted); each call writes only its channels.
                        // (Columns past `nt` hold zeros or stale values; GEMM columns are
                        // independent and the output transform skips them.)
                        unsafe { v.write_unchecked(at + l, val) };
                    }
                }
            }
        }
    }
}

/// Floats read per patch row (the 6 of the patch and 2 more, unused).
const ROW: usize = 8;

/// `d[i][j][l]` = element `j` of row `i` of lane `l`'s patch, row `i` starting at
/// `rows[l] + i·stride[l]`.
///
/// # Safety
/// For every lane, `rows[l] + i·stride[l] .. + 8` must be readable for `i < 6`.
#[inline(always)]
unsafe fn gather_rows(rows: &[*const f32; LANES], stride: &[usize; LANES], d: &mut [[[f32; LANES]; A]; A]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the caller guarantees the reads.
            unsafe { gather_rows_avx2(rows, stride, d) };
            return;
        }
    }
    for (i, di) in d.iter_mut().enumerate() {
        for (j, cell) in di.iter_mut().enumerate() {
            for l in 0..LANES {
                // SAFETY: guaranteed by the caller.
                cell[l] = unsafe { *rows[l].add(i * stride[l] + j) };
            }
        }
    }
}

/// [`gather_rows`] with 8×8 register transposes: each patch row is one 8-float load, and
/// eight lanes' rows transpose into eight column vectors (six kept).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_rows_avx2(rows: &[*const f32; LANES], stride: &[usize; LANES], d: &mut [[[f32; LANES]; A]; A]) {
    use std::arch::x86_64::*;
    for (i, di) in d.iter_mut().enumerate() {
        for half in 0..LANES / 8 {
            // SAFETY: the caller guarantees 8 readable floats at each row start.
            let r: [__m256; 8] = std::array::from_fn(|k| unsafe { _mm256_loadu_ps(rows[half * 8 + k].add(i * stride[half * 8 + k])) });
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            // Column j of the eight rows (j = 6, 7 are not part of the patch).
            let cols = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
            ];
            for (j, col) in cols.into_iter().enumerate() {
                // SAFETY: d[i][j] has 16 floats; this writes 8 of them.
                unsafe { _mm256_storeu_ps(di[j].as_mut_ptr().add(half * 8), col) };
            }
        }
    }
}

/// Writes `Aᵀ M A` (+ bias) of tiles `t0..t0+nt` from `m` [36, Cout, ldt] into `out`
/// [N, Cout, Ho, Wo], dropping outputs past the image's edge.
#[inline(always)]
fn output_transform(g: &Conv2dGeometry, m: &[f32], t0: usize, nt: usize, ldt: usize, channels: std::ops::Range<usize>, bias: Option<&[f32]>, out: SharedOut) {
    // A local copy: stores through the raw output pointer cannot alias it, so its fields stay
    // in registers.
    let g = &{ *g };
    let p = g.ho * g.wo;
    let zero = [0.0f32; LANES];
    // Scratch, fully rewritten for every channel.
    let mut am = [[[0.0f32; LANES]; M]; A]; // Aᵀ M, [j][i][lanes]
    let mut y = [[0.0f32; LANES]; M]; // row i of the output tile: [4 columns, lanes]
    for l0 in (0..nt).step_by(LANES) {
        let lanes = LANES.min(nt - l0);
        let origins: [(usize, usize, usize); LANES] = std::array::from_fn(|l| tile_origin(g, t0 + l0 + l.min(lanes - 1)));
        // Whether all 16 tiles lie wholly inside the output; then `rows[l]` is the offset of
        // lane l's tile (channel 0, its first row).
        let full = lanes == LANES && origins.iter().all(|&(_, oy, ox)| oy + M <= g.ho && ox + M <= g.wo);
        let rows: [usize; LANES] = std::array::from_fn(|l| {
            let (n, oy, ox) = origins[l];
            n * g.c_out * p + oy * g.wo + ox
        });
        if full {
            assert!(rows.iter().all(|&r| r + (g.c_out - 1) * p + (M - 1) * g.wo + M <= out.1), "winograd: tile outside the output");
        }
        for o in channels.clone() {
            let b0 = bias.map_or(0.0, |b| b[o]);
            let lane = |xi: usize| -> &Lanes {
                let src = &m[(xi * g.c_out + o) * ldt + l0..];
                if src.len() >= LANES {
                    src[..LANES].try_into().expect("16 lanes")
                } else {
                    &zero
                }
            };
            // Columns: am[j][·] = Aᵀ M[·][j]; rows: y[i][·] = am[·][i] A.
            for (j, out) in am.iter_mut().enumerate() {
                at6([lane(j), lane(A + j), lane(2 * A + j), lane(3 * A + j), lane(4 * A + j), lane(5 * A + j)], 0.0, out);
            }
            for i in 0..M {
                at6([&am[0][i], &am[1][i], &am[2][i], &am[3][i], &am[4][i], &am[5][i]], b0, &mut y);
                if full {
                    let at: [usize; LANES] = std::array::from_fn(|l| rows[l] + o * p + i * g.wo);
                    // SAFETY: every lane's 4×4 tile lies inside the output (`full`, asserted
                    // above), and this block alone writes it.
                    unsafe { scatter_rows(&y, &at, out) };
                    continue;
                }
                for (l, &(n, oy, ox)) in origins.iter().enumerate().take(lanes) {
                    if oy + i >= g.ho {
                        continue;
                    }
                    let row = (n * g.c_out + o) * p + (oy + i) * g.wo + ox;
                    for (j, yj) in y.iter().enumerate().take(M.min(g.wo - ox)) {
                        out.write(row + j, yj[l]);
                    }
                }
            }
        }
    }
}

/// Writes row `i` of every lane's output tile: `y[j][l]` to `out[at[l] + j]`, `j < 4`.
///
/// # Safety
/// `at[l] + 4 <= out.1` for every lane, and no other thread writes those elements.
#[inline(always)]
unsafe fn scatter_rows(y: &[Lanes; M], at: &[usize; LANES], out: SharedOut) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; the caller guarantees the writes.
            unsafe { scatter_rows_avx2(y, at, out) };
            return;
        }
    }
    for (j, yj) in y.iter().enumerate() {
        for l in 0..LANES {
            // SAFETY: guaranteed by the caller.
            unsafe { out.write_unchecked(at[l] + j, yj[l]) };
        }
    }
}

/// [`scatter_rows`] with a 4×8 register transpose: each lane's four values become one
/// 128-bit store.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scatter_rows_avx2(y: &[Lanes; M], at: &[usize; LANES], out: SharedOut) {
    use std::arch::x86_64::*;
    for half in 0..LANES / 8 {
        // SAFETY: each y[j] has 16 floats; this reads 8 of them.
        let [y0, y1, y2, y3] = std::array::from_fn(|j| unsafe { _mm256_loadu_ps(y[j].as_ptr().add(half * 8)) });
        let (t0, t1) = (_mm256_unpacklo_ps(y0, y1), _mm256_unpackhi_ps(y0, y1));
        let (t2, t3) = (_mm256_unpacklo_ps(y2, y3), _mm256_unpackhi_ps(y2, y3));
        let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
        let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
        // u0 holds lanes 0 and 4 (four values each), u1 lanes 1 and 5, u2 lanes 2 and 6, u3 3 and 7.
        for (k, u) in [u0, u1, u2, u3].into_iter().enumerate() {
            let (lo, hi) = (half * 8 + k, half * 8 + k + 4);
            // SAFETY: the caller guarantees at[l] + 4 <= out.1 and exclusive access.
            unsafe {
                _mm_storeu_ps(out.0.add(at[lo]), _mm256_castps256_ps128(u));
                _mm_storeu_ps(out.0.add(at[hi]), _mm256_extractf128_ps::<1>(u));
            }
        }
    }
}

/// The output buffer shared by the parallel blocks: each block writes only the pixels of its
/// own tiles, through [`SharedOut::write`].
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub(super) *mut f32, pub(super) usize);
// SAFETY: the pointer comes from a `&mut [f32]` borrowed for the whole parallel section, and
// writers touch disjoint elements (tiles do not overlap).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Writes `src` at `i..i + src.len()` (bounds asserted).
    ///
    /// # Safety
    /// No other thread may access those elements meanwhile.
    #[inline(always)]
    pub(super) unsafe fn write_slice_unchecked(self, i: usize, src: &[f32]) {
        assert!(i + src.len() <= self.1, "winograd: write of {} values at {i} out of {}", src.len(), self.1);
        // SAFETY: in bounds (asserted); exclusive by the caller's guarantee.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.0.add(i), src.len()) }
    }

    /// # Safety
    /// `i` must be in bounds, and no other thread may access element `i` meanwhile.
    #[inline(always)]
    pub(super) unsafe fn write_unchecked(self, i: usize, v: f32) {
        // SAFETY: the caller guarantees the bound; no other block writes element `i`.
        unsafe { self.0.add(i).write(v) }
    }

    fn write(self, i: usize, v: f32) {
        assert!(i < self.1, "winograd: output index {i} out of {}", self.1);
        // SAFETY: in bounds (checked above); no other block writes element `i`.
        unsafe { self.0.add(i).write(v) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The explicit formulas of `bt6` / `at6` are the matrices `Bᵀ` / `Aᵀ`.
    #[test]
    fn transform_formulas_match_the_matrices() {
        let d: [Lanes; A] = std::array::from_fn(|k| std::array::from_fn(|l| ((k * 7 + l * 3) % 11) as f32 - 5.0));
        let mut r = [[0.0; LANES]; A];
        bt6([&d[0], &d[1], &d[2], &d[3], &d[4], &d[5]], &mut r);
        let mut y = [[0.0; LANES]; M];
        at6([&d[0], &d[1], &d[2], &d[3], &d[4], &d[5]], 0.5, &mut y);
        for l in 0..LANES {
            for i in 0..A {
                assert_eq!(r[i][l], (0..A).map(|k| BT[i][k] * d[k][l]).sum::<f32>());
            }
            for i in 0..M {
                assert_eq!(y[i][l], 0.5 + (0..A).map(|k| AT[i][k] * d[k][l]).sum::<f32>());
            }
        }
    }
}
