//! `Tensor`: a cheap shared handle to f32 data, its shape, and the operation that made it.
//!
//! Data is always contiguous and row-major. Cloning a `Tensor` clones a pointer. Tensors are
//! immutable from the point of view of the graph; optimizers replace a parameter's data in
//! place with [`Tensor::set_data`] / [`Tensor::update_data`], keeping its identity (and so its
//! key in a [`crate::Gradients`] store).
//!
//! ```
//! use convlab::Tensor;
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
//! let y = (&x * &x).sum_all();
//! assert_eq!(y.item(), 30.0);
//! let z = Tensor::randn([2, 3], 0);
//! assert_eq!(z.dims(), &[2, 3]);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::autograd::{is_grad_enabled, BackwardFn, Node};
use crate::{Error, Shape};

/// A unique identity for a tensor, stable across [`Tensor::set_data`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn next() -> TensorId {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        TensorId(COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

pub(crate) struct Inner {
    pub(crate) id: TensorId,
    pub(crate) shape: Shape,
    data: RwLock<Arc<Vec<f32>>>,
    pub(crate) requires_grad: bool,
    pub(crate) node: Option<Node>,
}

/// An N-dimensional f32 tensor. See the module documentation.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Inner>);

impl Tensor {
    // ----- creation -------------------------------------------------------------------------

