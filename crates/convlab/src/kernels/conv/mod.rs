//! 2-D convolution kernels (cross-correlation, NCHW), lowered to GEMM through im2col/col2im.
//!
//! For one sample `n` and group `g` (`Cg = C/groups` input and `Cog = Cout/groups` output
//! channels, `K = Cg·kH·kW`, `P = Ho·Wo`):
//!
//! ```text
//! forward          out[n, g]  [Cog, P] = W_g [Cog, K] · col(x[n, g]) [K, P]      (+ bias)
//! backward_input   dx[n, g]   [Cg,H,W] = col2im( W_gᵀ [K, Cog] · dout[n, g] [Cog, P] )
//! backward_weight  dW_g       [Cog, K] = Σ_n dout[n, g] [Cog, P] · col(x[n, g])ᵀ [P, K]
//! ```
//!
//! The unfolded matrix is built a band of output rows at a time (at most [`COL_BUDGET`]
//! floats), so memory stays bounded for large images and the band stays in cache for the
//! GEMM. Small convolutions (one sample's GEMM tiny) lower a block of samples side by side
//! into one GEMM instead (see `batched.rs`). Threads: with at least as many samples as rayon threads, samples run in parallel,
//! each with single-threaded GEMMs and its own scratch buffer; otherwise samples run one after
//! another with multi-threaded GEMMs. A 1×1 convolution with stride 1 and no padding needs
//! no unfolding at all: the input already is the column matrix.
//!
//! 3×3 stride-1 convolutions with enough channels and tiles take Winograd's F(4×4, 3×3)
//! instead (`winograd/`: forward and input gradient in `mod.rs`, weight gradient in `weight.rs`),
//! which needs a quarter of the multiplications. Which path runs is decided here, from the
//! geometry alone.
//!
//! ```
//! use convlab::kernels::conv::{conv2d_forward, Conv2dGeometry};
//! use convlab::window::Window2d;
//! // One 3×3 image, one 2×2 kernel of ones: sums of 2×2 windows.
//! let window = Window2d::new([3, 3], [2, 2], [1, 1], [1, 1], [0; 4]).unwrap();
//! let g = Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 2, 2], window, 1);
//! assert_eq!((g.ho(), g.wo()), (2, 2));
//! let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
//! let mut out = vec![0.0; 4];
//! conv2d_forward(&g, &x, &[1.0; 4], None, &mut out);
//! assert_eq!(out, vec![12.0, 16.0, 24.0, 28.0]);
//! ```

mod batched;
mod im2col;
mod winograd;

pub use im2col::{col2im, col2im_strided, im2col, im2col_strided};
use rayon::prelude::*;

use crate::kernels::gemm::{sgemm, Gemm, MatRef};
use crate::kernels::Threads;
use crate::window::Window2d;
use winograd::SharedOut;

/// Largest unfolded band, in floats (1 MiB): chosen so the band plus a weight block stay in
/// L2 while the GEMM streams over it.
pub const COL_BUDGET: usize = 1 << 18;

/// Sizes of one 2-D convolution with zero padding: the batch, the channels and the sliding
/// [`Window2d`]. Built once (the op layer validates user input first, see
/// `ops::conv::conv2d_output_shape`) and read by every kernel through its accessors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    n: usize,
    c_in: usize,
    c_out: usize,
    groups: usize,
    window: Window2d,
}

impl Conv2dGeometry {
    /// The convolution of an `[N, C, H, W]` input with a `[Cout, C/groups, kH, kW]` weight over
    /// `window` (whose input is `[H, W]` and kernel `[kH, kW]`). Panics when the sizes do not
    /// fit together.
    pub fn new(input: [usize; 4], weight: [usize; 4], window: Window2d, groups: usize) -> Conv2dGeometry {
        let [n, c_in, h, w] = input;
        let [c_out, cg, kh, kw] = weight;
        assert!(
            groups > 0 && c_in % groups == 0 && c_out % groups == 0 && cg * groups == c_in,
            "conv2d: input {input:?} and weight {weight:?} do not fit with groups {groups}"
        );
        assert!(
            window.input() == [h, w] && window.kernel() == [kh, kw],
            "conv2d: input {input:?} and weight {weight:?} do not fit the window {window:?}"
        );
        Conv2dGeometry { n, c_in, c_out, groups, window }
    }

