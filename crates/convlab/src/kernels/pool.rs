//! Pooling kernels: max, average and adaptive pooling over the planes of an NCHW buffer.
//!
//! Every kernel works plane by plane: a buffer of shape `[planes, H, W]` (`planes = N·C`, or
//! `C` for an unbatched input; a 1-D signal is a plane of height 1) maps to one of shape
//! `[planes, OH, OW]`. Planes are independent, so large calls run in parallel over planes
//! with rayon. Window arithmetic follows PyTorch's CPU kernels exactly: window `o` along an
//! axis starts at `o·S - P` and visits `start + k·D` for `k < K`, skipping positions outside
//! the input (max pooling treats padding as -inf, average pooling as zeros).
//!
//! ```
//! use convlab::kernels::pool::{max_pool2d_forward, Pool2dGeometry};
//! use convlab::window::Window2d;
//! // One 4x4 plane, 2x2 windows, stride 2.
//! let g = Pool2dGeometry::new(1, Window2d::new([4, 4], [2, 2], [2, 2], [1, 1], [0; 4]).unwrap());
//! let x = [1., 1., 2., 0., 0., 1., 1., 2., 0., 0., 1., 3., 0., 0., 1., 1.];
//! let (mut out, mut idx) = ([0.0; 4], [0usize; 4]);
//! max_pool2d_forward(&g, &x, &mut out, &mut idx);
//! assert_eq!(out, [1., 2., 0., 3.]);
//! assert_eq!(idx, [0, 2, 8, 11]);
//! ```

use rayon::prelude::*;

use crate::kernels::simd;
use crate::kernels::Threads;
use crate::window::{Window2d, WindowAxis};

/// The sizes of a (validated) fixed-window pooling: independent planes and the [`Window2d`]
/// that slides over each. `ops::pool` builds it from the user's parameters (with `ceil_mode`
/// already applied to the window's output and end padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    planes: usize,
    window: Window2d,
}

impl Pool2dGeometry {
    /// `planes` (`N·C`) planes, each pooled by `window`.
    pub fn new(planes: usize, window: Window2d) -> Pool2dGeometry {
        Pool2dGeometry { planes, window }
    }

    /// Number of independent planes (`N·C`).
    pub fn planes(&self) -> usize {
        self.planes
    }

    pub fn window(&self) -> &Window2d {
        &self.window
    }

    /// `[H, W]` of each input plane.
    pub fn input(&self) -> [usize; 2] {
        self.window.input()
    }

    /// `[OH, OW]` of each output plane.
    pub fn output(&self) -> [usize; 2] {
        self.window.output()
    }

    pub fn kernel(&self) -> [usize; 2] {
        self.window.kernel()
    }

    pub fn stride(&self) -> [usize; 2] {
        self.window.stride()
    }

    /// Spacing between window taps (1 for average pooling).
    pub fn dilation(&self) -> [usize; 2] {
        self.window.dilation()
    }

    /// Implicit padding `[top, left]` at the start of each axis: the `padding` setting (the end
    /// of an axis has as much, or more where `ceil_mode` lets the last window hang over).
    pub fn pad_start(&self) -> [usize; 2] {
        self.window.axes().map(|a| a.pad_start())
    }

    pub fn in_plane(&self) -> usize {
        self.input()[0] * self.input()[1]
    }

    pub fn out_plane(&self) -> usize {
        self.output()[0] * self.output()[1]
    }

    /// The planes' sizes without the window (what the gradient of max pooling needs).
    pub fn planes_and_sizes(&self) -> PoolPlanes {
        PoolPlanes { count: self.planes, input: self.input(), output: self.output() }
    }

    /// Threads when the work is big enough to be worth spreading over them.
    fn threads(&self) -> Threads {
        let taps = self.kernel()[0] * self.kernel()[1];
        threads_for(self.planes(), self.planes() * self.out_plane() * taps.max(1))
    }
}

