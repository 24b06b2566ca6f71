//! AlexNet as torchvision builds it (`torchvision.models.alexnet`, the "one weird trick"
//! variant with 64/192/384/256/256 channels): 61,100,840 parameters for 1000 classes.
//!
//! ```text
//! features:   0 Conv2d(3, 64, 11, stride 4, pad 2), 1 ReLU, 2 MaxPool2d(3, 2),
//!             3 Conv2d(64, 192, 5, pad 2), 4 ReLU, 5 MaxPool2d(3, 2),
//!             6 Conv2d(192, 384, 3, pad 1), 7 ReLU, 8 Conv2d(384, 256, 3, pad 1), 9 ReLU,
//!             10 Conv2d(256, 256, 3, pad 1), 11 ReLU, 12 MaxPool2d(3, 2)
//! avgpool:    AdaptiveAvgPool2d(6, 6)      flatten
//! classifier: 0 Dropout(0.5), 1 Linear(9216, 4096), 2 ReLU, 3 Dropout(0.5),
//!             4 Linear(4096, 4096), 5 ReLU, 6 Linear(4096, classes)
//! ```
//!
//! Weights use PyTorch's layer defaults (torchvision does not re-initialize AlexNet). Any input
//! of at least 63×63 works (224×224 is the usual size).
//!
//! ```
//! use convlab::models::{spec, ModelConfig};
//! // 61M parameters: the defaults and intended input, without building the network here.
//! assert_eq!(ModelConfig::for_model("alexnet").unwrap(), ModelConfig { in_channels: 3, num_classes: 1000 });
//! assert_eq!(spec("alexnet").unwrap().input_size, [224, 224]);
//! // The feature extractor's output for 224×224: (224 + 4 − 11)/4 + 1 = 55 → 27 → 27 → 13 → 13 → 6.
//! let side = |n: usize, k: usize, s: usize, p: usize| (n + 2 * p - k) / s + 1;
//! let mut n = side(224, 11, 4, 2);
//! n = side(n, 3, 2, 0);
//! n = side(n, 5, 1, 2);
//! n = side(n, 3, 2, 0);
//! n = side(n, 3, 2, 0);
//! assert_eq!(n, 6);
//! ```

use crate::models::layers::{relu, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::{AdaptiveAvgPool2d, Dropout, Flatten, Linear, MaxPool2d, ParamRng, Sequential};
use crate::Pool2dParams;

/// torchvision's `AlexNet`.
pub fn alexnet(config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let mut features = Sequential::new();
    features.push(ConvSpec { stride: 4, padding: 2, ..ConvSpec::new(config.in_channels, 64, 11) }.build(rng));
    features.push(relu());
    features.push(MaxPool2d(Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) }));
    features.push(ConvSpec { padding: 2, ..ConvSpec::new(64, 192, 5) }.build(rng));
    features.push(relu());
    features.push(MaxPool2d(Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) }));
    features.push(ConvSpec { padding: 1, ..ConvSpec::new(192, 384, 3) }.build(rng));
    features.push(relu());
    features.push(ConvSpec { padding: 1, ..ConvSpec::new(384, 256, 3) }.build(rng));
    features.push(relu());
    features.push(ConvSpec { padding: 1, ..ConvSpec::new(256, 256, 3) }.build(rng));
    features.push(relu());
    features.push(MaxPool2d(Pool2dParams { stride: [2, 2], ..Pool2dParams::new([3, 3]) }));

    let mut classifier = Sequential::new();
    classifier.push(Dropout { p: 0.5 });
    classifier.push(Linear::new(256 * 6 * 6, 4096, true, rng));
    classifier.push(relu());
    classifier.push(Dropout { p: 0.5 });
    classifier.push(Linear::new(4096, 4096, true, rng));
    classifier.push(relu());
    classifier.push(Linear::new(4096, config.num_classes, true, rng));

    let mut net = Network::new("AlexNet");
    net.add("features", features);
    net.add("avgpool", AdaptiveAvgPool2d { output_size: [6, 6] });
    net.add("flatten", Flatten::default());
    net.add("classifier", classifier);
    net
}
