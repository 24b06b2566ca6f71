//! Losses (PyTorch's `F.cross_entropy`, `F.nll_loss`, `F.l1_loss`, `F.mse_loss`) and the
//! classification metrics `accuracy` and `zero_one_error` (no gradient).
//!
//! The lecture's three losses: the 0-1 loss `L = 1 if y ≠ f(x)` ([`zero_one_error`], a
//! metric: it has no useful gradient), cross-entropy ([`cross_entropy`]) and the L1 distance
//! ([`l1_loss`]).
//!
//! Class scores are `[N, C]` or `[N, C, d1, ...]` (one class axis at position 1, as PyTorch);
//! targets are class indices, one per sample (and position), in row-major order.
//!
//! ```
//! use convlab::ops::loss::{accuracy, cross_entropy, CrossEntropyParams};
//! use convlab::Tensor;
//! let logits = Tensor::zeros([2, 4]); // uniform over 4 classes
//! let loss = cross_entropy(&logits, &[1, 3], &CrossEntropyParams::default());
//! assert!((loss.item() - 4f32.ln()).abs() < 1e-6);
//! let logits = Tensor::from_vec(vec![2.0, 0.0, 0.0, 1.0], [2, 2]);
//! assert_eq!(accuracy(&logits, &[0, 0]), 0.5);
//! ```

use crate::{Error, Tensor};

/// How per-element losses are combined (PyTorch's `reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// One loss per element (per sample for classification losses).
    None,
    /// The mean (for weighted classification losses: divided by the total weight).
    #[default]
    Mean,
    Sum,
}

/// Settings of [`cross_entropy`] (PyTorch's names and defaults).
#[derive(Clone, Debug, Default)]
pub struct CrossEntropyParams {
    /// A rescaling weight per class, `[C]`.
    pub weight: Option<Tensor>,
    /// NOTE: PyTorch uses the integer -100 for "none"; targets are `usize` here, so `None`.
    pub ignore_index: Option<usize>,
    pub reduction: Reduction,
    /// In `[0, 1]`: the target becomes `(1 − ε)·one_hot + ε/C`.
    pub label_smoothing: f32,
}

/// Settings of [`nll_loss`].
#[derive(Clone, Debug, Default)]
pub struct NllLossParams {
    pub weight: Option<Tensor>,
    pub ignore_index: Option<usize>,
    pub reduction: Reduction,
}

/// `(N, C, D)`: samples, classes, and positions per sample, for scores `[N, C, d...]`.
fn class_layout(op: &str, scores: &Tensor, targets: &[usize]) -> Result<(usize, usize, usize), Error> {
    if scores.rank() < 2 {
        return Err(Error::Shape(format!("{op}: expects scores [N, C] or [N, C, d...], got shape {}", scores.shape())));
    }
    let d = scores.dims();
    let (n, c) = (d[0], d[1]);
    let positions: usize = d[2..].iter().product();
    if targets.len() != n * positions {
        return Err(Error::Shape(format!(
            "{op}: {} targets for scores of shape {} (expected {})",
            targets.len(),
            scores.shape(),
            n * positions
        )));
    }
    Ok((n, c, positions))
}

fn check_targets(op: &str, targets: &[usize], c: usize, ignore_index: Option<usize>) -> Result<(), Error> {
    match targets.iter().find(|&&t| t >= c && Some(t) != ignore_index) {
        Some(&t) => Err(Error::Invalid(format!("{op}: target {t} is out of bounds for {c} classes"))),
        None => Ok(()),
    }
}

fn class_weights(op: &str, weight: Option<&Tensor>, c: usize) -> Result<Vec<f32>, Error> {
    match weight {
        None => Ok(vec![1.0; c]),
        Some(w) if w.dims() == [c] => Ok(w.to_vec()),
        Some(w) => Err(Error::Shape(format!("{op}: class weight has shape {}, expected [{c}]", w.shape()))),
    }
}

