//! `flip` and true convolution (`convolve1d`, `convolve2d`): the signal-processing
//! convolution, which is cross-correlation with the kernel rotated by 180°.

use super::params::{Conv1dParams, Conv2dParams};
use crate::Tensor;

impl Tensor {
    /// Reverses the order of elements along each of `axes` (PyTorch's `torch.flip`).
    ///
    /// ```
    /// use convlab::Tensor;
    /// let x = Tensor::arange(6).reshape([2, 3]);
    /// assert_eq!(x.flip(&[1]).to_vec(), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
    /// assert_eq!(x.flip(&[0, 1]).to_vec(), vec![5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
    /// ```
    pub fn flip(&self, axes: &[isize]) -> Tensor {
        let rank = self.rank();
        let mut flipped = vec![false; rank];
        for &a in axes {
            let a = self.shape().axis(a);
            assert!(!flipped[a], "flip: axis {a} given twice for shape {}", self.shape());
            flipped[a] = true;
        }
        let out = flip_data(&self.storage(), self.dims(), &flipped);
        let dims = self.dims().to_vec();
        Tensor::from_op(out, self.shape().clone(), "flip", &[self], move |g, _| {
            vec![Some(Tensor::from_vec(flip_data(&g.storage(), &dims, &flipped), dims.clone()))]
        })
    }

    /// True 2-D convolution: [`Tensor::conv2d`] with the kernel rotated by 180° (flipped along
    /// kH and kW), so `y[i, j] = Σ_{u,v} w[u, v] · x[i - u, j - v]` as in signal processing
    /// and the lecture's formula. Gradients reach the unflipped `weight`.
    pub fn convolve2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv2dParams) -> Tensor {
        self.conv2d(&weight.flip(&[-2, -1]), bias, params)
    }

    /// True 1-D convolution: [`Tensor::conv1d`] with the kernel reversed.
    pub fn convolve1d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv1dParams) -> Tensor {
        self.conv1d(&weight.flip(&[-1]), bias, params)
    }
}

/// `x` of shape `dims`, reversed along the axes marked in `flipped`.
fn flip_data(x: &[f32], dims: &[usize], flipped: &[bool]) -> Vec<f32> {
    let n = x.len();
    if n == 0 || !flipped.iter().any(|&f| f) {
        return x.to_vec();
    }
    // Split at the last flipped axis: everything after it is copied as contiguous runs.
    let last = flipped.iter().rposition(|&f| f).unwrap();
    let inner: usize = dims[last + 1..].iter().product();
    let outer_dims = &dims[..=last];
    let mut out = vec![0.0f32; n];
    let mut idx = vec![0usize; outer_dims.len()];
    for o in 0..n / inner {
        // Source run of output run `o`: the multi-index with flipped axes mirrored.
        let mut src = 0;
        for (d, (&i, &size)) in idx.iter().zip(outer_dims).enumerate() {
            src = src * size + if flipped[d] { size - 1 - i } else { i };
        }
        out[o * inner..(o + 1) * inner].copy_from_slice(&x[src * inner..(src + 1) * inner]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < outer_dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}
