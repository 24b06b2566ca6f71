//! Adam and AdamW (PyTorch's `torch.optim.Adam` / `torch.optim.AdamW`).
//!
//! With `g` the gradient (negated when maximizing), `t` the parameter's step count:
//!
//! ```text
//! t ← t + 1
//! Adam:  g ← g + weight_decay·p          AdamW:  p ← p·(1 − lr·weight_decay)
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
use super::{check_names, grad_of, non_negative, Optimizer};
use crate::kernels::simd;
use crate::{Error, Gradients, Tensor};

/// Settings of [`Adam`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub lr: f32,
    pub betas: (f32, f32),
    pub eps: f32,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
    pub amsgrad: bool,
    pub maximize: bool,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, amsgrad: false, maximize: false }
    }
}

/// Settings of [`AdamW`] (PyTorch's names and defaults: note `weight_decay` 0.01).
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
        AdamWParams { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 1e-2, amsgrad: false, maximize: false }
    }
}

impl AdamParams {
    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        check("Adam", self.lr, self.betas, self.eps, self.weight_decay)
    }
}

impl AdamWParams {
    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        check("AdamW", self.lr, self.betas, self.eps, self.weight_decay)
    }
}

fn check(op: &str, lr: f32, betas: (f32, f32), eps: f32, weight_decay: f32) -> Result<(), Error> {
    let bad = |m: String| Err(Error::Invalid(format!("{op}: {m}")));
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

const KINDS: [&str; 3] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// What Adam and AdamW share: everything but how weight decay enters.
struct Core {
    op: &'static str,
    params: Vec<(String, Tensor)>,
    state: HashMap<String, ParamState>,
}

impl Core {
    fn new(op: &'static str, params: Vec<(String, Tensor)>) -> Result<Core, Error> {
        check_names(op, &params)?;
        Ok(Core { op, params, state: HashMap::new() })
    }

    /// One update of every parameter, compiled for the CPU's vector and FMA units (`mul_add`
    /// is then one instruction, not a libm call; same bits).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        grads: &Gradients,
        lr: f32,
        betas: (f32, f32),
        eps: f32,
        weight_decay: f32,
        amsgrad: bool,
        maximize: bool,
        decoupled: bool,
    ) {
        simd::dispatch(
            #[inline(always)]
            || self.update(grads, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled),
        )
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn update(
        &mut self,
        grads: &Gradients,
        lr: f32,
        betas: (f32, f32),
        eps: f32,
        weight_decay: f32,
        amsgrad: bool,
        maximize: bool,
        decoupled: bool,
    ) {
        let (beta1, beta2) = (betas.0 as f64, betas.1 as f64);
        // Scalars as PyTorch forms them: Python floats (f64), cast to f32 by the kernels.
        let lerp_weight = (1.0 - beta1) as f32;
        let one_minus_beta2 = (1.0 - beta2) as f32;
        let b2 = betas.1;
        let decay = (1.0 - lr as f64 * weight_decay as f64) as f32;
        for (name, param) in &self.params {
            let Some(grad) = grad_of(self.op, name, param, grads) else { continue };
            let n = param.numel();
            let mut g: Vec<f32> = grad.storage().to_vec();
            if maximize {
                g.iter_mut().for_each(|v| *v = -*v);
            }
            let st = self.state.entry(name.clone()).or_default();
            let step = st.step.unwrap_or(0.0) + 1.0;
            st.step = Some(step);
            if weight_decay != 0.0 {
                if decoupled {
                    param.update_data(|p| p.iter_mut().for_each(|p| *p *= decay));
                } else {
                    let p = param.storage();
                    g.iter_mut().zip(p.iter()).for_each(|(g, p)| *g = p.mul_add(weight_decay, *g));
                }
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
            if amsgrad {
                let v = st.buffer("exp_avg_sq").expect("set above").clone();
                let vmax = st.buffer_or("max_exp_avg_sq", || vec![0.0; n]);
                vmax.iter_mut().zip(&v).for_each(|(a, b)| *a = a.max(*b));
            }
            let denom_src = if amsgrad { "max_exp_avg_sq" } else { "exp_avg_sq" };
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

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        export(&self.params, &self.state, &KINDS)
    }

    fn load(&mut self, state: &[(String, Tensor)], amsgrad: bool) -> Result<(), Error> {
        let required: &[&str] = if amsgrad { &KINDS } else { &KINDS[..2] };
        self.state = import(self.op, &self.params, state, &KINDS, required, true)?;
        Ok(())
    }
}

/// PyTorch's `torch.lerp` with a scalar weight: `a + w·(b − a)` for `|w| < 0.5`, else
/// `b − (b − a)·(1 − w)`.
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        (b - a).mul_add(w, a)
    } else {
        (a - b).mul_add(1.0 - w, b)
    }
}

/// Adam with L2 weight decay; see the module documentation.
pub struct Adam {
    core: Core,
    pub settings: AdamParams,
}

impl Adam {
    /// Panics on invalid settings or duplicate names (see [`Adam::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: AdamParams) -> Adam {
        Adam::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_new(params: Vec<(String, Tensor)>, settings: AdamParams) -> Result<Adam, Error> {
        settings.check()?;
        Ok(Adam { core: Core::new("Adam", params)?, settings })
    }
}

/// Adam with decoupled weight decay; see the module documentation.
pub struct AdamW {
    core: Core,
    pub settings: AdamWParams,
}

impl AdamW {
    /// Panics on invalid settings or duplicate names (see [`AdamW::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: AdamWParams) -> AdamW {
        AdamW::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_new(params: Vec<(String, Tensor)>, settings: AdamWParams) -> Result<AdamW, Error> {
        settings.check()?;
        Ok(AdamW { core: Core::new("AdamW", params)?, settings })
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &Gradients) {
        let s = self.settings;
        self.core.step(grads, s.lr, s.betas, s.eps, s.weight_decay, s.amsgrad, s.maximize, false);
    }

    fn lr(&self) -> f32 {
        self.settings.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.settings.lr = lr;
    }

    fn params(&self) -> &[(String, Tensor)] {
        &self.core.params
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.core.state_dict()
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error> {
        self.core.load(state, self.settings.amsgrad)
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, grads: &Gradients) {
        let s = self.settings;
        self.core.step(grads, s.lr, s.betas, s.eps, s.weight_decay, s.amsgrad, s.maximize, true);
    }

    fn lr(&self) -> f32 {
        self.settings.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.settings.lr = lr;
    }

    fn params(&self) -> &[(String, Tensor)] {
        &self.core.params
    }

    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.core.state_dict()
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error> {
        self.core.load(state, self.settings.amsgrad)
    }
}
