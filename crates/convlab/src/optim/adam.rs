//! Adam, with L2 or decoupled weight decay (PyTorch's `torch.optim.Adam`; AdamW is Adam with
//! `decoupled_weight_decay`, as `torch.optim.AdamW` is since PyTorch 2.6).
//!
//! With `g` the gradient (negated when maximizing), `t` the parameter's step count:
//!
//! ```text
//! t ← t + 1
//! g ← g + weight_decay·p,   or with decoupled_weight_decay (AdamW):  p ← p·(1 − lr·weight_decay)
//! m ← lerp(m, g, 1 − β₁)          v ← β₂·v + (1 − β₂)·g²
//! v̂ ← max(v̂, v) (amsgrad, then used in place of v)
//! p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
//! ```
//!
//! ```
//! use convlab::optim::{Adam, AdamParams, Optimizer};
//! use convlab::Tensor;
//! let w = Tensor::from_vec(vec![1.0, -3.0], [2]).requires_grad_();
//! let mut opt = Adam::new(vec![("w".into(), w.clone())], AdamParams { lr: 0.1, ..AdamParams::default() });
//! opt.step(&(&w * &w).sum_all().backward());
//! // Adam's first step moves every coordinate by about lr against its gradient's sign.
//! let v = w.to_vec();
//! assert!((v[0] - 0.9).abs() < 1e-5 && (v[1] + 2.9).abs() < 1e-5);
//! ```

use std::collections::HashMap;

use super::state::{export, import, ParamState};
use super::{check_names, grad_of, non_negative, penalized_grad, Optimizer};
use crate::kernels::simd;
use crate::{Error, Gradients, Tensor};

/// Settings of [`Adam`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
    /// L2 penalty added to the gradient; with `decoupled_weight_decay`, the parameter shrinks
    /// by `lr·weight_decay` each step instead.
    pub weight_decay: f32,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: weight decay applied to the parameter, not through the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

/// Settings of [`AdamW`]: PyTorch's `torch.optim.AdamW` arguments and defaults (note
/// `weight_decay` 0.01). They are [`AdamParams`] with `decoupled_weight_decay` on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWParams {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
    /// Decoupled weight decay: the parameter shrinks by `lr·weight_decay` each step.
    pub weight_decay: f32,
    pub amsgrad: bool,
    pub maximize: bool,
}

impl Default for AdamWParams {
    fn default() -> Self {
        let AdamParams { lr, betas, eps, amsgrad, maximize, .. } = AdamParams::default();
        AdamWParams { lr, betas, eps, weight_decay: 1e-2, amsgrad, maximize }
    }
}

impl From<AdamWParams> for AdamParams {
    fn from(s: AdamWParams) -> AdamParams {
        let AdamWParams { lr, betas, eps, weight_decay, amsgrad, maximize } = s;
        AdamParams { lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay: true }
    }
}

impl AdamParams {
    /// The optimizer's name in messages: `AdamW` with decoupled weight decay, else `Adam`.
    fn op(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
    }

    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(format!("{}: {m}", self.op())));
        let (lr, betas, eps, weight_decay) = (self.lr, self.betas, self.eps, self.weight_decay);
        if !non_negative(lr) {
            return bad(format!("invalid learning rate {lr}"));
        }
        if !non_negative(eps) {
            return bad(format!("invalid epsilon {eps}"));
        }
        if !(0.0..1.0).contains(&betas.0) {
            return bad(format!("invalid beta parameter at index 0: {}", betas.0));
        }
        if !(0.0..1.0).contains(&betas.1) {
            return bad(format!("invalid beta parameter at index 1: {}", betas.1));
        }
        if !non_negative(weight_decay) {
            return bad(format!("invalid weight_decay value: {weight_decay}"));
        }
        Ok(())
    }
}
impl AdamWParams {
    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        AdamParams::from(*self).check()
    }
}

const KINDS: [&str; 3] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// PyTorch's `torch.lerp` with a scalar weight: `a + w·(b − a)` for `|w| < 0.5`, else
/// `b − (b − a)·(1 − w)`.
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        (b - a).mul_add(w, a)
    } else {
        (a - b).mul_add(1.0 - w, b)
    }
}

/// Adam; see the module documentation.
pub struct Adam {
    params: Vec<(String, Tensor)>,
    pub settings: AdamParams,
    state: HashMap<String, ParamState>,
}

/// PyTorch's `torch.optim.AdamW`: [`Adam`] with `decoupled_weight_decay` always on, built
/// from [`AdamWParams`] (its defaults are AdamW's, weight decay 0.01). The same implementation
/// as Adam; only the constructor differs, so an AdamW cannot be made without decoupled decay.
pub struct AdamW(Adam);

