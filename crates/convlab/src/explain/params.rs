//! What the explainer reports about activation and pooling layers beyond their kind, so the
//! page shows the engine's own numbers instead of deriving them: an activation's settings as
//! the engine applies them (and its curve, evaluated by the engine), a pooling layer's window
//! (kernel, stride, padding per side, dilation, ceil mode, output size) and, for each output
//! position, the input positions its window covers, with the divisor of average pooling and
//! the engine's own maximum of max pooling.
//!
//! A fixed window is the layer's own [`Window2d`] (the one the pooling op validates and the
//! kernels read: [`WindowAxis::taps`], [`WindowAxis::padded_len`]); an adaptive window is
//! [`adaptive_window`]. Average pooling divides by `divisor_override`, else by the window's
//! length counted with padding (`count_include_pad`), else by its taps.

use std::any::Any;

use serde_json::{json, Value};

use crate::kernels::pool::adaptive_window;
use crate::nn::{Act, AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, Module};
use crate::window::Window2d;
#[cfg(doc)]
use crate::window::WindowAxis;
use crate::{Activation, Gelu, Pool2dParams, Tensor};

/// Points of the activation curve the detail view draws.
const CURVE_POINTS: usize = 61;

/// The activation of an activation layer (`Act`), `None` for any other module.
pub(crate) fn activation_of(m: &dyn Module) -> Option<Activation> {
    let any: &dyn Any = m;
    any.downcast_ref::<Act>().map(|a| a.0)
}

/// An activation's functional name and settings, named as in PyTorch:
/// `{"name": "gelu", "approximate": "none"}`, `{"name": "softplus", "beta": 1, "threshold": 20}`.
pub(crate) fn activation_json(a: &Activation) -> Value {
    let mut v = json!({ "name": a.name() });
    match *a {
        Activation::LeakyRelu { negative_slope } => v["negative_slope"] = json!(negative_slope),
        Activation::Elu { alpha } => v["alpha"] = json!(alpha),
        Activation::Softplus { beta, threshold } => {
            v["beta"] = json!(beta);
            v["threshold"] = json!(threshold);
        }
        Activation::Gelu { approximate } => {
            v["approximate"] = json!(match approximate {
                Gelu::None => "none",
                Gelu::Tanh => "tanh",
            })
        }
        Activation::Hardsigmoid { alpha, beta } => {
            v["alpha"] = json!(alpha);
            v["beta"] = json!(beta);
        }
        Activation::Relu
        | Activation::Sigmoid
        | Activation::Tanh
        | Activation::Silu
        | Activation::Relu6
        | Activation::Hardswish
        | Activation::Selu
        | Activation::Identity => {}
    }
    v
}

/// `f(x)` at [`CURVE_POINTS`] evenly spaced points of `[−r, r]`, by the engine's scalar form.
pub(crate) fn activation_curve(a: &Activation, r: f32) -> Value {
    let r = if r.is_finite() && r > 0.0 { r } else { 1.0 };
    let xs: Vec<f32> = (0..CURVE_POINTS).map(|k| -r + 2.0 * r * k as f32 / (CURVE_POINTS - 1) as f32).collect();
    let ys: Vec<f32> = xs.iter().map(|&x| a.f(x)).collect();
    json!({ "x": xs, "y": ys })
}

/// How a pooling layer reduces a window.
#[derive(Clone, Debug, PartialEq)]
enum Reduce {
    Max,
    Avg { count_include_pad: bool, divisor_override: Option<usize> },
    AdaptiveAvg,
}

/// A 2-D pooling layer's windows for one input size.
#[derive(Clone, Debug)]
pub(crate) struct PoolWindows {
    reduce: Reduce,
    /// The layer's settings and window (fixed windows); `None` for adaptive pooling.
    params: Option<(Pool2dParams, Window2d)>,
    /// `[H, W]` of an input plane.
    input: [usize; 2],
    /// `[OH, OW]` of an output plane, as the engine computed it.
    output: [usize; 2],
}

/// The windows of a 2-D pooling layer (`MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`) that
/// turned planes of `input` (`[H, W]`) into planes of `output`; `None` for any other module.
pub(crate) fn pool_of(m: &dyn Module, input: [usize; 2], output: [usize; 2]) -> Option<PoolWindows> {
    let any: &dyn Any = m;
    let fixed = |p: &Pool2dParams| Some((p.clone(), m.geometry(&[1, 1, input[0], input[1]])?));
    let (reduce, params) = if let Some(p) = any.downcast_ref::<MaxPool2d>() {
        (Reduce::Max, Some(fixed(&p.0)?))
    } else if let Some(p) = any.downcast_ref::<AvgPool2d>() {
        let r = Reduce::Avg { count_include_pad: p.0.count_include_pad, divisor_override: p.0.divisor_override };
        (r, Some(fixed(&p.0)?))
    } else if any.downcast_ref::<AdaptiveAvgPool2d>().is_some() {
        (Reduce::AdaptiveAvg, None)
    } else {
        return None;
    };
    Some(PoolWindows { reduce, params, input, output })
}

