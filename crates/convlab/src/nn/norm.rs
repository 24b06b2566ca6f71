//! Batch normalization layers: `BatchNorm1d` (inputs `[N, C]` or `[N, C, L]`) and
//! `BatchNorm2d` (`[N, C, H, W]`), with torch's parameters (`weight`, `bias`) and buffers
//! (`running_mean`, `running_var`, `num_batches_tracked`).

use crate::nn::module::{Forward, Module, TensorKind};
use crate::ops::batchnorm::{BatchNormParams, RunningStats};
use crate::{Error, Shape, Tensor};

/// `nn.BatchNorm1d` / `nn.BatchNorm2d` (the rank checked is the only difference).
pub struct BatchNorm {
    pub num_features: usize,
    pub params: BatchNormParams,
    /// `[C]`, starts at 1 (absent when `affine=False`).
    pub weight: Option<Tensor>,
    /// `[C]`, starts at 0.
    pub bias: Option<Tensor>,
    /// Absent when `track_running_stats=False` (then batch statistics are always used).
    pub running: Option<RunningStats>,
    spatial: bool,
}

impl BatchNorm {
    /// torch's defaults: affine, tracking running statistics, momentum 0.1, eps 1e-5.
    pub fn new_2d(num_features: usize) -> BatchNorm {
        BatchNorm::with(num_features, BatchNormParams::default(), true, true, true)
    }

    pub fn new_1d(num_features: usize) -> BatchNorm {
        BatchNorm::with(num_features, BatchNormParams::default(), true, true, false)
    }

    /// Full control: `spatial` selects BatchNorm2d (true) or BatchNorm1d (false).
    pub fn with(
        num_features: usize,
        params: BatchNormParams,
        affine: bool,
        track_running_stats: bool,
        spatial: bool,
    ) -> BatchNorm {
        BatchNorm {
            num_features,
            params,
            weight: affine.then(|| Tensor::ones([num_features]).requires_grad_()),
            bias: affine.then(|| Tensor::zeros([num_features]).requires_grad_()),
            running: track_running_stats.then(|| RunningStats::new(num_features)),
            spatial,
        }
    }
}

impl Module for BatchNorm {
    fn kind(&self) -> &'static str {
        if self.spatial {
            "BatchNorm2d"
        } else {
            "BatchNorm1d"
        }
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        if let Err(e) = self.output_shape(x.dims()) {
            panic!("{e}");
        }
        // With no running statistics, batch statistics are used in both modes (torch).
        let train = ctx.is_train() || self.running.is_none();
        x.batch_norm(self.running.as_ref(), self.weight.as_ref(), self.bias.as_ref(), train, &self.params)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, Error> {
        let ok = if self.spatial { input.len() == 4 } else { input.len() == 2 || input.len() == 3 };
        if !ok {
            let want = if self.spatial { "4 ([N, C, H, W])" } else { "2 or 3 ([N, C] or [N, C, L])" };
            return Err(Error::Shape(format!(
                "{}: expected input of rank {want}, got shape {}",
                self.kind(),
                Shape::from(input)
            )));
        }
        if input[1] != self.num_features {
            return Err(Error::Shape(format!(
                "{}: input {} has {} channels, the layer normalizes {}",
                self.kind(),
                Shape::from(input),
                input[1],
                self.num_features
            )));
        }
        Ok(input.to_vec())
    }

    fn local_tensors(&self) -> Vec<(&'static str, Tensor, TensorKind)> {
        let mut v = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(("weight", w.clone(), TensorKind::Parameter));
            v.push(("bias", b.clone(), TensorKind::Parameter));
        }
        if let Some(r) = &self.running {
            v.push(("running_mean", r.mean.clone(), TensorKind::Buffer));
            v.push(("running_var", r.var.clone(), TensorKind::Buffer));
            v.push(("num_batches_tracked", r.num_batches_tracked.clone(), TensorKind::Buffer));
        }
        v
    }

    fn describe(&self) -> String {
        let m = self.params.momentum.map(|m| m.to_string()).unwrap_or_else(|| "None".into());
        format!(
            "{}, eps={}, momentum={m}, affine={}",
            self.num_features,
            self.params.eps,
            if self.weight.is_some() { "True" } else { "False" }
        )
    }
}
