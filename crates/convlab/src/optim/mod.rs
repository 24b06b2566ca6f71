//! Optimizers, learning-rate schedules and gradient clipping, with PyTorch's update rules.
//!
//! An optimizer is built over the named parameters it updates (as `torch.optim` is built over
//! `model.named_parameters()`), reads one [`Gradients`] store per step, and updates each
//! parameter in place with [`Tensor::update_data`], so the parameter keeps its identity and the
//! next forward pass uses the new values. A parameter without a gradient in the store is
//! skipped (PyTorch skips `grad is None`).
//!
//! - [`Sgd`] (momentum, dampening, Nesterov, weight decay), [`Adam`] (AMSGrad, L2 or
//!   decoupled weight decay: [`AdamW`]), [`RMSprop`] (momentum, centered): the formulas of
//!   `torch.optim`'s single-tensor implementations, in the same order of float operations.
//! - [`Schedule`]: `torch.optim.lr_scheduler`'s schedules as pure functions of the step counter
//!   (`StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR`, `OneCycleLR`,
//!   and `SequentialLR` to chain a warm-up with another schedule).
//! - [`clip_grad_norm`], as `torch.nn.utils.clip_grad_norm_`.
//! - [`Optimizer::state_dict`] / [`Optimizer::load_state_dict`]: the per-parameter state
//!   (momentum buffers, moment estimates, step counts) keyed `"<param>.<state>"`, e.g.
//!   `"fc1.weight.exp_avg"`, for resuming exactly.
//!
//! A tiny regression `y = 2x + 1` trained with SGD and momentum:
//!
//! ```
//! use convlab::optim::{Optimizer, Schedule, Sgd, SgdParams, StepLR};
//! use convlab::ops::loss::{mse_loss, Reduction};
//! use convlab::Tensor;
//!
//! let w = Tensor::zeros([1, 1]).requires_grad_();
//! let b = Tensor::zeros([1]).requires_grad_();
//! let x = Tensor::from_vec(vec![-1.0, 0.0, 1.0, 2.0], [4, 1]);
//! let y = Tensor::from_vec(vec![-1.0, 1.0, 3.0, 5.0], [4, 1]);
//! let params = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
//! let mut opt = Sgd::new(params, SgdParams { lr: 0.1, momentum: 0.9, ..SgdParams::default() });
//! let schedule = Schedule::from(StepLR { step_size: 50, gamma: 0.5 });
//! let base_lr = opt.lr();
//! let mut first = None;
//! for step in 0..100 {
//!     opt.set_lr(schedule.lr(base_lr, step));
//!     let loss = mse_loss(&x.linear(&w, Some(&b)), &y, Reduction::Mean);
//!     first.get_or_insert(loss.item());
//!     let grads = loss.backward();
//!     opt.step(&grads);
//! }
//! assert!(first.unwrap() > 5.0);
//! assert!((w.item() - 2.0).abs() < 1e-2 && (b.item() - 1.0).abs() < 1e-2);
//! // The optimizer's state (here the momentum buffers) can be saved and restored.
//! assert_eq!(opt.state_dict()[0].0, "w.momentum_buffer");
//! ```

pub mod adam;
pub mod clip;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;
mod state;

pub use adam::{Adam, AdamParams, AdamW, AdamWParams};
pub use clip::clip_grad_norm;
pub use rmsprop::{RMSprop, RMSpropParams};
pub use schedule::{
    Anneal, CosineAnnealingLR, ExponentialLR, LinearLR, MultiStepLR, OneCycleLR, Schedule, SequentialLR, StepLR,
};
pub use sgd::{Sgd, SgdParams};

use crate::{Error, Gradients, Tensor};

/// What training code needs from any optimizer.
pub trait Optimizer {
    /// One update of every parameter that has a gradient in `grads`.
    fn step(&mut self, grads: &Gradients);
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate used by the following steps (what a scheduler does).
    fn set_lr(&mut self, lr: f32);
    /// The parameters being optimized, with their names, in the order given.
    fn params(&self) -> &[(String, Tensor)];
    /// The per-parameter state, keyed `"<param name>.<state name>"` (e.g.
    /// `"conv1.weight.momentum_buffer"`, `"fc.bias.exp_avg"`, `"fc.bias.step"`), in parameter
    /// order. Step counts are 1-element tensors. Parameters that have no state yet are absent.
    fn state_dict(&self) -> Vec<(String, Tensor)>;
    /// Replaces the state with one produced by [`Optimizer::state_dict`] of an optimizer with
    /// the same settings over parameters of the same names and shapes. Fails (changing
    /// nothing) on an unknown parameter or state name, a shape mismatch or incomplete state.
    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error>;
}

/// The gradient of `param` as a slice, checked against the parameter's shape.
pub(crate) fn grad_of<'a>(op: &str, name: &str, param: &Tensor, grads: &'a Gradients) -> Option<&'a Tensor> {
    let g = grads.get(param)?;
    assert!(
        g.shape() == param.shape(),
        "{op}: gradient of {name} has shape {} but the parameter has shape {}",
        g.shape(),
        param.shape()
    );
    Some(g)
}

/// The gradient an update rule reads (PyTorch's first lines of each): a copy of `grad`,
/// negated when maximizing, plus the L2 penalty `weight_decay·p` when that is not 0.
#[inline(always)]
pub(crate) fn penalized_grad(grad: &Tensor, param: &Tensor, weight_decay: f32, maximize: bool) -> Vec<f32> {
    let mut g: Vec<f32> = grad.storage().to_vec();
    if maximize {
        g.iter_mut().for_each(|v| *v = -*v);
    }
    if weight_decay != 0.0 {
        let p = param.storage();
        g.iter_mut().zip(p.iter()).for_each(|(g, p)| *g = p.mul_add(weight_decay, *g));
    }
    g
}

/// An error naming the optimizer on duplicate parameter names.
pub(crate) fn check_names(op: &str, params: &[(String, Tensor)]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            return Err(Error::Invalid(format!("{op}: parameter name {name:?} appears twice")));
        }
    }
    Ok(())
}

/// `x ≥ 0`, false for NaN (settings checks).
pub(crate) fn non_negative(x: f32) -> bool {
    x >= 0.0
}