/// The last two entries of a shape (`[H, W]`), when it has them.
pub(crate) fn plane(shape: &[usize]) -> Option<[usize; 2]> {
    let r = shape.len();
    (r >= 3).then(|| [shape[r - 2], shape[r - 1]])
}

impl PoolWindows {
    /// The window's settings: `op` (`max`, `avg`, `adaptive_avg`), `kernel`, `stride`,
    /// `padding` per side `[top, bottom, left, right]`, `pad_end` (the padding the last
    /// window uses at the bottom and right, more than `padding` when `ceil_mode` lets a
    /// window hang over the end), `dilation`, `ceil_mode`, `count_include_pad`,
    /// `divisor_override`, `output_size` (adaptive), `input` and `output` (`[H, W]`).
    pub(crate) fn settings(&self) -> Value {
        let mut v = json!({ "input": self.input, "output": self.output });
        match &self.reduce {
            Reduce::Max => v["op"] = json!("max"),
            Reduce::Avg { count_include_pad, divisor_override } => {
                v["op"] = json!("avg");
                v["count_include_pad"] = json!(count_include_pad);
                v["divisor_override"] = json!(divisor_override);
            }
            Reduce::AdaptiveAvg => {
                v["op"] = json!("adaptive_avg");
                v["output_size"] = json!(self.output);
            }
        }
        if let Some((p, window)) = &self.params {
            let [top, _, left, _] = window.padding();
            v["kernel"] = json!(window.kernel());
            v["stride"] = json!(window.stride());
            v["padding"] = json!([top, top, left, left]);
            v["pad_end"] = json!(window.axes().map(|a| a.pad_end()));
            v["dilation"] = json!(window.dilation());
            v["ceil_mode"] = json!(p.ceil_mode);
        }
        v
    }

    /// The input rows and columns of output `(a, b)`'s window.
    fn axes(&self, a: usize, b: usize) -> (Vec<usize>, Vec<usize>) {
        let [h, w] = self.input;
        match &self.params {
            Some((_, window)) => (window.height().taps(a).collect(), window.width().taps(b).collect()),
            None => {
                let (h0, h1) = adaptive_window(a, h, self.output[0].max(1));
                let (w0, w1) = adaptive_window(b, w, self.output[1].max(1));
                ((h0..h1).collect(), (w0..w1).collect())
            }
        }
    }

    /// For every output position (row-major), the flat input positions `y·W + x` of its
    /// window, in row-major order.
    pub(crate) fn taps(&self) -> Vec<Vec<usize>> {
        let w = self.input[1];
        let [oh, ow] = self.output;
        (0..oh * ow)
            .map(|o| {
                let (rows, cols) = self.axes(o / ow, o % ow);
                rows.iter().flat_map(|&y| cols.iter().map(move |&x| y * w + x)).collect()
            })
            .collect()
    }

    /// Average pooling's divisor for every output position; `None` for max pooling.
    pub(crate) fn divisors(&self) -> Option<Vec<f32>> {
        let [oh, ow] = self.output;
        let one = |o: usize| -> f32 {
            let (a, b) = (o / ow, o % ow);
            match (&self.reduce, &self.params) {
                (Reduce::Avg { divisor_override: Some(d), .. }, _) => *d as f32,
                (Reduce::Avg { count_include_pad: true, .. }, Some((_, window))) => {
                    (window.height().padded_len(a) * window.width().padded_len(b)) as f32
                }
                _ => {
                    let (rows, cols) = self.axes(a, b);
                    (rows.len() * cols.len()) as f32
                }
            }
        };
        (self.reduce != Reduce::Max).then(|| (0..oh * ow).map(one).collect())
    }

    /// The engine's position of each output's maximum within the plane (max pooling of the
    /// `[1, 1, H, W]` plane `x`); `None` for average pooling.
    pub(crate) fn argmax(&self, x: &Tensor) -> Option<Vec<usize>> {
        match (&self.reduce, &self.params) {
            (Reduce::Max, Some((p, _))) => {
                Some(x.max_pool2d_with_indices(p).1.to_vec().iter().map(|&i| i as usize).collect())
            }
            _ => None,
        }
    }