/// The planes of a pooling whose windows are not a [`Window2d`] (adaptive pooling, and the
/// gradient of max pooling, which needs only the recorded positions): how many, and the size
/// of each input and output plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPlanes {
    /// Number of independent planes (`N·C`).
    pub count: usize,
    /// `[H, W]` of each input plane.
    pub input: [usize; 2],
    /// `[OH, OW]` of each output plane.
    pub output: [usize; 2],
}

impl PoolPlanes {
    pub fn in_plane(&self) -> usize {
        self.input[0] * self.input[1]
    }

    pub fn out_plane(&self) -> usize {
        self.output[0] * self.output[1]
    }
}

/// Threads for `planes` independent planes and `work` values to compute.
fn threads_for(planes: usize, work: usize) -> Threads {
    match planes > 1 && work >= 1 << 15 {
        true => Threads::Parallel,
        false => Threads::Serial,
    }
}

/// What average pooling divides a window's sum by (PyTorch's `count_include_pad` and
/// `divisor_override`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divisor {
    /// The window's area counted with its padding (`count_include_pad=True`).
    WithPadding,
    /// Only the taps inside the input (`count_include_pad=False`).
    InsideInput,
    /// A fixed number (`divisor_override`).
    Fixed(usize),
}

impl Divisor {
    /// PyTorch's rule: an override wins, else `count_include_pad` chooses.
    pub fn new(count_include_pad: bool, divisor_override: Option<usize>) -> Divisor {
        match (divisor_override, count_include_pad) {
            (Some(d), _) => Divisor::Fixed(d),
            (None, true) => Divisor::WithPadding,
            (None, false) => Divisor::InsideInput,
        }
    }
}

/// Runs `f(out_chunk, in_chunk)` over matching per-plane chunks.
fn for_planes<A: Send, B: Sync>(
    threads: Threads,
    (x, in_plane): (&[B], usize),
    (out, out_plane): (&mut [A], usize),
    f: impl Fn(&mut [A], &[B]) + Sync,
) {
    if out_plane == 0 || in_plane == 0 {
        return;
    }
    if threads == Threads::Parallel {
        out.par_chunks_mut(out_plane).zip(x.par_chunks(in_plane)).for_each(|(o, i)| f(o, i));
    } else {
        out.chunks_mut(out_plane).zip(x.chunks(in_plane)).for_each(|(o, i)| f(o, i));
    }
}

/// The taps of window `o` along one axis that fall inside the input: `(first, end)` such that
/// the taps are `first, first + D, ...` while `< end` (PyTorch's `ih0`/`ih1`). May be empty.
#[inline]
fn max_taps(axis: &WindowAxis, o: usize) -> (isize, isize) {
    let mut start = axis.window_start(o);
    let end = (start + axis.effective_kernel() as isize).min(axis.input() as isize);
    while start < 0 {
        start += axis.dilation() as isize;
    }
    (start, end)
}

