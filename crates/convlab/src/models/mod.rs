//! The model zoo: the lecture's classic networks, built by name, with torchvision's parameter
//! names (so torchvision weights load by name with [`Module::load_state_dict`]) and
//! torchvision's initialization.
//!
//! | name | file | default input | parameters (default classes) |
//! |---|---|---|---|
//! | `lenet5` | [`lenet`] | 1×28×28, 10 classes | 61,706 |
//! | `alexnet` | [`alexnet`] | 3×224×224, 1000 | 61,100,840 |
//! | `vgg11` `vgg13` `vgg16` `vgg19` (+`_bn`) | [`vgg`] | 3×224×224, 1000 | vgg16: 138,357,544 |
//! | `resnet18` `resnet34` `resnet50` | [`resnet`] | 3×224×224, 1000 | 11,689,512 / 21,797,672 / 25,557,032 |
//! | `densenet121` | [`densenet`] | 3×224×224, 1000 | 7,978,856 |
//! | `vgg11_cifar` ... `vgg19_bn_cifar`, `resnet18_cifar` ..., `densenet121_cifar` | same files | 3×32×32, 10 | see the files |
//! | `allcnn_c` | [`allcnn`] | 3×32×32, 10 | 1,369,738 |
//! | `tinyvgg` | [`tinyvgg`] | 3×64×64, 10 | 19,920 |
//!
//! A CIFAR form is named `<torchvision name>_cifar`. Every model's forward pass runs its
//! sub-modules through [`Forward::child`](crate::nn::Forward::child), so
//! [`Forward::recording`](crate::nn::Forward::recording) returns every intermediate output
//! under the same path as its parameters (`layer1.0.conv1`).
//!
//! ```
//! use convlab::models::{build, names, ModelConfig};
//! use convlab::nn::{Mode, Module};
//! use convlab::Tensor;
//!
//! assert!(names().contains(&"resnet18"));
//! let config = ModelConfig::for_model("lenet5").unwrap();
//! assert_eq!(config, ModelConfig { in_channels: 1, num_classes: 10 });
//! let net = build("lenet5", &config, 42).unwrap();
//! let keys: Vec<String> = net.state_dict().into_keys().collect();
//! assert_eq!(keys[0], "conv1.bias");
//! assert_eq!(net.run(&Tensor::zeros([1, 1, 28, 28]), Mode::Eval).dims(), &[1, 10]);
//! assert!(build("lenet6", &config, 0).err().unwrap().to_string().contains("lenet5"));
//! ```

pub mod alexnet;
pub mod allcnn;
pub mod densenet;
pub mod layers;
pub mod lenet;
pub mod resnet;
pub mod resnet9;
pub mod tinyvgg;
pub mod vgg;

pub use layers::Network;
pub use lenet::LeNet5;

use crate::nn::{Module, ParamRng};
use crate::Error;

/// What every zoo model takes: input channels and number of classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub in_channels: usize,
    pub num_classes: usize,
}

impl ModelConfig {
    /// The defaults of a model: 3 channels and 1000 classes for the ImageNet networks (as
    /// torchvision), 1 channel and 10 classes for `lenet5`, 3 and 10 for the CIFAR forms,
    /// `allcnn_c` and `tinyvgg`.
    pub fn for_model(name: &str) -> Result<ModelConfig, Error> {
        let s = spec(name)?;
        Ok(ModelConfig { in_channels: s.in_channels, num_classes: s.num_classes })
    }
}

/// A zoo entry: its defaults and the input size it was designed for.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    pub name: &'static str,
    pub in_channels: usize,
    pub num_classes: usize,
    /// `[H, W]` of the intended input (224 for ImageNet networks, 32 for CIFAR forms).
    pub input_size: [usize; 2],
    build: Builder,
}

type Builder = fn(&ModelConfig, &mut ParamRng) -> Box<dyn Module>;

const fn entry(name: &'static str, in_channels: usize, num_classes: usize, hw: usize, build: Builder) -> ModelSpec {
    ModelSpec { name, in_channels, num_classes, input_size: [hw, hw], build }
}

/// An ImageNet network: 3 channels, 1000 classes, 224×224.
const fn imagenet(name: &'static str, build: Builder) -> ModelSpec {
    entry(name, 3, 1000, 224, build)
}

/// A CIFAR network: 3 channels, 10 classes, 32×32.
const fn cifar(name: &'static str, build: Builder) -> ModelSpec {
    entry(name, 3, 10, 32, build)
}

