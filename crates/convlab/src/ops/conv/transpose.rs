//! `conv_transpose2d`: the adjoint of `conv2d` with respect to its input (PyTorch semantics),
//! often called "deconvolution". Its forward pass is conv2d's input-gradient kernel and its
//! input gradient is conv2d's forward kernel.

use super::params::{conv_transpose2d_output_shape, ConvTranspose2dParams};
use crate::kernels::conv::{conv2d_backward_input, conv2d_backward_weight, conv2d_forward};
use crate::{Error, Tensor};

/// Adds `bias[c]` to every plane `c` of `out` [N, C, P].
fn add_bias(out: &mut [f32], bias: &[f32], p: usize) {
    for (i, plane) in out.chunks_exact_mut(p).enumerate() {
        let b = bias[i % bias.len()];
        plane.iter_mut().for_each(|v| *v += b);
    }
}

/// `[C]` sums of `d` [N, C, P] over samples and positions.
fn channel_sums(d: &[f32], c: usize, p: usize) -> Vec<f32> {
    let mut s = vec![0.0f64; c];
    for (i, plane) in d.chunks_exact(p).enumerate() {
        s[i % c] += plane.iter().map(|&v| v as f64).sum::<f64>();
    }
    s.into_iter().map(|v| v as f32).collect()
}

impl Tensor {
    /// Transposed 2-D convolution, as `torch.nn.functional.conv_transpose2d`: `self` is
    /// `[N, Cin, H, W]` (or `[Cin, H, W]`), `weight` `[Cin, Cout/groups, kH, kW]`, `bias`
    /// `[Cout]`; the result is `[N, Cout, Hout, Wout]` with
    /// `Hout = (H-1)·stride - 2·padding + dilation·(kH-1) + output_padding + 1`.
    pub fn conv_transpose2d(&self, weight: &Tensor, bias: Option<&Tensor>, params: &ConvTranspose2dParams) -> Tensor {
        self.try_conv_transpose2d(weight, bias, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Tensor::conv_transpose2d`] with an error for shapes or settings that do not fit.
    pub fn try_conv_transpose2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        params: &ConvTranspose2dParams,
    ) -> Result<Tensor, Error> {
        // `g` describes the forward convolution whose input gradient this op is: its input is
        // our output [N, Cout, Hout, Wout], its output our input [N, Cin, H, W].
        let g = conv_transpose2d_output_shape(self.dims(), weight.dims(), params)?;
        if let Some(b) = bias {
            if b.dims() != [g.c_in()] {
                return Err(Error::Shape(format!(
                    "conv_transpose2d: bias {} must have shape [{}]",
                    b.shape(),
                    g.c_in()
                )));
            }
        }
        let batched = self.rank() == 4;
        let x = if batched { self.clone() } else { self.unsqueeze(0) };
        let (xd, wd) = (x.storage(), weight.storage());
        let out_shape = [g.n(), g.c_in(), g.h(), g.w()];
        let p = g.h() * g.w();
        let mut out = vec![0.0f32; g.n() * g.c_in() * p]; // [N, Cout, Hout, Wout]
        conv2d_backward_input(&g, &xd, &wd, &mut out);
        if let Some(b) = bias {
            add_bias(&mut out, &b.storage(), p);
        }
        let mut inputs = vec![&x, weight];
        inputs.extend(bias);
        let (need_x, need_w, need_b) =
            (x.requires_grad(), weight.requires_grad(), bias.is_some_and(|b| b.requires_grad()));
        let has_bias = bias.is_some();
        let (x_shape, w_shape) = (x.shape().clone(), weight.shape().clone());
        let y = Tensor::from_op(out, out_shape, "conv_transpose2d", &inputs, move |grad, _| {
            let dout = grad.storage(); // [N, Cout, Hout, Wout]
            let dx = need_x.then(|| {
                let mut dx = vec![0.0f32; x_shape.numel()]; // [N, Cin, H, W]
                conv2d_forward(&g, &dout, &wd, None, &mut dx);
                Tensor::from_vec(dx, x_shape.clone())
            });
            let dw = need_w.then(|| {
                let mut dw = vec![0.0f32; w_shape.numel()]; // [Cin, Cout/groups, kH, kW]
                conv2d_backward_weight(&g, &dout, &xd, &mut dw);
                Tensor::from_vec(dw, w_shape.clone())
            });
            let mut grads = vec![dx, dw];
            if has_bias {
                grads.push(need_b.then(|| Tensor::from_vec(channel_sums(&dout, g.c_in(), p), [g.c_in()])));
            }
            grads
        });
        Ok(if batched { y } else { y.squeeze(0) })
    }
}
