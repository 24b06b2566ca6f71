//! Shapes: dimension lists, row-major strides and NumPy/PyTorch broadcasting.
//!
//! ```
//! use convlab::Shape;
//! let a = Shape::from([2, 1, 4]);
//! let b = Shape::from([3, 1]);
//! assert_eq!(Shape::broadcast(&a, &b).unwrap(), Shape::from([2, 3, 4]));
//! assert_eq!(a.strides(), vec![4, 4, 1]);
//! ```

use std::fmt;

/// The dimensions of a tensor, outermost first (NCHW for images).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    pub fn new(dims: Vec<usize>) -> Shape {
        Shape(dims)
    }

    pub fn scalar() -> Shape {
        Shape(Vec::new())
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major (C order) strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.0[i + 1];
        }
        strides
    }

    /// Resolves a possibly negative axis (`-1` is the last) against this rank. As in PyTorch,
    /// a 0-dimensional shape accepts axis 0 and -1. Panics with the shape in the message when
    /// the axis is out of range.
    pub fn axis(&self, axis: isize) -> usize {
        let rank = (self.rank() as isize).max(1);
        let a = if axis < 0 { axis + rank } else { axis };
        assert!(a >= 0 && a < rank, "axis {axis} is out of range for shape {self}");
        a as usize
    }

    /// The broadcast shape of `a` and `b` (aligned at the trailing dimension; a dimension of 1
    /// stretches), or an error naming both shapes.
    pub fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, crate::Error> {
        let rank = a.rank().max(b.rank());
        let mut out = vec![0; rank];
        for (i, o) in out.iter_mut().enumerate() {
            let da = if i + a.rank() >= rank { a.0[i + a.rank() - rank] } else { 1 };
            let db = if i + b.rank() >= rank { b.0[i + b.rank() - rank] } else { 1 };
            *o = if da == db || db == 1 {
                da
            } else if da == 1 {
                db
            } else {
                return Err(crate::Error::Shape(format!(
                    "shapes {a} and {b} cannot be broadcast together (dimension {i}: {da} vs {db})"
                )));
            };
        }
        Ok(Shape(out))
    }

    /// Strides for reading a tensor of this shape as if it had shape `target` (this shape must
    /// broadcast to `target`): broadcast dimensions get stride 0.
    pub fn broadcast_strides(&self, target: &Shape) -> Vec<usize> {
        let own = self.strides();
        let offset = target.rank() - self.rank();
        (0..target.rank()).map(|i| if i < offset || self.0[i - offset] == 1 { 0 } else { own[i - offset] }).collect()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Shape {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Shape {
        Shape(v.to_vec())
    }
}

impl From<&Vec<usize>> for Shape {
    fn from(v: &Vec<usize>) -> Shape {
        Shape(v.clone())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Shape {
        Shape(v.to_vec())
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Shape {
        s.clone()
    }
}

/// Calls `f(out_index, a_index, b_index)` for every element of a broadcast of two operands,
/// in row-major order of `out`. `sa`/`sb` are the operands' broadcast strides.
pub(crate) fn for_each_broadcast(out: &Shape, sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let dims = out.dims();
    let rank = dims.len();
    let n = out.numel();
    if n == 0 {
        return;
    }
    if rank == 0 {
        f(0, 0, 0);
        return;
    }
    let mut idx = vec![0usize; rank];
    let (mut ia, mut ib) = (0usize, 0usize);
    let last = rank - 1;
    let (la, lb, ld) = (sa[last], sb[last], dims[last]);
    let mut o = 0;
    while o < n {
        // Innermost dimension as a tight loop.
        for j in 0..ld {
            f(o + j, ia + j * la, ib + j * lb);
        }
        o += ld;
        // Carry into the outer dimensions.
        let mut d = last;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            ia += sa[d];
            ib += sb[d];
            if idx[d] < dims[d] {
                break;
            }
            ia -= sa[d] * dims[d];
            ib -= sb[d] * dims[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_error_names_both_shapes() {
        let err = Shape::broadcast(&Shape::from([2, 3]), &Shape::from([4])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("[2, 3]") && msg.contains("[4]"), "{msg}");
    }

    #[test]
    fn broadcast_iteration_visits_expected_offsets() {
        let out = Shape::from([2, 3]);
        let sa = Shape::from([2, 1]).broadcast_strides(&out);
        let sb = Shape::from([3]).broadcast_strides(&out);
        let mut seen = vec![];
        for_each_broadcast(&out, &sa, &sb, |o, a, b| seen.push((o, a, b)));
        assert_eq!(seen, vec![(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0), (4, 1, 1), (5, 1, 2)]);
    }
}
