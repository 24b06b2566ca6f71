//! Batch normalization over the channel axis of `[N, C]`, `[N, C, L]` or `[N, C, H, W]`
//! (PyTorch's `F.batch_norm`, with the running-statistics bookkeeping of `nn.BatchNorm*d`).
//!
//! Training: each channel is normalised with the statistics of the batch (mean and *biased*
//! variance over N and the spatial positions), `y = (x − μ_B)/√(σ²_B + eps)·γ + β`, and the
//! running statistics move towards the batch's (`running_var` with the *unbiased* variance):
//! `running = (1 − m)·running + m·batch`, where `m` is `momentum`, or `1/num_batches_tracked`
//! (a cumulative average) when `momentum` is `None`. Evaluation uses the running statistics.
//! The backward pass in training goes through the batch statistics; in evaluation it is the
//! affine map.
//!
//! ```
//! use convlab::ops::batchnorm::{BatchNormParams, RunningStats};
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], [2, 2]); // N = 2, C = 2
//! let stats = RunningStats::new(2);
//! let y = x.batch_norm(Some(&stats), None, None, true, &BatchNormParams::default());
//! let y = y.to_vec();
//! assert!((y[0] + 1.0).abs() < 1e-4 && (y[3] - 1.0).abs() < 1e-4);
//! // running_mean = 0.9·0 + 0.1·[2, 20]; running_var = 0.9·1 + 0.1·[2, 200]
//! assert_eq!(stats.mean.to_vec(), vec![0.2, 2.0]);
//! assert_eq!(stats.var.to_vec(), vec![1.1, 20.9]);
//! assert_eq!(stats.num_batches_tracked.item(), 1.0);
//! ```

use crate::kernels::batchnorm::{self as kernels, BatchNormShape, Statistics};
use crate::Tensor;

/// Settings of batch normalization (PyTorch's names and defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormParams {
    /// Weight of the current batch in the running statistics; `None` means a cumulative
    /// average (`1/num_batches_tracked`), as PyTorch's `momentum=None`.
    pub momentum: Option<f32>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

impl Default for BatchNormParams {
    fn default() -> Self {
        BatchNormParams { momentum: Some(0.1), eps: 1e-5 }
    }
}

/// The running statistics of one batch-norm layer: PyTorch's buffers `running_mean`,
/// `running_var` and `num_batches_tracked`. The handles are shared, so a layer can hold these
/// tensors and pass a `RunningStats` made of clones of them; updates happen in place
/// ([`Tensor::update_data`]).
#[derive(Clone, Debug)]
pub struct RunningStats {
    /// `[C]`, starts at 0.
    pub mean: Tensor,
    /// `[C]`, starts at 1.
    pub var: Tensor,
    /// Scalar count of training steps that updated the statistics, starts at 0.
    pub num_batches_tracked: Tensor,
}

impl RunningStats {
    /// Fresh statistics for `num_features` channels, as PyTorch initialises them.
    pub fn new(num_features: usize) -> RunningStats {
        RunningStats {
            mean: Tensor::zeros([num_features]),
            var: Tensor::ones([num_features]),
            num_batches_tracked: Tensor::scalar(0.0),
        }
    }
}

impl Tensor {
    /// Batch normalization of `x: [N, C, *]` over every axis but the channel axis 1.
    ///
    /// `weight` (γ) and `bias` (β) are `[C]`. With `train`, the batch statistics normalise and,
    /// if `running` is given, update it in place; without `train`, `running` is required and
    /// used. Panics naming the shapes if they do not fit.
    pub fn batch_norm(
        &self,
        running: Option<&RunningStats>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        train: bool,
        params: &BatchNormParams,
    ) -> Tensor {
        assert!(self.rank() >= 2, "batch_norm: expects [N, C, *], got shape {}", self.shape());
        let d = self.dims();
        let (n, c) = (d[0], d[1]);
        let l: usize = d[2..].iter().product();
        let shape = BatchNormShape { n, c, l };
        let check = |what: &str, t: Option<&Tensor>| {
            if let Some(t) = t {
                assert!(
                    t.dims() == [c],
                    "batch_norm: {what} has shape {}, expected [{c}] for input {}",
                    t.shape(),
                    self.shape()
                );
            }
        };
        check("weight", weight);
        check("bias", bias);
        check("running_mean", running.map(|r| &r.mean));
        check("running_var", running.map(|r| &r.var));
        let x = self.storage();

        // mean, invstd: [C]
        let (mean, invstd): (Vec<f64>, Vec<f64>) = if train {
            let m = n * l;
            assert!(
                m > 1,
                "batch_norm: expected more than 1 value per channel when training, got input {}",
                self.shape()
            );
            let (mean, var) = kernels::batch_norm_stats(&shape, &x);
            if let Some(r) = running {
                let mut count = 0.0;
                r.num_batches_tracked.update_data(|t| {
                    t[0] += 1.0;
                    count = t[0];
                });
                let f = params.momentum.map(|m| m as f64).unwrap_or(1.0 / count as f64);
                let unbias = m as f64 / (m - 1) as f64;
                r.mean.update_data(|rm| {
                    for (v, &bm) in rm.iter_mut().zip(&mean) {
                        *v = ((1.0 - f) * *v as f64 + f * bm) as f32;
                    }
                });
                r.var.update_data(|rv| {
                    for (v, &bv) in rv.iter_mut().zip(&var) {
                        *v = ((1.0 - f) * *v as f64 + f * bv * unbias) as f32;
                    }
                });
            }
            let invstd = var.iter().map(|&v| 1.0 / (v + params.eps as f64).sqrt()).collect();
            (mean, invstd)
        } else {
            let r = running.unwrap_or_else(|| {
                panic!("batch_norm: running statistics are needed in evaluation mode (input {})", self.shape())
            });
            let mean = r.mean.storage().iter().map(|&v| v as f64).collect();
            let invstd = r.var.storage().iter().map(|&v| 1.0 / (v as f64 + params.eps as f64).sqrt()).collect();
            (mean, invstd)
        };

        // gamma, beta: [C]
        let per_channel = |t: Option<&Tensor>, default: f64| -> Vec<f64> {
            t.map_or(vec![default; c], |t| t.storage().iter().map(|&v| v as f64).collect())
        };
        let (gamma, beta) = (per_channel(weight, 1.0), per_channel(bias, 0.0));
        // y: [N, C, L]
        let mut y = vec![0.0f32; x.len()];
        kernels::batch_norm_forward(&shape, &x, (&mean, &invstd), (&gamma, &beta), &mut y);

        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        let (has_w, has_b) = (weight.is_some(), bias.is_some());
        let out_shape = self.shape().clone();
        Tensor::from_op(y, out_shape.clone(), "batch_norm", &inputs, move |g, _| {
            // gx, g: [N, C, L]; gw, gb: [C]
            let mut gx = vec![0.0f32; x.len()];
            let mut gw = vec![0.0f32; c];
            let mut gb = vec![0.0f32; c];
            let stats = if train { Statistics::Batch } else { Statistics::Running };
            let outputs = (&mut gx[..], &mut gw[..], &mut gb[..]);
            kernels::batch_norm_backward(&shape, stats, (&g.storage(), &x), (&mean, &invstd, &gamma), outputs);
            let mut grads = vec![Some(Tensor::from_vec(gx, out_shape.clone()))];
            if has_w {
                grads.push(Some(Tensor::from_vec(gw, [c])));
            }
            if has_b {
                grads.push(Some(Tensor::from_vec(gb, [c])));
            }
            grads
        })
    }
}