/// The shared core of both classification losses, on log-probabilities `lp: [N, C, D]`:
/// position `i` with target `t` costs `Σ_c a_c·(−lp[i, c])` with
/// `a_c = (1 − ε)·w_t·[c = t] + (ε/C)·w_c` (zero for an ignored target). With mean
/// reduction the sum is divided by `Σ_i w_{t_i}` over the targets not ignored, exactly as
/// PyTorch combines its NLL and smoothing terms. Gradients flow to `lp` only.
fn smoothed_nll(
    op: &'static str,
    lp: &Tensor,
    targets: &[usize],
    w: Vec<f32>,
    ignore: Option<usize>,
    reduction: Reduction,
    eps: f32,
) -> Tensor {
    let (n, c, dpos) = class_layout(op, lp, targets).unwrap_or_else(|e| panic!("{e}"));
    let x = lp.storage();
    let at = move |s: usize, k: usize, p: usize| (s * c + k) * dpos + p;
    let smooth = eps / c as f32;
    let mut per = vec![0.0f32; n * dpos]; // per-position losses, [N, D]
    let mut total_weight = 0.0f32;
    for s in 0..n {
        for p in 0..dpos {
            let t = targets[s * dpos + p];
            if Some(t) == ignore {
                continue;
            }
            total_weight += w[t];
            let mut l = -(1.0 - eps) * w[t] * x[at(s, t, p)];
            if eps > 0.0 {
                let sum: f32 = (0..c).map(|k| w[k] * x[at(s, k, p)]).sum();
                l -= smooth * sum;
            }
            per[s * dpos + p] = l;
        }
    }
    let (out, out_shape): (Vec<f32>, Vec<usize>) = match reduction {
        Reduction::None => {
            let mut shape = vec![n];
            shape.extend_from_slice(&lp.dims()[2..]);
            (per, shape)
        }
        Reduction::Sum => (vec![per.iter().sum()], vec![]),
        Reduction::Mean => (vec![per.iter().sum::<f32>() / total_weight], vec![]),
    };
    let targets = targets.to_vec();
    let lp_shape = lp.shape().clone();
    Tensor::from_op(out, out_shape, op, &[lp], move |g, _| {
        let g = g.storage();
        // gradient of position (s, p): g for None, g[0] for Sum, g[0]/W for Mean
        let upstream = |i: usize| match reduction {
            Reduction::None => g[i],
            Reduction::Sum => g[0],
            Reduction::Mean => g[0] / total_weight,
        };
        let mut gx = vec![0.0f32; lp_shape.numel()];
        for s in 0..n {
            for p in 0..dpos {
                let t = targets[s * dpos + p];
                if Some(t) == ignore {
                    continue;
                }
                let gi = upstream(s * dpos + p);
                if eps > 0.0 {
                    for k in 0..c {
                        gx[at(s, k, p)] = -gi * smooth * w[k];
                    }
                }
                gx[at(s, t, p)] -= gi * (1.0 - eps) * w[t];
            }
        }
        vec![Some(Tensor::from_vec(gx, lp_shape.clone()))]
    })
}

/// Cross-entropy between class scores (logits) and target classes, PyTorch's
/// `F.cross_entropy`: `log_softmax` over axis 1 followed by the (smoothed) NLL loss.
/// Panics on a target out of range (naming it and C); [`try_cross_entropy`] returns an error.
pub fn cross_entropy(logits: &Tensor, targets: &[usize], params: &CrossEntropyParams) -> Tensor {
    try_cross_entropy(logits, targets, params).unwrap_or_else(|e| panic!("{e}"))
}

/// [`cross_entropy`] that validates shapes, targets and settings first.
pub fn try_cross_entropy(logits: &Tensor, targets: &[usize], params: &CrossEntropyParams) -> Result<Tensor, Error> {
    const OP: &str = "cross_entropy";
    let (_, c, _) = class_layout(OP, logits, targets)?;
    check_targets(OP, targets, c, params.ignore_index)?;
    let w = class_weights(OP, params.weight.as_ref(), c)?;
    let eps = params.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(Error::Invalid(format!("{OP}: label_smoothing must be between 0.0 and 1.0, got {eps}")));
    }
    Ok(smoothed_nll(OP, &logits.log_softmax(1), targets, w, params.ignore_index, params.reduction, eps))
}

