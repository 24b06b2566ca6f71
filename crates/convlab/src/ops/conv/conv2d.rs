//! `conv2d` and `conv1d` (cross-correlation, PyTorch semantics) with their chain rules.

use super::params::{conv1d_output_shape, conv2d_output_shape, to_2d, Conv1dParams, Conv2dParams};
use crate::kernels::conv::{
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Conv2dGeometry,
};
use crate::ops::pad::PaddingMode;
use crate::{Error, Tensor};

/// The zero-padded convolution of a batched `x` [N, C, H, W] laid out by `g`: forward kernel
/// and the three gradients (each computed only for the inputs that need one).
pub(crate) fn conv2d_geometry(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, g: Conv2dGeometry) -> Tensor {
    let (xd, wd) = (x.storage(), weight.storage());
    let mut out = vec![0.0f32; g.output_dims().iter().product()]; // [N, Cout, Ho, Wo]
    let bd = bias.map(|b| b.storage());
    conv2d_forward(&g, &xd, &wd, bd.as_ref().map(|b| b.as_slice()), &mut out);
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    let (need_x, need_w, need_b) = (x.requires_grad(), weight.requires_grad(), bias.is_some_and(|b| b.requires_grad()));
    let (x_shape, w_shape) = (x.shape().clone(), weight.shape().clone());
    Tensor::from_op(out, g.output_dims(), "conv2d", &inputs, move |grad, _| {
        let dout = grad.storage(); // [N, Cout, Ho, Wo]
        let dx = need_x.then(|| {
            let mut dx = vec![0.0f32; x_shape.numel()]; // [N, C, H, W]
            conv2d_backward_input(&g, &dout, &wd, &mut dx);
            Tensor::from_vec(dx, x_shape.clone())
        });
        let dw = need_w.then(|| {
            let mut dw = vec![0.0f32; w_shape.numel()]; // [Cout, C/groups, kH, kW]
            conv2d_backward_weight(&g, &xd, &dout, &mut dw);
            Tensor::from_vec(dw, w_shape.clone())
        });
        let mut grads = vec![dx, dw];
        if bd.is_some() {
            grads.push(need_b.then(|| {
                let mut db = vec![0.0f32; g.c_out()]; // [Cout]
                conv2d_backward_bias(&g, &dout, &mut db);
                Tensor::from_vec(db, [g.c_out()])
            }));
        }
        grads
    })
}

fn check_bias(op: &str, bias: Option<&Tensor>, c_out: usize) -> Result<(), Error> {
    match bias {
        Some(b) if b.dims() != [c_out] => {
            Err(Error::Shape(format!("{op}: bias {} must have shape [{c_out}]", b.shape())))
        }
        _ => Ok(()),
    }
}

impl Tensor {
    /// 2-D cross-correlation, as `torch.nn.functional.conv2d` (plus `padding_mode` of
    /// `nn.Conv2d`): `self` is `[N, C, H, W]` (or unbatched `[C, H, W]`), `weight`
    /// `[Cout, C/groups, kH, kW]`, `bias` `[Cout]`; the result is `[N, Cout, Ho, Wo]`.
    /// Panics with the shapes in the message where [`Tensor::try_conv2d`] returns an error.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv2dParams) -> Tensor {
        self.try_conv2d(weight, bias, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tensor::conv2d`] with an error for shapes or settings that do not fit.
    pub fn try_conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv2dParams) -> Result<Tensor, Error> {
        let g = conv2d_output_shape(self.dims(), weight.dims(), params)?;
        check_bias("conv2d", bias, g.c_out())?;
        let batched = self.rank() == 4;
        let x = if batched { self.clone() } else { self.unsqueeze(0) };
        let y = if params.padding_mode != PaddingMode::Zeros && g.pad() != [0; 4] {
            // As PyTorch does for padding_mode != "zeros": pad first, then convolve unpadded.
            let [t, b, l, r] = g.pad();
            conv2d_geometry(&x.pad2d(t, b, l, r, params.padding_mode, 0.0), weight, bias, g.prepadded())
        } else {
            conv2d_geometry(&x, weight, bias, g)
        };
        Ok(if batched { y } else { y.squeeze(0) })
    }

    /// 1-D cross-correlation, as `torch.nn.functional.conv1d`: `self` is `[N, C, L]` (or
    /// `[C, L]`), `weight` `[Cout, C/groups, K]`, `bias` `[Cout]`; the result is
    /// `[N, Cout, Lo]`. Computed as a 2-D convolution of height 1.
    pub fn conv1d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv1dParams) -> Tensor {
        self.try_conv1d(weight, bias, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tensor::conv1d`] with an error for shapes or settings that do not fit.
    pub fn try_conv1d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &Conv1dParams) -> Result<Tensor, Error> {
        let g = conv1d_output_shape(self.dims(), weight.dims(), params)?;
        check_bias("conv1d", bias, g.c_out())?;
        let r = self.rank();
        let x = self.unsqueeze(r - 1); // [.., C, 1, L]
        let w = weight.unsqueeze(2); // [Cout, C/groups, 1, K]
        let y = x.try_conv2d(&w, bias, &to_2d(params, self.dims()[r - 1], weight.dims()[2]))?;
        Ok(y.squeeze(-2))
    }
}
