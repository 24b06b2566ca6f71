//! DenseNet-121 (Huang et al. 2017) as torchvision builds it (`torchvision.models.densenet121`:
//! growth rate 32, blocks (6, 12, 24, 16), bottleneck width `bn_size`·growth = 128, compression
//! 0.5, no dropout), in two forms.
//!
//! **ImageNet form** (`densenet121`): `features` = `conv0` 7×7 stride 2 padding 3 (64 channels,
//! no bias), `norm0`, `relu0`, `pool0` = `MaxPool2d(3, 2, 1)`, then `denseblock1`,
//! `transition1`, ..., `denseblock4`, `norm5`; then ReLU (`relu`), `AdaptiveAvgPool2d(1, 1)`
//! (`avgpool`), flatten and `classifier` = `Linear(1024, classes)`. A dense layer
//! (`denseblockN.denselayerM`) is `norm1, relu1, conv1 (1×1 → 128), norm2, relu2, conv2
//! (3×3 → 32)` on the concatenation of all earlier feature maps of its block; a transition is
//! `norm, relu, conv (1×1, halves the channels), pool (AvgPool2d(2, 2))`. 7,978,856
//! parameters. Any input of at least 32×32 works (224×224 is the usual size).
//!
//! **CIFAR form** (`densenet121_cifar`): `conv0` is 3×3 stride 1 padding 1 and there is no
//! `pool0`; everything else (and every key) as above, only `conv0.weight` and `classifier`
//! differ in shape. A 32×32 input reaches `denseblock4` at 4×4.
//!
//! Initialization follows torchvision: convolutions `kaiming_normal_()` (fan_in, gain √2),
//! batch norm weight 1 and bias 0, classifier weight PyTorch's default and bias 0.
//!
//! ```
//! use convlab::models::densenet::{densenet, DenseNetConfig};
//! use convlab::models::ModelConfig;
//! use convlab::nn::{Mode, Module, ParamRng};
//! use convlab::Tensor;
//!
//! // A tiny DenseNet (growth 4, blocks (2, 2)) in the CIFAR form: 8 + 2·4 = 16 channels,
//! // a transition to 8, then 8 + 2·4 = 16 into the classifier.
//! let d = DenseNetConfig { growth_rate: 4, block_config: vec![2, 2], num_init_features: 8, bn_size: 2 };
//! let net = densenet(&d, true, &ModelConfig { in_channels: 3, num_classes: 5 }, &mut ParamRng::new(0));
//! assert_eq!(net.state_dict()["classifier.weight"].dims(), &[5, 16]);
//! assert_eq!(net.run(&Tensor::randn([2, 3, 8, 8], 1), Mode::Train).dims(), &[2, 5]);
//! ```

use crate::models::layers::{bn, linear_zero_bias, relu, ConvInit, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::child_shape;
use crate::nn::{
    Act, AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, Flatten, Forward, MaxPool2d, Module, ParamRng, Sequential,
};
use crate::{Error, Pool2dParams, Shape, Tensor};

/// A convolution without bias, `kaiming_normal_()` (fan_in, gain √2).
fn spec(in_channels: usize, out_channels: usize, k: usize) -> ConvSpec {
    ConvSpec { bias: false, init: ConvInit::KaimingFanIn, ..ConvSpec::new(in_channels, out_channels, k) }
}

/// torchvision's `_DenseLayer`: BN-ReLU-Conv1×1-BN-ReLU-Conv3×3, producing `growth_rate` maps.
pub struct DenseLayer {
    pub norm1: BatchNorm,
    pub conv1: Conv2d,
    pub norm2: BatchNorm,
    pub conv2: Conv2d,
    relu: Act,
}

impl DenseLayer {
    pub fn new(in_features: usize, growth_rate: usize, bn_size: usize, rng: &mut ParamRng) -> DenseLayer {
        let mid = bn_size * growth_rate;
        DenseLayer {
            norm1: bn(in_features),
            conv1: spec(in_features, mid, 1).build(rng),
            norm2: bn(mid),
            conv2: ConvSpec { padding: 1, ..spec(mid, growth_rate, 3) }.build(rng),
            relu: relu(),
        }
    }
}

impl Module for DenseLayer {
    fn kind(&self) -> &'static str {
        "_DenseLayer"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let h = ctx.child("norm1", &self.norm1, x);
        let h = ctx.child("relu1", &self.relu, &h);
        let h = ctx.child("conv1", &self.conv1, &h);
        let h = ctx.child("norm2", &self.norm2, &h);
        let h = ctx.child("relu2", &self.relu, &h);
        ctx.child("conv2", &self.conv2, &h)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("norm1".into(), &self.norm1 as &dyn Module),
            ("relu1".into(), &self.relu),
            ("conv1".into(), &self.conv1),
            ("norm2".into(), &self.norm2),
            ("relu2".into(), &self.relu),
            ("conv2".into(), &self.conv2),
        ]
    }
}

