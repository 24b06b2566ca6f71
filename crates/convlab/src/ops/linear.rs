//! The fully connected (linear) map `y = x·Wᵀ + b`, PyTorch's `F.linear`.
//!
//! `x: [..., in_features]`, `weight: [out_features, in_features]`, `bias: [out_features]` →
//! `y: [..., out_features]`. The GEMM reads `W` transposed in place (no copy of `Wᵀ`).
//! To feed a feature map into a linear layer, flatten it first with
//! [`Tensor::flatten`]`(1, -1)`.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [1, 3]);
//! let w = Tensor::from_vec(vec![1.0, 0.0, -1.0, 0.5, 0.5, 0.5], [2, 3]);
//! let b = Tensor::from_vec(vec![10.0, 20.0], [2]);
//! assert_eq!(x.linear(&w, Some(&b)).to_vec(), vec![8.0, 23.0]);
//! assert_eq!(x.linear(&w, None).dims(), &[1, 2]);
//! ```

use crate::kernels::gemm::{sgemm, Gemm, MatRef, Threads};
use crate::{Error, Tensor};

/// Checks the shapes of a linear map and returns the output shape.
pub fn linear_output_shape(x: &[usize], weight: &[usize], bias: Option<&[usize]>) -> Result<Vec<usize>, Error> {
    if weight.len() != 2 {
        return Err(Error::Shape(format!("linear: weight must be [out_features, in_features], got {weight:?}")));
    }
    let (out_f, in_f) = (weight[0], weight[1]);
    match x.last() {
        Some(&k) if k == in_f => {}
        _ => {
            return Err(Error::Shape(format!(
                "linear: input {x:?} does not end in in_features = {in_f} (weight {weight:?})"
            )))
        }
    }
    if let Some(b) = bias {
        if b != [out_f] {
            return Err(Error::Shape(format!(
                "linear: bias {b:?} does not match out_features = {out_f} (weight {weight:?})"
            )));
        }
    }
    let mut out = x.to_vec();
    *out.last_mut().unwrap() = out_f;
    Ok(out)
}

impl Tensor {
    /// `x·Wᵀ + b` over the last dimension (PyTorch's `F.linear`). Panics naming the shapes if
    /// they do not fit; [`linear_output_shape`] validates first.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let out_shape =
            linear_output_shape(self.dims(), weight.dims(), bias.map(|b| b.dims())).unwrap_or_else(|e| panic!("{e}"));
        let (out_f, in_f) = (weight.dims()[0], weight.dims()[1]);
        let rows: usize = self.dims()[..self.rank() - 1].iter().product();
        let (x, w) = (self.storage(), weight.storage());
        // y: [rows, out_f], starts as the bias repeated on every row
        let mut y = match bias {
            Some(b) => b.storage().repeat(rows),
            None => vec![0.0f32; rows * out_f],
        };
        // y[rows, out_f] += x[rows, in_f] · Wᵀ[in_f, out_f]   (W: [out_f, in_f] read transposed)
        sgemm(
            &Gemm { m: rows, n: out_f, k: in_f, accumulate: true, threads: Threads::Parallel },
            MatRef::row_major(&x, in_f),
            MatRef::transposed(&w, in_f),
            &mut y,
        );

        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        let has_bias = bias.is_some();
        let (x_shape, w_shape) = (self.shape().clone(), weight.shape().clone());
        let (need_x, need_w, need_b) =
            (self.requires_grad(), weight.requires_grad(), bias.is_some_and(|b| b.requires_grad()));
        Tensor::from_op(y, out_shape, "linear", &inputs, move |g, _| {
            let g = g.storage(); // g: [rows, out_f]
            let gx = need_x.then(|| {
                // gx[rows, in_f] = g[rows, out_f] · W[out_f, in_f]
                let mut gx = vec![0.0f32; rows * in_f];
                sgemm(
                    &Gemm { m: rows, n: in_f, k: out_f, accumulate: false, threads: Threads::Parallel },
                    MatRef::row_major(&g, out_f),
                    MatRef::row_major(&w, in_f),
                    &mut gx,
                );
                Tensor::from_vec(gx, x_shape.clone())
            });
            let gw = need_w.then(|| {
                // gw[out_f, in_f] = gᵀ[out_f, rows] · x[rows, in_f]
                let mut gw = vec![0.0f32; out_f * in_f];
                sgemm(
                    &Gemm { m: out_f, n: in_f, k: rows, accumulate: false, threads: Threads::Parallel },
                    MatRef::transposed(&g, out_f),
                    MatRef::row_major(&x, in_f),
                    &mut gw,
                );
                Tensor::from_vec(gw, w_shape.clone())
            });
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(need_b.then(|| {
                    // gb[out_f] = Σ_rows g[rows, out_f]
                    let mut gb = vec![0.0f32; out_f];
                    for row in g.chunks_exact(out_f.max(1)) {
                        for (s, v) in gb.iter_mut().zip(row) {
                            *s += v;
                        }
                    }
                    Tensor::from_vec(gb, [out_f])
                }));
            }
            grads
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_name_the_shapes() {
        let e = linear_output_shape(&[4, 5], &[3, 6], None).unwrap_err().to_string();
        assert!(e.contains("[4, 5]") && e.contains("[3, 6]"), "{e}");
        let e = linear_output_shape(&[4, 6], &[3, 6], Some(&[4])).unwrap_err().to_string();
        assert!(e.contains("[4]") && e.contains("out_features = 3"), "{e}");
        assert_eq!(linear_output_shape(&[2, 7, 6], &[3, 6], Some(&[3])).unwrap(), vec![2, 7, 3]);
    }

    #[test]
    fn one_dimensional_input_gives_one_dimensional_output() {
        let x = Tensor::from_vec(vec![1.0, 2.0], [2]);
        let w = Tensor::from_vec(vec![1.0, 1.0, 2.0, -1.0, 0.0, 3.0], [3, 2]);
        assert_eq!(x.linear(&w, None).to_vec(), vec![3.0, 0.0, 6.0]);
    }
}
