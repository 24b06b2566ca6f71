//! LeNet-5 exactly as the lecture writes it, built from ConvLab's functional API, trained by
//! backpropagation (plain SGD) on one fixed random batch until it has memorised it: the loss
//! falls from ln 10 ≈ 2.30 towards 0.
//!
//! ```sh
//! cargo run --release --example lenet5
//! ```
//!
//! The lecture's PyTorch code, for comparison:
//! ```text
//! conv1 = nn.Conv2d(1, 6, 5, padding=2); conv2 = nn.Conv2d(6, 16, 5)
//! fc1 = nn.Linear(16*5*5, 120); fc2 = nn.Linear(120, 84); fc3 = nn.Linear(84, 10)
//! x = max_pool2d(relu(conv1(x)), (2, 2)); x = max_pool2d(relu(conv2(x)), (2, 2))
//! x = flatten(x); x = relu(fc1(x)); x = relu(fc2(x)); x = fc3(x)
//! ```

use convlab::ops::conv::{Conv2dParams, Padding2d};
use convlab::ops::loss::{cross_entropy, CrossEntropyParams};
use convlab::ops::pool::Pool2dParams;
use convlab::Tensor;

/// PyTorch's default initialization for conv and linear layers: U(-1/√fan_in, 1/√fan_in)
/// for weight and bias alike.
fn param(shape: &[usize], fan_in: usize, seed: u64) -> Tensor {
    let bound = 1.0 / (fan_in as f32).sqrt();
    Tensor::uniform(shape.to_vec(), -bound, bound, seed).requires_grad_()
}

struct LeNet5 {
    params: Vec<(&'static str, Tensor)>,
}

impl LeNet5 {
    fn new(seed: u64) -> LeNet5 {
        let spec: [(&str, &[usize], usize); 10] = [
            ("conv1.weight", &[6, 1, 5, 5], 25),
            ("conv1.bias", &[6], 25),
            ("conv2.weight", &[16, 6, 5, 5], 150),
            ("conv2.bias", &[16], 150),
            ("fc1.weight", &[120, 400], 400),
            ("fc1.bias", &[120], 400),
            ("fc2.weight", &[84, 120], 120),
            ("fc2.bias", &[84], 120),
            ("fc3.weight", &[10, 84], 84),
            ("fc3.bias", &[10], 84),
        ];
        let params = spec
            .iter()
            .enumerate()
            .map(|(i, (name, shape, fan_in))| (*name, param(shape, *fan_in, seed + i as u64)))
            .collect();
        LeNet5 { params }
    }

    fn p(&self, name: &str) -> &Tensor {
        &self.params.iter().find(|(n, _)| *n == name).expect("parameter exists").1
    }

    /// x: [N, 1, 28, 28] -> logits [N, 10]
    fn forward(&self, x: &Tensor) -> Tensor {
        let pad2 = Conv2dParams { padding: Padding2d::uniform(2), ..Default::default() };
        let pool = Pool2dParams::new([2, 2]);
        let x = x.conv2d(self.p("conv1.weight"), Some(self.p("conv1.bias")), &pad2).relu().max_pool2d(&pool); // [N, 6, 14, 14]
        let x = x
            .conv2d(self.p("conv2.weight"), Some(self.p("conv2.bias")), &Conv2dParams::default())
            .relu()
            .max_pool2d(&pool); // [N, 16, 5, 5]
        let x = x.flatten(1, -1); // [N, 400]
        let x = x.linear(self.p("fc1.weight"), Some(self.p("fc1.bias"))).relu();
        let x = x.linear(self.p("fc2.weight"), Some(self.p("fc2.bias"))).relu();
        x.linear(self.p("fc3.weight"), Some(self.p("fc3.bias")))
    }
}

fn main() {
    let net = LeNet5::new(0);
    let count: usize = net.params.iter().map(|(_, t)| t.numel()).sum();
    println!("LeNet-5: {count} parameters"); // 61,706
    let x = Tensor::randn([16, 1, 28, 28], 42);
    let labels: Vec<usize> = (0..16).map(|i| i % 10).collect();
    let lr = 0.1;
    for step in 0..80 {
        let logits = net.forward(&x);
        let loss = cross_entropy(&logits, &labels, &CrossEntropyParams::default());
        let grads = loss.backward();
        for (_, p) in &net.params {
            let g = grads.get(p).expect("every parameter gets a gradient").storage();
            p.update_data(|w| w.iter_mut().zip(g.iter()).for_each(|(w, g)| *w -= lr * g));
        }
        if step % 10 == 0 || step == 79 {
            println!("step {step:2}: loss {:.4}, shape of logits {}", loss.item(), logits.shape());
        }
    }
}
