//! Fully connected and shape layers: `Linear`, `Flatten`, `Identity`, `Dropout`.

use crate::nn::init::{default_bias, default_weight, ParamRng};
use crate::nn::module::{weight_and_bias, Forward, Module, TensorKind};
use crate::ops::layout::flatten_output_shape;
use crate::ops::linear::linear_output_shape;
use crate::{Error, Tensor};

/// `nn.Linear`: `y = x·Wᵀ + b` with weight `[out, in]`, bias `[out]`.
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default initialization; `bias` as torch's `bias=True`.
    pub fn new(in_features: usize, out_features: usize, bias: bool, rng: &mut ParamRng) -> Linear {
        let shape = [out_features, in_features];
        let weight = default_weight(&shape, rng).requires_grad_();
        let bias = bias.then(|| default_bias(out_features, &shape, rng).requires_grad_());
        Linear { in_features, out_features, weight, bias }
    }
}

impl Module for Linear {
    fn kind(&self) -> &'static str {
        "Linear"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        linear_output_shape(input, self.weight.dims(), self.bias.as_ref().map(|b| b.dims()))
    }

    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn describe(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features,
            self.out_features,
            if self.bias.is_some() { "True" } else { "False" }
        )
    }
}

/// `nn.Flatten`: merges dimensions `start_dim..=end_dim` (defaults 1 and -1).
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1, end_dim: -1 }
    }
}

impl Module for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.flatten(self.start_dim, self.end_dim)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        flatten_output_shape(input, self.start_dim, self.end_dim)
    }

    fn describe(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
}

/// `nn.Identity`.
pub struct Identity;

impl Module for Identity {
    fn kind(&self) -> &'static str {
        "Identity"
    }

    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.clone()
    }
}

/// `nn.Dropout`: zeroes elements with probability `p` in training (scaling the rest by
/// 1/(1-p)); the identity in evaluation. Masks come from the forward pass's seed.
pub struct Dropout {
    pub p: f32,
}

impl Module for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        if !ctx.is_train() || self.p == 0.0 {
            return x.clone();
        }
        let seed = ctx.next_seed();
        x.dropout(self.p, true, seed)
    }

    fn describe(&self) -> String {
        format!("p={}", self.p)
    }
}
