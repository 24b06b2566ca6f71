//! Activation functions (PyTorch semantics), each with its derivative beside it, and the
//! [`Activation`] enum that names them for layers, plots and the explainer.
//!
//! The scalar functions in [`scalar`] are the single definition of each activation: the tensor
//! ops map them over the data, and [`Activation::f`] / [`Activation::df`] evaluate them at
//! one point.
//!
//! ```
//! use convlab::ops::activation::{Activation, Gelu, HARDSIGMOID_ALPHA, HARDSIGMOID_BETA, SELU_SCALE};
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![-2.0, 0.0, 3.0], [3]);
//! assert_eq!(x.relu().to_vec(), vec![0.0, 0.0, 3.0]);
//! assert_eq!(x.leaky_relu(0.1).to_vec(), vec![-0.2, 0.0, 3.0]);
//! assert_eq!(x.sigmoid().to_vec()[1], 0.5);
//! let act = Activation::Gelu { approximate: Gelu::None };
//! assert_eq!(act.name(), "gelu");
//! assert!((act.f(1.0) - 0.841_344_7).abs() < 1e-6);
//! assert_eq!(act.apply(&x).dims(), &[3]);
//! // The piecewise-linear ones of the mobile networks, and SELU.
//! let x = Tensor::from_vec(vec![-4.0, 0.0, 1.5, 7.0], [4]);
//! assert_eq!(x.relu6().to_vec(), vec![0.0, 0.0, 1.5, 6.0]);
//! assert_eq!(x.hardsigmoid(HARDSIGMOID_ALPHA, HARDSIGMOID_BETA).to_vec(), vec![0.0, 0.5, 0.75, 1.0]);
//! assert_eq!(x.hardswish().to_vec(), vec![-0.0, 0.0, 1.125, 7.0]);
//! assert_eq!(Activation::from_name("hardswish").unwrap(), Activation::Hardswish);
//! assert_eq!(x.selu().to_vec()[3], 7.0 * SELU_SCALE);
//! ```

use crate::ops::elementwise::unary_op;
use crate::Tensor;

/// The approximation used by GELU (PyTorch's `approximate='none' | 'tanh'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Gelu {
    /// `x·Φ(x)` with the exact normal CDF (via `erf`).
    #[default]
    None,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    Tanh,
}

/// PyTorch's hardsigmoid as `clamp(alpha·x + beta, 0, 1)`: `relu6(x + 3)/6` has `alpha = 1/6`.
pub const HARDSIGMOID_ALPHA: f32 = 1.0 / 6.0;
/// PyTorch's hardsigmoid offset (ONNX `HardSigmoid`'s default `alpha` is 0.2, its `beta` 0.5).
pub const HARDSIGMOID_BETA: f32 = 0.5;
/// SELU's `α` (Klambauer et al. 2017, as PyTorch and ONNX `Selu`): 1.6732632423543772.
pub const SELU_ALPHA: f32 = 1.673_263_2;
/// SELU's scale `λ` (ONNX `Selu`'s `gamma`): 1.0507009873554805.
pub const SELU_SCALE: f32 = 1.050_701;

/// Scalar forms `f(x)` and derivatives `f'(x)` of every activation (f32, as the tensor ops).
pub mod scalar {
    use super::{Gelu, SELU_ALPHA, SELU_SCALE};

    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    /// 1/√(2π)
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    const GELU_TANH_C: f32 = 0.044_715;

    pub fn relu(x: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }

    /// 1 for x > 0, else 0 (PyTorch's choice at 0).
    pub fn relu_grad(x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }

