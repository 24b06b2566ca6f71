//! Layers and networks: the [`Module`] trait, PyTorch's layers with their parameter names,
//! default initialization and [`Sequential`].
//!
//! Parameters and buffers are named like PyTorch's `state_dict` keys, so weights move between
//! the two by name. The mode (train/eval) is passed explicitly to every forward pass.
//!
//! ```
//! use convlab::nn::{Act, Conv2d, Conv2dConfig, Flatten, Linear, MaxPool2d, Module, Mode, ParamRng, Sequential};
//! use convlab::{Activation, Conv2dParams, Padding2d, Pool2dParams, Tensor};
//!
//! let mut rng = ParamRng::new(0);
//! let mut net = Sequential::new();
//! net.push(Conv2d::new(Conv2dConfig { conv: Conv2dParams { padding: Padding2d::uniform(2), ..Default::default() }, ..Conv2dConfig::new(1, 6, 5) }, &mut rng));
//! net.push(Act(Activation::Relu));
//! net.push(MaxPool2d(Pool2dParams::new([2, 2])));
//! net.push(Flatten::default());
//! net.push(Linear::new(6 * 14 * 14, 10, true, &mut rng));
//! let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "4.weight", "4.bias"]);
//! let y = net.run(&Tensor::randn([2, 1, 28, 28], 1), Mode::Eval);
//! assert_eq!(y.dims(), &[2, 10]);
//! ```

pub mod activation;
pub mod classifier;
pub mod conv;
pub mod init;
pub mod linear;
pub mod module;
pub mod norm;
pub mod pool;
pub mod sequential;

pub use activation::{Act, Softmax};
pub use classifier::{find_classifier, replace_classifier, Classifier, Replacement};
pub use conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
pub use init::ParamRng;
pub use linear::{Dropout, Flatten, Identity, Linear};
pub use module::{chain_shape, check_forward, child_shape, Forward, Mode, Module, Recorded, TensorKind};
pub use norm::BatchNorm;
pub use pool::{AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d};
pub use sequential::Sequential;