    /// Batch size `N`.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input channels `C`.
    #[inline]
    pub fn c_in(&self) -> usize {
        self.c_in
    }

    /// Output channels `Cout`.
    #[inline]
    pub fn c_out(&self) -> usize {
        self.c_out
    }

    #[inline]
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The sliding window: kernel, stride, dilation, padding and output size per axis.
    #[inline]
    pub fn window(&self) -> &Window2d {
        &self.window
    }

    /// Input height `H`.
    #[inline]
    pub fn h(&self) -> usize {
        self.window.height().input()
    }

    /// Input width `W`.
    #[inline]
    pub fn w(&self) -> usize {
        self.window.width().input()
    }

    /// Kernel height `kH`.
    #[inline]
    pub fn kh(&self) -> usize {
        self.window.height().kernel()
    }

    /// Kernel width `kW`.
    #[inline]
    pub fn kw(&self) -> usize {
        self.window.width().kernel()
    }

    /// Output height `Ho`.
    #[inline]
    pub fn ho(&self) -> usize {
        self.window.height().output()
    }

    /// Output width `Wo`.
    #[inline]
    pub fn wo(&self) -> usize {
        self.window.width().output()
    }

    /// `[sH, sW]`.
    #[inline]
    pub fn stride(&self) -> [usize; 2] {
        self.window.stride()
    }

    /// Zero padding per side: `[top, bottom, left, right]`.
    #[inline]
    pub fn pad(&self) -> [usize; 4] {
        self.window.padding()
    }

    /// `[dH, dW]`.
    #[inline]
    pub fn dilation(&self) -> [usize; 2] {
        self.window.dilation()
    }

    /// Rows of the unfolded matrix: `K = C/groups · kH · kW`.
    pub fn k(&self) -> usize {
        self.c_in / self.groups * self.kh() * self.kw()
    }

    /// `[N, Cout, Ho, Wo]`.
    pub fn output_dims(&self) -> [usize; 4] {
        [self.n, self.c_out, self.ho(), self.wo()]
    }

    /// The same convolution applied to an input that already holds its padding (used when
    /// the padding is not zeros: the op pads first, then convolves without padding).
    pub fn prepadded(&self) -> Conv2dGeometry {
        Conv2dGeometry { window: self.window.prepadded(), ..*self }
    }

    /// 1×1, stride 1, no padding: the input is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kh() == 1 && self.kw() == 1 && self.stride() == [1, 1] && self.pad() == [0; 4]
    }

    /// Output rows per unfolded band.
    fn band_rows(&self) -> usize {
        (COL_BUDGET / (self.k() * self.wo()).max(1)).clamp(1, self.ho().max(1))
    }

    fn check(&self, what: &str, x: usize, weight: usize, out: usize) {
        let (nx, nw, no) = (
            self.n() * self.c_in() * self.h() * self.w(),
            self.c_out() * self.k(),
            self.n() * self.c_out() * self.ho() * self.wo(),
        );
        assert!(
            x == nx && weight == nw && out == no,
            "{what}: buffers of {x}, {weight}, {out} values do not fit {self:?} (want {nx}, {nw}, {no})"
        );
    }
}

/// Whether to run samples in parallel (each with serial GEMMs) rather than parallel GEMMs.
fn sample_parallel(n: usize) -> bool {
    let t = rayon::current_num_threads();
    t > 1 && n >= t
}

