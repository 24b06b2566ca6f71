//! Reverse-mode automatic differentiation.
//!
//! Every operation on a tensor that requires gradients records a [`Node`]: its name, its
//! inputs and a closure that turns the gradient of its result into gradients of its inputs.
//! [`Tensor::backward`] walks that graph from a scalar in reverse topological order and returns
//! a [`Gradients`] store keyed by tensor; nothing is stored on the tensors, so there is nothing
//! to zero between steps. A tensor used several times receives the sum of its gradients.
//!
//! ```
//! use convlab::{no_grad, Tensor};
//! let w = Tensor::from_vec(vec![1.0, -2.0], [2]).requires_grad_();
//! let x = Tensor::from_vec(vec![3.0, 4.0], [2]);
//! let loss = (&(&w * &x) + &w).sum_all(); // w is used twice
//! let grads = loss.backward();
//! assert_eq!(grads.get(&w).unwrap().to_vec(), vec![4.0, 5.0]);
//! // Inference records nothing:
//! let y = no_grad(|| &w * &x);
//! assert!(!y.requires_grad());
//! ```

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use crate::tensor::{Tensor, TensorId};

/// Maps the gradient of an op's result (and the result) to gradients of its inputs.
pub type BackwardFn = Box<dyn Fn(&Tensor, &Tensor) -> Vec<Option<Tensor>> + Send + Sync>;

/// How a tensor was made: the op, its inputs, and its chain rule.
pub(crate) struct Node {
    pub(crate) op: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) backward: BackwardFn,
}

thread_local! {
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Whether operations on this thread currently record a graph.
pub fn is_grad_enabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() == 0)
}

/// While alive, operations on this thread record no graph (inference, evaluation).
pub struct NoGradGuard(());