    pub fn leaky_relu(x: f32, negative_slope: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            x * negative_slope
        }
    }

    pub fn leaky_relu_grad(x: f32, negative_slope: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            negative_slope
        }
    }

    /// `x` for x > 0, else `α·(eˣ − 1)`.
    pub fn elu(x: f32, alpha: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            alpha * x.exp_m1()
        }
    }

    pub fn elu_grad(x: f32, alpha: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            alpha * x.exp()
        }
    }

    /// `log(1 + e^(βx))/β`, and `x` itself where `βx > threshold` (as PyTorch).
    pub fn softplus(x: f32, beta: f32, threshold: f32) -> f32 {
        let bx = x * beta;
        if bx > threshold {
            x
        } else {
            bx.exp().ln_1p() / beta
        }
    }

    pub fn softplus_grad(x: f32, beta: f32, threshold: f32) -> f32 {
        let bx = x * beta;
        if bx > threshold {
            1.0
        } else {
            sigmoid(bx)
        }
    }

    /// The logistic function `1/(1 + e^(−x))`, evaluated without overflow for any x.
    pub fn sigmoid(x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    pub fn sigmoid_grad(x: f32) -> f32 {
        let s = sigmoid(x);
        s * (1.0 - s)
    }

    pub fn tanh(x: f32) -> f32 {
        x.tanh()
    }

    pub fn tanh_grad(x: f32) -> f32 {
        let t = x.tanh();
        1.0 - t * t
    }

    pub fn gelu(x: f32, approximate: Gelu) -> f32 {
        match approximate {
            Gelu::None => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
            Gelu::Tanh => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)).tanh()),
        }
    }

    pub fn gelu_grad(x: f32, approximate: Gelu) -> f32 {
        match approximate {
            // Φ(x) + x·φ(x)
            Gelu::None => 0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2)) + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp(),
            Gelu::Tanh => {
                let inner = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
                let t = inner.tanh();
                let d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x * x);
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
            }
        }
    }

    /// `x·σ(x)` (also called swish).
    pub fn silu(x: f32) -> f32 {
        x * sigmoid(x)
    }

    pub fn silu_grad(x: f32) -> f32 {
        let s = sigmoid(x);
        s * (1.0 + x * (1.0 - s))
    }

    /// `min(max(x, 0), 6)` (NaN stays NaN).
    pub fn relu6(x: f32) -> f32 {
        x.clamp(0.0, 6.0)
    }

    /// 1 strictly inside `(0, 6)`, else 0: PyTorch's relu6 is `hardtanh(x, 0, 6)`, whose
    /// gradient is 0 at both ends.
    pub fn relu6_grad(x: f32) -> f32 {
        if x > 0.0 && x < 6.0 {
            1.0
        } else {
            0.0
        }
    }

    /// `clamp(alpha·x + beta, 0, 1)`; PyTorch's `relu6(x + 3)/6` is `alpha = 1/6, beta = 1/2`.
    pub fn hardsigmoid(x: f32, alpha: f32, beta: f32) -> f32 {
        (alpha * x + beta).clamp(0.0, 1.0)
    }

    /// `alpha` where `0 < alpha·x + beta < 1`, else 0 (PyTorch's is 0 at x = ±3).
    pub fn hardsigmoid_grad(x: f32, alpha: f32, beta: f32) -> f32 {
        let z = alpha * x + beta;
        if z > 0.0 && z < 1.0 {
            alpha
        } else {
            0.0
        }
    }

    /// `x·relu6(x + 3)/6`, in PyTorch's order of operations.
    pub fn hardswish(x: f32) -> f32 {
        x * relu6(x + 3.0) / 6.0
    }

    /// 0 for x ≤ −3, `x/3 + 1/2` for −3 < x < 3, 1 for x ≥ 3: PyTorch's values at the kinks
    /// (0 at x = −3, 1 at x = 3).
    pub fn hardswish_grad(x: f32) -> f32 {
        if x <= -3.0 {
            0.0
        } else if x < 3.0 {
            x / 3.0 + 0.5
        } else {
            1.0
        }
    }

    /// `λ·x` for x > 0, else `λ·α·(eˣ − 1)`, with PyTorch's [`SELU_ALPHA`] and [`SELU_SCALE`].
    pub fn selu(x: f32) -> f32 {
        if x > 0.0 {
            SELU_SCALE * x
        } else {
            SELU_SCALE * SELU_ALPHA * x.exp_m1()
        }
    }

    /// `λ` for x > 0, else `λ·α·eˣ` (`λ·α` at 0, as PyTorch).
    pub fn selu_grad(x: f32) -> f32 {
        if x > 0.0 {
            SELU_SCALE
        } else {
            SELU_SCALE * SELU_ALPHA * x.exp()
        }
    }
}