/// Max pooling. `out`, `indices`: `[planes, OH, OW]`; `x`: `[planes, H, W]`. `indices` holds
/// the flat position `h·W + w` of each maximum within its plane (the first maximum in
/// row-major scan order; a NaN always wins, as in PyTorch's CPU kernel). A window with
/// no tap inside the input (possible only with dilation) yields -inf.
pub fn max_pool2d_forward(g: &Pool2dGeometry, x: &[f32], out: &mut [f32], indices: &mut [usize]) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    assert_eq!(x.len(), g.planes() * ip, "max_pool2d_forward: input has {} values, geometry {g:?}", x.len());
    assert_eq!(out.len(), g.planes() * op, "max_pool2d_forward: output has {} values, geometry {g:?}", out.len());
    assert_eq!(indices.len(), out.len(), "max_pool2d_forward: indices length");
    let [h, w] = g.input();
    let [oh, ow] = g.output();
    let [dh, dw] = g.dilation();
    // Pair each output plane with its index plane so both are written in one pass.
    let mut pairs: Vec<(&mut [f32], &mut [usize])> =
        if op == 0 { Vec::new() } else { out.chunks_mut(op).zip(indices.chunks_mut(op)).collect() };
    // Outputs whose window lies wholly inside the input (without dilation) take the
    // vectorised path; the border (padding, ceil-mode overhang) the tap-by-tap one.
    let (rows, cols) = if g.dilation() == [1, 1] && g.kernel()[0] * w < u32::MAX as usize / 2 {
        (
            inside_outputs(h, oh, g.kernel()[0], g.stride()[0], g.pad_start()[0]),
            inside_outputs(w, ow, g.kernel()[1], g.stride()[1], g.pad_start()[1]),
        )
    } else {
        (0..0, 0..0)
    };
    let scalar = |yo: &mut [f32], io: &mut [usize], xp: &[f32], a: usize, bs: std::ops::Range<usize>| {
        let (h0, h1) = max_taps(g.window().height(), a);
        for b in bs {
            let (w0, w1) = max_taps(g.window().width(), b);
            // PyTorch's initial index is the first tap even when the window is empty.
            let mut best_i = (h0 * w as isize + w0) as usize;
            let mut best = f32::NEG_INFINITY;
            if w0 < w1 {
                let (w0, w1) = (w0 as usize, w1 as usize);
                let mut ih = h0;
                while ih < h1 {
                    let row = ih as usize * w;
                    let mut iw = w0;
                    while iw < w1 {
                        let v = xp[row + iw];
                        let better = v > best || v.is_nan();
                        best = if better { v } else { best };
                        best_i = if better { row + iw } else { best_i };
                        iw += dw;
                    }
                    ih += dh as isize;
                }
            }
            yo[a * ow + b] = best;
            io[a * ow + b] = best_i;
        }
    };
    for_planes(g.threads(), (x, ip), (&mut pairs, 1), |pair, xp| {
        let (yo, io) = &mut pair[0];
        for a in 0..oh {
            if !rows.contains(&a) || cols.is_empty() {
                scalar(yo, io, xp, a, 0..ow);
            } else {
                scalar(yo, io, xp, a, 0..cols.start);
                scalar(yo, io, xp, a, cols.end..ow);
            }
        }
        if !rows.is_empty() && !cols.is_empty() {
            let (rows, cols) = (rows.clone(), cols.clone());
            match g.stride()[1] {
                1 => simd::dispatch(
                    #[inline(always)]
                    || max_pool_region::<1>(yo, io, xp, g, rows, cols),
                ),
                2 => simd::dispatch(
                    #[inline(always)]
                    || max_pool_region::<2>(yo, io, xp, g, rows, cols),
                ),
                _ => simd::dispatch(
                    #[inline(always)]
                    || max_pool_region::<0>(yo, io, xp, g, rows, cols),
                ),
            }
        }
    });
}

/// The outputs along one axis whose window `o·s - p .. o·s - p + k` lies inside `0..size`.
fn inside_outputs(size: usize, out: usize, k: usize, s: usize, p: usize) -> std::ops::Range<usize> {
    let lo = p.div_ceil(s);
    let hi = if size + p >= k { ((size + p - k) / s + 1).min(out) } else { 0 };
    lo.min(hi)..hi
}