/// Every zoo model, in the order [`names`] lists them.
pub static SPECS: &[ModelSpec] = &[
    entry("lenet5", 1, 10, 28, |c, r| Box::new(lenet::LeNet5::new(c, r))),
    imagenet("alexnet", |c, r| Box::new(alexnet::alexnet(c, r))),
    imagenet("vgg11", |c, r| Box::new(vgg::vgg(11, false, c, r))),
    imagenet("vgg11_bn", |c, r| Box::new(vgg::vgg(11, true, c, r))),
    imagenet("vgg13", |c, r| Box::new(vgg::vgg(13, false, c, r))),
    imagenet("vgg13_bn", |c, r| Box::new(vgg::vgg(13, true, c, r))),
    imagenet("vgg16", |c, r| Box::new(vgg::vgg(16, false, c, r))),
    imagenet("vgg16_bn", |c, r| Box::new(vgg::vgg(16, true, c, r))),
    imagenet("vgg19", |c, r| Box::new(vgg::vgg(19, false, c, r))),
    imagenet("vgg19_bn", |c, r| Box::new(vgg::vgg(19, true, c, r))),
    imagenet("resnet18", |c, r| Box::new(resnet::resnet(18, false, c, r))),
    imagenet("resnet34", |c, r| Box::new(resnet::resnet(34, false, c, r))),
    imagenet("resnet50", |c, r| Box::new(resnet::resnet(50, false, c, r))),
    imagenet("densenet121", |c, r| Box::new(densenet::densenet(&densenet::DenseNetConfig::densenet121(), false, c, r))),
    cifar("vgg11_cifar", |c, r| Box::new(vgg::vgg_cifar(11, false, c, r))),
    cifar("vgg11_bn_cifar", |c, r| Box::new(vgg::vgg_cifar(11, true, c, r))),
    cifar("vgg13_cifar", |c, r| Box::new(vgg::vgg_cifar(13, false, c, r))),
    cifar("vgg13_bn_cifar", |c, r| Box::new(vgg::vgg_cifar(13, true, c, r))),
    cifar("vgg16_cifar", |c, r| Box::new(vgg::vgg_cifar(16, false, c, r))),
    cifar("vgg16_bn_cifar", |c, r| Box::new(vgg::vgg_cifar(16, true, c, r))),
    cifar("vgg19_cifar", |c, r| Box::new(vgg::vgg_cifar(19, false, c, r))),
    cifar("vgg19_bn_cifar", |c, r| Box::new(vgg::vgg_cifar(19, true, c, r))),
    cifar("resnet18_cifar", |c, r| Box::new(resnet::resnet(18, true, c, r))),
    cifar("resnet34_cifar", |c, r| Box::new(resnet::resnet(34, true, c, r))),
    cifar("resnet50_cifar", |c, r| Box::new(resnet::resnet(50, true, c, r))),
    cifar("resnet9_cifar", |c, r| Box::new(resnet9::resnet9(64, c.in_channels, c.num_classes, r))),
    cifar("resnet9_slim_cifar", |c, r| Box::new(resnet9::resnet9(32, c.in_channels, c.num_classes, r))),
    cifar("densenet121_cifar", |c, r| {
        Box::new(densenet::densenet(&densenet::DenseNetConfig::densenet121(), true, c, r))
    }),
    cifar("allcnn_c", |c, r| Box::new(allcnn::allcnn_c(c, r))),
    entry("tinyvgg", 3, 10, 64, |c, r| Box::new(tinyvgg::tinyvgg(c, r))),
];

/// The zoo entry `name`, or an error listing the available names.
pub fn spec(name: &str) -> Result<&'static ModelSpec, Error> {
    SPECS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::Invalid(format!("unknown model '{name}'; available: {}", names().join(", "))))
}

/// Builds the zoo model `name` with weights drawn from `seed`.
pub fn build(name: &str, config: &ModelConfig, seed: u64) -> Result<Box<dyn Module>, Error> {
    let s = spec(name)?;
    if config.in_channels == 0 || config.num_classes == 0 {
        return Err(Error::Invalid(format!("model '{name}' needs in_channels and num_classes >= 1, got {config:?}")));
    }
    Ok((s.build)(config, &mut ParamRng::new(seed)))
}

/// The names [`build`] accepts.
pub fn names() -> Vec<&'static str> {
    SPECS.iter().map(|s| s.name).collect()
}