/// `out` [N, Cout, Ho, Wo] = conv(x [N, C, H, W], weight [Cout, C/groups, kH, kW]) + bias [Cout].
pub fn conv2d_forward(g: &Conv2dGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    g.check("conv2d_forward", x.len(), weight.len(), out.len());
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    if xs == 0 || os == 0 {
        out.fill(0.0);
        return;
    }
    if winograd::applies(g) {
        winograd::forward(g, x, weight, bias, out);
        return;
    }
    let b = batched::block_size(g);
    if b > 1 {
        batched::forward(g, b, x, weight, out);
    } else if sample_parallel(g.n()) {
        out.par_chunks_mut(os).enumerate().for_each_init(Vec::new, |ws, (n, o)| {
            forward_sample(g, Threads::Serial, &x[n * xs..(n + 1) * xs], weight, o, ws)
        });
    } else {
        let mut ws = Vec::new();
        for (n, o) in out.chunks_mut(os).enumerate() {
            forward_sample(g, Threads::Parallel, &x[n * xs..(n + 1) * xs], weight, o, &mut ws);
        }
    }
    if let Some(b) = bias {
        assert_eq!(b.len(), g.c_out(), "conv2d_forward: bias has {} values for {} output channels", b.len(), g.c_out());
        // One task per sample (a task per plane costs more than the additions for small planes).
        let p = g.ho() * g.wo();
        out.par_chunks_mut(g.c_out() * p).for_each(|sample| {
            for (plane, &bv) in sample.chunks_exact_mut(p).zip(b) {
                plane.iter_mut().for_each(|v| *v += bv);
            }
        });
    }
}

/// One sample: `x_n` [C, H, W] -> `out_n` [Cout, Ho·Wo]; `ws` is scratch.
fn forward_sample(
    g: &Conv2dGeometry,
    threads: Threads,
    x_n: &[f32],
    weight: &[f32],
    out_n: &mut [f32],
    ws: &mut Vec<f32>,
) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let rows = g.band_rows();
    let pool = rayon::current_num_threads();
    for grp in 0..g.groups() {
        let x_g = &x_n[grp * cg * hw..(grp + 1) * cg * hw]; // [Cg, H, W]
        let w_g = MatRef::row_major(&weight[grp * cog * k..(grp + 1) * cog * k], k); // [Cog, K]
        let out_g = &mut out_n[grp * cog * p..(grp + 1) * cog * p]; // [Cog, Ho·Wo]
        if g.pointwise() {
            sgemm(&Gemm { m: cog, n: p, k, accumulate: false, threads }, w_g, MatRef::row_major(x_g, p), out_g);
        } else if rows >= g.ho() {
            ws.resize(k * p, 0.0);
            let col = &mut ws[..k * p]; // [K, Ho·Wo]
            im2col(g, 0..g.ho(), x_g, col);
            sgemm(&Gemm { m: cog, n: p, k, accumulate: false, threads }, w_g, MatRef::row_major(col, p), out_g);
        } else {
            // Output rows oy0..oy0+r: unfold, multiply, copy into those rows of every channel.
            let out_ptr = SharedOut(out_g.as_mut_ptr(), out_g.len());
            let band = |ws: &mut Vec<f32>, oy0: usize, r: usize, gemm_threads: Threads| {
                let len = r * g.wo();
                ws.resize(k * len + cog * len, 0.0);
                let (col, tmp) = ws.split_at_mut(k * len); // col: [K, len], tmp: [Cog, len]
                im2col(g, oy0..oy0 + r, x_g, col);
                sgemm(
                    &Gemm { m: cog, n: len, k, accumulate: false, threads: gemm_threads },
                    w_g,
                    MatRef::row_major(col, len),
                    tmp,
                );
                for co in 0..cog {
                    // SAFETY: only this band writes output rows oy0..oy0+r.
                    unsafe { out_ptr.write_slice_unchecked(co * p + oy0 * g.wo(), &tmp[co * len..(co + 1) * len]) };
                }
            };
            if threads == Threads::Parallel && pool > 1 && g.ho().div_ceil(rows) >= pool {
                // One sample on several threads: bands in parallel with serial GEMMs, balanced
                // so every thread gets as many bands.
                let per = g.ho().div_ceil(g.ho().div_ceil(rows).div_ceil(pool) * pool);
                (0..g.ho().div_ceil(per))
                    .into_par_iter()
                    .for_each_init(Vec::new, |ws, b| band(ws, b * per, per.min(g.ho() - b * per), Threads::Serial));
            } else {
                for oy0 in (0..g.ho()).step_by(rows) {
                    band(ws, oy0, rows.min(g.ho() - oy0), threads);
                }
            }
        }
    }
}

