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
//! tiles at a time) and some precision: with 64 input channels of uniform data the largest
//! error is about 6e-5 of the output's RMS, where a direct f32 sum stays near 1e-6 (as with
//! cuDNN's Winograd kernels); the tests bound it by 1e-4. Tiles are processed in blocks
//! of `T` tiles (across samples) so that `V` and `M` of a block stay in L2; blocks run in
//! parallel, each with its own scratch and single-threaded GEMMs.
//!
//! The input gradient of a 3×3 stride-1 convolution is itself such a convolution (of `dout`
//! with the weight rotated by 180° and its channel axes swapped, padding `2 - p`), so
//! [`backward_input`] reuses the forward path.

mod transforms;
pub(super) mod weight;

use rayon::prelude::*;

use transforms::{input_transform, output_transform, Lanes};

use super::Conv2dGeometry;
use crate::kernels::gemm::{sgemm, Gemm, MatRef, Threads};
use crate::kernels::simd;
use crate::window::Window2d;

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
    let tiles = g.n() * g.ho().div_ceil(M) * g.wo().div_ceil(M);
    g.kh() == 3
        && g.kw() == 3
        && g.stride() == [1, 1]
        && g.dilation() == [1, 1]
        && g.groups() == 1
        && g.pad().iter().all(|&p| p <= 2)
        && g.c_in() >= 16
        && g.c_out() >= 16
        && tiles >= 4 * LANES
}

/// Tiles per block: a multiple of [`LANES`], `V` and `M` within [`BLOCK_BUDGET`], and at
/// least two blocks per thread where the batch allows.
fn block_tiles(g: &Conv2dGeometry, tiles: usize) -> usize {
    let by_cache = (BLOCK_BUDGET / (A * A * (g.c_in() + g.c_out()))).max(LANES);
    let by_threads = tiles.div_ceil(2 * rayon::current_num_threads()).max(LANES);
    (by_cache.min(by_threads).min(256) / LANES * LANES).max(MIN_BLOCK)
}

/// `out` [N, Cout, Ho, Wo] = conv(x [N, C, H, W], weight [Cout, C, 3, 3]) + bias; requires
/// [`applies`].
pub(super) fn forward(g: &Conv2dGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let u = transform_weight(g.c_out(), g.c_in(), weight); // [36, Cout, C]
    let tiles = g.n() * g.ho().div_ceil(M) * g.wo().div_ceil(M);
    let threads = rayon::current_num_threads();
    let out_ptr = SharedOut(out.as_mut_ptr(), out.len());
    // M[ξ] [Cout, t] = U[ξ] [Cout, C] · V[ξ] [C, t]
    let gemm = |v: &[f32], m_xi: &mut [f32], t: usize, xi: usize| {
        let uxi = MatRef::row_major(&u[xi * g.c_out() * g.c_in()..(xi + 1) * g.c_out() * g.c_in()], g.c_in());
        let vxi = MatRef::row_major(&v[xi * g.c_in() * t..(xi + 1) * g.c_in() * t], t);
        sgemm(&Gemm { m: g.c_out(), n: t, k: g.c_in(), accumulate: false, threads: Threads::Serial }, uxi, vxi, m_xi);
    };
    if tiles >= 2 * threads * MIN_BLOCK || threads == 1 {
        // Many tiles: blocks in parallel, each with its own scratch.
        let t = block_tiles(g, tiles);
        (0..tiles.div_ceil(t)).into_par_iter().for_each_init(Vec::new, |ws, b| {
            let (t0, nt) = (b * t, t.min(tiles - b * t));
            ws.resize(A * A * (g.c_in() + g.c_out()) * t, 0.0);
            let (v, m) = ws.split_at_mut(A * A * g.c_in() * t); // v: [36, C, t], m: [36, Cout, t]
            let v_ptr = SharedOut(v.as_mut_ptr(), v.len());
            simd::dispatch(
                #[inline(always)]
                || input_transform(g, &TileBlock { first: t0, count: nt, ld: t, channels: 0..g.c_in() }, x, v_ptr),
            );
            for (xi, m_xi) in m.chunks_mut(g.c_out() * t).enumerate() {
                gemm(v, m_xi, t, xi);
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    output_transform(
                        g,
                        &TileBlock { first: t0, count: nt, ld: t, channels: 0..g.c_out() },
                        m,
                        bias,
                        out_ptr,
                    )
                },
            );
        });
    } else {
        // Few tiles (small images or batches): one block after another, each stage split over
        // the threads (input channels, then the 36 GEMMs, then output channels).
        let t = (tiles.div_ceil(LANES) * LANES).min(256);
        let mut ws = vec![0.0f32; A * A * (g.c_in() + g.c_out()) * t];
        let (v, m) = ws.split_at_mut(A * A * g.c_in() * t); // v: [36, C, t], m: [36, Cout, t]
        let v_ptr = SharedOut(v.as_mut_ptr(), v.len());
        for t0 in (0..tiles).step_by(t) {
            let nt = t.min(tiles - t0);
            par_channel_ranges(g.c_in(), |cr| {
                simd::dispatch(
                    #[inline(always)]
                    || input_transform(g, &TileBlock { first: t0, count: nt, ld: t, channels: cr.clone() }, x, v_ptr),
                )
            });
            let v: &[f32] = v;
            m.par_chunks_mut(g.c_out() * t).enumerate().for_each(|(xi, m_xi)| gemm(v, m_xi, t, xi));
            let m: &[f32] = m;
            par_channel_ranges(g.c_out(), |or| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        output_transform(
                            g,
                            &TileBlock { first: t0, count: nt, ld: t, channels: or.clone() },
                            m,
                            bias,
                            out_ptr,
                        )
                    },
                )
            });
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
    for o in 0..g.c_out() {
        for c in 0..g.c_in() {
            for k in 0..9 {
                wt[(c * g.c_out() + o) * 9 + 8 - k] = weight[(o * g.c_in() + c) * 9 + k];
            }
        }
    }
    let p = g.pad().map(|p| 2 - p);
    let window = Window2d::new([g.ho(), g.wo()], [3, 3], [1, 1], [1, 1], p).expect("the transposed 3×3 window fits");
    let gt = Conv2dGeometry::new([g.n(), g.c_out(), g.ho(), g.wo()], [g.c_in(), g.c_out(), 3, 3], window, 1);
    debug_assert_eq!((gt.ho(), gt.wo()), (g.h(), g.w()));
    forward(&gt, dout, &wt, None, dx);
}

/// The tiles one transform call works on: tiles `first..first + count`, in transform buffers
/// whose rows hold `ld` tiles, for the channels `channels`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TileBlock {
    pub first: usize,
    pub count: usize,
    pub ld: usize,
    pub channels: std::ops::Range<usize>,
}

/// Whether the transposed problem of `g`'s input gradient also suits the Winograd path.
pub(super) fn applies_to_backward_input(g: &Conv2dGeometry) -> bool {
    applies(g) && g.n() * g.h().div_ceil(M) * g.w().div_ceil(M) >= 2 * LANES
}

/// `U` [36, Cout, C] from `weight` [Cout, C, 3, 3]: `G · w · Gᵀ` per channel pair,
/// vectorised over input channels (each output channel's `[C, 9]` block is first transposed
/// to `[9, C]`).
fn transform_weight(c_out: usize, c_in: usize, weight: &[f32]) -> Vec<f32> {
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
    let (th, tw) = (g.ho().div_ceil(M), g.wo().div_ceil(M));
    (t / (th * tw), (t / tw) % th * M, t % tw * M)
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
