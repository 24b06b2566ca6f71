//! ResNet (He et al. 2016) as torchvision builds it (v1.5: a bottleneck block strides in its
//! 3×3 convolution), in two forms.
//!
//! **ImageNet form** (`resnet18`, `resnet34` with [`BasicBlock`]; `resnet50` with
//! [`Bottleneck`]): `conv1` 7×7 stride 2 padding 3 (64 channels, no bias), `bn1`, `relu`,
//! `maxpool` 3×3 stride 2 padding 1, `layer1`..`layer4` (64, 128, 256, 512 channels; the first
//! block of layers 2-4 strides 2), `avgpool` = `AdaptiveAvgPool2d(1, 1)`, flatten, `fc`.
//! A block whose input and output shapes differ has `downsample` = `0 Conv2d 1×1 (stride),
//! 1 BatchNorm2d`. Parameters: 11,689,512 / 21,797,672 / 25,557,032. Any input of at least
//! 32×32 works (224×224 is the usual size).
//!
//! **CIFAR form** (`resnet18_cifar`, `resnet34_cifar`, `resnet50_cifar`): the same network with
//! a 3×3 stride-1 padding-1 stem `conv1` and no `maxpool`, so a 32×32 input reaches `layer4`
//! at 4×4 (as in kuangliu/pytorch-cifar). Every key equals torchvision's; only `conv1.weight`
//! (`[64, C, 3, 3]`) and the `fc` shapes differ.
//!
//! Initialization follows torchvision: convolutions `kaiming_normal_(fan_out, relu)`, batch
//! norm weight 1 and bias 0, `fc` PyTorch's default (no zero-init of the last BN of a block).
//!
//! ```
//! use convlab::models::resnet::BasicBlock;
//! use convlab::nn::{Mode, Module, ParamRng};
//! use convlab::Tensor;
//!
//! // The first block of a stage: stride 2 and a 1×1 projection on the skip path.
//! let block = BasicBlock::new(8, 16, 2, &mut ParamRng::new(0));
//! let names: Vec<String> = block.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert!(names.contains(&"downsample.0.weight".to_string()));
//! assert_eq!(block.run(&Tensor::randn([2, 8, 10, 10], 1), Mode::Train).dims(), &[2, 16, 5, 5]);
//! ```

use crate::models::layers::{bn, relu, ConvInit, ConvSpec, Network};
use crate::models::ModelConfig;
use crate::nn::{chain_shape, child_shape};
use crate::nn::{
    Act, AdaptiveAvgPool2d, BatchNorm, Conv2d, Flatten, Forward, Linear, MaxPool2d, Module, ParamRng, Sequential,
};
use crate::{Error, Pool2dParams, Shape, Tensor};

/// A convolution without bias, `kaiming_normal_(fan_out, relu)`.
fn spec(in_planes: usize, out_planes: usize, k: usize) -> ConvSpec {
    ConvSpec { bias: false, init: ConvInit::KaimingFanOut, ..ConvSpec::new(in_planes, out_planes, k) }
}

/// torchvision's `conv3x3(in_planes, out_planes, stride)` (padding 1).
fn conv3x3(in_planes: usize, out_planes: usize, stride: usize, rng: &mut ParamRng) -> Conv2d {
    ConvSpec { stride, padding: 1, ..spec(in_planes, out_planes, 3) }.build(rng)
}

/// torchvision's `conv1x1(in_planes, out_planes, stride)`.
fn conv1x1(in_planes: usize, out_planes: usize, stride: usize, rng: &mut ParamRng) -> Conv2d {
    ConvSpec { stride, ..spec(in_planes, out_planes, 1) }.build(rng)
}

/// torchvision's `BasicBlock` (expansion 1): two 3×3 convolutions and a skip connection.
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub downsample: Option<Sequential>,
    relu: Act,
}

impl BasicBlock {
    pub fn new(inplanes: usize, planes: usize, stride: usize, rng: &mut ParamRng) -> BasicBlock {
        BasicBlock {
            conv1: conv3x3(inplanes, planes, stride, rng),
            bn1: bn(planes),
            conv2: conv3x3(planes, planes, 1, rng),
            bn2: bn(planes),
            downsample: downsample(inplanes, planes, stride, rng),
            relu: relu(),
        }
    }
}

/// `0 Conv2d(inplanes, planes, 1, stride), 1 BatchNorm2d(planes)` when the shapes differ.
fn downsample(inplanes: usize, planes: usize, stride: usize, rng: &mut ParamRng) -> Option<Sequential> {
    (stride != 1 || inplanes != planes).then(|| {
        let mut s = Sequential::new();
        s.push(conv1x1(inplanes, planes, stride, rng));
        s.push(bn(planes));
        s
    })
}

/// The output shape of a residual block: `main` (the named layers in order) plus the shortcut
/// (`downsample`, or the input itself), which must have the same shape, then the ReLU.
fn residual_shape(
    main: Vec<(String, &dyn Module)>,
    downsample: Option<&Sequential>,
    input: &[usize],
) -> Result<Vec<usize>, Error> {
    let out = chain_shape(main, input)?;
    let identity = match downsample {
        Some(d) => child_shape("downsample", d, input)?,
        None => input.to_vec(),
    };
    if out != identity {
        return Err(Error::Shape(format!(
            "the residual sum adds {} (main path) to {} (shortcut) for input {}",
            Shape::from(&out[..]),
            Shape::from(&identity[..]),
            Shape::from(input)
        )));
    }
    Ok(out)
}

