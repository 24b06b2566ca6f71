//! Shape inference and building: each layer's input channels or features come from the shape
//! before it; every size is validated with the engine's own output-shape functions, and an
//! impossible layer is an error naming its index, its text and the shapes.

use super::parse::strip;
use super::{LayerSpec, Spec};
use crate::nn::{
    Act, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm, Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, Dropout,
    Flatten, Linear, MaxPool1d, MaxPool2d, Module, ParamRng, Sequential, Softmax,
};
use crate::ops::batchnorm::BatchNormParams;
use crate::ops::conv::{conv1d_output_shape, conv2d_output_shape};
use crate::ops::pool::{
    adaptive_pool_output_shape, avg_pool1d_output_shape, avg_pool2d_output_shape, pool1d_output_shape,
    pool2d_output_shape, Pool1dParams, Pool2dParams,
};
use crate::{Error, Shape};

/// One layer with its inferred shapes (without the batch dimension).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerShape {
    /// Position in the spec, which is also the layer's name in the built `Sequential`.
    pub index: usize,
    /// The layer's canonical text.
    pub layer: String,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    /// Learned values (weights and biases; batch-norm scale and shift).
    pub params: usize,
}

fn shape(d: &[usize]) -> String {
    Shape::from(d).to_string()
}

/// A 2-D pool's settings as 1-D ones (for a `[C, L]` input); pairs must be symmetric.
fn pool_1d(p: &Pool2dParams) -> Result<Pool1dParams, Error> {
    let sym = |a: [usize; 2]| a[0] == a[1];
    if !(sym(p.kernel_size) && sym(p.stride) && sym(p.padding) && sym(p.dilation)) {
        return Err(Error::Invalid("a pooling over a [C, L] input takes single sizes, not (h,w) pairs".into()));
    }
    Ok(Pool1dParams {
        kernel_size: p.kernel_size[1],
        stride: p.stride[1],
        padding: p.padding[1],
        dilation: p.dilation[1],
        ceil_mode: p.ceil_mode,
        count_include_pad: p.count_include_pad,
        divisor_override: p.divisor_override,
    })
}

/// The output shape and parameter count of `layer` on an input of shape `x` (unbatched).
fn infer(layer: &LayerSpec, x: &[usize]) -> Result<(Vec<usize>, usize), Error> {
    let need = |rank: usize, what: &str| -> Result<(), Error> {
        if x.len() == rank {
            Ok(())
        } else {
            Err(Error::Shape(format!("needs a {what} input")))
        }
    };
    let check_in = |given: Option<usize>, have: usize, what: &str| match given {
        Some(g) if g != have => Err(Error::Shape(format!("the spec says {g} {what} but the input has {have}"))),
        _ => Ok(()),
    };
    Ok(match layer {
        LayerSpec::Conv(c) => {
            need(3, "[C, H, W] (use conv1d for [C, L])")?;
            check_in(c.in_channels, x[0], "input channels")?;
            let g = c.conv.groups.max(1);
            let w = [c.out_channels, x[0] / g, c.kernel_size[0], c.kernel_size[1]];
            let geo = conv2d_output_shape(x, &w, &c.conv)?;
            let params = w.iter().product::<usize>() + if c.bias { c.out_channels } else { 0 };
            (vec![c.out_channels, geo.ho(), geo.wo()], params)
        }
        LayerSpec::Conv1d(c) => {
            need(2, "[C, L] (use conv for [C, H, W])")?;
            check_in(c.in_channels, x[0], "input channels")?;
            let w = [c.out_channels, x[0] / c.conv.groups.max(1), c.kernel_size];
            let geo = conv1d_output_shape(x, &w, &c.conv)?;
            let params = w.iter().product::<usize>() + if c.bias { c.out_channels } else { 0 };
            (vec![c.out_channels, geo.wo()], params)
        }
        LayerSpec::Linear { out_features, bias, in_features } => {
            if x.len() != 1 {
                return Err(Error::Shape("a fully connected layer needs a flat input: put `flatten` before it".into()));
            }
            check_in(*in_features, x[0], "input features")?;
            (vec![*out_features], x[0] * out_features + if *bias { *out_features } else { 0 })
        }
        LayerSpec::MaxPool(p) | LayerSpec::AvgPool(p) => {
            let max = matches!(layer, LayerSpec::MaxPool(_));
            let out = match x.len() {
                3 if max => pool2d_output_shape(x, p)?.output,
                3 => avg_pool2d_output_shape(x, p)?.output,
                2 if max => pool1d_output_shape(x, &pool_1d(p)?)?.output,
                2 => avg_pool1d_output_shape(x, &pool_1d(p)?)?.output,
                _ => return Err(Error::Shape("a pooling needs a [C, H, W] or [C, L] input".into())),
            };
            (out, 0)
        }
        LayerSpec::AdaptiveAvgPool(size) => {
            need(3, "[C, H, W]")?;
            (adaptive_pool_output_shape(x, size)?, 0)
        }
        LayerSpec::BatchNorm(b) => {
            if x.is_empty() || x.len() > 3 {
                return Err(Error::Shape("batch normalization needs a [C, H, W], [C, L] or [F] input".into()));
            }
            (x.to_vec(), if b.affine { 2 * x[0] } else { 0 })
        }
        LayerSpec::Flatten => {
            let n = x.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            (vec![n.ok_or_else(|| Error::Shape(format!("flatten: input {} has too many elements", shape(x))))?], 0)
        }
        LayerSpec::Softmax { dim } => {
            let r = x.len() as isize + 1;
            if *dim < -r || *dim >= r {
                return Err(Error::Shape(format!("dim {dim} is out of range for a batched input of rank {r}")));
            }
            (x.to_vec(), 0)
        }
        LayerSpec::Dropout(_) | LayerSpec::Act(_) => (x.to_vec(), 0),
    })
}