/// Negative log-likelihood of target classes under log-probabilities `[N, C, d...]`
/// (PyTorch's `F.nll_loss`): `−w_t·log_probs[i, t]`. Panics on a target out of range.
pub fn nll_loss(log_probs: &Tensor, targets: &[usize], params: &NllLossParams) -> Tensor {
    try_nll_loss(log_probs, targets, params).unwrap_or_else(|e| panic!("{e}"))
}

/// [`nll_loss`] that validates shapes and targets first.
pub fn try_nll_loss(log_probs: &Tensor, targets: &[usize], params: &NllLossParams) -> Result<Tensor, Error> {
    const OP: &str = "nll_loss";
    let (_, c, _) = class_layout(OP, log_probs, targets)?;
    check_targets(OP, targets, c, params.ignore_index)?;
    let w = class_weights(OP, params.weight.as_ref(), c)?;
    Ok(smoothed_nll(OP, log_probs, targets, w, params.ignore_index, params.reduction, 0.0))
}

fn reduce(per: Tensor, reduction: Reduction) -> Tensor {
    match reduction {
        Reduction::None => per,
        Reduction::Sum => per.sum_all(),
        Reduction::Mean => per.mean_all(),
    }
}

fn check_same_shape(op: &str, pred: &Tensor, target: &Tensor) {
    // NOTE: PyTorch broadcasts (with a warning); a mismatch is almost always a bug, so panic.
    assert!(
        pred.shape() == target.shape(),
        "{op}: input shape {} differs from target shape {}",
        pred.shape(),
        target.shape()
    );
}

/// Mean (or sum) absolute error `|pred − target|` (PyTorch's `F.l1_loss`); gradients flow to
/// both. The gradient at `pred = target` is 0.
pub fn l1_loss(pred: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same_shape("l1_loss", pred, target);
    reduce(pred.sub(target).abs(), reduction)
}

/// Mean (or sum) squared error `(pred − target)²` (PyTorch's `F.mse_loss`).
pub fn mse_loss(pred: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same_shape("mse_loss", pred, target);
    reduce(pred.sub(target).square(), reduction)
}

/// The fraction of positions whose highest score (first on ties) is the target class.
/// Scores `[N, C]` or `[N, C, d...]`; a metric, recorded in no graph.
pub fn accuracy(logits: &Tensor, targets: &[usize]) -> f32 {
    let (n, c, dpos) = class_layout("accuracy", logits, targets).unwrap_or_else(|e| panic!("{e}"));
    if targets.is_empty() {
        return f32::NAN;
    }
    let x = logits.storage();
    let mut correct = 0usize;
    for s in 0..n {
        for p in 0..dpos {
            let score = |k: usize| x[(s * c + k) * dpos + p];
            let mut best = 0;
            for k in 1..c {
                if score(k) > score(best) {
                    best = k;
                }
            }
            correct += (best == targets[s * dpos + p]) as usize;
        }
    }
    correct as f32 / targets.len() as f32
}

/// The lecture's 0-1 loss averaged over the batch: the fraction of positions where the
/// predicted class (argmax) differs from the target, `1 − accuracy`.
pub fn zero_one_error(logits: &Tensor, targets: &[usize]) -> f32 {
    1.0 - accuracy(logits, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_target_names_value_and_classes() {
        let e =
            try_cross_entropy(&Tensor::zeros([2, 3]), &[0, 5], &CrossEntropyParams::default()).unwrap_err().to_string();
        assert!(e.contains('5') && e.contains("3 classes"), "{e}");
        let e = try_nll_loss(&Tensor::zeros([2, 3]), &[0], &NllLossParams::default()).unwrap_err().to_string();
        assert!(e.contains("1 targets") && e.contains("[2, 3]"), "{e}");
    }

    #[test]
    fn ignored_target_may_be_out_of_range() {
        let p = CrossEntropyParams { ignore_index: Some(100), ..Default::default() };
        let l = cross_entropy(&Tensor::zeros([2, 3]), &[100, 1], &p);
        assert!((l.item() - 3f32.ln()).abs() < 1e-6);
    }
}
