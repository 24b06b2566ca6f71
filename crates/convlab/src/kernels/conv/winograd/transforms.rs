//! The Winograd transforms of `mod.rs`, vectorised over 16 tiles (one SIMD lane each):
//! `Bᵀ d B` of the input patches, `Aᵀ M A` of the GEMM results, and the register transposes
//! that move patches and output rows between image layout and lanes.

use super::{tile_origin, SharedOut, TileBlock, A, LANES, M};
use crate::kernels::conv::Conv2dGeometry;

/// One value per lane (tile).
pub(super) type Lanes = [f32; LANES];

/// `Bᵀ d` along one axis: six lane vectors in, six out.
#[inline(always)]
pub(super) fn bt6(d: [&Lanes; A], r: &mut [Lanes; A]) {
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
pub(super) fn at6(m: [&Lanes; A], init: f32, y: &mut [Lanes; M]) {
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
// The row loops read element i of six arrays at once (`bd[0][i]`, ..., `bd[5][i]`).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
pub(super) fn input_transform(g: &Conv2dGeometry, block: &TileBlock, x: &[f32], v: SharedOut) {
    let TileBlock { first: t0, count: nt, ld: ldt, ref channels } = *block;
    // A local copy: stores through the raw output pointer cannot alias it, so its fields stay
    // in registers.
    let g = &{ *g };
    let hw = g.h() * g.w();
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
            (y0[l], x0[l], po[l]) =
                (oy as isize - g.pad()[0] as isize, ox as isize - g.pad()[2] as isize, (n * g.c_in() * hw) as isize);
        }
        // Lanes whose patch lies wholly inside the image (and can be read as rows of 8 floats
        // without leaving `x`) are read in place; the others from a zero-padded copy.
        let inside: [bool; LANES] = std::array::from_fn(|l| {
            y0[l] >= 0
                && x0[l] >= 0
                && y0[l] + A as isize <= g.h() as isize
                && x0[l] + A as isize <= g.w() as isize
                && po[l] as usize + (g.c_in() - 1) * hw + (y0[l] as usize + A - 1) * g.w() + x0[l] as usize + ROW
                    <= x.len()
        });
        for c in channels.clone() {
            let mut rows = [std::ptr::null::<f32>(); LANES]; // first patch row of each lane
            let mut stride = [ROW; LANES]; // floats between its rows
            for l in 0..LANES {
                let plane = po[l] as usize + c * hw; // channel c of lane l's sample
                if inside[l] {
                    rows[l] = x.as_ptr().wrapping_add(plane + y0[l] as usize * g.w() + x0[l] as usize);
                    stride[l] = g.w();
                    continue;
                }
                let pad = &mut padded[l];
                *pad = [[0.0; ROW]; A];
                if l < lanes {
                    for (i, prow) in pad.iter_mut().enumerate() {
                        let y = y0[l] + i as isize;
                        if y < 0 || y >= g.h() as isize {
                            continue;
                        }
                        for (j, cell) in prow.iter_mut().enumerate().take(A) {
                            let xx = x0[l] + j as isize;
                            if xx >= 0 && xx < g.w() as isize {
                                *cell = x[plane + y as usize * g.w() + xx as usize];
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
                    let at = ((i * A + j) * g.c_in() + c) * ldt + l0;
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
            let r: [__m256; 8] =
                std::array::from_fn(|k| unsafe { _mm256_loadu_ps(rows[half * 8 + k].add(i * stride[half * 8 + k])) });
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
// The row loops read element i of six arrays at once (`am[0][i]`, ..., `am[5][i]`).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
pub(super) fn output_transform(g: &Conv2dGeometry, block: &TileBlock, m: &[f32], bias: Option<&[f32]>, out: SharedOut) {
    let TileBlock { first: t0, count: nt, ld: ldt, ref channels } = *block;
    // A local copy: stores through the raw output pointer cannot alias it, so its fields stay
    // in registers.
    let g = &{ *g };
    let p = g.ho() * g.wo();
    let zero = [0.0f32; LANES];
    // Scratch, fully rewritten for every channel.
    let mut am = [[[0.0f32; LANES]; M]; A]; // Aᵀ M, [j][i][lanes]
    let mut y = [[0.0f32; LANES]; M]; // row i of the output tile: [4 columns, lanes]
    for l0 in (0..nt).step_by(LANES) {
        let lanes = LANES.min(nt - l0);
        let origins: [(usize, usize, usize); LANES] =
            std::array::from_fn(|l| tile_origin(g, t0 + l0 + l.min(lanes - 1)));
        // Whether all 16 tiles lie wholly inside the output; then `rows[l]` is the offset of
        // lane l's tile (channel 0, its first row).
        let full = lanes == LANES && origins.iter().all(|&(_, oy, ox)| oy + M <= g.ho() && ox + M <= g.wo());
        let rows: [usize; LANES] = std::array::from_fn(|l| {
            let (n, oy, ox) = origins[l];
            n * g.c_out() * p + oy * g.wo() + ox
        });
        if full {
            assert!(
                rows.iter().all(|&r| r + (g.c_out() - 1) * p + (M - 1) * g.wo() + M <= out.1),
                "winograd: tile outside the output"
            );
        }
        for o in channels.clone() {
            let b0 = bias.map_or(0.0, |b| b[o]);
            let lane = |xi: usize| -> &Lanes {
                let src = &m[(xi * g.c_out() + o) * ldt + l0..];
                if src.len() >= LANES {
                    src[..LANES].try_into().expect("16 lanes")
                } else {
                    &zero
                }
            };
            // Columns: am[j][·] = Aᵀ M[·][j]; rows: y[i][·] = am[·][i] A.
            for (j, out) in am.iter_mut().enumerate() {
                at6(
                    [lane(j), lane(A + j), lane(2 * A + j), lane(3 * A + j), lane(4 * A + j), lane(5 * A + j)],
                    0.0,
                    out,
                );
            }
            for i in 0..M {
                at6([&am[0][i], &am[1][i], &am[2][i], &am[3][i], &am[4][i], &am[5][i]], b0, &mut y);
                if full {
                    let at: [usize; LANES] = std::array::from_fn(|l| rows[l] + o * p + i * g.wo());
                    // SAFETY: every lane's 4×4 tile lies inside the output (`full`, asserted
                    // above), and this block alone writes it.
                    unsafe { scatter_rows(&y, &at, out) };
                    continue;
                }
                for (l, &(n, oy, ox)) in origins.iter().enumerate().take(lanes) {
                    if oy + i >= g.ho() {
                        continue;
                    }
                    let row = (n * g.c_out() + o) * p + (oy + i) * g.wo() + ox;
                    for (j, yj) in y.iter().enumerate().take(M.min(g.wo() - ox)) {
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

#[cfg(test)]
mod tests {
    use super::super::{AT, BT};
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