    /// The largest difference between the engine's output plane `y` and the windows reduced
    /// here (max, or sum over divisor): 0 up to rounding when the windows are the engine's
    /// (equal infinities, as in a max window wholly in the padding, count as 0).
    pub(crate) fn check(&self, x: &[f32], y: &[f32]) -> f32 {
        let divisors = self.divisors();
        self.taps()
            .iter()
            .enumerate()
            .map(|(o, taps)| {
                let got = match &divisors {
                    None if taps.is_empty() => f32::NEG_INFINITY,
                    None => taps.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max),
                    Some(_) if taps.is_empty() => 0.0,
                    Some(d) => taps.iter().map(|&i| x[i]).sum::<f32>() / d[o],
                };
                if got == y[o] {
                    0.0
                } else {
                    (got - y[o]).abs()
                }
            })
            .fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Mode;

    /// Windows, divisors and maxima agree with the engine's pooling for padding, dilation,
    /// ceil mode and adaptive windows that do not divide the input.
    #[test]
    fn windows_reproduce_the_engine() {
        let (h, w) = (7, 9);
        let data: Vec<f32> = (0..h * w).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.25).collect();
        let x = Tensor::from_vec(data.clone(), [1, 1, h, w]);
        let params = [
            Pool2dParams::new([2, 2]),
            Pool2dParams { stride: [2, 2], padding: [1, 1], ceil_mode: true, ..Pool2dParams::new([3, 3]) },
            Pool2dParams { stride: [1, 2], dilation: [2, 1], padding: [1, 0], ..Pool2dParams::new([3, 2]) },
        ];
        let mut modules: Vec<Box<dyn Module>> = Vec::new();
        for p in &params {
            modules.push(Box::new(MaxPool2d(p.clone())));
            if p.dilation == [1, 1] {
                modules.push(Box::new(AvgPool2d(p.clone())));
                modules.push(Box::new(AvgPool2d(Pool2dParams { count_include_pad: false, ..p.clone() })));
                modules.push(Box::new(AvgPool2d(Pool2dParams { divisor_override: Some(5), ..p.clone() })));
            }
        }
        modules.push(Box::new(AdaptiveAvgPool2d { output_size: [3, 4] }));
        for m in &modules {
            let y = m.run(&x, Mode::Eval);
            let out = plane(y.dims()).unwrap();
            let win = pool_of(m.as_ref(), [h, w], out).unwrap();
            assert_eq!(win.taps().len(), out[0] * out[1]);
            assert!(win.check(&data, &y.to_vec()) < 1e-6, "{} {}", m.kind(), m.describe());
            if let Some(idx) = win.argmax(&x) {
                for (taps, i) in win.taps().iter().zip(idx) {
                    assert!(taps.contains(&i), "{}: maximum {i} outside its window {taps:?}", m.describe());
                }
            }
        }
    }

    #[test]
    fn settings_name_every_side_and_the_ceil_mode_overhang() {
        let p = Pool2dParams { stride: [2, 2], padding: [1, 0], ceil_mode: true, ..Pool2dParams::new([3, 3]) };
        let s = pool_of(&MaxPool2d(p), [6, 6], [4, 3]).unwrap().settings();
        assert_eq!(s["op"], "max");
        assert_eq!(s["padding"], json!([1, 1, 0, 0]));
        assert_eq!(s["pad_end"], json!([2, 1]));
        assert_eq!((s["ceil_mode"].as_bool(), s["output"].clone()), (Some(true), json!([4, 3])));
        let s = pool_of(&AdaptiveAvgPool2d { output_size: [2, 2] }, [5, 5], [2, 2]).unwrap().settings();
        assert_eq!((s["op"].as_str(), s["output_size"].clone()), (Some("adaptive_avg"), json!([2, 2])));
    }

    #[test]
    fn activation_settings_and_curve() {
        let a = Activation::Softplus { beta: 2.0, threshold: 5.0 };
        assert_eq!(activation_json(&a), json!({ "name": "softplus", "beta": 2.0, "threshold": 5.0 }));
        let g = Activation::Gelu { approximate: Gelu::None };
        assert_eq!(activation_json(&g)["approximate"], "none");
        assert_eq!(activation_json(&Activation::LeakyRelu { negative_slope: 0.5 })["negative_slope"], 0.5);
        let h = Activation::Hardsigmoid { alpha: 0.2, beta: 0.5 };
        assert_eq!(activation_json(&h), json!({ "name": "hardsigmoid", "alpha": 0.2f32, "beta": 0.5 }));
        let c = activation_curve(&a, 4.0);
        let (xs, ys) = (c["x"].as_array().unwrap(), c["y"].as_array().unwrap());
        assert_eq!((xs.len(), xs[0].as_f64(), xs[CURVE_POINTS - 1].as_f64()), (CURVE_POINTS, Some(-4.0), Some(4.0)));
        for (x, y) in xs.iter().zip(ys) {
            assert_eq!(y.as_f64().unwrap() as f32, a.f(x.as_f64().unwrap() as f32));
        }
    }
}