impl NoGradGuard {
    pub fn new() -> NoGradGuard {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
        NoGradGuard(())
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        NoGradGuard::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` without recording a graph.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Gradients from one call to [`Tensor::backward`], keyed by tensor identity.
#[derive(Default, Clone)]
pub struct Gradients {
    map: HashMap<TensorId, Tensor>,
}

impl Gradients {
    /// The gradient of the loss with respect to `t`, if `t` took part and was kept.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.map.get(&t.id())
    }

    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.map.get(&id)
    }

    pub fn remove(&mut self, t: &Tensor) -> Option<Tensor> {
        self.map.remove(&t.id())
    }

    pub fn insert(&mut self, t: &Tensor, grad: Tensor) {
        self.map.insert(t.id(), grad);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TensorId, &Tensor)> {
        self.map.iter()
    }
}

impl Tensor {
    /// Back-propagates from this scalar. The store holds the gradient of every leaf that
    /// requires gradients (parameters, inputs marked with `requires_grad_`).
    pub fn backward(&self) -> Gradients {
        self.backward_retaining(&[])
    }

    /// Like [`Tensor::backward`], also keeping the gradients of the listed intermediate
    /// tensors (for saliency maps and Grad-CAM).
    pub fn backward_retaining(&self, retain: &[&Tensor]) -> Gradients {
        self.backward_impl(retain, None)
    }

    /// Like [`Tensor::backward`], but only for the leaves `wanted` (PyTorch's
    /// `torch.autograd.grad(loss, wanted)`): the parts of the graph from which no wanted leaf
    /// is reached are not differentiated at all, so training only a network's last layer
    /// costs the backward pass of that layer alone.
    ///
    /// ```
    /// use convlab::Tensor;
    /// let (w1, w2) = (Tensor::from_vec(vec![2.0], [1]).requires_grad_(), Tensor::from_vec(vec![3.0], [1]).requires_grad_());
    /// let loss = (&(&w1 * &w1) * &w2).sum_all();
    /// let grads = loss.backward_to(&[w2.clone()]);
    /// assert_eq!(grads.get(&w2).unwrap().to_vec(), vec![4.0]);
    /// assert!(grads.get(&w1).is_none());
    /// ```
    pub fn backward_to(&self, wanted: &[Tensor]) -> Gradients {
        let wanted: HashSet<TensorId> = wanted.iter().map(|t| t.id()).collect();
        self.backward_impl(&[], Some(&wanted))
    }

    fn backward_impl(&self, retain: &[&Tensor], wanted: Option<&HashSet<TensorId>>) -> Gradients {
        assert_eq!(self.numel(), 1, "backward() starts from a scalar loss, got shape {}", self.shape());
        let keep: HashSet<TensorId> = retain.iter().map(|t| t.id()).collect();
        let mut store = Gradients::default();
        if !self.requires_grad() {
            return store;
        }
        let mut order = topological_order(self);
        if let Some(wanted) = wanted {
            order = leading_to(order, wanted);
        }
        let on_path: HashSet<TensorId> = match wanted {
            Some(_) => order.iter().map(|t| t.id()).collect(),
            None => HashSet::new(),
        };
        let mut pending: HashMap<TensorId, Tensor> = HashMap::new();
        pending.insert(self.id(), Tensor::ones(self.shape().clone()));
        let _guard = NoGradGuard::new();
        for t in order.iter().rev() {
            let Some(grad) = pending.remove(&t.id()) else { continue };
            if let Some(node) = &t.0.node {
                let input_grads = (node.backward)(&grad, t);
                assert_eq!(
                    input_grads.len(),
                    node.inputs.len(),
                    "{}: backward returned the wrong number of gradients",
                    node.op
                );
                for (input, g) in node.inputs.iter().zip(input_grads) {
                    let Some(g) = g else { continue };
                    if !input.requires_grad() || (wanted.is_some() && !on_path.contains(&input.id())) {
                        continue;
                    }
                    assert_eq!(
                        g.shape(),
                        input.shape(),
                        "{}: gradient shape {} does not match input shape {}",
                        node.op,
                        g.shape(),
                        input.shape()
                    );
                    accumulate(&mut pending, input.id(), g);
                }
                if keep.contains(&t.id()) {
                    store.map.insert(t.id(), grad);
                }
            } else {
                store.map.insert(t.id(), grad);
            }
        }
        store
    }
}

fn accumulate(map: &mut HashMap<TensorId, Tensor>, id: TensorId, g: Tensor) {
    match map.remove(&id) {
        None => {
            map.insert(id, g);
        }
        Some(prev) => {
            let add = |sum: &mut [f32], g: &[f32]| sum.iter_mut().zip(g).for_each(|(s, v)| *s += v);
            let g_data = g.storage();
            if std::sync::Arc::strong_count(&prev.0) == 1 {
                // Nobody else holds this gradient tensor: add into it (`update_data` still
                // copies first if its data is shared with another tensor).
                prev.update_data(|sum| add(sum, &g_data));
                map.insert(id, prev);
            } else {
                let mut sum = prev.to_vec();
                add(&mut sum, &g_data);
                map.insert(id, Tensor::from_vec(sum, g.shape().clone()));
            }
        }
    }
}

/// The tensors of `order` (inputs before the ops using them) from which a `wanted` leaf is
/// reached, in the same order.
fn leading_to(order: Vec<Tensor>, wanted: &HashSet<TensorId>) -> Vec<Tensor> {
    let mut on_path: HashSet<TensorId> = HashSet::new();
    let mut kept = Vec::new();
    for t in order {
        let reaches = match &t.0.node {
            Some(node) => node.inputs.iter().any(|i| on_path.contains(&i.id())),
            None => wanted.contains(&t.id()),
        };
        if reaches {
            on_path.insert(t.id());
            kept.push(t);
        }
    }
    kept
}

/// Tensors reachable from `root` that require gradients, inputs before the ops using them.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // Iterative DFS: (tensor, whether its inputs have been pushed).
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = &t.0.node {
            for input in &node.inputs {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}
