//! Comparisons with broadcasting. Results are 0.0/1.0 masks and carry no gradient.
//!
//! ```
//! use convlab::Tensor;
//! let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], [3]);
//! assert_eq!(a.gt(&Tensor::scalar(1.5)).to_vec(), vec![0.0, 1.0, 1.0]);
//! assert_eq!(a.eq(&a).sum_all().item(), 3.0);
//! ```

use crate::shape::for_each_broadcast;
use crate::{Shape, Tensor};

fn compare(a: &Tensor, b: &Tensor, op: &str, f: impl Fn(f32, f32) -> bool) -> Tensor {
    let shape = Shape::broadcast(a.shape(), b.shape()).unwrap_or_else(|e| panic!("{op}: {e}"));
    let (da, db) = (a.storage(), b.storage());
    let sa = a.shape().broadcast_strides(&shape);
    let sb = b.shape().broadcast_strides(&shape);
    let mut out = vec![0.0f32; shape.numel()];
    for_each_broadcast(&shape, &sa, &sb, |o, i, j| out[o] = if f(da[i], db[j]) { 1.0 } else { 0.0 });
    Tensor::from_vec(out, shape)
}

impl Tensor {
    pub fn eq(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "eq", |a, b| a == b)
    }
    pub fn ne(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "ne", |a, b| a != b)
    }
    pub fn lt(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "lt", |a, b| a < b)
    }
    pub fn le(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "le", |a, b| a <= b)
    }
    pub fn gt(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "gt", |a, b| a > b)
    }
    pub fn ge(&self, rhs: &Tensor) -> Tensor {
        compare(self, rhs, "ge", |a, b| a >= b)
    }

    /// `a` where `cond` is non-zero, else `b` (PyTorch's `torch.where(cond, a, b)`, ONNX
    /// `Where`), the three broadcast together. The gradient goes to whichever was picked; the
    /// condition gets none.
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        let broadcast = |x: &Shape, y: &Shape| Shape::broadcast(x, y).unwrap_or_else(|e| panic!("where: {e}"));
        let shape = broadcast(&broadcast(cond.shape(), a.shape()), b.shape());
        let (c, a, b) =
            (cond.broadcast_to(shape.clone()), a.broadcast_to(shape.clone()), b.broadcast_to(shape.clone()));
        let pick: Vec<bool> = c.storage().iter().map(|&v| v != 0.0).collect();
        let out: Vec<f32> = pick
            .iter()
            .zip(a.storage().iter().zip(b.storage().iter()))
            .map(|(&p, (&x, &y))| if p { x } else { y })
            .collect();
        Tensor::from_op(out, shape, "where", &[&a, &b], move |g, _| {
            let gs = g.storage();
            let part = |take: bool| -> Tensor {
                let v: Vec<f32> = gs.iter().zip(&pick).map(|(&gv, &p)| if p == take { gv } else { 0.0 }).collect();
                Tensor::from_vec(v, g.shape().clone())
            };
            vec![Some(part(true)), Some(part(false))]
        })
    }

    /// Whether every element is within `atol + rtol·|other|` of `other` (same shape).
    pub fn allclose(&self, other: &Tensor, rtol: f32, atol: f32) -> bool {
        self.shape() == other.shape()
            && self.storage().iter().zip(other.storage().iter()).all(|(a, b)| (a - b).abs() <= atol + rtol * b.abs())
    }
}
