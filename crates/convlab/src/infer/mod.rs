//! Inference plans: a model compiled once for eval-mode inference, then run many times.
//!
//! [`Plan::compile`] traces the model into a [`Graph`] ([`crate::graph::trace`]: any zoo,
//! spec or imported model) and rewrites it for inference. So far it folds every eval-mode
//! batch normalization that directly follows a convolution into that convolution's weights
//! and bias, `W' = W·γ/√(σ²+ε)` and `b' = (b − μ)·γ/√(σ²+ε) + β`, so the normalization costs
//! nothing at run time. The rewritten graph runs as a [`GraphModule`]; the model itself is not
//! changed (folded layers get weights of their own).
//!
//! ```
//! use convlab::infer::Plan;
//! use convlab::nn::{Mode, Module};
//! use convlab::Tensor;
//! let config = convlab::models::ModelConfig::for_model("resnet18_cifar").unwrap();
//! let net = convlab::models::build("resnet18_cifar", &config, 0).unwrap();
//! let plan = Plan::compile(net.as_ref(), &[1, 3, 32, 32]).unwrap();
//! assert_eq!(plan.folded_batch_norms(), 20); // every BatchNorm2d of ResNet-18 follows a conv
//! let x = Tensor::randn([2, 3, 32, 32], 1);
//! assert!(plan.run(&x).allclose(&net.run(&x, Mode::Eval), 1e-4, 1e-4));
//! ```

use crate::graph::{trace, Graph, GraphModule, Op, ValueId};
use crate::nn::{Conv2d, Conv2dConfig, Mode, Module};
use crate::{no_grad, Error, Tensor};

/// A model compiled for inference (see the module doc).
pub struct Plan {
    /// The rewritten graph (a [`GraphModule`]), or the model itself where it cannot be traced
    /// ([`Plan::or_module`]).
    module: Box<dyn Module>,
    folded: usize,
}

impl Plan {
    /// Compiles `model` for inputs of shape `input` (batch included; the batch may differ
    /// when the plan runs, as for the model).
    pub fn compile(model: &dyn Module, input: &[usize]) -> Result<Plan, Error> {
        let mut graph = trace(model, input)?;
        let folded = fold_batch_norms(&mut graph);
        Ok(Plan { module: Box::new(GraphModule::new(graph)?), folded })
    }

    /// [`Plan::compile`], or a plan that runs `model` as it is where it cannot be traced
    /// (every model runs; only the rewrites are lost).
    pub fn or_module(model: Box<dyn Module>, input: &[usize]) -> Plan {
        Plan::compile(&*model, input).unwrap_or(Plan { module: model, folded: 0 })
    }

    /// The model's output for `x`, in eval mode, without recording gradients.
    pub fn run(&self, x: &Tensor) -> Tensor {
        no_grad(|| self.module.run(x, Mode::Eval))
    }

    /// How many batch normalizations were folded into convolutions.
    pub fn folded_batch_norms(&self) -> usize {
        self.folded
    }

    /// The rewritten model, as a module (its layers are the plan's, not the model's).
    pub fn module(&self) -> &dyn Module {
        &*self.module
    }
}

/// Folds each BatchNorm with running statistics whose input is a Conv2d's output read by
/// nothing else into that convolution; returns how many were folded.
fn fold_batch_norms(g: &mut Graph) -> usize {
    let mut readers = g.readers();
    let mut folded = 0;
    let mut i = 0;
    while i < g.nodes.len() {
        let Some((conv_at, fused)) = foldable(g, i, &readers) else {
            i += 1;
            continue;
        };
        let (bn_out, conv_out) = (g.nodes[i].outputs[0], g.nodes[conv_at].outputs[0]);
        g.nodes[conv_at].op = Op::Conv2d(fused);
        g.nodes.remove(i);
        rename(g, bn_out, conv_out);
        readers[conv_out.0] = readers[bn_out.0];
        folded += 1;
    }
    folded
}

/// For node `i`, a BatchNorm that can be folded: the producing convolution's index and the
/// convolution with the normalization folded in.
/// `readers` counts the reads of every value ([`Graph::readers`]).
fn foldable(g: &Graph, i: usize, readers: &[usize]) -> Option<(usize, Conv2d)> {
    let Op::BatchNorm(bn) = &g.nodes[i].op else { return None };
    let stats = bn.running.as_ref()?;
    let x = g.nodes[i].inputs[0];
    let conv_at = g.nodes.iter().position(|n| n.outputs.contains(&x))?;
    let Op::Conv2d(conv) = &g.nodes[conv_at].op else { return None };
    let c = conv.config.out_channels;
    if readers[x.0] != 1 || bn.num_features != c {
        return None;
    }
    // Per output channel: scale = γ/√(σ²+ε), shift = β − μ·scale.
    let (mean, var) = (stats.mean.to_vec(), stats.var.to_vec());
    let gamma = bn.weight.as_ref().map(Tensor::to_vec).unwrap_or_else(|| vec![1.0; c]);
    let beta = bn.bias.as_ref().map(Tensor::to_vec).unwrap_or_else(|| vec![0.0; c]);
    let scale: Vec<f32> = (0..c).map(|k| gamma[k] / (var[k] + bn.params.eps).sqrt()).collect();
    let mut w = conv.weight.to_vec(); // [C_out, C_in/groups, kH, kW]
    let per = w.len() / c.max(1);
    for (k, row) in w.chunks_mut(per).enumerate() {
        row.iter_mut().for_each(|v| *v *= scale[k]);
    }
    let b0 = conv.bias.as_ref().map(Tensor::to_vec).unwrap_or_else(|| vec![0.0; c]);
    let b: Vec<f32> = (0..c).map(|k| (b0[k] - mean[k]) * scale[k] + beta[k]).collect();
    let fused = Conv2d {
        config: Conv2dConfig { bias: true, ..conv.config.clone() },
        weight: Tensor::from_vec(w, conv.weight.dims().to_vec()),
        bias: Some(Tensor::from_vec(b, [c])),
    };
    Some((conv_at, fused))
}

/// Every read of value `from` (by a node or as a graph output) reads `to` instead.
fn rename(g: &mut Graph, from: ValueId, to: ValueId) {
    for v in g.nodes.iter_mut().flat_map(|n| n.inputs.iter_mut()).chain(g.outputs.iter_mut()) {
        if *v == from {
            *v = to;
        }
    }
}
