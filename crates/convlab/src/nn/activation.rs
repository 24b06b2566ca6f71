//! Activation layers: one `Act` type over [`Activation`], reporting torch's class names
//! (`ReLU`, `LeakyReLU`, `ELU`, `Softplus`, `Sigmoid`, `Tanh`, `GELU`, `SiLU`, `ReLU6`,
//! `Hardsigmoid`, `Hardswish`, `SELU`, `Identity`), and `Softmax`.

use crate::nn::module::{Forward, Module};
use crate::ops::activation::{Activation, Gelu, HARDSIGMOID_ALPHA, HARDSIGMOID_BETA};
use crate::{Error, Shape, Tensor};

/// An element-wise activation as a layer.
pub struct Act(pub Activation);

impl Module for Act {
    fn kind(&self) -> &'static str {
        match self.0 {
            Activation::Relu => "ReLU",
            Activation::LeakyRelu { .. } => "LeakyReLU",
            Activation::Elu { .. } => "ELU",
            Activation::Softplus { .. } => "Softplus",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Gelu { .. } => "GELU",
            Activation::Silu => "SiLU",
            Activation::Relu6 => "ReLU6",
            Activation::Hardsigmoid { .. } => "Hardsigmoid",
            Activation::Hardswish => "Hardswish",
            Activation::Selu => "SELU",
            Activation::Identity => "Identity",
        }
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        if ctx.guided_backprop && self.0 == Activation::Relu {
            return guided_relu(x);
        }
        self.0.apply(x)
    }

    fn describe(&self) -> String {
        match self.0 {
            Activation::LeakyRelu { negative_slope } => format!("negative_slope={negative_slope}"),
            Activation::Elu { alpha } => format!("alpha={alpha}"),
            Activation::Softplus { beta, threshold } => format!("beta={beta}, threshold={threshold}"),
            Activation::Gelu { approximate: Gelu::Tanh } => "approximate='tanh'".into(),
            // PyTorch's `Hardsigmoid()` has no settings; other slopes and offsets are ONNX's.
            Activation::Hardsigmoid { alpha, beta } if (alpha, beta) != (HARDSIGMOID_ALPHA, HARDSIGMOID_BETA) => {
                format!("alpha={alpha}, beta={beta}")
            }
            _ => String::new(),
        }
    }
}

/// `nn.Softmax(dim)`.
pub struct Softmax {
    pub dim: isize,
}

impl Module for Softmax {
    fn kind(&self) -> &'static str {
        "Softmax"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut Forward) -> Tensor {
        x.softmax(self.dim)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let r = input.len().max(1) as isize;
        if self.dim < -r || self.dim >= r {
            return Err(Error::Shape(format!(
                "softmax: dim {} is out of range for shape {}",
                self.dim,
                Shape::from(input)
            )));
        }
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!("dim={}", self.dim)
    }
}

/// ReLU whose backward passes a gradient only where both the input and the incoming
/// gradient are positive (guided backpropagation, Springenberg et al. 2015). Not a true
/// gradient: used only when [`Forward::guided_backprop`] asks for it.
pub fn guided_relu(x: &Tensor) -> Tensor {
    let xs = x.storage();
    let data: Vec<f32> = xs.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
    Tensor::from_op(data, x.shape().clone(), "guided_relu", &[x], move |g: &Tensor, _out: &Tensor| {
        let gs = g.storage();
        let grad: Vec<f32> =
            xs.iter().zip(gs.iter()).map(|(&v, &gv)| if v > 0.0 && gv > 0.0 { gv } else { 0.0 }).collect();
        vec![Some(Tensor::from_vec(grad, g.shape().clone()))]
    })
}
