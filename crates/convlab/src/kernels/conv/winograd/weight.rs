//! Weight gradient of 3×3 stride-1 convolutions by Winograd F(4×4, 3×3) (see `mod.rs`).
//!
//! The forward pass computes, per 4×4 output tile `t`, `y = Aᵀ · (Σ_c U[·, o, c] ⊙ V[·, c, t]) · A`
//! with `U = G·w·Gᵀ`. Its adjoint, with `dy` the tile's output gradient (zero past the edge):
//!
//! ```text
//! dM[ξ, o, t] = (A · dy[o, t] · Aᵀ)[ξ]                 output-gradient transform, 6×6
//! dU[ξ, o, c] = Σ_t dM[ξ, o, t] · V[ξ, c, t]          36 GEMMs [Cout, T] · [T, C], over all tiles
//! dw[o, c]    = Gᵀ · dU[·, o, c] · G                   3×3
//! ```
//!
//! The GEMMs do 36 multiply-adds per tile and channel pair instead of 144. Tiles are taken in
//! chunks (all samples together); for each chunk the input and output-gradient transforms
//! run in parallel over channels, then the 36 GEMMs in parallel over `ξ`, each accumulating
//! into its own slice of `dU`, so no partial sums are needed.

use rayon::prelude::*;

use super::{input_transform, par_channel_ranges, tile_origin, Lanes, SharedOut, TileBlock, A, G, LANES, M};
use crate::kernels::conv::Conv2dGeometry;
use crate::kernels::gemm::{sgemm, Gemm, MatRef, Threads};
use crate::kernels::simd;

/// Floats of `V` and `dM` per chunk of tiles (16 MiB).
const CHUNK_BUDGET: usize = 1 << 22;

/// Whether the Winograd weight gradient suits `g`: where the forward path applies and the
/// channels are many enough that the GEMMs, not the transforms, dominate (64 and more
/// measured faster than the im2col form: `conv2d_bwd/resnet_s1` 37 -> 30 ms).
pub(in crate::kernels::conv) fn applies(g: &Conv2dGeometry) -> bool {
    super::applies(g) && g.c_in().min(g.c_out()) >= MIN_CHANNELS
}

/// Fewest input and output channels for [`applies`].
const MIN_CHANNELS: usize = 64;

/// `dweight` [Cout, C, 3, 3] = weight gradient of a convolution that `winograd::applies` to,
/// from `x` [N, C, H, W] and `dout` [N, Cout, Ho, Wo] (overwritten).
pub(in crate::kernels::conv) fn backward_weight(g: &Conv2dGeometry, x: &[f32], dout: &[f32], dweight: &mut [f32]) {
    let tiles = g.n() * g.ho().div_ceil(M) * g.wo().div_ceil(M);
    let t = (CHUNK_BUDGET / (A * A * (g.c_in() + g.c_out()))).clamp(64, 2048).min(tiles.div_ceil(LANES) * LANES)
        / LANES
        * LANES;
    let mut du = vec![0.0f32; A * A * g.c_out() * g.c_in()]; // [36, Cout, C]
    let mut ws = vec![0.0f32; A * A * (g.c_in() + g.c_out()) * t];
    let (v, dm) = ws.split_at_mut(A * A * g.c_in() * t); // v: [36, C, t], dm: [36, Cout, t]
    let (v_ptr, dm_ptr) = (SharedOut(v.as_mut_ptr(), v.len()), SharedOut(dm.as_mut_ptr(), dm.len()));
    for t0 in (0..tiles).step_by(t) {
        let nt = t.min(tiles - t0);
        par_channel_ranges(g.c_in(), |cr| {
            simd::dispatch(
                #[inline(always)]
                || input_transform(g, &TileBlock { first: t0, count: nt, ld: t, channels: cr.clone() }, x, v_ptr),
            )
        });
        par_channel_ranges(g.c_out(), |or| {
            simd::dispatch(
                #[inline(always)]
                || dout_transform(g, &TileBlock { first: t0, count: nt, ld: t, channels: or.clone() }, dout, dm_ptr),
            )
        });
        // Columns up to the end of the last lane group: past `nt` both factors hold zeros.
        let kk = nt.div_ceil(LANES) * LANES;
        let (v, dm): (&[f32], &[f32]) = (v, dm);
        du.par_chunks_mut(g.c_out() * g.c_in()).enumerate().for_each(|(xi, du_xi)| {
            let dmxi = MatRef::row_major(&dm[xi * g.c_out() * t..(xi + 1) * g.c_out() * t], t); // [Cout, kk] of [Cout, t]
            let vxi_t = MatRef::transposed(&v[xi * g.c_in() * t..(xi + 1) * g.c_in() * t], t); // V[ξ]ᵀ: [kk, C]
            sgemm(
                &Gemm { m: g.c_out(), n: g.c_in(), k: kk, accumulate: true, threads: Threads::Serial },
                dmxi,
                vxi_t,
                du_xi,
            );
        });
    }
    // dw[o, c] = Gᵀ · dU[·, o, c] · G, vectorised over c: gu [3, 6, C], dwt [9, C] per o.
    let du = &du;
    dweight.par_chunks_mut(g.c_in() * 9).enumerate().for_each_init(Vec::new, |buf, (o, dw_o)| {
        simd::dispatch(
            #[inline(always)]
            || {
                let c_in = g.c_in();
                buf.resize(27 * c_in, 0.0);
                let (gu, dwt) = buf.split_at_mut(18 * c_in);
                gu.fill(0.0);
                for i in 0..A {
                    for j in 0..A {
                        let src = &du[((i * A + j) * g.c_out() + o) * c_in..][..c_in];
                        for a in 0..3 {
                            let ga = G[i][a];
                            if ga != 0.0 {
                                for (d, &v) in gu[(a * A + j) * c_in..][..c_in].iter_mut().zip(src) {
                                    *d += ga * v;
                                }
                            }
                        }
                    }
                }
                dwt.fill(0.0);
                for a in 0..3 {
                    for j in 0..A {
                        let src = &gu[(a * A + j) * c_in..][..c_in];
                        for b in 0..3 {
                            let gb = G[j][b];
                            if gb != 0.0 {
                                for (d, &v) in dwt[(a * 3 + b) * c_in..][..c_in].iter_mut().zip(src) {
                                    *d += gb * v;
                                }
                            }
                        }
                    }
                }
                for (k, col) in dwt.chunks_exact(c_in).enumerate() {
                    for (c, &v) in col.iter().enumerate() {
                        dw_o[c * 9 + k] = v;
                    }
                }
            },
        )
    });
}

