//! Tiny VGG, the network of CNN Explainer (Wang et al. 2020, poloclub.github.io/cnn-explainer),
//! for 64×64 RGB images (Tiny ImageNet subsets, 10 classes):
//!
//! ```text
//! conv_1_1    Conv2d(3, 10, 3) valid, relu_1_1      10×62×62
//! conv_1_2    Conv2d(10, 10, 3) valid, relu_1_2     10×60×60
//! max_pool_1  MaxPool2d(2)                          10×30×30
//! conv_2_1    Conv2d(10, 10, 3) valid, relu_2_1     10×28×28
//! conv_2_2    Conv2d(10, 10, 3) valid, relu_2_2     10×26×26
//! max_pool_2  MaxPool2d(2)                          10×13×13
//! flatten                                           1690
//! output      Linear(1690, classes)                 classes (logits; the explainer shows softmax)
//! ```
//!
//! The layer names are CNN Explainer's, so parameters are `conv_1_1.weight`, ...,
//! `output.bias`: 19,920 parameters for 10 classes. Weights use PyTorch's layer defaults.
//!
//! ```
//! use convlab::models::{build, ModelConfig};
//! use convlab::nn::{Mode, Module};
//! use convlab::Tensor;
//!
//! let net = build("tinyvgg", &ModelConfig::for_model("tinyvgg").unwrap(), 0).unwrap();
//! assert_eq!(net.num_parameters(), 19_920);
//! let logits = net.run(&Tensor::randn([1, 3, 64, 64], 1), Mode::Eval);
//! assert_eq!(logits.dims(), &[1, 10]);
//! ```

use crate::models::layers::{relu, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::{Flatten, Linear, MaxPool2d, ParamRng};
use crate::Pool2dParams;

/// CNN Explainer's Tiny VGG.
pub fn tinyvgg(config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let mut net = Network::new("TinyVGG");
    let mut c = config.in_channels;
    for block in 1..=2 {
        for layer in 1..=2 {
            net.add(&format!("conv_{block}_{layer}"), ConvSpec::new(c, 10, 3).build(rng));
            net.add(&format!("relu_{block}_{layer}"), relu());
            c = 10;
        }
        net.add(&format!("max_pool_{block}"), MaxPool2d(Pool2dParams::new([2, 2])));
    }
    net.add("flatten", Flatten::default());
    net.add("output", Linear::new(10 * 13 * 13, config.num_classes, true, rng));
    net
}
