//! LeNet-5 exactly as the lecture writes it (`class LeNet(nn.Module)`):
//!
//! ```text
//! conv1 = Conv2d(1, 6, 5, padding=2)     28×28 → 6×28×28, relu, max_pool2d 2 → 6×14×14
//! conv2 = Conv2d(6, 16, 5)               → 16×10×10, relu, max_pool2d 2 → 16×5×5
//! flatten                                → 400
//! fc1 = Linear(400, 120), relu; fc2 = Linear(120, 84), relu; fc3 = Linear(84, 10)
//! ```
//!
//! 61,706 parameters named `conv1.weight`, ..., `fc3.bias`, as the lecture's class names them.
//! The `F.relu` / `F.max_pool2d` / `flatten` calls of the lecture's `forward` are small stateless
//! modules here (`relu1`, `pool1`, `relu2`, `pool2`, `flatten`, `relu3`, `relu4`), so every step
//! is recorded; they own no tensors, so the `state_dict` keys are the lecture's. Weights use
//! PyTorch's layer defaults. The input is `[N, in_channels, 28, 28]` (MNIST).
//!
//! ```
//! use convlab::models::{build, ModelConfig};
//! use convlab::nn::{Forward, Mode, Module};
//! use convlab::Tensor;
//!
//! let net = build("lenet5", &ModelConfig::for_model("lenet5").unwrap(), 0).unwrap();
//! assert_eq!(net.num_parameters(), 61_706);
//! let mut ctx = Forward::recording(Mode::Eval, 0);
//! let logits = net.forward(&Tensor::randn([2, 1, 28, 28], 1), &mut ctx);
//! assert_eq!(logits.dims(), &[2, 10]);
//! let rec = ctx.take_recorded();
//! assert_eq!(rec[0].path, "conv1");
//! assert_eq!(rec[2].output.dims(), &[2, 6, 14, 14]); // pool1
//! ```

use crate::models::layers::{relu, ConvSpec};
use crate::models::ModelConfig;
use crate::nn::{Act, Conv2d, Flatten, Forward, Linear, MaxPool2d, Module, ParamRng};
use crate::{Pool2dParams, Tensor};

/// The lecture's LeNet-5.
pub struct LeNet5 {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub fc3: Linear,
    relu: Act,
    pool: MaxPool2d,
    flatten: Flatten,
}

impl LeNet5 {
    pub fn new(config: &ModelConfig, rng: &mut ParamRng) -> LeNet5 {
        LeNet5 {
            conv1: ConvSpec { padding: 2, ..ConvSpec::new(config.in_channels, 6, 5) }.build(rng),
            conv2: ConvSpec::new(6, 16, 5).build(rng),
            fc1: Linear::new(16 * 5 * 5, 120, true, rng),
            fc2: Linear::new(120, 84, true, rng),
            fc3: Linear::new(84, config.num_classes, true, rng),
            relu: relu(),
            pool: MaxPool2d(Pool2dParams::new([2, 2])),
            flatten: Flatten::default(),
        }
    }
}

impl Module for LeNet5 {
    fn kind(&self) -> &'static str {
        "LeNet"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let x = ctx.child("conv1", &self.conv1, x);
        let x = ctx.child("relu1", &self.relu, &x);
        let x = ctx.child("pool1", &self.pool, &x);
        let x = ctx.child("conv2", &self.conv2, &x);
        let x = ctx.child("relu2", &self.relu, &x);
        let x = ctx.child("pool2", &self.pool, &x);
        let x = ctx.child("flatten", &self.flatten, &x);
        let x = ctx.child("fc1", &self.fc1, &x);
        let x = ctx.child("relu3", &self.relu, &x);
        let x = ctx.child("fc2", &self.fc2, &x);
        let x = ctx.child("relu4", &self.relu, &x);
        ctx.child("fc3", &self.fc3, &x)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        // In forward order. The stateless ReLU and pooling modules are listed too (under the
        // names the forward pass records) so that tools can read every layer's settings; they
        // hold no tensors, so the state_dict keys stay those of the lecture's class.
        vec![
            ("conv1".into(), &self.conv1 as &dyn Module),
            ("relu1".into(), &self.relu),
            ("pool1".into(), &self.pool),
            ("conv2".into(), &self.conv2),
            ("relu2".into(), &self.relu),
            ("pool2".into(), &self.pool),
            ("flatten".into(), &self.flatten),
            ("fc1".into(), &self.fc1),
            ("relu3".into(), &self.relu),
            ("fc2".into(), &self.fc2),
            ("relu4".into(), &self.relu),
            ("fc3".into(), &self.fc3),
        ]
    }

    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        // The layers with weights (the ReLU and the pooling are shared by several places).
        vec![
            ("conv1".into(), &mut self.conv1 as &mut dyn Module),
            ("conv2".into(), &mut self.conv2),
            ("fc1".into(), &mut self.fc1),
            ("fc2".into(), &mut self.fc2),
            ("fc3".into(), &mut self.fc3),
        ]
    }
}