/// `A · y` along one axis (`A` = `Aᵀ` transposed, 6×4): four lane vectors in, six out.
#[inline(always)]
fn a6(y: [&Lanes; M], r: &mut [Lanes; A]) {
    for l in 0..LANES {
        let (y0, y1, y2, y3) = (y[0][l], y[1][l], y[2][l], y[3][l]);
        let (s02, s13) = (y0 + y2, y1 + y3);
        let (q02, q13) = (y0 + 4.0 * y2, 2.0 * y1 + 8.0 * y3);
        r[0][l] = y0;
        r[1][l] = s02 + s13;
        r[2][l] = s02 - s13;
        r[3][l] = q02 + q13;
        r[4][l] = q02 - q13;
        r[5][l] = y3;
    }
}

/// `dm` [36, Cout, ldt]: `A · dy · Aᵀ` of tiles `t0..t0+nt` for output channels `channels`
/// (`dy`: the tile's 4×4 block of `dout` [N, Cout, Ho, Wo], zero past the edge and for lanes
/// past `nt`).
// The row loops read element i of four arrays at once (`t6[0][i]`, ..., `t6[3][i]`).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn dout_transform(g: &Conv2dGeometry, block: &TileBlock, dout: &[f32], dm: SharedOut) {
    let TileBlock { first: t0, count: nt, ld: ldt, ref channels } = *block;
    // A local copy: stores through the raw output pointer cannot alias it, so its fields stay
    // in registers.
    let g = &{ *g };
    let p = g.ho() * g.wo();
    let mut dy = [[[0.0f32; LANES]; M]; M]; // [p][q][lanes]
    let mut t6 = [[[0.0f32; LANES]; A]; M]; // A · dy per column q: [q][i][lanes]
    let mut r = [[0.0f32; LANES]; A];
    for l0 in (0..nt).step_by(LANES) {
        let lanes = LANES.min(nt - l0);
        let origins: [(usize, usize, usize); LANES] =
            std::array::from_fn(|l| tile_origin(g, t0 + l0 + l.min(lanes - 1)));
        let inside: [bool; LANES] =
            std::array::from_fn(|l| l < lanes && origins[l].1 + M <= g.ho() && origins[l].2 + M <= g.wo());
        let all_inside = inside.iter().all(|&b| b);
        for o in channels.clone() {
            if !all_inside {
                dy = [[[0.0f32; LANES]; M]; M];
            }
            if all_inside {
                let at: [usize; LANES] = std::array::from_fn(|l| {
                    let (n, oy, ox) = origins[l];
                    (n * g.c_out() + o) * p + oy * g.wo() + ox
                });
                gather_tiles(dout, &at, g.wo(), &mut dy);
            } else {
                gather_tiles_checked(g, dout, o, &origins, &inside, lanes, &mut dy);
            }
            for (q, out) in t6.iter_mut().enumerate() {
                a6([&dy[0][q], &dy[1][q], &dy[2][q], &dy[3][q]], out);
            }
            for i in 0..A {
                a6([&t6[0][i], &t6[1][i], &t6[2][i], &t6[3][i]], &mut r);
                for (j, rj) in r.iter().enumerate() {
                    let at = ((i * A + j) * g.c_out() + o) * ldt + l0;
                    assert!(at + LANES <= dm.1, "winograd: transformed gradient out of bounds");
                    for (l, &val) in rj.iter().enumerate() {
                        // SAFETY: in bounds (asserted); each call writes only its channels.
                        unsafe { dm.write_unchecked(at + l, val) };
                    }
                }
            }
        }
    }
}

