//! Inverted dropout (PyTorch's `F.dropout` and `F.dropout2d`).
//!
//! In training each element (or, for `dropout2d`, each whole channel) is zeroed with
//! probability `p` and the kept ones are scaled by `1/(1 − p)`, so the expected value is
//! unchanged and evaluation needs no rescaling. In evaluation the input passes through.
//! The backward pass applies the same mask and scale.
//!
//! NOTE: PyTorch draws from a global generator; here the caller passes `seed`, so a step is
//! reproducible (the same seed gives the same mask). The masks cannot match PyTorch's.
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::ones([2, 4]);
//! assert_eq!(x.dropout(0.5, false, 0).to_vec(), x.to_vec()); // evaluation: identity
//! let y = x.dropout(0.5, true, 7).to_vec();
//! assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
//! assert_eq!(x.dropout(1.0, true, 7).to_vec(), vec![0.0; 8]);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kernels::dropout as kernels;
use crate::Tensor;

fn check_p(op: &str, p: f32) {
    assert!((0.0..=1.0).contains(&p), "{op}: dropout probability has to be between 0 and 1, but got {p}");
}

/// `count` multipliers, each 0 with probability `p` and `1/(1 − p)` otherwise.
fn mask(count: usize, p: f32, seed: u64) -> Vec<f32> {
    if p >= 1.0 {
        return vec![0.0; count];
    }
    let scale = 1.0 / (1.0 - p);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| if rng.gen::<f32>() < p { 0.0 } else { scale }).collect()
}

/// Multiplies `x` by `m` repeated over blocks of `block` consecutive elements
/// (`block = 1`: element-wise; `block = H·W`: per channel).
fn apply_mask(x: &Tensor, m: Vec<f32>, block: usize, op: &'static str) -> Tensor {
    let mut y = vec![0.0f32; x.numel()];
    kernels::dropout_forward(block, &x.storage(), &m, &mut y);
    Tensor::from_op(y, x.shape().clone(), op, &[x], move |g, _| {
        let mut gx = vec![0.0f32; g.numel()];
        kernels::dropout_backward(block, &g.storage(), &m, &mut gx);
        vec![Some(Tensor::from_vec(gx, g.shape().clone()))]
    })
}

impl Tensor {
    /// Zeroes each element with probability `p` when `train`, scaling the rest by
    /// `1/(1 − p)`; the identity when not training.
    pub fn dropout(&self, p: f32, train: bool, seed: u64) -> Tensor {
        check_p("dropout", p);
        if !train || p == 0.0 {
            return self.clone();
        }
        apply_mask(self, mask(self.numel(), p, seed), 1, "dropout")
    }

    /// Zeroes whole channels: input `[N, C, H, W]` (one draw per `(n, c)`), or an unbatched
    /// `[C, H, W]` (one draw per `c`), as PyTorch's `F.dropout2d`.
    pub fn dropout2d(&self, p: f32, train: bool, seed: u64) -> Tensor {
        check_p("dropout2d", p);
        assert!(
            self.rank() == 3 || self.rank() == 4,
            "dropout2d: expects [N, C, H, W] or [C, H, W], got shape {}",
            self.shape()
        );
        if !train || p == 0.0 {
            return self.clone();
        }
        let d = self.dims();
        let block: usize = d[d.len() - 2..].iter().product();
        let channels = self.numel().checked_div(block).unwrap_or(0);
        if block == 0 {
            return self.clone();
        }
        apply_mask(self, mask(channels, p, seed), block, "dropout2d")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_probability_panics_with_the_value() {
        let r = std::panic::catch_unwind(|| Tensor::ones([3]).dropout(1.5, true, 0));
        let msg = *r.unwrap_err().downcast::<String>().unwrap();
        assert!(msg.contains("1.5"), "{msg}");
    }
}
