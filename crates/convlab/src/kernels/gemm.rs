//! Matrix multiplication, delegated to the `gemm` crate (AVX2/AVX-512/NEON micro-kernels).

use gemm::Parallelism;

pub use crate::kernels::Threads;

/// A strided view of a row-major-or-not matrix: element (r, c) is at `r * rs + c * cs`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn row_major(data: &'a [f32], cols: usize) -> MatRef<'a> {
        MatRef { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns (read without copying).
    pub fn transposed(data: &'a [f32], cols: usize) -> MatRef<'a> {
        MatRef { data, rs: 1, cs: cols }
    }
}

/// Number of threads the GEMM may use: rayon's pool size.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// The sizes and settings of one product `c[m×n] = (accumulate ? c : 0) + a[m×k] · b[k×n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Add to what `c` holds instead of overwriting it.
    pub accumulate: bool,
    /// Whether the product may use rayon's threads (it does only when it is large enough).
    pub threads: Threads,
}

/// `c[m×n] (row-major, ld = n) = (accumulate ? c : 0) + a[m×k] · b[k×n]`.
///
/// Panics if a buffer is too short for the sizes and strides given.
pub fn sgemm(g: &Gemm, a: MatRef, b: MatRef, c: &mut [f32]) {
    let Gemm { m, n, k, accumulate, threads: t } = *g;
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n, "sgemm: output has {} values, needs {m}x{n}", c.len());
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let need = |r: MatRef, rows: usize, cols: usize| (rows - 1) * r.rs + (cols - 1) * r.cs + 1;
    assert!(a.data.len() >= need(a, m, k), "sgemm: lhs too short for {m}x{k}");
    assert!(b.data.len() >= need(b, k, n), "sgemm: rhs too short for {k}x{n}");
    let par = if t == Threads::Parallel && threads() > 1 && m * n * k >= 64 * 64 * 64 {
        Parallelism::Rayon(threads())
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every index the kernel reads or writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_including_transposes() {
        let (m, n, k) = (37, 29, 71);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let want = naive(m, n, k, &a, &b);
        let mut c = vec![1.0; m * n];
        sgemm(
            &Gemm { m, n, k, accumulate: false, threads: Threads::Parallel },
            MatRef::row_major(&a, k),
            MatRef::row_major(&b, n),
            &mut c,
        );
        assert_eq!(c, want);
        // aᵀ stored as k×m, read transposed.
        let mut at = vec![0.0; k * m];
        for i in 0..m {
            for p in 0..k {
                at[p * m + i] = a[i * k + p];
            }
        }
        let mut c2 = vec![0.0; m * n];
        sgemm(
            &Gemm { m, n, k, accumulate: false, threads: Threads::Serial },
            MatRef::transposed(&at, m),
            MatRef::row_major(&b, n),
            &mut c2,
        );
        assert_eq!(c2, want);
        // accumulate adds.
        sgemm(
            &Gemm { m, n, k, accumulate: true, threads: Threads::Serial },
            MatRef::transposed(&at, m),
            MatRef::row_major(&b, n),
            &mut c2,
        );
        assert_eq!(c2, want.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    }
}
