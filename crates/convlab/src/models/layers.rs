//! Building blocks shared by the zoo's networks: [`Network`] (a named chain of modules that
//! reports a network's class name) and constructors for convolution and linear layers with
//! the initialization schemes torchvision uses.
//!
//! ```
//! use convlab::models::layers::{relu, ConvInit, ConvSpec, Network};
//! use convlab::nn::{Flatten, Mode, Module, ParamRng};
//! use convlab::Tensor;
//!
//! let mut rng = ParamRng::new(0);
//! let mut net = Network::new("Tiny");
//! net.add("conv", ConvSpec { stride: 2, padding: 1, init: ConvInit::KaimingFanOut, ..ConvSpec::new(3, 4, 3) }.build(&mut rng));
//! net.add("relu", relu());
//! net.add("flatten", Flatten::default());
//! assert_eq!(net.kind(), "Tiny");
//! assert_eq!(net.state_dict().keys().collect::<Vec<_>>(), ["conv.bias", "conv.weight"]);
//! assert_eq!(net.run(&Tensor::randn([1, 3, 8, 8], 1), Mode::Eval).dims(), &[1, 64]);
//! ```

use crate::nn::init::{constant, kaiming_normal, normal, FanMode, Nonlinearity, ParamRng};
use crate::nn::{Act, BatchNorm, Conv2d, Conv2dConfig, Forward, Linear, Module, Sequential};
use crate::{Activation, Conv2dParams, Padding2d, Tensor};

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

    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        self.layers.children_mut()
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

/// A square `k×k` convolution layer of the zoo: its shape, settings and initialization.
/// [`ConvSpec::new`] gives stride 1, no padding, a bias and PyTorch's default initialization;
/// change the rest with struct update syntax.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    pub bias: bool,
    pub init: ConvInit,
}

impl ConvSpec {
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> ConvSpec {
        ConvSpec {
            in_channels,
            out_channels,
            kernel_size,
            stride: 1,
            padding: 0,
            bias: true,
            init: ConvInit::TorchDefault,
        }
    }

    /// The layer, with weights drawn from `rng`.
    pub fn build(self, rng: &mut ParamRng) -> Conv2d {
        let (cin, cout, k) = (self.in_channels, self.out_channels, self.kernel_size);
        let config = Conv2dConfig {
            conv: Conv2dParams {
                stride: [self.stride, self.stride],
                padding: Padding2d::uniform(self.padding),
                ..Default::default()
            },
            bias: self.bias,
            ..Conv2dConfig::new(cin, cout, k)
        };
        let shape = [cout, cin, k, k];
        let weight = match self.init {
            ConvInit::TorchDefault => return Conv2d::new(config, rng),
            ConvInit::KaimingFanOut => kaiming_normal(&shape, 0.0, FanMode::FanOut, Nonlinearity::Relu, rng),
            ConvInit::KaimingFanIn => kaiming_normal(&shape, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, rng),
        };
        let bias = self.bias.then(|| constant(&[cout], 0.0).requires_grad_());
        Conv2d { config, weight: weight.requires_grad_(), bias }
    }
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