impl Tensor {
    /// `max(0, x)`; the gradient at 0 is 0.
    pub fn relu(&self) -> Tensor {
        unary_op(self, "relu", scalar::relu, |x, _, g| g * scalar::relu_grad(x))
    }

    /// `x` for x > 0, else `negative_slope·x` (PyTorch's default slope is 0.01).
    pub fn leaky_relu(&self, negative_slope: f32) -> Tensor {
        unary_op(
            self,
            "leaky_relu",
            move |x| scalar::leaky_relu(x, negative_slope),
            move |x, _, g| g * scalar::leaky_relu_grad(x, negative_slope),
        )
    }

    /// `x` for x > 0, else `alpha·(eˣ − 1)` (PyTorch's default alpha is 1).
    pub fn elu(&self, alpha: f32) -> Tensor {
        unary_op(self, "elu", move |x| scalar::elu(x, alpha), move |x, _, g| g * scalar::elu_grad(x, alpha))
    }

    /// `log(1 + e^(βx))/β`, linear where `βx > threshold` (PyTorch's defaults: 1 and 20).
    pub fn softplus(&self, beta: f32, threshold: f32) -> Tensor {
        assert!(beta != 0.0, "softplus: beta must be non-zero");
        unary_op(
            self,
            "softplus",
            move |x| scalar::softplus(x, beta, threshold),
            move |x, _, g| g * scalar::softplus_grad(x, beta, threshold),
        )
    }

    /// The logistic function `1/(1 + e^(−x))`, stable for large |x|.
    pub fn sigmoid(&self) -> Tensor {
        unary_op(self, "sigmoid", scalar::sigmoid, |_, y, g| g * y * (1.0 - y))
    }

    pub fn tanh(&self) -> Tensor {
        unary_op(self, "tanh", scalar::tanh, |_, y, g| g * (1.0 - y * y))
    }

    /// Gaussian error linear unit, exact (`erf`) or with the tanh approximation.
    pub fn gelu(&self, approximate: Gelu) -> Tensor {
        unary_op(
            self,
            "gelu",
            move |x| scalar::gelu(x, approximate),
            move |x, _, g| g * scalar::gelu_grad(x, approximate),
        )
    }

    /// `x·σ(x)`.
    pub fn silu(&self) -> Tensor {
        unary_op(self, "silu", scalar::silu, |x, _, g| g * scalar::silu_grad(x))
    }

    /// `min(max(x, 0), 6)`; the gradient is 0 at 0 and at 6, as in PyTorch.
    pub fn relu6(&self) -> Tensor {
        unary_op(self, "relu6", scalar::relu6, |x, _, g| g * scalar::relu6_grad(x))
    }

    /// `clamp(alpha·x + beta, 0, 1)` (ONNX `HardSigmoid`). PyTorch's `F.hardsigmoid` is
    /// `alpha` = [`HARDSIGMOID_ALPHA`] (1/6), `beta` = [`HARDSIGMOID_BETA`] (1/2); the gradient
    /// is 0 where the clamp is reached, its ends included.
    pub fn hardsigmoid(&self, alpha: f32, beta: f32) -> Tensor {
        unary_op(
            self,
            "hardsigmoid",
            move |x| scalar::hardsigmoid(x, alpha, beta),
            move |x, _, g| g * scalar::hardsigmoid_grad(x, alpha, beta),
        )
    }