/// `dy[p][q][l]` = `dout[at[l] + p·Wo + q]` for every lane, all tiles inside the output.
#[inline(always)]
fn gather_tiles(dout: &[f32], at: &[usize; LANES], wo: usize, dy: &mut [[Lanes; M]; M]) {
    assert!(at.iter().all(|&a| a + (M - 1) * wo + M <= dout.len()), "winograd: tile outside the output gradient");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; every read is in bounds (asserted above).
            unsafe { gather_tiles_avx2(dout, at, wo, dy) };
            return;
        }
    }
    for (pp, row) in dy.iter_mut().enumerate() {
        for (q, cell) in row.iter_mut().enumerate() {
            for l in 0..LANES {
                cell[l] = dout[at[l] + pp * wo + q];
            }
        }
    }
}

/// [`gather_tiles`] with one 128-bit load per lane and tile row, and a 4×4 transpose within
/// each 128-bit half (the inverse of the forward pass's `scatter_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_tiles_avx2(dout: &[f32], at: &[usize; LANES], wo: usize, dy: &mut [[Lanes; M]; M]) {
    use std::arch::x86_64::*;
    let base = dout.as_ptr();
    for (pp, row) in dy.iter_mut().enumerate() {
        for half in 0..LANES / 8 {
            // u[k] = [lane k's four values | lane k + 4's four values]
            // SAFETY: in bounds (asserted by the caller).
            let u: [__m256; 4] = std::array::from_fn(|k| unsafe {
                let (lo, hi) = (half * 8 + k, half * 8 + k + 4);
                _mm256_set_m128(_mm_loadu_ps(base.add(at[hi] + pp * wo)), _mm_loadu_ps(base.add(at[lo] + pp * wo)))
            });
            let (t0, t1) = (_mm256_unpacklo_ps(u[0], u[1]), _mm256_unpackhi_ps(u[0], u[1]));
            let (t2, t3) = (_mm256_unpacklo_ps(u[2], u[3]), _mm256_unpackhi_ps(u[2], u[3]));
            let cols = [
                _mm256_shuffle_ps::<0x44>(t0, t2),
                _mm256_shuffle_ps::<0xEE>(t0, t2),
                _mm256_shuffle_ps::<0x44>(t1, t3),
                _mm256_shuffle_ps::<0xEE>(t1, t3),
            ];
            for (q, col) in cols.into_iter().enumerate() {
                // SAFETY: row[q] has 16 floats; this writes 8 of them.
                unsafe { _mm256_storeu_ps(row[q].as_mut_ptr().add(half * 8), col) };
            }
        }
    }
}

/// `dy` for lane groups with tiles past the output's edge or lanes past the block's end
/// (`dy` zeroed by the caller): element by element, within the output only.
#[inline(always)]
fn gather_tiles_checked(
    g: &Conv2dGeometry,
    dout: &[f32],
    o: usize,
    origins: &[(usize, usize, usize); LANES],
    inside: &[bool; LANES],
    lanes: usize,
    dy: &mut [[Lanes; M]; M],
) {
    let p = g.ho() * g.wo();
    for l in 0..lanes {
        let (n, oy, ox) = origins[l];
        let base = (n * g.c_out() + o) * p + oy * g.wo() + ox;
        let (rows, cols) = if inside[l] { (M, M) } else { (M.min(g.ho() - oy), M.min(g.wo() - ox)) };
        for (pp, row) in dy.iter_mut().enumerate().take(rows) {
            for (q, cell) in row.iter_mut().enumerate().take(cols) {
                cell[l] = dout[base + pp * g.wo() + q];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a6` is multiplication by `A` (the transpose of the forward pass's `Aᵀ`).
    #[test]
    fn a6_is_the_transposed_output_matrix() {
        #[rustfmt::skip]
        const AT: [[f32; A]; M] = [
            [1.0, 1.0,  1.0, 1.0,  1.0, 0.0],
            [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
            [0.0, 1.0,  1.0, 4.0,  4.0, 0.0],
            [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
        ];
        let y: [Lanes; M] = std::array::from_fn(|p| std::array::from_fn(|l| ((p * 5 + l * 3) % 7) as f32 - 3.0));
        let mut r = [[0.0; LANES]; A];
        a6([&y[0], &y[1], &y[2], &y[3]], &mut r);
        for i in 0..A {
            for l in 0..LANES {
                assert_eq!(r[i][l], (0..M).map(|p| AT[p][i] * y[p][l]).sum::<f32>());
            }
        }
    }
}