/// The outputs `rows × cols` of one plane of [`max_pool2d_forward`], whose windows lie wholly
/// inside the input: for each output row, the taps are visited in row-major order and each
/// tap is compared across up to [`ROW_CHUNK`] outputs of the row at once (lanes = output
/// columns), with the same tie and NaN rules. `SW` is the column stride when it is a
/// constant (1 or 2: the loads vectorise), 0 to use the geometry's.
#[inline(always)]
fn max_pool_region<const SW: usize>(
    yo: &mut [f32],
    io: &mut [usize],
    xp: &[f32],
    g: &Pool2dGeometry,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) {
    let [_, w] = g.input();
    let [_, ow] = g.output();
    let ([kh, kw], sh, [ph, pw]) = (g.kernel(), g.stride()[0], g.pad_start());
    let sw = if SW == 0 { g.stride()[1] } else { SW };
    let mut best = [0.0f32; ROW_CHUNK];
    let mut best_i = [0u32; ROW_CHUNK]; // position within the window band, `ki·W + column`
    for a in rows {
        for b0 in cols.clone().step_by(ROW_CHUNK) {
            let n = ROW_CHUNK.min(cols.end - b0);
            let (best, best_i) = (&mut best[..n], &mut best_i[..n]);
            best.fill(f32::NEG_INFINITY);
            for (b, i) in best_i.iter_mut().enumerate() {
                *i = (b * sw) as u32;
            }
            // Top-left input position of window b0.
            let base = (a * sh - ph) * w + b0 * sw - pw;
            for ki in 0..kh {
                let row = base + ki * w;
                for kj in 0..kw {
                    let taps = &xp[row + kj..row + kj + (n - 1) * sw + 1]; // tap (ki, kj) of the chunk's windows
                    let at = (ki * w + kj) as u32;
                    for b in 0..n {
                        // SAFETY: b·sw <= (n-1)·sw < taps.len().
                        let v = unsafe { *taps.get_unchecked(b * sw) };
                        let better = (v > best[b]) | v.is_nan();
                        best[b] = if better { v } else { best[b] };
                        best_i[b] = if better { at + (b * sw) as u32 } else { best_i[b] };
                    }
                }
            }
            yo[a * ow + b0..a * ow + b0 + n].copy_from_slice(best);
            for (o, &i) in io[a * ow + b0..a * ow + b0 + n].iter_mut().zip(best_i.iter()) {
                *o = base + i as usize;
            }
        }
    }
}

/// Outputs compared at once by [`max_pool_region`].
const ROW_CHUNK: usize = 64;

/// Gradient of max pooling (fixed or adaptive): each output's gradient goes to the input
/// position recorded in `indices`, accumulating where windows overlap.
/// `dx`: `[planes, in_plane]` (overwritten); `dout`, `indices`: `[planes, out_plane]`.
/// Indices outside the plane (an empty dilated window) receive nothing.
pub fn max_pool2d_backward(p: &PoolPlanes, dout: &[f32], indices: &[usize], dx: &mut [f32]) {
    let (planes, in_plane, out_plane) = (p.count, p.in_plane(), p.out_plane());
    assert_eq!(dx.len(), planes * in_plane, "max_pool2d_backward: dx length");
    assert_eq!(dout.len(), planes * out_plane, "max_pool2d_backward: dout length");
    assert_eq!(indices.len(), dout.len(), "max_pool2d_backward: indices length");
    dx.fill(0.0);
    if out_plane == 0 || in_plane == 0 {
        return;
    }
    let par = threads_for(planes, planes * out_plane) == Threads::Parallel;
    let body = |(dxp, (gp, ip)): (&mut [f32], (&[f32], &[usize]))| {
        for (&gv, &i) in gp.iter().zip(ip) {
            if i < in_plane {
                dxp[i] += gv;
            }
        }
    };
    if par {
        dx.par_chunks_mut(in_plane).zip(dout.par_chunks(out_plane).zip(indices.par_chunks(out_plane))).for_each(body);
    } else {
        dx.chunks_mut(in_plane).zip(dout.chunks(out_plane).zip(indices.chunks(out_plane))).for_each(body);
    }
}

/// The clamped window `[start, end)` of output `o` along one axis for average pooling, and
/// the window length counted with padding ([`WindowAxis::padded_len`]).
#[inline]
fn avg_window(axis: &WindowAxis, o: usize) -> (usize, usize, usize) {
    let start = axis.window_start(o);
    let end = (start + axis.kernel() as isize).min(axis.input() as isize);
    (start.max(0) as usize, end.max(0) as usize, axis.padded_len(o))
}

