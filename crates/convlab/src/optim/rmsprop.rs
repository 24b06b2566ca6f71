//! RMSprop (PyTorch's `torch.optim.RMSprop`).
//!
//! With `g` the gradient (negated when maximizing), `s` the running mean of squares, `ḡ` the
//! running mean (centered only), `b` the momentum buffer:
//!
//! ```text
//! g ← g + weight_decay·p                     (if weight_decay ≠ 0)
//! s ← α·s + (1 − α)·g²
//! centered: ḡ ← lerp(ḡ, g, 1 − α),  a ← √(s − ḡ²) + eps;   else a ← √s + eps
//! momentum > 0: b ← momentum·b + g/a,  p ← p − lr·b;         else p ← p − lr·g/a
//! ```
//!
//! ```
//! use convlab::optim::{Optimizer, RMSprop, RMSpropParams};
//! use convlab::Tensor;
//! let w = Tensor::from_vec(vec![2.0], [1]).requires_grad_();
//! let mut opt = RMSprop::new(vec![("w".into(), w.clone())], RMSpropParams::default());
//! opt.step(&(&w * &w).sum_all().backward());
//! // First step: s = 0.01·g², so the step is lr·g/|0.1·g| = 10·lr.
//! assert!((w.item() - 1.9).abs() < 1e-5);
//! ```

use std::collections::HashMap;

use super::adam::lerp;
use super::state::{export, import, ParamState};
use super::{check_names, grad_of, non_negative, penalized_grad, Optimizer};
use crate::kernels::simd;
use crate::{Error, Gradients, Tensor};

/// Settings of [`RMSprop`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RMSpropParams {
    pub lr: f32,
    pub alpha: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RMSpropParams {
    fn default() -> Self {
        RMSpropParams {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RMSpropParams {
    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(format!("RMSprop: {m}")));
        if !non_negative(self.lr) {
            return bad(format!("invalid learning rate {}", self.lr));
        }
        if !non_negative(self.eps) {
            return bad(format!("invalid epsilon value {}", self.eps));
        }
        if !non_negative(self.momentum) {
            return bad(format!("invalid momentum value {}", self.momentum));
        }
        if !non_negative(self.weight_decay) {
            return bad(format!("invalid weight_decay value {}", self.weight_decay));
        }
        if !non_negative(self.alpha) {
            return bad(format!("invalid alpha value {}", self.alpha));
        }
        Ok(())
    }
}

/// RMSprop; see the module documentation.
pub struct RMSprop {
    params: Vec<(String, Tensor)>,
    pub settings: RMSpropParams,
    state: HashMap<String, ParamState>,
}

const KINDS: [&str; 3] = ["square_avg", "momentum_buffer", "grad_avg"];

impl RMSprop {
    /// Panics on invalid settings or duplicate names (see [`RMSprop::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: RMSpropParams) -> RMSprop {
        RMSprop::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_new(params: Vec<(String, Tensor)>, settings: RMSpropParams) -> Result<RMSprop, Error> {
        settings.check()?;
        check_names("RMSprop", &params)?;
        Ok(RMSprop { params, settings, state: HashMap::new() })
    }
}

impl RMSprop {
    /// One update of every parameter: [`Optimizer::step`] runs it compiled for the CPU's
    /// vector and FMA units (`mul_add` is then one instruction, not a libm call; same bits).
    #[inline(always)]
    fn update(&mut self, grads: &Gradients) {
        let s = self.settings;
        let (alpha, wd, eps, momentum) = (s.alpha, s.weight_decay, s.eps, s.momentum);
        let one_minus_alpha = (1.0 - alpha as f64) as f32;
        let neg_lr = -s.lr;
        for (name, param) in &self.params {
            let Some(grad) = grad_of("RMSprop", name, param, grads) else { continue };
            let n = param.numel();
            let g = penalized_grad(grad, param, wd, s.maximize);
            let st = self.state.entry(name.clone()).or_default();
            st.step = Some(st.step.unwrap_or(0.0) + 1.0);
            let sq = st.buffer_or("square_avg", || vec![0.0; n]);
            sq.iter_mut().zip(&g).for_each(|(v, g)| *v = (one_minus_alpha * g).mul_add(*g, *v * alpha));
            let sq = sq.clone();
            let avg: Vec<f32> = if s.centered {
                let ga = st.buffer_or("grad_avg", || vec![0.0; n]);
                ga.iter_mut().zip(&g).for_each(|(a, g)| *a = lerp(*a, *g, one_minus_alpha));
                sq.iter().zip(ga.iter()).map(|(v, a)| (-a).mul_add(*a, *v).sqrt() + eps).collect()
            } else {
                sq.iter().map(|v| v.sqrt() + eps).collect()
            };
            if momentum > 0.0 {
                let buf = st.buffer_or("momentum_buffer", || vec![0.0; n]);
                buf.iter_mut().zip(&g).zip(&avg).for_each(|((b, g), a)| *b = *b * momentum + g / a);
                param.update_data(|p| p.iter_mut().zip(buf.iter()).for_each(|(p, b)| *p = b.mul_add(neg_lr, *p)));
            } else {
                param.update_data(|p| p.iter_mut().zip(&g).zip(&avg).for_each(|((p, g), a)| *p += neg_lr * g / a));
            }
        }
    }
}

impl Optimizer for RMSprop {
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
        let mut required = vec!["square_avg"];
        if self.settings.momentum > 0.0 {
            required.push("momentum_buffer");
        }
        if self.settings.centered {
            required.push("grad_avg");
        }
        self.state = import("RMSprop", &self.params, state, &KINDS, &required, true)?;
        Ok(())
    }
}
