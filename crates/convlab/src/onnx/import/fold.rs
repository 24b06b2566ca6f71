//! Constant values during import, and the shape arithmetic exporters emit (`Shape`, `Gather`,
//! `Concat`, `Cast`, ...) folded into them.
//!
//! A model runs on any batch size, but exporters compute some settings from the input's
//! shape (`Shape → Gather → Concat → Reshape`). Every folded value is therefore computed for
//! two batch sizes at once ([`B1`] and [`B2`]): entries that come out the same are settings,
//! entries that differ depend on the batch, and the op that reads them decides what that
//! means (a Reshape keeps the batch dimension, for instance).

use crate::{Error, Tensor};

/// The two batch sizes every folded value is computed for.
pub(super) const B1: usize = 1;
pub(super) const B2: usize = 2;

/// A constant integer tensor at both batch sizes (`dims` are the same for both).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Ints {
    pub dims: Vec<usize>,
    pub at: [Vec<i64>; 2],
}

impl Ints {
    /// The same values at both batch sizes.
    pub fn fixed(dims: Vec<usize>, values: Vec<i64>) -> Ints {
        Ints { dims, at: [values.clone(), values] }
    }

    pub fn vector(values: Vec<i64>) -> Ints {
        Ints::fixed(vec![values.len()], values)
    }

    pub fn len(&self) -> usize {
        self.at[0].len()
    }

    /// Whether no entry depends on the batch size.
    pub fn is_fixed(&self) -> bool {
        self.at[0] == self.at[1]
    }

    /// The values, when they do not depend on the batch size; `what` names the setting.
    pub fn values(&self, what: &str) -> Result<&[i64], Error> {
        match self.is_fixed() {
            true => Ok(&self.at[0]),
            false => Err(Error::Invalid(format!(
                "{what} depends on the batch size ({:?} at batch {B1}, {:?} at batch {B2}), which ConvLab cannot keep",
                self.at[0], self.at[1]
            ))),
        }
    }

    /// Applies `f` to the values at each batch size.
    pub fn map(&self, dims: Vec<usize>, f: impl Fn(&[i64]) -> Result<Vec<i64>, Error>) -> Result<Ints, Error> {
        Ok(Ints { dims, at: [f(&self.at[0])?, f(&self.at[1])?] })
    }
}

/// A constant during import: a float tensor (weights; never batch-dependent) or integers.
#[derive(Clone, Debug)]
pub(super) enum Const {
    Float(Tensor),
    Int(Ints),
}

impl Const {
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Const::Float(t) => t.dims().to_vec(),
            Const::Int(i) => i.dims.clone(),
        }
    }

    /// As integers (float constants with whole values convert, as `Cast` would).
    pub fn ints(&self, what: &str) -> Result<Ints, Error> {
        match self {
            Const::Int(i) => Ok(i.clone()),
            Const::Float(t) => {
                let v = t.to_vec();
                if v.iter().all(|x| x.fract() == 0.0 && x.abs() < 9.0e15) {
                    Ok(Ints::fixed(t.dims().to_vec(), v.iter().map(|&x| x as i64).collect()))
                } else {
                    Err(Error::Invalid(format!("{what} must hold integers, got {v:?}")))
                }
            }
        }
    }

    /// As a float tensor (integers convert; batch-dependent integers cannot be a tensor).
    pub fn float(&self, what: &str) -> Result<Tensor, Error> {
        match self {
            Const::Float(t) => Ok(t.clone()),
            Const::Int(i) => {
                let v = i.values(what)?;
                Ok(Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), i.dims.clone()))
            }
        }
    }
}

/// Reads a batch-size-dependent Reshape target: an entry that is the batch size times `k`
/// becomes `0` (copy the input's size) when it sits where the input has the batch (position 0
/// with `k = 1`), or `-1` (inferred) when it is the only such entry and nothing else is
/// inferred.
pub(super) fn reshape_target(shape: &Ints, input_batch_dim0: bool) -> Result<Vec<i64>, Error> {
    if shape.is_fixed() {
        return Ok(shape.at[0].clone());
    }
    let [a, b] = &shape.at;
    let moving: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let mut out = a.clone();
    for &i in &moving {
        let scales = a[i] > 0 && b[i] == a[i] * (B2 / B1) as i64;
        if !scales {
            return Err(Error::Invalid(format!(
                "a reshape target {a:?} changes with the batch size in a way ConvLab cannot keep ({b:?} at batch {B2})"
            )));
        }
        out[i] = if i == 0 && a[i] == B1 as i64 && input_batch_dim0 { 0 } else { -1 };
    }
    if out.iter().filter(|&&v| v == -1).count() > 1 {
        return Err(Error::Invalid(format!(
            "a reshape target {a:?} has more than one size that depends on the batch or is inferred"
        )));
    }
    Ok(out)
}

/// Sizes as ONNX integers.
pub(super) fn to_i64(d: &[usize]) -> Vec<i64> {
    d.iter().map(|&x| x as i64).collect()
}