impl AdamW {
    /// Panics on invalid settings or duplicate names (see [`AdamW::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: AdamWParams) -> AdamW {
        AdamW::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_new(params: Vec<(String, Tensor)>, settings: AdamWParams) -> Result<AdamW, Error> {
        Adam::try_new(params, settings).map(AdamW)
    }

    /// The settings, as the [`AdamParams`] they are (`decoupled_weight_decay` on).
    pub fn settings(&self) -> &AdamParams {
        &self.0.settings
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, grads: &Gradients) {
        self.0.step(grads)
    }

    fn lr(&self) -> f32 {
        self.0.lr()
    }

    fn set_lr(&mut self, lr: f32) {
        self.0.set_lr(lr)
    }

    fn params(&self) -> &[(String, Tensor)] {
        self.0.params()
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.0.state_dict()
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error> {
        self.0.load_state_dict(state)
    }
}

impl Adam {
    /// Panics on invalid settings or duplicate names (see [`Adam::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: impl Into<AdamParams>) -> Adam {
        Adam::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Takes [`AdamParams`] (or [`AdamWParams`], which are AdamParams with decoupled decay;
    /// [`AdamW`] builds the same optimizer under PyTorch's name).
    pub fn try_new(params: Vec<(String, Tensor)>, settings: impl Into<AdamParams>) -> Result<Adam, Error> {
        let settings = settings.into();
        settings.check()?;
        check_names(settings.op(), &params)?;
        Ok(Adam { params, settings, state: HashMap::new() })
    }

    /// One update of every parameter: [`Optimizer::step`] runs it compiled for the CPU's
    /// vector and FMA units (`mul_add` is then one instruction, not a libm call; same bits).
    #[inline(always)]
    fn update(&mut self, grads: &Gradients) {
        let s = self.settings;
        let (lr, eps, weight_decay) = (s.lr, s.eps, s.weight_decay);
        let (beta1, beta2) = (s.betas.0 as f64, s.betas.1 as f64);
        // Scalars as PyTorch forms them: Python floats (f64), cast to f32 by the kernels.
        let lerp_weight = (1.0 - beta1) as f32;
        let one_minus_beta2 = (1.0 - beta2) as f32;
        let b2 = s.betas.1;
        let decay = (1.0 - lr as f64 * weight_decay as f64) as f32;
        let l2 = if s.decoupled_weight_decay { 0.0 } else { weight_decay };
        for (name, param) in &self.params {
            let Some(grad) = grad_of(s.op(), name, param, grads) else { continue };
            let n = param.numel();
            let g = penalized_grad(grad, param, l2, s.maximize);
            let st = self.state.entry(name.clone()).or_default();
            let step = st.step.unwrap_or(0.0) + 1.0;
            st.step = Some(step);
            if s.decoupled_weight_decay && weight_decay != 0.0 {
                param.update_data(|p| p.iter_mut().for_each(|p| *p *= decay));
            }
            st.buffer_or("exp_avg", || vec![0.0; n])
                .iter_mut()
                .zip(&g)
                .for_each(|(m, g)| *m = lerp(*m, *g, lerp_weight));
            st.buffer_or("exp_avg_sq", || vec![0.0; n])
                .iter_mut()
                .zip(&g)
                .for_each(|(v, g)| *v = (one_minus_beta2 * g).mul_add(*g, *v * b2));
            let bias_correction1 = 1.0 - beta1.powf(step as f64);
            let bias_correction2 = 1.0 - beta2.powf(step as f64);
            let step_size = lr as f64 / bias_correction1;
            let bias_correction2_sqrt = bias_correction2.sqrt() as f32;
            let neg_step_size = (-step_size) as f32;
            if s.amsgrad {
                let v = st.buffer("exp_avg_sq").expect("set above").clone();
                let vmax = st.buffer_or("max_exp_avg_sq", || vec![0.0; n]);
                vmax.iter_mut().zip(&v).for_each(|(a, b)| *a = a.max(*b));
            }
            let denom_src = if s.amsgrad { "max_exp_avg_sq" } else { "exp_avg_sq" };
            let denom: Vec<f32> = st
                .buffer(denom_src)
                .expect("set above")
                .iter()
                .map(|v| v.sqrt() / bias_correction2_sqrt + eps)
                .collect();
            let m = st.buffer("exp_avg").expect("set above");
            param.update_data(|p| {
                for ((p, m), d) in p.iter_mut().zip(m.iter()).zip(&denom) {
                    *p += neg_step_size * m / d;
                }
            });
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &Gradients) {
        simd::dispatch(
            #[inline(always)]
            || self.update(grads),
        )
    }

    fn lr(&self) -> f32 {
        self.settings.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.settings.lr = lr;
    }

    fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        export(&self.params, &self.state, &KINDS)
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error> {
        let required: &[&str] = if self.settings.amsgrad { &KINDS } else { &KINDS[..2] };
        self.state = import(self.settings.op(), &self.params, state, &KINDS, required, true)?;
        Ok(())
    }
}