    /// `x·relu6(x + 3)/6` (PyTorch's `F.hardswish`, ONNX `HardSwish`); the gradient is 0 at
    /// x = −3 and 1 at x = 3, as in PyTorch.
    pub fn hardswish(&self) -> Tensor {
        unary_op(self, "hardswish", scalar::hardswish, |x, _, g| g * scalar::hardswish_grad(x))
    }

    /// Scaled ELU: `λ·x` for x > 0, else `λ·α·(eˣ − 1)` ([`SELU_SCALE`], [`SELU_ALPHA`]).
    pub fn selu(&self) -> Tensor {
        unary_op(self, "selu", scalar::selu, |x, _, g| g * scalar::selu_grad(x))
    }
}

/// An activation function with its settings, as a value (for layer configurations, plots and
/// the explainer). Field names and defaults follow PyTorch's modules.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    #[default]
    Relu,
    LeakyRelu {
        negative_slope: f32,
    },
    Elu {
        alpha: f32,
    },
    Softplus {
        beta: f32,
        threshold: f32,
    },
    Sigmoid,
    Tanh,
    Gelu {
        approximate: Gelu,
    },
    Silu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `clamp(alpha·x + beta, 0, 1)`: PyTorch's has [`HARDSIGMOID_ALPHA`] and
    /// [`HARDSIGMOID_BETA`]; ONNX `HardSigmoid` names both settings.
    Hardsigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x·relu6(x + 3)/6`.
    Hardswish,
    /// `λ·x` for x > 0, else `λ·α·(eˣ − 1)`, with [`SELU_SCALE`] and [`SELU_ALPHA`].
    Selu,
    Identity,
}

impl Activation {
    /// Every kind with PyTorch's default settings, in a fixed order (for menus and plots).
    pub const ALL: [Activation; 13] = [
        Activation::Relu,
        Activation::LeakyRelu { negative_slope: 0.01 },
        Activation::Elu { alpha: 1.0 },
        Activation::Softplus { beta: 1.0, threshold: 20.0 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu { approximate: Gelu::None },
        Activation::Silu,
        Activation::Relu6,
        Activation::Hardsigmoid { alpha: HARDSIGMOID_ALPHA, beta: HARDSIGMOID_BETA },
        Activation::Hardswish,
        Activation::Selu,
        Activation::Identity,
    ];

    /// Applies the activation to a tensor (recorded for autograd).
    pub fn apply(&self, x: &Tensor) -> Tensor {
        match *self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu { negative_slope } => x.leaky_relu(negative_slope),
            Activation::Elu { alpha } => x.elu(alpha),
            Activation::Softplus { beta, threshold } => x.softplus(beta, threshold),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu { approximate } => x.gelu(approximate),
            Activation::Silu => x.silu(),
            Activation::Relu6 => x.relu6(),
            Activation::Hardsigmoid { alpha, beta } => x.hardsigmoid(alpha, beta),
            Activation::Hardswish => x.hardswish(),
            Activation::Selu => x.selu(),
            Activation::Identity => x.clone(),
        }
    }

    /// The lower-case name PyTorch's functional API uses (`"relu"`, `"leaky_relu"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Softplus { .. } => "softplus",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu { .. } => "gelu",
            Activation::Silu => "silu",
            Activation::Relu6 => "relu6",
            Activation::Hardsigmoid { .. } => "hardsigmoid",
            Activation::Hardswish => "hardswish",
            Activation::Selu => "selu",
            Activation::Identity => "identity",
        }
    }

    /// The kind with PyTorch's default settings for a name from [`Activation::name`]
    /// (`"swish"` is accepted for SiLU and `"linear"` for the identity).
    pub fn from_name(name: &str) -> Result<Activation, crate::Error> {
        let lower = name.to_ascii_lowercase();
        let key = match lower.as_str() {
            "swish" => "silu",
            "linear" | "none" => "identity",
            other => other,
        };
        Activation::ALL.iter().copied().find(|a| a.name() == key).ok_or_else(|| {
            let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
            crate::Error::Invalid(format!("unknown activation {name:?}; expected one of {}", names.join(", ")))
        })
    }

    /// `f(x)` at one point.
    pub fn f(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => scalar::relu(x),
            Activation::LeakyRelu { negative_slope } => scalar::leaky_relu(x, negative_slope),
            Activation::Elu { alpha } => scalar::elu(x, alpha),
            Activation::Softplus { beta, threshold } => scalar::softplus(x, beta, threshold),
            Activation::Sigmoid => scalar::sigmoid(x),
            Activation::Tanh => scalar::tanh(x),
            Activation::Gelu { approximate } => scalar::gelu(x, approximate),
            Activation::Silu => scalar::silu(x),
            Activation::Relu6 => scalar::relu6(x),
            Activation::Hardsigmoid { alpha, beta } => scalar::hardsigmoid(x, alpha, beta),
            Activation::Hardswish => scalar::hardswish(x),
            Activation::Selu => scalar::selu(x),
            Activation::Identity => x,
        }
    }

    /// `f'(x)` at one point (the value the backward pass uses at kinks).
    pub fn df(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => scalar::relu_grad(x),
            Activation::LeakyRelu { negative_slope } => scalar::leaky_relu_grad(x, negative_slope),
            Activation::Elu { alpha } => scalar::elu_grad(x, alpha),
            Activation::Softplus { beta, threshold } => scalar::softplus_grad(x, beta, threshold),
            Activation::Sigmoid => scalar::sigmoid_grad(x),
            Activation::Tanh => scalar::tanh_grad(x),
            Activation::Gelu { approximate } => scalar::gelu_grad(x, approximate),
            Activation::Silu => scalar::silu_grad(x),
            Activation::Relu6 => scalar::relu6_grad(x),
            Activation::Hardsigmoid { alpha, beta } => scalar::hardsigmoid_grad(x, alpha, beta),
            Activation::Hardswish => scalar::hardswish_grad(x),
            Activation::Selu => scalar::selu_grad(x),
            Activation::Identity => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_forms_agree_with_the_tensor_ops() {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.37).collect();
        let x = Tensor::from_vec(xs.clone(), [xs.len()]);
        for act in Activation::ALL {
            let y = act.apply(&x).to_vec();
            for (i, &v) in xs.iter().enumerate() {
                assert_eq!(y[i], act.f(v), "{} at {v}", act.name());
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in Activation::ALL {
            assert_eq!(Activation::from_name(act.name()).unwrap(), act);
        }
        assert!(Activation::from_name("relu7").unwrap_err().to_string().contains("leaky_relu"));
    }

    #[test]
    fn gradients_at_the_kinks_are_pytorchs() {
        let hardsigmoid = Activation::Hardsigmoid { alpha: HARDSIGMOID_ALPHA, beta: HARDSIGMOID_BETA };
        assert_eq!([-3.0, 0.0, 3.0].map(|x| hardsigmoid.df(x)), [0.0, HARDSIGMOID_ALPHA, 0.0]);
        assert_eq!([-3.0, 0.0, 3.0].map(|x| hardsigmoid.f(x)), [0.0, 0.5, 1.0]);
        assert_eq!([-3.0, 0.0, 3.0].map(|x| Activation::Hardswish.df(x)), [0.0, 0.5, 1.0]);
        assert_eq!([0.0, 3.0, 6.0].map(|x| Activation::Relu6.df(x)), [0.0, 1.0, 0.0]);
        assert_eq!(Activation::Selu.df(0.0), SELU_SCALE * SELU_ALPHA);
        assert!(scalar::relu6(f32::NAN).is_nan() && scalar::hardswish(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_is_finite_at_extremes() {
        assert_eq!(scalar::sigmoid(-1000.0), 0.0);
        assert_eq!(scalar::sigmoid(1000.0), 1.0);
        assert_eq!(scalar::sigmoid(0.0), 0.5);
    }
}
