//! Element-wise arithmetic with broadcasting, and unary math functions.
//!
//! Each op states its forward function and its local derivative side by side; the shared
//! helpers [`binary_op`] and [`unary_op`] apply the chain rule and undo broadcasting by summing
//! the gradient over the stretched dimensions.
//!
//! ```
//! use convlab::Tensor;
//! let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
//! let b = Tensor::from_vec(vec![10.0, 20.0, 30.0], [3]);
//! assert_eq!((&a + &b).to_vec(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
//! assert_eq!((&a * 2.0).to_vec(), vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
//! assert_eq!(a.exp().log().to_vec()[5], 6.0);
//! let x = Tensor::from_vec(vec![-2.0, 0.0, 0.5, 3.0], [4]);
//! assert_eq!(x.clamp_min(0.0).to_vec(), vec![0.0, 0.0, 0.5, 3.0]);
//! assert_eq!(x.clamp_max(1.0).to_vec(), vec![-2.0, 0.0, 0.5, 1.0]);
//! assert!((x.erf().to_vec()[2] - 0.520_499_9).abs() < 1e-7);
//! ```

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::kernels::map::{map1, map2, map3, map3_pair};
use crate::shape::for_each_broadcast;
use crate::{Shape, Tensor};

/// Applies `f` element-wise over the broadcast of `a` and `b`. `df(a, b, g)` returns the
/// gradient contributions `(g·∂f/∂a, g·∂f/∂b)` at one element.
pub(crate) fn binary_op(
    a: &Tensor,
    b: &Tensor,
    op: &'static str,
    f: impl Fn(f32, f32) -> f32 + Sync,
    df: impl Fn(f32, f32, f32) -> (f32, f32) + Send + Sync + 'static,
) -> Tensor {
    let out_shape = Shape::broadcast(a.shape(), b.shape()).unwrap_or_else(|e| panic!("{op}: {e}"));
    let (da, db) = (a.storage(), b.storage());
    let same = a.shape() == b.shape();
    let out = if same {
        map2(&da, &db, f) // out, da, db: [out_shape]
    } else {
        let mut out = vec![0.0f32; out_shape.numel()];
        let sa = a.shape().broadcast_strides(&out_shape);
        let sb = b.shape().broadcast_strides(&out_shape);
        for_each_broadcast(&out_shape, &sa, &sb, |o, i, j| out[o] = f(da[i], db[j]));
        out
    };
    let (sa_shape, sb_shape, osh) = (a.shape().clone(), b.shape().clone(), out_shape.clone());
    Tensor::from_op(out, out_shape, op, &[a, b], move |g, _out| {
        let g = g.storage();
        if same {
            let (ga, gb) = map3_pair(&da, &db, &g, &df);
            return vec![Some(Tensor::from_vec(ga, sa_shape.clone())), Some(Tensor::from_vec(gb, sb_shape.clone()))];
        }
        let sa = sa_shape.broadcast_strides(&osh);
        let sb = sb_shape.broadcast_strides(&osh);
        let mut ga = vec![0.0f32; sa_shape.numel()];
        let mut gb = vec![0.0f32; sb_shape.numel()];
        for_each_broadcast(&osh, &sa, &sb, |o, i, j| {
            let (x, y) = df(da[i], db[j], g[o]);
            ga[i] += x;
            gb[j] += y;
        });
        vec![Some(Tensor::from_vec(ga, sa_shape.clone())), Some(Tensor::from_vec(gb, sb_shape.clone()))]
    })
}

/// Applies `f` to every element. `df(x, y, g)` returns `g·f'(x)` given the input `x` and the
/// output `y = f(x)` (whichever is cheaper to use).
pub(crate) fn unary_op(
    x: &Tensor,
    op: &'static str,
    f: impl Fn(f32) -> f32 + Sync,
    df: impl Fn(f32, f32, f32) -> f32 + Send + Sync + 'static,
) -> Tensor {
    let dx = x.storage();
    let out = map1(&dx, f);
    Tensor::from_op(out, x.shape().clone(), op, &[x], move |g, y| {
        let (gd, yd) = (g.storage(), y.storage());
        let gx = map3(&dx, &yd, &gd, &df);
        vec![Some(Tensor::from_vec(gx, g.shape().clone()))]
    })
}