/// torchvision's `_DenseBlock`: each layer sees the channel-wise concatenation of the block's
/// input and every earlier layer's output; the block returns the full concatenation.
pub struct DenseBlock {
    pub layers: Vec<DenseLayer>,
}

impl DenseBlock {
    pub fn new(
        num_layers: usize,
        in_features: usize,
        growth_rate: usize,
        bn_size: usize,
        rng: &mut ParamRng,
    ) -> DenseBlock {
        DenseBlock {
            layers: (0..num_layers)
                .map(|i| DenseLayer::new(in_features + i * growth_rate, growth_rate, bn_size, rng))
                .collect(),
        }
    }
}

impl Module for DenseBlock {
    fn kind(&self) -> &'static str {
        "_DenseBlock"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let mut features = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let new = ctx.child(&format!("denselayer{}", i + 1), layer, &features);
            features = Tensor::cat(&[&features, &new], 1);
        }
        features
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let mut features = input.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let new = child_shape(&format!("denselayer{}", i + 1), layer, &features)?;
            if new.len() != features.len() || new.len() < 2 || new[2..] != features[2..] || new[0] != features[0] {
                return Err(Error::Shape(format!(
                    "denselayer{}: its output {} cannot be concatenated with its input {} along the channels",
                    i + 1,
                    Shape::from(&new[..]),
                    Shape::from(&features[..])
                )));
            }
            features[1] += new[1];
        }
        Ok(features)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers.iter().enumerate().map(|(i, l)| (format!("denselayer{}", i + 1), l as &dyn Module)).collect()
    }
}

/// torchvision's `_Transition`: `norm, relu, conv (1×1), pool (AvgPool2d(2, 2))`.
fn transition(in_features: usize, out_features: usize, rng: &mut ParamRng) -> Sequential {
    let mut t = Sequential::new();
    t.push_named("norm", Box::new(bn(in_features)));
    t.push_named("relu", Box::new(relu()));
    t.push_named("conv", Box::new(spec(in_features, out_features, 1).build(rng)));
    t.push_named("pool", Box::new(AvgPool2d(Pool2dParams::new([2, 2]))));
    t
}

/// The settings of a DenseNet.
#[derive(Clone, Debug)]
pub struct DenseNetConfig {
    pub growth_rate: usize,
    pub block_config: Vec<usize>,
    pub num_init_features: usize,
    pub bn_size: usize,
}

impl DenseNetConfig {
    /// DenseNet-121: growth 32, blocks (6, 12, 24, 16), 64 initial features, bn_size 4.
    pub fn densenet121() -> DenseNetConfig {
        DenseNetConfig { growth_rate: 32, block_config: vec![6, 12, 24, 16], num_init_features: 64, bn_size: 4 }
    }
}

/// A DenseNet; `cifar` selects the 3×3 stride-1 stem without `pool0`.
pub fn densenet(d: &DenseNetConfig, cifar: bool, config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let mut features = Sequential::new();
    let c0 = d.num_init_features;
    let stem = if cifar {
        ConvSpec { padding: 1, ..spec(config.in_channels, c0, 3) }
    } else {
        ConvSpec { stride: 2, padding: 3, ..spec(config.in_channels, c0, 7) }
    };
    features.push_named("conv0", Box::new(stem.build(rng)));
    features.push_named("norm0", Box::new(bn(c0)));
    features.push_named("relu0", Box::new(relu()));
    if !cifar {
        features.push_named(
            "pool0",
            Box::new(MaxPool2d(Pool2dParams { stride: [2, 2], padding: [1, 1], ..Pool2dParams::new([3, 3]) })),
        );
    }
    let mut nf = c0;
    for (i, &n) in d.block_config.iter().enumerate() {
        features.push_named(
            &format!("denseblock{}", i + 1),
            Box::new(DenseBlock::new(n, nf, d.growth_rate, d.bn_size, rng)),
        );
        nf += n * d.growth_rate;
        if i + 1 != d.block_config.len() {
            features.push_named(&format!("transition{}", i + 1), Box::new(transition(nf, nf / 2, rng)));
            nf /= 2;
        }
    }
    features.push_named("norm5", Box::new(bn(nf)));

    let mut net = Network::new("DenseNet");
    net.add("features", features);
    net.add("relu", relu());
    net.add("avgpool", AdaptiveAvgPool2d { output_size: [1, 1] });
    net.add("flatten", Flatten::default());
    net.add("classifier", linear_zero_bias(nf, config.num_classes, rng));
    net
}