/// The divisor of one average-pooling window.
#[inline]
fn avg_divisor(h: (usize, usize, usize), w: (usize, usize, usize), divisor: Divisor) -> f32 {
    match divisor {
        Divisor::Fixed(d) => d as f32,
        Divisor::WithPadding => (h.2 * w.2) as f32,
        Divisor::InsideInput => ((h.1 - h.0) * (w.1 - w.0)) as f32,
    }
}

/// Average pooling. `out`: `[planes, OH, OW]`; `x`: `[planes, H, W]`; each window's sum is
/// divided by `divisor`. `g.dilation()` must be `[1, 1]`.
pub fn avg_pool2d_forward(g: &Pool2dGeometry, divisor: Divisor, x: &[f32], out: &mut [f32]) {
    assert_eq!(g.dilation(), [1, 1], "avg_pool2d_forward: average pooling has no dilation");
    assert_eq!(x.len(), g.planes() * g.in_plane(), "avg_pool2d_forward: input has {} values, geometry {g:?}", x.len());
    assert_eq!(
        out.len(),
        g.planes() * g.out_plane(),
        "avg_pool2d_forward: output has {} values, geometry {g:?}",
        out.len()
    );
    let w = g.input()[1];
    let [oh, ow] = g.output();
    for_planes(g.threads(), (x, g.in_plane()), (out, g.out_plane()), |yo, xp| {
        for a in 0..oh {
            let hw = avg_window(g.window().height(), a);
            for b in 0..ow {
                let ww = avg_window(g.window().width(), b);
                if hw.0 >= hw.1 || ww.0 >= ww.1 {
                    yo[a * ow + b] = 0.0; // a window wholly in the padding
                    continue;
                }
                let mut sum = 0.0f32;
                for ih in hw.0..hw.1 {
                    sum += xp[ih * w + ww.0..ih * w + ww.1].iter().sum::<f32>();
                }
                yo[a * ow + b] = sum / avg_divisor(hw, ww, divisor);
            }
        }
    });
}

/// Gradient of average pooling: each output's gradient, divided by its window's divisor, is
/// added to every input tap of its window. `dx`: `[planes, H, W]` (overwritten);
/// `dout`: `[planes, OH, OW]`.
pub fn avg_pool2d_backward(g: &Pool2dGeometry, divisor: Divisor, dout: &[f32], dx: &mut [f32]) {
    assert_eq!(dx.len(), g.planes() * g.in_plane(), "avg_pool2d_backward: dx length");
    assert_eq!(dout.len(), g.planes() * g.out_plane(), "avg_pool2d_backward: dout length");
    dx.fill(0.0);
    let w = g.input()[1];
    let [oh, ow] = g.output();
    for_planes(g.threads(), (dout, g.out_plane()), (dx, g.in_plane()), |dxp, gp| {
        for a in 0..oh {
            let hw = avg_window(g.window().height(), a);
            for b in 0..ow {
                let ww = avg_window(g.window().width(), b);
                if hw.0 >= hw.1 || ww.0 >= ww.1 {
                    continue;
                }
                let gv = gp[a * ow + b] / avg_divisor(hw, ww, divisor);
                for ih in hw.0..hw.1 {
                    dxp[ih * w + ww.0..ih * w + ww.1].iter_mut().for_each(|d| *d += gv);
                }
            }
        }
    });
}

/// The window `[floor(o·I/O), ceil((o+1)·I/O))` of adaptive pooling along one axis.
#[inline]
pub fn adaptive_window(o: usize, input: usize, output: usize) -> (usize, usize) {
    (o * input / output, ((o + 1) * input).div_ceil(output))
}

