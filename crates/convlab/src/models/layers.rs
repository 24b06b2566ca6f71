//! Building blocks shared by the zoo's networks: [`Network`] (a named chain of modules that
//! reports a network's class name) and constructors for convolution and linear layers with
//! the initialization schemes torchvision uses.

use crate::nn::init::{constant, kaiming_normal, normal, FanMode, Nonlinearity, ParamRng};
use crate::nn::{Act, BatchNorm, Conv2d, Conv2dConfig, Forward, Linear, MaxPool2d, Module, Sequential};
use crate::{Activation, Conv2dParams, Padding2d, Pool2dParams, Tensor};

/// A network whose forward pass runs its named children in order (like a `Sequential`, but
/// reporting the network's class name, e.g. `"ResNet"`). Stateless steps that torchvision
/// writes as functions in `forward` (`torch.flatten`, `F.relu`) are children here too, so they
/// appear in recordings; they own no tensors, so the `state_dict` keys stay torchvision's.
pub struct Network {
    pub kind: &'static str,
    pub layers: Sequential,
}

impl Network {
    pub fn new(kind: &'static str) -> Network {
        Network { kind, layers: Sequential::new() }
    }

    /// Appends a child under `name`.
    pub fn add(&mut self, name: &str, module: impl Module + 'static) {
        self.layers.push_named(name, Box::new(module));
    }
}

impl Module for Network {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        // The chain's children run under this module's path (no extra level).
        self.layers.forward(x, ctx)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers.children()
    }
}

/// How a zoo network initializes its convolution weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvInit {
    /// PyTorch's layer default (`kaiming_uniform_(a=√5)`, bias `U(±1/√fan_in)`).
    TorchDefault,
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, bias 0 (ResNet, VGG).
    KaimingFanOut,
    /// `kaiming_normal_()` with its defaults (fan_in, gain √2), bias 0 (DenseNet).
    KaimingFanIn,
}

/// A square convolution `k×k` with `stride` and symmetric `padding`.
pub fn conv(cin: usize, cout: usize, k: usize, stride: usize, padding: usize, bias: bool, init: ConvInit, rng: &mut ParamRng) -> Conv2d {
    let config = Conv2dConfig {
        conv: Conv2dParams { stride: [stride, stride], padding: Padding2d::uniform(padding), ..Default::default() },
        bias,
        ..Conv2dConfig::new(cin, cout, k)
    };
    let shape = [cout, cin, k, k];
    let (weight, bias) = match init {
        ConvInit::TorchDefault => return Conv2d::new(config, rng),
        ConvInit::KaimingFanOut => (kaiming_normal(&shape, 0.0, FanMode::FanOut, Nonlinearity::Relu, rng), bias.then(|| constant(&[cout], 0.0))),
        ConvInit::KaimingFanIn => (kaiming_normal(&shape, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, rng), bias.then(|| constant(&[cout], 0.0))),
    };
    Conv2d { config, weight: weight.requires_grad_(), bias: bias.map(|b| b.requires_grad_()) }
}

/// `nn.Linear` with weight `N(0, std²)` and bias 0 (VGG's classifier uses std 0.01).
pub fn linear_normal(cin: usize, cout: usize, std: f32, rng: &mut ParamRng) -> Linear {
    let weight = normal(&[cout, cin], 0.0, std, rng).requires_grad_();
    Linear { in_features: cin, out_features: cout, weight, bias: Some(constant(&[cout], 0.0).requires_grad_()) }
}

/// `nn.Linear` with PyTorch's default weight and a zero bias (DenseNet's classifier).
pub fn linear_zero_bias(cin: usize, cout: usize, rng: &mut ParamRng) -> Linear {
    let mut l = Linear::new(cin, cout, false, rng);
    l.bias = Some(constant(&[cout], 0.0).requires_grad_());
    l
}

/// `nn.ReLU()`.
pub fn relu() -> Act {
    Act(Activation::Relu)
}

/// `nn.BatchNorm2d(c)`: weight 1, bias 0, running mean 0, variance 1.
pub fn bn(c: usize) -> BatchNorm {
    BatchNorm::new_2d(c)
}

/// `nn.MaxPool2d(k, stride, padding)`.
pub fn max_pool(k: usize, stride: usize, padding: usize) -> MaxPool2d {
    MaxPool2d(Pool2dParams { stride: [stride, stride], padding: [padding, padding], ..Pool2dParams::new([k, k]) })
}
