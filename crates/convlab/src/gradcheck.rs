//! Finite-difference gradient checking.
//!
//! [`gradcheck`] compares the gradients that autograd computes for `f(inputs)` with central
//! differences. The output is reduced to a scalar with fixed random weights
//! (`loss = Σ w ⊙ f(x)`), so every output element's gradient path is exercised, and the
//! loss is accumulated in f64 so that the differences are not drowned by f32 rounding.
//!
//! ```
//! use convlab::gradcheck::{gradcheck, GradCheck};
//! use convlab::Tensor;
//! let x = Tensor::randn([3, 4], 0);
//! let report = gradcheck(|t| t[0].exp().sum(&[1], false), &[x], &GradCheck::default()).unwrap();
//! assert!(report.max_abs_error < 1e-2);
//! ```

use crate::{no_grad, Tensor};

/// Settings for [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// Step of the central difference.
    pub eps: f32,
    /// Allowed error: `|analytic - numeric| <= atol + rtol * |numeric|`.
    pub atol: f64,
    pub rtol: f64,
    /// Seed of the random output weights.
    pub seed: u64,
    /// Which inputs to check (all when `None`).
    pub check: Option<Vec<usize>>,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-3, atol: 2e-3, rtol: 1e-2, seed: 1234, check: None }
    }
}

/// What a passing check measured.
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    pub max_abs_error: f64,
    pub elements_checked: usize,
}

fn weighted_sum(y: &Tensor, w: &[f32]) -> f64 {
    y.storage().iter().zip(w).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Checks the gradients of `f` at `inputs`; on failure the error names the input, the
/// element, and both values.
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
    opts: &GradCheck,
) -> Result<GradCheckReport, String> {
    let leaves: Vec<Tensor> = inputs.iter().map(|t| t.detach().requires_grad_()).collect();
    let y = f(&leaves);
    let w = Tensor::uniform(y.shape().clone(), -1.0, 1.0, opts.seed);
    let loss = (&y * &w).sum_all();
    let grads = loss.backward();
    let w = w.to_vec();
    let mut report = GradCheckReport { max_abs_error: 0.0, elements_checked: 0 };
    for (i, leaf) in leaves.iter().enumerate() {
        if let Some(check) = &opts.check {
            if !check.contains(&i) {
                continue;
            }
        }
        let analytic = grads.get(leaf).map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; leaf.numel()]);
        let base = leaf.to_vec();
        for j in 0..base.len() {
            let eval = |delta: f32| {
                let mut data = base.clone();
                data[j] += delta;
                let mut args: Vec<Tensor> = inputs.to_vec();
                args[i] = Tensor::from_vec(data, leaf.shape().clone());
                no_grad(|| weighted_sum(&f(&args), &w))
            };
            let numeric = (eval(opts.eps) - eval(-opts.eps)) / (2.0 * opts.eps as f64);
            let a = analytic[j] as f64;
            let err = (a - numeric).abs();
            report.max_abs_error = report.max_abs_error.max(err);
            report.elements_checked += 1;
            // Written as a negation so that a NaN error fails the check.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let failed = !(err <= opts.atol + opts.rtol * numeric.abs());
            if failed {
                return Err(format!(
                    "gradient of input {i} (shape {}) at element {j}: autograd {a:.6}, finite difference {numeric:.6}",
                    leaf.shape()
                ));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_wrong_gradient() {
        // An op whose backward is deliberately wrong (factor 2 missing).
        let x = Tensor::randn([4], 3);
        let bad = |t: &[Tensor]| {
            let d = t[0].storage();
            let out = d.iter().map(|v| v * v).collect();
            Tensor::from_op(out, [4], "bad_square", &[&t[0]], move |g, _| {
                vec![Some(g.mul(&Tensor::from_vec(d.to_vec(), [4])))]
            })
        };
        assert!(gradcheck(bad, &[x], &GradCheck::default()).is_err());
    }
}
