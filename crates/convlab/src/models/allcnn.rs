//! All-CNN-C (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for Simplicity:
//! The All Convolutional Net", Table 2, model C) for 32×32 inputs (CIFAR-10/100):
//! convolutions only, stride-2 convolutions instead of max-pooling, global average pooling
//! instead of fully connected layers.
//!
//! ```text
//! dropout_in  Dropout(0.2)                                  3×32×32
//! conv1       3×3 conv 96, padding 1, relu1                 96×32×32
//! conv2       3×3 conv 96, padding 1, relu2                 96×32×32
//! conv3       3×3 conv 96, padding 1, stride 2, relu3       96×16×16
//! dropout3    Dropout(0.5)
//! conv4       3×3 conv 192, padding 1, relu4               192×16×16
//! conv5       3×3 conv 192, padding 1, relu5               192×16×16
//! conv6       3×3 conv 192, padding 1, stride 2, relu6     192×8×8
//! dropout6    Dropout(0.5)
//! conv7       3×3 conv 192 (valid), relu7                  192×6×6
//! conv8       1×1 conv 192, relu8                          192×6×6
//! conv9       1×1 conv classes, relu9                       classes×6×6
//! avgpool     global average over 6×6, flatten              classes
//! ```
//!
//! NOTE: the paper's table puts a ReLU after every convolution, the last (`1×1 conv. 10
//! ReLU`) included, and follows the global average with the softmax; we keep that ReLU
//! (`relu9`) and return the averaged values as logits (no softmax; apply cross-entropy to them).
//! Dropout follows the paper's training setup: 20% on the input, 50% after each stride-2
//! convolution (the layers that replace pooling). Convolutions have biases and PyTorch's
//! default initialization. Parameter names are `conv1.weight`, ..., `conv9.bias`:
//! 1,369,738 parameters for 10 classes.
//!
//! ```
//! use convlab::models::{build, ModelConfig};
//! use convlab::nn::{Forward, Mode, Module};
//! use convlab::Tensor;
//!
//! let net = build("allcnn_c", &ModelConfig::for_model("allcnn_c").unwrap(), 0).unwrap();
//! assert_eq!(net.num_parameters(), 1_369_738);
//! let mut ctx = Forward::recording(Mode::Eval, 0);
//! assert_eq!(net.forward(&Tensor::randn([1, 3, 32, 32], 1), &mut ctx).dims(), &[1, 10]);
//! let rec = ctx.take_recorded();
//! assert_eq!(rec.iter().find(|r| r.path == "conv7").unwrap().output.dims(), &[1, 192, 6, 6]);
//! ```

use crate::models::layers::{relu, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::{AdaptiveAvgPool2d, Dropout, Flatten, ParamRng};

/// All-CNN-C.
pub fn allcnn_c(config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let mut net = Network::new("AllCNN");
    net.add("dropout_in", Dropout { p: 0.2 });
    let same = |cin, cout, stride| ConvSpec { stride, padding: 1, ..ConvSpec::new(cin, cout, 3) };
    let convs = [
        same(config.in_channels, 96, 1),
        same(96, 96, 1),
        same(96, 96, 2),
        same(96, 192, 1),
        same(192, 192, 1),
        same(192, 192, 2),
        ConvSpec::new(192, 192, 3),
        ConvSpec::new(192, 192, 1),
        ConvSpec::new(192, config.num_classes, 1),
    ];
    for (i, spec) in convs.into_iter().enumerate() {
        let n = i + 1;
        net.add(&format!("conv{n}"), spec.build(rng));
        net.add(&format!("relu{n}"), relu());
        if spec.stride == 2 {
            net.add(&format!("dropout{n}"), Dropout { p: 0.5 });
        }
    }
    net.add("avgpool", AdaptiveAvgPool2d { output_size: [1, 1] });
    net.add("flatten", Flatten::default());
    net
}
