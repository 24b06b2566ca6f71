//! Weight initialization, following `torch.nn.init`: fans computed as torch computes them,
//! Kaiming (He) and Xavier (Glorot) in uniform and normal forms, constants, and the defaults
//! PyTorch's layers use. Everything is seeded through a [`ParamRng`].
//!
//! ```
//! use convlab::nn::init::{kaiming_uniform, ParamRng, Nonlinearity, FanMode};
//! let mut rng = ParamRng::new(0);
//! let w = kaiming_uniform(&[64, 3, 3, 3], 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
//! let bound = (6.0f32 / 27.0).sqrt();
//! assert!(w.to_vec().iter().all(|v| v.abs() <= bound));
//! ```

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Tensor;

/// A seeded source of initial values: each tensor gets its own sub-seed, so a model built
/// from the same seed always has the same weights.
pub struct ParamRng(ChaCha8Rng);

impl ParamRng {
    pub fn new(seed: u64) -> ParamRng {
        ParamRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// The seed for the next tensor.
    pub fn next_seed(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// `(fan_in, fan_out)` as `torch.nn.init._calculate_fan_in_and_fan_out`: for a weight
/// `[out, in, k...]`, fan_in = in·Πk and fan_out = out·Πk.
///
/// NOTE: like torch, a transposed convolution's weight `[in, out/groups, k...]` is read with
/// the same rule, so its "fan_in" is `out/groups·Πk`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    assert!(shape.len() >= 2, "fan in and fan out need a tensor of rank >= 2, got {shape:?}");
    let receptive: usize = shape[2..].iter().product();
    (shape[1] * receptive, shape[0] * receptive)
}

/// Which fan scales a Kaiming initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    FanIn,
    FanOut,
}

/// The nonlinearity whose gain a Kaiming or Xavier initialization uses
/// (`torch.nn.init.calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nonlinearity {
    Linear,
    Sigmoid,
    Tanh,
    Relu,
    /// Uses the `a` (negative slope) argument.
    LeakyRelu,
    Selu,
}

/// The recommended gain for a nonlinearity (`a` is the leaky slope).
pub fn gain(nonlinearity: Nonlinearity, a: f32) -> f32 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f32.sqrt(),
        Nonlinearity::LeakyRelu => (2.0 / (1.0 + a * a)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

fn kaiming_std(shape: &[usize], a: f32, mode: FanMode, nonlinearity: Nonlinearity) -> f32 {
    let (fan_in, fan_out) = fans(shape);
    let fan = if mode == FanMode::FanIn { fan_in } else { fan_out };
    assert!(fan > 0, "kaiming initialization of a tensor with zero elements ({shape:?})");
    gain(nonlinearity, a) / (fan as f32).sqrt()
}

/// `U(-b, b)` with `b = gain·√(3/fan)` (He et al. 2015).
pub fn kaiming_uniform(
    shape: &[usize],
    a: f32,
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut ParamRng,
) -> Tensor {
    let bound = 3f32.sqrt() * kaiming_std(shape, a, mode, nonlinearity);
    uniform(shape, -bound, bound, rng)
}

/// `N(0, std²)` with `std = gain/√fan`.
pub fn kaiming_normal(
    shape: &[usize],
    a: f32,
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut ParamRng,
) -> Tensor {
    normal(shape, 0.0, kaiming_std(shape, a, mode, nonlinearity), rng)
}

/// `U(-b, b)` with `b = gain·√(6/(fan_in + fan_out))` (Glorot & Bengio 2010).
pub fn xavier_uniform(shape: &[usize], gain: f32, rng: &mut ParamRng) -> Tensor {
    let (fi, fo) = fans(shape);
    let bound = gain * (6.0 / (fi + fo) as f32).sqrt();
    uniform(shape, -bound, bound, rng)
}

/// `N(0, std²)` with `std = gain·√(2/(fan_in + fan_out))`.
pub fn xavier_normal(shape: &[usize], gain: f32, rng: &mut ParamRng) -> Tensor {
    let (fi, fo) = fans(shape);
    normal(shape, 0.0, gain * (2.0 / (fi + fo) as f32).sqrt(), rng)
}

pub fn uniform(shape: &[usize], low: f32, high: f32, rng: &mut ParamRng) -> Tensor {
    if low == high {
        return Tensor::full(shape.to_vec(), low);
    }
    Tensor::uniform(shape.to_vec(), low, high, rng.next_seed())
}

pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut ParamRng) -> Tensor {
    Tensor::normal(shape.to_vec(), mean, std, rng.next_seed())
}

pub fn constant(shape: &[usize], value: f32) -> Tensor {
    Tensor::full(shape.to_vec(), value)
}

/// PyTorch's default for the weight of Linear and Conv layers:
/// `kaiming_uniform_(a=√5)`, which is `U(-1/√fan_in, 1/√fan_in)`.
pub fn default_weight(shape: &[usize], rng: &mut ParamRng) -> Tensor {
    kaiming_uniform(shape, 5f32.sqrt(), FanMode::FanIn, Nonlinearity::LeakyRelu, rng)
}

/// PyTorch's default for the bias of Linear and Conv layers: `U(-1/√fan_in, 1/√fan_in)` with
/// the fan_in of the weight.
pub fn default_bias(len: usize, weight_shape: &[usize], rng: &mut ParamRng) -> Tensor {
    let (fan_in, _) = fans(weight_shape);
    let bound = if fan_in > 0 { 1.0 / (fan_in as f32).sqrt() } else { 0.0 };
    uniform(&[len], -bound, bound, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &Tensor) -> (f32, f32) {
        let v = t.to_vec();
        let n = v.len() as f32;
        let mean = v.iter().sum::<f32>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn fans_follow_torch() {
        assert_eq!(fans(&[16, 6, 5, 5]), (150, 400));
        assert_eq!(fans(&[120, 400]), (400, 120));
    }

    #[test]
    fn statistics_match_the_formulas() {
        let mut rng = ParamRng::new(1);
        let shape = [256, 128, 3, 3];
        let (_, s) = stats(&kaiming_normal(&shape, 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng));
        assert!((s - (2.0f32 / 1152.0).sqrt()).abs() < 1e-3, "{s}");
        let (_, s) = stats(&xavier_uniform(&shape, 1.0, &mut rng));
        let want = (6.0f32 / (1152.0 + 2304.0)).sqrt() / 3f32.sqrt();
        assert!((s - want).abs() < 1e-3, "{s} vs {want}");
        let w = default_weight(&[120, 400], &mut rng).to_vec();
        let b = 1.0 / 20.0;
        assert!(w.iter().all(|v| v.abs() <= b) && w.iter().any(|v| v.abs() > 0.95 * b));
    }

    #[test]
    fn same_seed_same_weights() {
        let a = default_weight(&[4, 3], &mut ParamRng::new(9)).to_vec();
        let b = default_weight(&[4, 3], &mut ParamRng::new(9)).to_vec();
        assert_eq!(a, b);
    }
}
