//! ResNet-9 for CIFAR-10: the small residual network of Myrtle.ai's DAWNBench entry (David
//! Page, "How to train your ResNet", 2018), in the form most PyTorch code writes it:
//!
//! ```text
//! def conv_block(cin, cout, pool=False):
//!     layers = [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
//!     if pool: layers.append(nn.MaxPool2d(2))
//!     return nn.Sequential(*layers)
//!
//! class ResNet9(nn.Module):          # w = 64 for resnet9_cifar, 32 for resnet9_slim_cifar
//!     conv1 = conv_block(C, w);            conv2 = conv_block(w, 2w, pool=True)
//!     res1 = nn.Sequential(conv_block(2w, 2w), conv_block(2w, 2w))
//!     conv3 = conv_block(2w, 4w, pool=True); conv4 = conv_block(4w, 8w, pool=True)
//!     res2 = nn.Sequential(conv_block(8w, 8w), conv_block(8w, 8w))
//!     classifier = nn.Sequential(nn.MaxPool2d(4), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8w, classes))
//!     def forward(self, x):
//!         out = self.conv2(self.conv1(x)); out = self.res1(out) + out
//!         out = self.conv4(self.conv3(out)); out = self.res2(out) + out
//!         return self.classifier(out)
//! ```
//!
//! The `state_dict` keys are that class's (`conv1.0.weight`, `conv1.1.running_mean`,
//! `res1.0.0.weight`, `classifier.3.weight`, ...), with PyTorch's default initialization.
//! `resnet9_cifar` (w = 64, 6.57 M parameters, 0.38 G multiply-adds per 32×32 image) is the
//! DAWNBench network; `resnet9_slim_cifar` (w = 32, 1.65 M parameters, 0.10 G) has every
//! width halved, a quarter of the work, and is the network of the README's CIFAR-10 recipe for
//! a 2-core machine. Inputs are 32×32 (the final `MaxPool2d(4)` sees the 4×4 map).
//!
//! ```
//! use convlab::models::resnet9::resnet9;
//! use convlab::nn::{Mode, Module, ParamRng};
//! use convlab::Tensor;
//!
//! let net = resnet9(8, 3, 10, &mut ParamRng::new(0));
//! assert!(net.state_dict().contains_key("res2.1.1.running_var"));
//! assert_eq!(net.run(&Tensor::randn([2, 3, 32, 32], 1), Mode::Train).dims(), &[2, 10]);
//! ```

use crate::models::layers::{bn, relu, ConvSpec};
use crate::nn::{chain_shape, child_shape};
use crate::nn::{Dropout, Flatten, Forward, Linear, MaxPool2d, Module, ParamRng, Sequential};
use crate::{Error, Pool2dParams, Shape, Tensor};

/// `conv_block(cin, cout, pool)`: 3×3 convolution (padding 1, bias), batch norm, ReLU and an
/// optional 2×2 max pool.
fn conv_block(cin: usize, cout: usize, pool: bool, rng: &mut ParamRng) -> Sequential {
    let mut s = Sequential::new();
    s.push(ConvSpec { padding: 1, ..ConvSpec::new(cin, cout, 3) }.build(rng));
    s.push(bn(cout));
    s.push(relu());
    if pool {
        s.push(MaxPool2d(Pool2dParams::new([2, 2])));
    }
    s
}

/// Two `conv_block`s whose output is added to their input by [`ResNet9`].
fn residual(c: usize, rng: &mut ParamRng) -> Sequential {
    let mut s = Sequential::new();
    s.push(conv_block(c, c, false, rng));
    s.push(conv_block(c, c, false, rng));
    s
}

/// ResNet-9 (see the module documentation).
pub struct ResNet9 {
    pub conv1: Sequential,
    pub conv2: Sequential,
    pub res1: Sequential,
    pub conv3: Sequential,
    pub conv4: Sequential,
    pub res2: Sequential,
    pub classifier: Sequential,
}

/// ResNet-9 with base width `w` (64 in the original) for `in_channels` and `num_classes`.
pub fn resnet9(w: usize, in_channels: usize, num_classes: usize, rng: &mut ParamRng) -> ResNet9 {
    let conv1 = conv_block(in_channels, w, false, rng);
    let conv2 = conv_block(w, 2 * w, true, rng);
    let res1 = residual(2 * w, rng);
    let conv3 = conv_block(2 * w, 4 * w, true, rng);
    let conv4 = conv_block(4 * w, 8 * w, true, rng);
    let res2 = residual(8 * w, rng);
    let mut classifier = Sequential::new();
    classifier.push(MaxPool2d(Pool2dParams::new([4, 4])));
    classifier.push(Flatten::default());
    classifier.push(Dropout { p: 0.2 });
    classifier.push(Linear::new(8 * w, num_classes, true, rng));
    ResNet9 { conv1, conv2, res1, conv3, conv4, res2, classifier }
}

impl Module for ResNet9 {
    fn kind(&self) -> &'static str {
        "ResNet9"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let out = ctx.child("conv1", &self.conv1, x);
        let out = ctx.child("conv2", &self.conv2, &out);
        let out = &ctx.child("res1", &self.res1, &out) + &out;
        let out = ctx.child("conv3", &self.conv3, &out);
        let out = ctx.child("conv4", &self.conv4, &out);
        let out = &ctx.child("res2", &self.res2, &out) + &out;
        ctx.child("classifier", &self.classifier, &out)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let plus_residual = |name: &str, block: &Sequential, x: Vec<usize>| -> Result<Vec<usize>, Error> {
            let y = child_shape(name, block, &x)?;
            match y == x {
                true => Ok(y),
                false => Err(Error::Shape(format!(
                    "{name}: the residual sum adds {} to its input {}",
                    Shape::from(&y[..]),
                    Shape::from(&x[..])
                ))),
            }
        };
        let out = chain_shape([("conv1".into(), &self.conv1 as &dyn Module), ("conv2".into(), &self.conv2)], input)?;
        let out = plus_residual("res1", &self.res1, out)?;
        let out = chain_shape([("conv3".into(), &self.conv3 as &dyn Module), ("conv4".into(), &self.conv4)], &out)?;
        let out = plus_residual("res2", &self.res2, out)?;
        child_shape("classifier", &self.classifier, &out)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("conv1".into(), &self.conv1),
            ("conv2".into(), &self.conv2),
            ("res1".into(), &self.res1),
            ("conv3".into(), &self.conv3),
            ("conv4".into(), &self.conv4),
            ("res2".into(), &self.res2),
            ("classifier".into(), &self.classifier),
        ]
    }

    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("conv1".into(), &mut self.conv1 as &mut dyn Module),
            ("conv2".into(), &mut self.conv2),
            ("res1".into(), &mut self.res1),
            ("conv3".into(), &mut self.conv3),
            ("conv4".into(), &mut self.conv4),
            ("res2".into(), &mut self.res2),
            ("classifier".into(), &mut self.classifier),
        ]
    }
}
