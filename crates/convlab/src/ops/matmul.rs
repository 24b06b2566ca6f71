//! Matrix multiplication, batched with broadcasting over leading dimensions.
//!
//! `a: [..., m, k] · b: [..., k, n] -> [..., m, n]`; the batch dimensions broadcast as in
//! `torch.matmul`. Both operands must have rank ≥ 2.
//!
//! ```
//! use convlab::Tensor;
//! let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
//! let b = Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], [2, 2]);
//! assert_eq!(a.matmul(&b).to_vec(), vec![19.0, 22.0, 43.0, 50.0]);
//! ```

use crate::kernels::gemm::{sgemm, Gemm, MatRef, Threads};
use crate::ops::reduce::sum_to_shape;
use crate::{Shape, Tensor};

/// `c[batch, m, n] = a[batch?, m, k] · b[batch?, k, n]` where a batch-broadcast operand
/// repeats; `ta`/`tb` read an operand stored transposed (`[.., k, m]` / `[.., n, k]`).
#[allow(clippy::too_many_arguments)]
fn batched(
    a: &[f32],
    a_batch: &[usize],
    b: &[f32],
    b_batch: &[usize],
    out_batch: &Shape,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
) -> Vec<f32> {
    let mut c = vec![0.0f32; out_batch.numel() * m * n];
    let ob = out_batch.dims();
    let a_shape = Shape::from(a_batch);
    let b_shape = Shape::from(b_batch);
    let sa = a_shape.broadcast_strides(out_batch);
    let sb = b_shape.broadcast_strides(out_batch);
    let nb = out_batch.numel();
    for bi in 0..nb {
        // Offsets of this batch entry in a and b.
        let (mut rem, mut oa, mut obb) = (bi, 0, 0);
        for d in (0..ob.len()).rev() {
            let i = rem % ob[d];
            rem /= ob[d];
            oa += i * sa[d];
            obb += i * sb[d];
        }
        let am = &a[oa * m * k..(oa + 1) * m * k];
        let bm = &b[obb * k * n..(obb + 1) * k * n];
        let ar = if ta { MatRef::transposed(am, m) } else { MatRef::row_major(am, k) };
        let br = if tb { MatRef::transposed(bm, k) } else { MatRef::row_major(bm, n) };
        sgemm(
            &Gemm { m, n, k, accumulate: false, threads: Threads::Parallel },
            ar,
            br,
            &mut c[bi * m * n..(bi + 1) * m * n],
        );
    }
    c
}

impl Tensor {
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        assert!(
            self.rank() >= 2 && rhs.rank() >= 2,
            "matmul needs rank >= 2 operands, got {} and {}",
            self.shape(),
            rhs.shape()
        );
        let (ad, bd) = (self.dims(), rhs.dims());
        let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
        let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
        assert_eq!(
            k,
            k2,
            "matmul: shapes {} and {} do not fit (inner dimensions {k} and {k2})",
            self.shape(),
            rhs.shape()
        );
        let a_batch = ad[..ad.len() - 2].to_vec();
        let b_batch = bd[..bd.len() - 2].to_vec();
        let out_batch = Shape::broadcast(&Shape::from(&a_batch), &Shape::from(&b_batch))
            .unwrap_or_else(|e| panic!("matmul: batch dimensions of {} and {}: {e}", self.shape(), rhs.shape()));
        let (a, b) = (self.storage(), rhs.storage());
        let out = batched(&a, &a_batch, &b, &b_batch, &out_batch, m, n, k, false, false);
        let mut out_shape = out_batch.dims().to_vec();
        out_shape.extend([m, n]);
        let (a_shape, b_shape) = (self.shape().clone(), rhs.shape().clone());
        Tensor::from_op(out, out_shape, "matmul", &[self, rhs], move |g, _| {
            let g = g.storage();
            let gb_full: Vec<usize> = out_batch.dims().to_vec();
            // grad_a[batch, m, k] = g[batch, m, n] · bᵀ[batch, n, k]
            let ga = batched(&g, &gb_full, &b, &b_batch, &out_batch, m, k, n, false, true);
            // grad_b[batch, k, n] = aᵀ[batch, k, m] · g[batch, m, n]
            let gbm = batched(&a, &a_batch, &g, &gb_full, &out_batch, k, n, m, true, false);
            let full = |rows, cols| {
                let mut s = out_batch.dims().to_vec();
                s.extend([rows, cols]);
                Shape::from(s)
            };
            let ga = sum_to_shape(&ga, &full(m, k), &a_shape);
            let gbm = sum_to_shape(&gbm, &full(k, n), &b_shape);
            vec![Some(Tensor::from_vec(ga, a_shape.clone())), Some(Tensor::from_vec(gbm, b_shape.clone()))]
        })
    }
}
