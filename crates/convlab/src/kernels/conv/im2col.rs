//! im2col / col2im: the unfolding that turns a convolution into a matrix product.
//!
//! For one sample and one group, the input `x_g[Cg, H, W]` unfolds into
//! `col[Cg·kH·kW, rows·Wo]`: row `(c, ki, kj)` holds, for every output position of the
//! output rows `oy0..oy0+rows`, the input value that kernel tap `(ki, kj)` of channel `c`
//! multiplies there (zero where the tap falls into the zero padding). col2im is its adjoint:
//! it adds each column entry back onto the input position it was read from.

use std::ops::Range;

use super::Conv2dGeometry;
use crate::kernels::simd;

/// For kernel column `kj`: the output columns `ox` whose input column `ox·sw + kj·dw - pl`
/// lies inside `0..W`, as a half-open range, and the input column of `ox = 0` (may be negative).
#[inline]
fn valid_cols(g: &Conv2dGeometry, kj: usize) -> (usize, usize, isize) {
    let (sw, dw, pl) = (g.stride()[1] as isize, g.dilation()[1] as isize, g.pad()[2] as isize);
    let base = kj as isize * dw - pl; // input column of ox = 0
    let w = g.w() as isize;
    let wo = g.wo() as isize;
    // smallest ox with base + ox·sw >= 0
    let lo = if base >= 0 { 0 } else { (-base + sw - 1) / sw };
    // largest ox with base + ox·sw <= w - 1, plus one
    let hi = if base > w - 1 { 0 } else { (w - 1 - base) / sw + 1 };
    let lo = lo.min(wo);
    let hi = hi.clamp(lo, wo);
    (lo as usize, hi as usize, base)
}

/// Unfolds output rows `rows` of one sample/group.
///
/// `x_g`: [Cg, H, W]; `col`: [Cg·kH·kW, rows.len()·Wo] (fully overwritten).
pub fn im2col(g: &Conv2dGeometry, rows: Range<usize>, x_g: &[f32], col: &mut [f32]) {
    let ld = rows.len() * g.wo();
    im2col_strided(g, rows, ld, x_g, col);
}

/// [`im2col`] into a matrix whose rows are `ld` floats apart: `col`: [Cg·kH·kW, ld], of which
/// the first `rows.len()·Wo` columns are written (several samples side by side share one
/// matrix).
pub fn im2col_strided(g: &Conv2dGeometry, rows: Range<usize>, ld: usize, x_g: &[f32], col: &mut [f32]) {
    let (oy0, rows) = (rows.start, rows.len());
    let (h, w, wo) = (g.h(), g.w(), g.wo());
    let cg = g.c_in() / g.groups();
    let len = rows * wo;
    let (sh, sw, dh, pt) = (g.stride()[0], g.stride()[1], g.dilation()[0], g.pad()[0] as isize);
    assert!(
        ld >= len && col.len() >= (cg * g.kh() * g.kw()).saturating_sub(1) * ld + len,
        "im2col: {} floats with row stride {ld} do not hold {} rows of {len}",
        col.len(),
        cg * g.kh() * g.kw()
    );
    let mut r = 0;
    for c in 0..cg {
        let xc = &x_g[c * h * w..(c + 1) * h * w]; // [H, W]
        for ki in 0..g.kh() {
            for kj in 0..g.kw() {
                let (lo, hi, base) = valid_cols(g, kj);
                let dst_row = &mut col[r * ld..r * ld + len]; // [rows·Wo]
                for (i, dst) in dst_row.chunks_exact_mut(wo).enumerate() {
                    let iy = ((oy0 + i) * sh + ki * dh) as isize - pt;
                    if iy < 0 || iy >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &xc[iy as usize * w..(iy as usize + 1) * w]; // [W]
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if lo < hi {
                        let start = (base + (lo * sw) as isize) as usize;
                        match sw {
                            1 => dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]),
                            2 => copy_every_second(&mut dst[lo..hi], &src[start..]),
                            _ => {
                                for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(sw)) {
                                    *d = *s;
                                }
                            }
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// `dst[k] = src[2k]` (stride-2 convolutions), in a form that vectorises.
#[inline]
fn copy_every_second(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    assert!(src.len() > 2 * (n - 1), "im2col: stride-2 source too short");
    simd::dispatch(
        #[inline(always)]
        || {
            for (k, d) in dst.iter_mut().enumerate() {
                // SAFETY: 2k <= 2(n-1) < src.len() (asserted above).
                *d = unsafe { *src.get_unchecked(2 * k) };
            }
        },
    )
}

/// Adds the unfolded gradient of output rows `rows` back onto the input gradient.
///
/// `col`: [Cg·kH·kW, rows.len()·Wo]; `dx_g`: [Cg, H, W] (accumulated into).
pub fn col2im(g: &Conv2dGeometry, rows: Range<usize>, col: &[f32], dx_g: &mut [f32]) {
    let ld = rows.len() * g.wo();
    col2im_strided(g, rows, ld, col, dx_g);
}

/// [`col2im`] from a matrix whose rows are `ld` floats apart (`col`: [Cg·kH·kW, ld]).
pub fn col2im_strided(g: &Conv2dGeometry, rows: Range<usize>, ld: usize, col: &[f32], dx_g: &mut [f32]) {
    let (oy0, rows) = (rows.start, rows.len());
    let (h, w, wo) = (g.h(), g.w(), g.wo());
    let cg = g.c_in() / g.groups();
    let len = rows * wo;
    assert!(
        ld >= len && col.len() >= (cg * g.kh() * g.kw()).saturating_sub(1) * ld + len,
        "col2im: {} floats with row stride {ld} do not hold {} rows of {len}",
        col.len(),
        cg * g.kh() * g.kw()
    );
    let (sh, sw, dh, pt) = (g.stride()[0], g.stride()[1], g.dilation()[0], g.pad()[0] as isize);
    let mut r = 0;
    for c in 0..cg {
        let dxc = &mut dx_g[c * h * w..(c + 1) * h * w]; // [H, W]
        for ki in 0..g.kh() {
            for kj in 0..g.kw() {
                let (lo, hi, base) = valid_cols(g, kj);
                let src_row = &col[r * ld..r * ld + len]; // [rows·Wo]
                r += 1;
                if lo >= hi {
                    continue;
                }
                for (i, src) in src_row.chunks_exact(wo).enumerate() {
                    let iy = ((oy0 + i) * sh + ki * dh) as isize - pt;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut dxc[iy as usize * w..(iy as usize + 1) * w]; // [W]
                    let start = (base + (lo * sw) as isize) as usize;
                    if sw == 1 {
                        for (d, s) in dst[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[start..].iter_mut().step_by(sw).zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}