fn skip(x: &Tensor, downsample: Option<&Sequential>, ctx: &mut Forward) -> Tensor {
    match downsample {
        Some(d) => ctx.child("downsample", d, x),
        None => x.clone(),
    }
}

impl Module for BasicBlock {
    fn kind(&self) -> &'static str {
        "BasicBlock"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let out = ctx.child("conv1", &self.conv1, x);
        let out = ctx.child("bn1", &self.bn1, &out);
        let out = ctx.child("relu", &self.relu, &out);
        let out = ctx.child("conv2", &self.conv2, &out);
        let out = ctx.child("bn2", &self.bn2, &out);
        let identity = skip(x, self.downsample.as_ref(), ctx);
        ctx.child("relu", &self.relu, &(&out + &identity))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let main: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
        ];
        residual_shape(main, self.downsample.as_ref(), input)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("relu".into(), &self.relu),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
        ];
        if let Some(d) = &self.downsample {
            v.push(("downsample".into(), d));
        }
        v
    }
}

/// torchvision's `Bottleneck` (expansion 4): 1×1 reduce, 3×3 (strided), 1×1 expand.
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub conv3: Conv2d,
    pub bn3: BatchNorm,
    pub downsample: Option<Sequential>,
    relu: Act,
}

impl Bottleneck {
    pub const EXPANSION: usize = 4;

    pub fn new(inplanes: usize, planes: usize, stride: usize, rng: &mut ParamRng) -> Bottleneck {
        let out = planes * Self::EXPANSION;
        Bottleneck {
            conv1: conv1x1(inplanes, planes, 1, rng),
            bn1: bn(planes),
            conv2: conv3x3(planes, planes, stride, rng),
            bn2: bn(planes),
            conv3: conv1x1(planes, out, 1, rng),
            bn3: bn(out),
            downsample: downsample(inplanes, out, stride, rng),
            relu: relu(),
        }
    }
}

impl Module for Bottleneck {
    fn kind(&self) -> &'static str {
        "Bottleneck"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let out = ctx.child("conv1", &self.conv1, x);
        let out = ctx.child("bn1", &self.bn1, &out);
        let out = ctx.child("relu", &self.relu, &out);
        let out = ctx.child("conv2", &self.conv2, &out);
        let out = ctx.child("bn2", &self.bn2, &out);
        let out = ctx.child("relu", &self.relu, &out);
        let out = ctx.child("conv3", &self.conv3, &out);
        let out = ctx.child("bn3", &self.bn3, &out);
        let identity = skip(x, self.downsample.as_ref(), ctx);
        ctx.child("relu", &self.relu, &(&out + &identity))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let main: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
            ("conv3".into(), &self.conv3),
            ("bn3".into(), &self.bn3),
        ];
        residual_shape(main, self.downsample.as_ref(), input)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
            ("conv3".into(), &self.conv3),
            ("bn3".into(), &self.bn3),
            ("relu".into(), &self.relu),
        ];
        if let Some(d) = &self.downsample {
            v.push(("downsample".into(), d));
        }
        v
    }
}

/// The block type of a ResNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Basic,
    Bottleneck,
}

/// Blocks per stage and block type for a depth (18, 34, 50).
pub fn resnet_layers(depth: usize) -> Option<(Block, [usize; 4])> {
    match depth {
        18 => Some((Block::Basic, [2, 2, 2, 2])),
        34 => Some((Block::Basic, [3, 4, 6, 3])),
        50 => Some((Block::Bottleneck, [3, 4, 6, 3])),
        _ => None,
    }
}

/// A ResNet of `depth` 18, 34 or 50; `cifar` selects the 3×3 stem without max-pool.
pub fn resnet(depth: usize, cifar: bool, config: &ModelConfig, rng: &mut ParamRng) -> Network {
    let (block, counts) = resnet_layers(depth).expect("ResNet depth must be 18, 34 or 50");
    let mut net = Network::new("ResNet");
    if cifar {
        net.add("conv1", ConvSpec { padding: 1, ..spec(config.in_channels, 64, 3) }.build(rng));
    } else {
        net.add("conv1", ConvSpec { stride: 2, padding: 3, ..spec(config.in_channels, 64, 7) }.build(rng));
    }
    net.add("bn1", bn(64));
    net.add("relu", relu());
    if !cifar {
        net.add("maxpool", MaxPool2d(Pool2dParams { stride: [2, 2], padding: [1, 1], ..Pool2dParams::new([3, 3]) }));
    }
    let expansion = if block == Block::Basic { 1 } else { Bottleneck::EXPANSION };
    let mut inplanes = 64;
    for (i, (&n, planes)) in counts.iter().zip([64, 128, 256, 512]).enumerate() {
        let mut layer = Sequential::new();
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            match block {
                Block::Basic => layer.push(BasicBlock::new(inplanes, planes, stride, rng)),
                Block::Bottleneck => layer.push(Bottleneck::new(inplanes, planes, stride, rng)),
            }
            inplanes = planes * expansion;
        }
        net.add(&format!("layer{}", i + 1), layer);
    }
    net.add("avgpool", AdaptiveAvgPool2d { output_size: [1, 1] });
    net.add("flatten", Flatten::default());
    net.add("fc", Linear::new(512 * expansion, config.num_classes, true, rng));
    net
}
