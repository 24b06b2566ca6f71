//! Element-wise maps over f32 buffers: large buffers in parallel chunks, each chunk inside
//! [`simd::dispatch`] so that simple functions vectorise with the CPU's widest registers.
//! The output is written once (no zero-fill first).
//!
//! ```
//! use convlab::kernels::map::{map1, map2};
//! let a = [1.0f32, -2.0, 3.0];
//! assert_eq!(map1(&a, |x| x.max(0.0)), vec![1.0, 0.0, 3.0]);
//! assert_eq!(map2(&a, &a, |x, y| x * y), vec![1.0, 4.0, 9.0]);
//! ```

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::kernels::simd;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// A vector of `n` values, chunk `k` (elements `k·CHUNK..`) written by `fill(k, chunk)`.
#[inline(always)]
fn build(n: usize, fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    if n > CHUNK {
        spare.par_chunks_mut(CHUNK).enumerate().for_each(|(k, c)| {
            simd::dispatch(
                #[inline(always)]
                || fill(k, c),
            )
        });
    } else {
        simd::dispatch(
            #[inline(always)]
            || fill(0, spare),
        );
    }
    // SAFETY: every chunk of the first n elements was written by `fill` (each `fill` writes
    // its whole chunk: the zips below run over the chunk's full length).
    unsafe { out.set_len(n) };
    out
}

/// `f(a[i])` for every i.
pub fn map1(a: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    build(a.len(), |k, out| {
        let a = &a[k * CHUNK..k * CHUNK + out.len()];
        for (o, &x) in out.iter_mut().zip(a) {
            o.write(f(x));
        }
    })
}

/// `f(a[i], b[i])` for every i; the inputs have equal lengths.
pub fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "map2: lengths differ");
    build(a.len(), |k, out| {
        let r = k * CHUNK..k * CHUNK + out.len();
        for ((o, &x), &y) in out.iter_mut().zip(&a[r.clone()]).zip(&b[r]) {
            o.write(f(x, y));
        }
    })
}

/// `f(a[i], b[i], c[i])` for every i; the inputs have equal lengths.
pub fn map3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert!(a.len() == b.len() && b.len() == c.len(), "map3: lengths differ");
    build(a.len(), |k, out| {
        let r = k * CHUNK..k * CHUNK + out.len();
        for (((o, &x), &y), &z) in out.iter_mut().zip(&a[r.clone()]).zip(&b[r.clone()]).zip(&c[r]) {
            o.write(f(x, y, z));
        }
    })
}

/// `f(a[i], b[i], c[i])` for every i, a pair per element written to two vectors in one pass
/// (the two gradients of a binary op); the inputs have equal lengths.
pub fn map3_pair(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32) -> (f32, f32) + Sync,
) -> (Vec<f32>, Vec<f32>) {
    assert!(a.len() == b.len() && b.len() == c.len(), "map3_pair: lengths differ");
    let n = a.len();
    let (mut x, mut y): (Vec<f32>, Vec<f32>) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let fill = |k: usize, xs: &mut [MaybeUninit<f32>], ys: &mut [MaybeUninit<f32>]| {
        let r = k * CHUNK..k * CHUNK + xs.len();
        for ((((ox, oy), &p), &q), &s) in
            xs.iter_mut().zip(ys.iter_mut()).zip(&a[r.clone()]).zip(&b[r.clone()]).zip(&c[r])
        {
            let (u, v) = f(p, q, s);
            ox.write(u);
            oy.write(v);
        }
    };
    let (xs, ys) = (&mut x.spare_capacity_mut()[..n], &mut y.spare_capacity_mut()[..n]);
    if n > CHUNK {
        xs.par_chunks_mut(CHUNK).zip(ys.par_chunks_mut(CHUNK)).enumerate().for_each(|(k, (cx, cy))| {
            simd::dispatch(
                #[inline(always)]
                || fill(k, cx, cy),
            )
        });
    } else {
        simd::dispatch(
            #[inline(always)]
            || fill(0, xs, ys),
        );
    }
    // SAFETY: `fill` wrote every element of both chunks (equal lengths, zipped in full).
    unsafe {
        x.set_len(n);
        y.set_len(n);
    }
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_maps_cover_every_chunk() {
        let n = 3 * CHUNK + 17;
        let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
        assert_eq!(map1(&a, |x| x + 1.0), (0..n).map(|i| i as f32 + 1.0).collect::<Vec<_>>());
        assert_eq!(map3(&a, &a, &a, |x, y, z| x + y - z), a);
        let (p, q) = map3_pair(&a, &a, &a, |x, y, z| (x + y, y - z));
        assert_eq!(p, a.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        assert_eq!(q, vec![0.0; n]);
    }
}