/// `dx` [N, C, H, W] = gradient of the input given `dout` [N, Cout, Ho, Wo] (overwritten).
pub fn conv2d_backward_input(g: &Conv2dGeometry, dout: &[f32], weight: &[f32], dx: &mut [f32]) {
    g.check("conv2d_backward_input", dx.len(), weight.len(), dout.len());
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    if xs == 0 {
        return;
    }
    if os == 0 {
        dx.fill(0.0);
        return;
    }
    if winograd::applies_to_backward_input(g) {
        winograd::backward_input(g, dout, weight, dx);
        return;
    }
    let b = batched::block_size(g);
    if b > 1 {
        batched::backward_input(g, b, dout, weight, dx);
    } else if sample_parallel(g.n()) {
        dx.par_chunks_mut(xs).enumerate().for_each_init(Vec::new, |ws, (n, d)| {
            backward_input_sample(g, Threads::Serial, &dout[n * os..(n + 1) * os], weight, d, ws)
        });
    } else {
        let mut ws = Vec::new();
        for (n, d) in dx.chunks_mut(xs).enumerate() {
            backward_input_sample(g, Threads::Parallel, &dout[n * os..(n + 1) * os], weight, d, &mut ws);
        }
    }
}

/// One sample: `dout_n` [Cout, Ho·Wo] -> `dx_n` [C, H, W].
fn backward_input_sample(
    g: &Conv2dGeometry,
    threads: Threads,
    dout_n: &[f32],
    weight: &[f32],
    dx_n: &mut [f32],
    ws: &mut Vec<f32>,
) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let rows = g.band_rows();
    for grp in 0..g.groups() {
        let w_g = MatRef::transposed(&weight[grp * cog * k..(grp + 1) * cog * k], k); // Wᵀ: [K, Cog]
        let dout_g = &dout_n[grp * cog * p..(grp + 1) * cog * p]; // [Cog, Ho·Wo]
        let dx_g = &mut dx_n[grp * cg * hw..(grp + 1) * cg * hw]; // [Cg, H, W]
        if g.pointwise() {
            sgemm(&Gemm { m: k, n: p, k: cog, accumulate: false, threads }, w_g, MatRef::row_major(dout_g, p), dx_g);
            continue;
        }
        dx_g.fill(0.0);
        let band = rows * g.wo();
        ws.resize(k * band, 0.0);
        for oy0 in (0..g.ho()).step_by(rows) {
            let r = rows.min(g.ho() - oy0);
            let len = r * g.wo();
            let dcol = &mut ws[..k * len]; // [K, len]
            let d = MatRef { data: &dout_g[oy0 * g.wo()..], rs: p, cs: 1 }; // [Cog, len] inside [Cog, Ho·Wo]
            sgemm(&Gemm { m: k, n: len, k: cog, accumulate: false, threads }, w_g, d, dcol);
            col2im(g, oy0..oy0 + r, dcol, dx_g);
        }
    }
}