/// Adaptive average pooling. `out`: `[planes, OH, OW]`; `x`: `[planes, H, W]`; each output
/// averages its adaptive window (windows of neighbouring outputs may overlap).
pub fn adaptive_avg_pool2d_forward(p: &PoolPlanes, x: &[f32], out: &mut [f32]) {
    let PoolPlanes { count: planes, input, output } = *p;
    let (ip, op) = (p.in_plane(), p.out_plane());
    assert_eq!(x.len(), planes * ip, "adaptive_avg_pool2d_forward: input length");
    assert_eq!(out.len(), planes * op, "adaptive_avg_pool2d_forward: output length");
    let w = input[1];
    for_planes(threads_for(planes, planes * ip), (x, ip), (out, op), |yo, xp| {
        for a in 0..output[0] {
            let (h0, h1) = adaptive_window(a, input[0], output[0]);
            for b in 0..output[1] {
                let (w0, w1) = adaptive_window(b, input[1], output[1]);
                let mut sum = 0.0f32;
                for ih in h0..h1 {
                    sum += xp[ih * w + w0..ih * w + w1].iter().sum::<f32>();
                }
                yo[a * output[1] + b] = sum / ((h1 - h0) * (w1 - w0)) as f32;
            }
        }
    });
}

/// Gradient of adaptive average pooling. `dx`: `[planes, H, W]` (overwritten);
/// `dout`: `[planes, OH, OW]`.
pub fn adaptive_avg_pool2d_backward(p: &PoolPlanes, dout: &[f32], dx: &mut [f32]) {
    let PoolPlanes { count: planes, input, output } = *p;
    let (ip, op) = (p.in_plane(), p.out_plane());
    assert_eq!(dx.len(), planes * ip, "adaptive_avg_pool2d_backward: dx length");
    assert_eq!(dout.len(), planes * op, "adaptive_avg_pool2d_backward: dout length");
    dx.fill(0.0);
    let w = input[1];
    for_planes(threads_for(planes, planes * ip), (dout, op), (dx, ip), |dxp, gp| {
        for a in 0..output[0] {
            let (h0, h1) = adaptive_window(a, input[0], output[0]);
            for b in 0..output[1] {
                let (w0, w1) = adaptive_window(b, input[1], output[1]);
                let gv = gp[a * output[1] + b] / ((h1 - h0) * (w1 - w0)) as f32;
                for ih in h0..h1 {
                    dxp[ih * w + w0..ih * w + w1].iter_mut().for_each(|d| *d += gv);
                }
            }
        }
    });
}