impl Tensor {
    pub fn add(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "add", |a, b| a + b, |_, _, g| (g, g))
    }

    pub fn sub(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "sub", |a, b| a - b, |_, _, g| (g, -g))
    }

    pub fn mul(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "mul", |a, b| a * b, |a, b, g| (g * b, g * a))
    }

    pub fn div(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "div", |a, b| a / b, |a, b, g| (g / b, -g * a / (b * b)))
    }

    /// Element-wise maximum; at ties the gradient goes to `self`.
    pub fn maximum(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "maximum", f32::max, |a, b, g| if a >= b { (g, 0.0) } else { (0.0, g) })
    }

    /// Element-wise minimum; at ties the gradient goes to `self`.
    pub fn minimum(&self, rhs: &Tensor) -> Tensor {
        binary_op(self, rhs, "minimum", f32::min, |a, b, g| if a <= b { (g, 0.0) } else { (0.0, g) })
    }

    pub fn add_scalar(&self, c: f32) -> Tensor {
        unary_op(self, "add_scalar", move |x| x + c, |_, _, g| g)
    }

    pub fn mul_scalar(&self, c: f32) -> Tensor {
        unary_op(self, "mul_scalar", move |x| x * c, move |_, _, g| g * c)
    }

    pub fn neg(&self) -> Tensor {
        unary_op(self, "neg", |x| -x, |_, _, g| -g)
    }

    pub fn exp(&self) -> Tensor {
        unary_op(self, "exp", f32::exp, |_, y, g| g * y)
    }

    pub fn log(&self) -> Tensor {
        unary_op(self, "log", f32::ln, |x, _, g| g / x)
    }

    pub fn sqrt(&self) -> Tensor {
        unary_op(self, "sqrt", f32::sqrt, |_, y, g| g * 0.5 / y)
    }

    pub fn square(&self) -> Tensor {
        unary_op(self, "square", |x| x * x, |x, _, g| g * 2.0 * x)
    }

    /// `|x|`; the gradient at 0 is 0, as in PyTorch.
    pub fn abs(&self) -> Tensor {
        unary_op(self, "abs", f32::abs, |x, _, g| {
            if x > 0.0 {
                g
            } else if x < 0.0 {
                -g
            } else {
                0.0
            }
        })
    }

    pub fn powf(&self, p: f32) -> Tensor {
        unary_op(self, "powf", move |x| x.powf(p), move |x, _, g| g * p * x.powf(p - 1.0))
    }

    /// Clamps into `[min, max]`; the gradient is 1 inside the range and 0 outside.
    pub fn clamp(&self, min: f32, max: f32) -> Tensor {
        unary_op(self, "clamp", move |x| x.clamp(min, max), move |x, _, g| if x >= min && x <= max { g } else { 0.0 })
    }

    /// `max(x, min)` (ONNX `Clip` without a maximum); NaN stays NaN. The gradient is 1 where
    /// `x > min`, else 0 (PyTorch's `clamp_min`, 0 at `x = min`).
    pub fn clamp_min(&self, min: f32) -> Tensor {
        unary_op(
            self,
            "clamp_min",
            move |x| if x < min { min } else { x },
            move |x, _, g| if x > min { g } else { 0.0 },
        )
    }

    /// `min(x, max)` (ONNX `Clip` without a minimum); NaN stays NaN. The gradient is 1 where
    /// `x < max`, else 0 (PyTorch's `clamp_max`, 0 at `x = max`).
    pub fn clamp_max(&self, max: f32) -> Tensor {
        unary_op(
            self,
            "clamp_max",
            move |x| if x > max { max } else { x },
            move |x, _, g| if x < max { g } else { 0.0 },
        )
    }

    /// The Gauss error function `erf(x) = 2/√π·∫₀ˣ e^(−t²) dt` (libm's `erff`, accurate to
    /// f32); the gradient is `2/√π·e^(−x²)`.
    pub fn erf(&self) -> Tensor {
        unary_op(self, "erf", libm::erff, |x, _, g| g * std::f32::consts::FRAC_2_SQRT_PI * (-x * x).exp())
    }
}

macro_rules! forward_binary_operator {
    ($trait:ident, $method:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$method(self, rhs)
            }
        }
        impl $trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$method(&self, &rhs)
            }
        }
        impl $trait<&Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$method(&self, rhs)
            }
        }
        impl $trait<Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$method(self, &rhs)
            }
        }
    };
}

forward_binary_operator!(Add, add);
forward_binary_operator!(Sub, sub);
forward_binary_operator!(Mul, mul);
forward_binary_operator!(Div, div);

impl Add<f32> for &Tensor {
    type Output = Tensor;
    fn add(self, c: f32) -> Tensor {
        self.add_scalar(c)
    }
}

impl Sub<f32> for &Tensor {
    type Output = Tensor;
    fn sub(self, c: f32) -> Tensor {
        self.add_scalar(-c)
    }
}

impl Mul<f32> for &Tensor {
    type Output = Tensor;
    fn mul(self, c: f32) -> Tensor {
        self.mul_scalar(c)
    }
}

impl Div<f32> for &Tensor {
    type Output = Tensor;
    fn div(self, c: f32) -> Tensor {
        self.mul_scalar(1.0 / c)
    }
}

impl Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