/// `dweight` [Cout, C/groups, kH, kW] = gradient of the weight (overwritten).
pub fn conv2d_backward_weight(g: &Conv2dGeometry, x: &[f32], dout: &[f32], dweight: &mut [f32]) {
    g.check("conv2d_backward_weight", x.len(), dweight.len(), dout.len());
    let (xs, os) = (g.c_in() * g.h() * g.w(), g.c_out() * g.ho() * g.wo());
    dweight.fill(0.0);
    if xs == 0 || os == 0 || dweight.is_empty() {
        return;
    }
    if winograd::weight::applies(g) {
        winograd::weight::backward_weight(g, x, dout, dweight);
        return;
    }
    let b = batched::block_size(g);
    if b > 1 {
        batched::backward_weight(g, b, x, dout, dweight);
    } else if sample_parallel(g.n()) {
        // Contiguous ranges of samples, one partial weight gradient each, summed at the end.
        let t = rayon::current_num_threads();
        let per = g.n().div_ceil(t);
        let partials: Vec<Vec<f32>> = (0..g.n().div_ceil(per))
            .into_par_iter()
            .map(|c| {
                let mut part = vec![0.0f32; dweight.len()]; // [Cout, C/groups, kH, kW]
                let mut ws = Vec::new();
                for n in c * per..((c + 1) * per).min(g.n()) {
                    let (x_n, dout_n) = (&x[n * xs..(n + 1) * xs], &dout[n * os..(n + 1) * os]);
                    backward_weight_sample(g, Threads::Serial, x_n, dout_n, &mut part, &mut ws);
                }
                part
            })
            .collect();
        for part in &partials {
            dweight.iter_mut().zip(part).for_each(|(d, p)| *d += p);
        }
    } else {
        let mut ws = Vec::new();
        for n in 0..g.n() {
            backward_weight_sample(
                g,
                Threads::Parallel,
                &x[n * xs..(n + 1) * xs],
                &dout[n * os..(n + 1) * os],
                dweight,
                &mut ws,
            );
        }
    }
}

/// One sample: accumulates `dout_n` [Cout, Ho·Wo] · col(`x_n` [C, H, W])ᵀ into `dw` [Cout, K].
fn backward_weight_sample(
    g: &Conv2dGeometry,
    threads: Threads,
    x_n: &[f32],
    dout_n: &[f32],
    dw: &mut [f32],
    ws: &mut Vec<f32>,
) {
    let (cg, cog, k, p, hw) = (g.c_in() / g.groups(), g.c_out() / g.groups(), g.k(), g.ho() * g.wo(), g.h() * g.w());
    let rows = g.band_rows();
    for grp in 0..g.groups() {
        let x_g = &x_n[grp * cg * hw..(grp + 1) * cg * hw]; // [Cg, H, W]
        let dout_g = &dout_n[grp * cog * p..(grp + 1) * cog * p]; // [Cog, Ho·Wo]
        let dw_g = &mut dw[grp * cog * k..(grp + 1) * cog * k]; // [Cog, K]
        if g.pointwise() {
            sgemm(
                &Gemm { m: cog, n: k, k: p, accumulate: true, threads },
                MatRef::row_major(dout_g, p),
                MatRef::transposed(x_g, p),
                dw_g,
            );
            continue;
        }
        ws.resize(k * rows * g.wo(), 0.0);
        for oy0 in (0..g.ho()).step_by(rows) {
            let r = rows.min(g.ho() - oy0);
            let len = r * g.wo();
            let col = &mut ws[..k * len]; // [K, len]
            im2col(g, oy0..oy0 + r, x_g, col);
            let d = MatRef { data: &dout_g[oy0 * g.wo()..], rs: p, cs: 1 }; // [Cog, len] inside [Cog, Ho·Wo]
            sgemm(&Gemm { m: cog, n: k, k: len, accumulate: true, threads }, d, MatRef::transposed(col, len), dw_g);
        }
    }
}

/// `dbias` [Cout] = Σ over samples and positions of `dout` [N, Cout, Ho, Wo] (overwritten).
pub fn conv2d_backward_bias(g: &Conv2dGeometry, dout: &[f32], dbias: &mut [f32]) {
    let p = g.ho() * g.wo();
    assert!(
        dout.len() == g.n() * g.c_out() * p && dbias.len() == g.c_out(),
        "conv2d_backward_bias: {} and {} values do not fit {g:?}",
        dout.len(),
        dbias.len()
    );
    dbias.fill(0.0);
    for (i, plane) in dout.chunks_exact(p.max(1)).enumerate().take(g.n() * g.c_out()) {
        dbias[i % g.c_out()] += plane.iter().map(|&v| v as f64).sum::<f64>() as f32;
    }
}

#[cfg(test)]
mod tests;