/// Adaptive max pooling. `out`, `indices`: `[planes, OH, OW]`; `x`: `[planes, H, W]`.
/// Indices are flat positions `h·W + w` within the plane (first maximum; a NaN always wins). The
/// gradient is [`max_pool2d_backward`].
pub fn adaptive_max_pool2d_forward(p: &PoolPlanes, x: &[f32], out: &mut [f32], indices: &mut [usize]) {
    let PoolPlanes { count: planes, input, output } = *p;
    let (ip, op) = (p.in_plane(), p.out_plane());
    assert_eq!(x.len(), planes * ip, "adaptive_max_pool2d_forward: input length");
    assert_eq!(out.len(), planes * op, "adaptive_max_pool2d_forward: output length");
    assert_eq!(indices.len(), out.len(), "adaptive_max_pool2d_forward: indices length");
    let w = input[1];
    let mut pairs: Vec<(&mut [f32], &mut [usize])> =
        if op == 0 { Vec::new() } else { out.chunks_mut(op).zip(indices.chunks_mut(op)).collect() };
    for_planes(threads_for(planes, planes * ip), (x, ip), (&mut pairs, 1), |pair, xp| {
        let (yo, io) = &mut pair[0];
        for a in 0..output[0] {
            let (h0, h1) = adaptive_window(a, input[0], output[0]);
            for b in 0..output[1] {
                let (w0, w1) = adaptive_window(b, input[1], output[1]);
                let (mut best, mut best_i) = (f32::NEG_INFINITY, h0 * w + w0);
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        let v = xp[ih * w + iw];
                        if v > best || v.is_nan() {
                            best = v;
                            best_i = ih * w + iw;
                        }
                    }
                }
                yo[a * output[1] + b] = best;
                io[a * output[1] + b] = best_i;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's rule, tap by tap: `v > best || isnan(v)` in row-major order over the taps
    /// inside the input; the initial index is the first tap inside.
    fn reference(x: &[f32], g: &Pool2dGeometry) -> (Vec<f32>, Vec<usize>) {
        let (mut out, mut idx) = (vec![], vec![]);
        let inside = |o: usize, k: usize, s: usize, p: usize, size: usize| {
            (0..k)
                .map(move |t| (o * s + t) as isize - p as isize)
                .filter(move |&i| i >= 0 && i < size as isize)
                .map(|i| i as usize)
        };
        for p in 0..g.planes() {
            let xp = &x[p * g.in_plane()..(p + 1) * g.in_plane()];
            for a in 0..g.output()[0] {
                for b in 0..g.output()[1] {
                    let ys: Vec<usize> =
                        inside(a, g.kernel()[0], g.stride()[0], g.pad_start()[0], g.input()[0]).collect();
                    let xs: Vec<usize> =
                        inside(b, g.kernel()[1], g.stride()[1], g.pad_start()[1], g.input()[1]).collect();
                    let (mut best, mut bi) = (f32::NEG_INFINITY, ys[0] * g.input()[1] + xs[0]);
                    for &y in &ys {
                        for &xx in &xs {
                            let i = y * g.input()[1] + xx;
                            if xp[i] > best || xp[i].is_nan() {
                                (best, bi) = (xp[i], i);
                            }
                        }
                    }
                    out.push(best);
                    idx.push(bi);
                }
            }
        }
        (out, idx)
    }

    #[test]
    fn vectorised_windows_follow_the_scan_order_rules() {
        // Rows wider than one chunk, strides 1-3, padding and ceil-mode overhang (border
        // outputs take the tap-by-tap path), ties (few distinct values) and NaNs.
        for (input, kernel, stride, padding, output) in [
            ([5, 150], [2, 2], [2, 2], [0, 0], [2, 75]),
            ([7, 70], [3, 3], [1, 1], [0, 0], [5, 68]),
            ([9, 40], [3, 2], [2, 3], [0, 0], [4, 13]),
            ([12, 130], [3, 3], [2, 2], [1, 1], [6, 65]),
            ([7, 9], [2, 2], [2, 2], [0, 0], [4, 5]),
        ] {
            // Floor rounding, or ceil mode where the expected output has the overhanging window.
            let axis = |a: usize| {
                let floor = WindowAxis::new(input[a], kernel[a], stride[a], 1, [padding[a]; 2]).unwrap();
                match floor.output() == output[a] {
                    true => floor,
                    false => WindowAxis::ceil(input[a], kernel[a], stride[a], 1, padding[a]).unwrap(),
                }
            };
            let g = Pool2dGeometry::new(3, Window2d::from_axes(axis(0), axis(1)));
            assert_eq!(g.output(), output);
            let x: Vec<f32> = (0..3 * input[0] * input[1])
                .map(|i| if i % 37 == 5 { f32::NAN } else { ((i * 7) % 5) as f32 })
                .collect();
            let (mut out, mut idx) = (vec![0.0; 3 * g.out_plane()], vec![0; 3 * g.out_plane()]);
            max_pool2d_forward(&g, &x, &mut out, &mut idx);
            let (want, want_idx) = reference(&x, &g);
            assert_eq!(idx, want_idx, "{g:?}");
            assert!(out.iter().zip(&want).all(|(a, b)| a == b || (a.is_nan() && b.is_nan())), "{g:?}");
        }
    }
}
