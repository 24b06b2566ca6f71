//! Gradient clipping by global norm (PyTorch's `torch.nn.utils.clip_grad_norm_`).

use crate::{Gradients, Tensor};

/// The `norm_type`-norm of one slice (f64 accumulation): `(Σ|x|ᵖ)^(1/p)`, `max|x|` for
/// infinity, the count of non-zeros for 0.
fn vector_norm(x: &[f32], p: f64) -> f64 {
    if p == f64::INFINITY {
        x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64))
    } else if p == 0.0 {
        x.iter().filter(|v| **v != 0.0).count() as f64
    } else if p == 1.0 {
        x.iter().map(|v| v.abs() as f64).sum()
    } else if p == 2.0 {
        x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt()
    } else {
        x.iter().map(|v| (v.abs() as f64).powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// Scales the gradients of `params` (those present in `grads`) so that their joint
/// `norm_type`-norm is at most `max_norm`, and returns the norm before clipping.
///
/// As PyTorch: the total norm is the norm of the per-tensor norms; every gradient is multiplied
/// by `min(1, max_norm / (total_norm + 1e-6))`. `norm_type` is any `p > 0`, or
/// `f32::INFINITY` for the largest absolute value. Parameters without a gradient are skipped;
/// with none, the norm is 0 and nothing changes.
///
/// ```
/// use convlab::optim::clip_grad_norm;
/// use convlab::Tensor;
/// let w = Tensor::from_vec(vec![1.0, 1.0], [2]).requires_grad_();
/// let mut grads = (&w * &Tensor::from_vec(vec![3.0, 4.0], [2])).sum_all().backward();
/// let norm = clip_grad_norm(&mut grads, &[w.clone()], 1.0, 2.0);
/// assert_eq!(norm, 5.0);
/// let g = grads.get(&w).unwrap().to_vec();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(grads: &mut Gradients, params: &[Tensor], max_norm: f32, norm_type: f32) -> f32 {
    assert!(norm_type >= 0.0, "clip_grad_norm: norm_type must be non-negative or infinity, got {norm_type}");
    let p = norm_type as f64;
    let present: Vec<&Tensor> = params.iter().filter(|t| grads.get(t).is_some()).collect();
    if present.is_empty() {
        return 0.0;
    }
    // Per-tensor norms rounded to f32 (PyTorch stacks f32 norms), then the norm of those.
    let norms: Vec<f32> =
        present.iter().map(|t| vector_norm(&grads.get(t).expect("present").storage(), p) as f32).collect();
    let total = vector_norm(&norms, p) as f32;
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    for t in present {
        let g = grads.get(t).expect("present");
        let scaled: Vec<f32> = g.storage().iter().map(|v| v * coef).collect();
        let scaled = Tensor::from_vec(scaled, g.shape().clone());
        grads.insert(t, scaled);
    }
    total
}