/// The module for a layer whose input shape `x` has been validated by [`infer`].
fn module(layer: &LayerSpec, x: &[usize], rng: &mut ParamRng) -> Result<Box<dyn Module>, Error> {
    Ok(match layer {
        LayerSpec::Conv(c) => Box::new(Conv2d::new(
            Conv2dConfig {
                in_channels: x[0],
                out_channels: c.out_channels,
                kernel_size: c.kernel_size,
                conv: c.conv,
                bias: c.bias,
            },
            rng,
        )),
        LayerSpec::Conv1d(c) => Box::new(Conv1d::new(
            Conv1dConfig {
                in_channels: x[0],
                out_channels: c.out_channels,
                kernel_size: c.kernel_size,
                conv: c.conv,
                bias: c.bias,
            },
            rng,
        )),
        LayerSpec::Linear { out_features, bias, .. } => Box::new(Linear::new(x[0], *out_features, *bias, rng)),
        LayerSpec::MaxPool(p) if x.len() == 2 => Box::new(MaxPool1d(pool_1d(p)?)),
        LayerSpec::MaxPool(p) => Box::new(MaxPool2d(p.clone())),
        LayerSpec::AvgPool(p) if x.len() == 2 => Box::new(AvgPool1d(pool_1d(p)?)),
        LayerSpec::AvgPool(p) => Box::new(AvgPool2d(p.clone())),
        LayerSpec::AdaptiveAvgPool(size) => Box::new(AdaptiveAvgPool2d { output_size: *size }),
        LayerSpec::BatchNorm(b) => {
            let params = BatchNormParams { momentum: b.momentum, eps: b.eps };
            Box::new(BatchNorm::with(x[0], params, b.affine, b.track_running_stats, x.len() == 3))
        }
        LayerSpec::Dropout(p) => Box::new(Dropout { p: *p }),
        LayerSpec::Flatten => Box::new(Flatten::default()),
        LayerSpec::Act(a) => Box::new(Act(*a)),
        LayerSpec::Softmax { dim } => Box::new(Softmax { dim: *dim }),
    })
}

impl Spec {
    /// Every layer's input and output shape for an input of shape `input` (`[C, H, W]` or
    /// `[C, L]`, without the batch dimension), validated; nothing is allocated.
    pub fn infer_shapes(&self, input: &[usize]) -> Result<Vec<LayerShape>, Error> {
        self.walk(input, None)
    }

    /// Builds the network for inputs of shape `input` (without the batch dimension), with
    /// PyTorch's default initialization drawn from `seed`. Layers are named by position.
    pub fn build(&self, input: &[usize], seed: u64) -> Result<Sequential, Error> {
        let mut net = Sequential::new();
        let mut rng = ParamRng::new(seed);
        self.walk(input, Some((&mut net, &mut rng)))?;
        Ok(net)
    }

    fn walk(
        &self,
        input: &[usize],
        mut out: Option<(&mut Sequential, &mut ParamRng)>,
    ) -> Result<Vec<LayerShape>, Error> {
        if input.is_empty() || input.contains(&0) {
            return Err(Error::Shape(format!("spec input {} must be non-empty sizes", shape(input))));
        }
        let mut x = input.to_vec();
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let named = |e: Error| Error::Shape(format!("layer {index} `{layer}`: input {}: {}", shape(&x), strip(&e)));
            let (y, params) = infer(layer, &x).map_err(named)?;
            if let Some((net, rng)) = out.as_mut() {
                net.push_boxed(module(layer, &x, rng).map_err(named)?);
            }
            shapes.push(LayerShape { index, layer: layer.to_string(), input: x, output: y.clone(), params });
            x = y;
        }
        Ok(shapes)
    }
}
