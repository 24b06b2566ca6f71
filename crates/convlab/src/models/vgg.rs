//! VGG (Simonyan & Zisserman 2015) from torchvision's configuration table, with and without
//! batch normalization, in two forms.
//!
//! **ImageNet form** (`vgg11`, `vgg13`, `vgg16`, `vgg19`, each also `_bn`), as
//! `torchvision.models.vgg*`: `features` (3×3 convolutions with padding 1 and bias, each
//! followed by `BatchNorm2d` in the `_bn` variants and ReLU; `MaxPool2d(2, 2)` at each `M`),
//! `avgpool` = `AdaptiveAvgPool2d(7, 7)`, flatten, and
//! `classifier` = `0 Linear(25088, 4096), 1 ReLU, 2 Dropout(0.5), 3 Linear(4096, 4096), 4 ReLU,
//! 5 Dropout(0.5), 6 Linear(4096, classes)`. vgg16 has 138,357,544 parameters.
//!
//! **CIFAR form** (`vgg11_cifar`, ..., `vgg19_bn_cifar`): the same `features` (so the
//! `features.*` keys equal torchvision's), which leave `512×1×1` for a 32×32 input, then
//! flatten and `classifier` = a single `Linear(512, classes)` (keys `classifier.weight`,
//! `classifier.bias`); no adaptive pool, no dropout. This is the common CIFAR-10 VGG
//! (e.g. kuangliu/pytorch-cifar, without its no-op `AvgPool2d(1, 1)`); it needs 32×32 inputs.
//!
//! Initialization follows torchvision: convolutions `kaiming_normal_(fan_out, relu)` with bias
//! 0, batch norm weight 1 and bias 0, linear layers `N(0, 0.01²)` with bias 0.
//!
//! ```
//! use convlab::models::vgg::{vgg_config, VggLayer};
//! // VGG-16: 13 convolutions + 3 linear layers; five 2×2 max-pools take 224 to 7 (32 to 1).
//! let cfg = vgg_config(16).unwrap();
//! assert_eq!(cfg.iter().filter(|l| matches!(l, VggLayer::Conv(_))).count(), 13);
//! assert_eq!(cfg.iter().filter(|l| **l == VggLayer::Pool).count(), 5);
//! ```

use crate::models::layers::{bn, linear_normal, relu, ConvInit, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::{AdaptiveAvgPool2d, Dropout, Flatten, MaxPool2d, ParamRng, Sequential};
use crate::Pool2dParams;

/// An entry of a VGG configuration: a 3×3 convolution with this many output channels, or a
/// 2×2 max-pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VggLayer {
    Conv(usize),
    Pool,
}

use VggLayer::{Conv as C, Pool as M};

/// torchvision's `cfgs` table: "A" (11 layers), "B" (13), "D" (16), "E" (19).
pub fn vgg_config(depth: usize) -> Option<&'static [VggLayer]> {
    const A: &[VggLayer] = &[C(64), M, C(128), M, C(256), C(256), M, C(512), C(512), M, C(512), C(512), M];
    const B: &[VggLayer] =
        &[C(64), C(64), M, C(128), C(128), M, C(256), C(256), M, C(512), C(512), M, C(512), C(512), M];
    const D: &[VggLayer] = &[
        C(64),
        C(64),
        M,
        C(128),
        C(128),
        M,
        C(256),
        C(256),
        C(256),
        M,
        C(512),
        C(512),
        C(512),
        M,
        C(512),
        C(512),
        C(512),
        M,
    ];
    const E: &[VggLayer] = &[
        C(64),
        C(64),
        M,
        C(128),
        C(128),
        M,
        C(256),
        C(256),
        C(256),
        C(256),
        M,
        C(512),
        C(512),
        C(512),
        C(512),
        M,
        C(512),
        C(512),
        C(512),
        C(512),
        M,
    ];
    match depth {
        11 => Some(A),
        13 => Some(B),
        16 => Some(D),
        19 => Some(E),
        _ => None,
    }
}

/// torchvision's `make_layers`: the `features` chain for a configuration.
pub fn make_layers(cfg: &[VggLayer], in_channels: usize, batch_norm: bool, rng: &mut ParamRng) -> Sequential {
    let mut features = Sequential::new();
    let mut c = in_channels;
    for layer in cfg {
        match *layer {
            VggLayer::Pool => features.push(MaxPool2d(Pool2dParams::new([2, 2]))),
            VggLayer::Conv(out) => {
                features.push(
                    ConvSpec { padding: 1, init: ConvInit::KaimingFanOut, ..ConvSpec::new(c, out, 3) }.build(rng),
                );
                if batch_norm {
                    features.push(bn(out));
                }
                features.push(relu());
                c = out;
            }
        }
    }
    features
}

/// ImageNet VGG of `depth` 11, 13, 16 or 19.
pub fn vgg(depth: usize, batch_norm: bool, config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let cfg = vgg_config(depth).expect("VGG depth must be 11, 13, 16 or 19");
    let features = make_layers(cfg, config.in_channels, batch_norm, rng);
    let mut classifier = Sequential::new();
    classifier.push(linear_normal(512 * 7 * 7, 4096, 0.01, rng));
    classifier.push(relu());
    classifier.push(Dropout { p: 0.5 });
    classifier.push(linear_normal(4096, 4096, 0.01, rng));
    classifier.push(relu());
    classifier.push(Dropout { p: 0.5 });
    classifier.push(linear_normal(4096, config.num_classes, 0.01, rng));

    let mut net = Network::new("VGG");
    net.add("features", features);
    net.add("avgpool", AdaptiveAvgPool2d { output_size: [7, 7] });
    net.add("flatten", Flatten::default());
    net.add("classifier", classifier);
    net
}

/// CIFAR VGG (32×32 inputs): torchvision's `features`, flatten, `Linear(512, classes)`.
pub fn vgg_cifar(depth: usize, batch_norm: bool, config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let cfg = vgg_config(depth).expect("VGG depth must be 11, 13, 16 or 19");
    let features = make_layers(cfg, config.in_channels, batch_norm, rng);
    let mut net = Network::new("VGG");
    net.add("features", features);
    net.add("flatten", Flatten::default());
    net.add("classifier", linear_normal(512, config.num_classes, 0.01, rng));
    net
}