    /// A tensor from row-major data. Panics if `data.len()` is not the shape's element count.
    pub fn from_vec(data: Vec<f32>, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        match Tensor::try_from_vec(data, shape) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Tensor::from_vec`], with an error instead of a panic.
    pub fn try_from_vec(data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor, Error> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            return Err(Error::Shape(format!(
                "{} values cannot fill shape {shape} ({} elements)",
                data.len(),
                shape.numel()
            )));
        }
        Ok(Tensor::leaf(Arc::new(data), shape, false))
    }

    pub(crate) fn leaf(data: Arc<Vec<f32>>, shape: Shape, requires_grad: bool) -> Tensor {
        debug_assert_eq!(data.len(), shape.numel());
        Tensor(Arc::new(Inner { id: TensorId::next(), shape, data: RwLock::new(data), requires_grad, node: None }))
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], Shape::scalar())
    }

    pub fn full(shape: impl Into<Shape>, v: f32) -> Tensor {
        let shape = shape.into();
        Tensor::from_vec(vec![v; shape.numel()], shape)
    }

    pub fn zeros(shape: impl Into<Shape>) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    pub fn ones(shape: impl Into<Shape>) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    pub fn zeros_like(t: &Tensor) -> Tensor {
        Tensor::zeros(t.shape().clone())
    }

    pub fn ones_like(t: &Tensor) -> Tensor {
        Tensor::ones(t.shape().clone())
    }

    /// `0, 1, ..., n-1` as a 1-D tensor.
    pub fn arange(n: usize) -> Tensor {
        Tensor::from_vec((0..n).map(|i| i as f32).collect(), [n])
    }

    /// Standard normal samples from a seeded ChaCha8 generator (same seed, same values, on
    /// every platform).
    pub fn randn(shape: impl Into<Shape>, seed: u64) -> Tensor {
        Tensor::normal(shape, 0.0, 1.0, seed)
    }

    /// Normal samples with the given mean and standard deviation.
    pub fn normal(shape: impl Into<Shape>, mean: f32, std: f32, seed: u64) -> Tensor {
        let shape = shape.into();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dist = Normal::new(mean, std).expect("std must be finite and non-negative");
        let data = (0..shape.numel()).map(|_| dist.sample(&mut rng)).collect();
        Tensor::from_vec(data, shape)
    }

    /// Uniform samples in `[low, high)`.
    pub fn uniform(shape: impl Into<Shape>, low: f32, high: f32, seed: u64) -> Tensor {
        let shape = shape.into();
        assert!(low < high, "uniform needs low < high, got {low} and {high}");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dist = Uniform::new(low, high);
        let data = (0..shape.numel()).map(|_| dist.sample(&mut rng)).collect();
        Tensor::from_vec(data, shape)
    }

    // ----- inspection -----------------------------------------------------------------------

    pub fn id(&self) -> TensorId {
        self.0.id
    }

    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.0.shape.dims()
    }

    pub fn rank(&self) -> usize {
        self.0.shape.rank()
    }

    pub fn numel(&self) -> usize {
        self.0.shape.numel()
    }

    /// Size of dimension `axis` (negative counts from the end).
    pub fn dim(&self, axis: isize) -> usize {
        self.dims()[self.shape().axis(axis)]
    }

    /// A shared pointer to the row-major data. Holding it keeps this version of the data
    /// alive even if the tensor's data is later replaced.
    pub fn storage(&self) -> Arc<Vec<f32>> {
        self.0.data.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn to_vec(&self) -> Vec<f32> {
        self.storage().as_ref().clone()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> f32 {
        assert_eq!(self.numel(), 1, "item() needs a one-element tensor, got shape {}", self.shape());
        self.storage()[0]
    }

    /// Whether gradients flow to this tensor (a parameter, or a result computed from one).
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// The name of the operation that made this tensor, if it is part of a graph.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.op)
    }

    // ----- graph membership -----------------------------------------------------------------

    /// A new leaf sharing this data that records gradients (PyTorch's `requires_grad_()`;
    /// the result has a new identity).
    pub fn requires_grad_(&self) -> Tensor {
        Tensor::leaf(self.storage(), self.shape().clone(), true)
    }

    /// A new leaf sharing this data, cut from the graph.
    pub fn detach(&self) -> Tensor {
        Tensor::leaf(self.storage(), self.shape().clone(), false)
    }

    /// Builds the result of an operation. If gradients are enabled and any input requires
    /// them, the result records `op`, its inputs and `backward`, which maps the gradient of
    /// the result (and the result itself) to one optional gradient per input, in order.
    pub fn from_op(
        data: Vec<f32>,
        shape: impl Into<Shape>,
        op: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor, &Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Tensor {
        Tensor::from_op_shared(Arc::new(data), shape, op, inputs, backward)
    }

    /// Like [`Tensor::from_op`] for a result that shares its input's data (reshape): no copy.
    /// Sharing is safe because data is only replaced whole or copied before mutation.
    pub(crate) fn from_op_shared(
        data: Arc<Vec<f32>>,
        shape: impl Into<Shape>,
        op: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor, &Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Tensor {
        let shape = shape.into();
        assert_eq!(data.len(), shape.numel(), "{op}: produced {} values for shape {shape}", data.len());
        let track = is_grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        let node = track.then(|| Node {
            op,
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            backward: Box::new(backward) as BackwardFn,
        });
        Tensor(Arc::new(Inner { id: TensorId::next(), shape, data: RwLock::new(data), requires_grad: track, node }))
    }

    // ----- in-place data replacement (optimizers, loading weights) ---------------------------

    /// Replaces the data, keeping identity and shape. Panics on a length mismatch.
    pub fn set_data(&self, data: Vec<f32>) {
        assert_eq!(data.len(), self.numel(), "set_data: {} values for shape {}", data.len(), self.shape());
        *self.0.data.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(data);
    }

    /// Mutates the data in place (copying first if a graph still holds the old version).
    /// Inlined, so that `f` is compiled in its caller's context (e.g. an optimizer step under
    /// `kernels::simd::dispatch`).
    #[inline(always)]
    pub fn update_data(&self, f: impl FnOnce(&mut [f32])) {
        let mut guard = self.0.data.write().unwrap_or_else(|e| e.into_inner());
        f(Arc::make_mut(&mut guard).as_mut_slice());
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.storage();
        let shown: Vec<f32> = data.iter().take(16).copied().collect();
        write!(f, "Tensor(shape={}, data={:?}{}", self.shape(), shown, if data.len() > 16 { "..." } else { "" })?;
        if let Some(op) = self.op_name() {
            write!(f, ", op={op}")?;
        } else if self.requires_grad() {
            write!(f, ", requires_grad")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_random_is_reproducible() {
        assert_eq!(Tensor::randn([5], 7).to_vec(), Tensor::randn([5], 7).to_vec());
        assert_ne!(Tensor::randn([5], 7).to_vec(), Tensor::randn([5], 8).to_vec());
        let u = Tensor::uniform([1000], -2.0, 3.0, 1).to_vec();
        assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
    }

    #[test]
    fn wrong_length_is_an_error_naming_the_shape() {
        let e = Tensor::try_from_vec(vec![1.0; 5], [2, 3]).unwrap_err().to_string();
        assert!(e.contains("[2, 3]") && e.contains('5'), "{e}");
    }

    #[test]
    fn set_data_keeps_identity_and_old_versions() {
        let t = Tensor::ones([2]);
        let old = t.storage();
        let id = t.id();
        t.update_data(|d| d[0] = 5.0);
        assert_eq!(t.to_vec(), vec![5.0, 1.0]);
        assert_eq!(old.as_slice(), &[1.0, 1.0]);
        assert_eq!(t.id(), id);
    }
}
