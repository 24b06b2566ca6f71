//! Stochastic gradient descent with momentum (PyTorch's `torch.optim.SGD`).
//!
//! With `g` the gradient (negated when maximizing), `p` the parameter, `b` the momentum buffer:
//!
//! ```text
//! g ← g + weight_decay·p                         (if weight_decay ≠ 0)
//! b ← g  (first step),  b ← momentum·b + (1 − dampening)·g   (if momentum ≠ 0)
//! g ← g + momentum·b  (nesterov)  or  g ← b
//! p ← p − lr·g
//! ```
//!
//! ```
//! use convlab::optim::{Optimizer, Sgd, SgdParams};
//! use convlab::Tensor;
//! let w = Tensor::from_vec(vec![1.0, -1.0], [2]).requires_grad_();
//! let mut opt = Sgd::new(vec![("w".into(), w.clone())], SgdParams { lr: 0.5, ..SgdParams::default() });
//! let grads = (&w * &w).sum_all().backward(); // gradient 2w
//! opt.step(&grads);
//! assert_eq!(w.to_vec(), vec![0.0, 0.0]);
//! ```

use std::collections::HashMap;

use super::state::{export, import, ParamState};
use super::{check_names, grad_of, non_negative, penalized_grad, Optimizer};
use crate::kernels::simd;
use crate::{Error, Gradients, Tensor};

/// Settings of [`Sgd`] (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdParams {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: bool,
    /// Ascend the objective instead of descending it.
    pub maximize: bool,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams { lr: 1e-3, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

impl SgdParams {
    /// PyTorch's argument checks.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(format!("SGD: {m}")));
        if !non_negative(self.lr) {
            return bad(format!("invalid learning rate {}", self.lr));
        }
        if !non_negative(self.momentum) {
            return bad(format!("invalid momentum {}", self.momentum));
        }
        if !non_negative(self.weight_decay) {
            return bad(format!("invalid weight_decay {}", self.weight_decay));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad("nesterov momentum requires a momentum and zero dampening".into());
        }
        Ok(())
    }
}

/// Stochastic gradient descent; see the module documentation.
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    pub settings: SgdParams,
    state: HashMap<String, ParamState>,
}

const BUF: &str = "momentum_buffer";

impl Sgd {
    /// Panics on invalid settings or duplicate names (see [`Sgd::try_new`]).
    pub fn new(params: Vec<(String, Tensor)>, settings: SgdParams) -> Sgd {
        Sgd::try_new(params, settings).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_new(params: Vec<(String, Tensor)>, settings: SgdParams) -> Result<Sgd, Error> {
        settings.check()?;
        check_names("SGD", &params)?;
        Ok(Sgd { params, settings, state: HashMap::new() })
    }
}

impl Sgd {
    /// One update of every parameter: [`Optimizer::step`] runs it compiled for the CPU's
    /// vector and FMA units (`mul_add` is then one instruction, not a libm call; same bits).
    #[inline(always)]
    fn update(&mut self, grads: &Gradients) {
        let s = self.settings;
        let (wd, momentum, lr) = (s.weight_decay, s.momentum, s.lr);
        let one_minus_dampening = (1.0 - s.dampening as f64) as f32;
        for (name, param) in &self.params {
            let Some(grad) = grad_of("SGD", name, param, grads) else { continue };
            let mut g = penalized_grad(grad, param, wd, s.maximize);
            if momentum != 0.0 {
                let st = self.state.entry(name.clone()).or_default();
                match st.buffer(BUF) {
                    None => st.buffers.push((BUF, g.clone())),
                    Some(buf) => {
                        buf.iter_mut().zip(&g).for_each(|(b, g)| *b = g.mul_add(one_minus_dampening, *b * momentum))
                    }
                }
                let buf = st.buffer(BUF).expect("just set");
                if s.nesterov {
                    g.iter_mut().zip(buf.iter()).for_each(|(g, b)| *g = b.mul_add(momentum, *g));
                } else {
                    g.copy_from_slice(buf);
                }
            }
            param.update_data(|p| p.iter_mut().zip(&g).for_each(|(p, g)| *p = g.mul_add(-lr, *p)));
        }
    }
}

impl Optimizer for Sgd {
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
        export(&self.params, &self.state, &[BUF])
    }

    fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<(), Error> {
        // NOTE: PyTorch's SGD keeps no step count; the buffer's presence marks "after step 1".
        self.state = import("SGD", &self.params, state, &[BUF], &[BUF], false)?;
        Ok(())
    }
}
