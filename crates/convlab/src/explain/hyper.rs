//! The hyperparameter playground's arithmetic, from the engine's own validation
//! ([`conv2d_output_shape`], the same check `convlab conv2d` runs), so the page's numbers and
//! the CLI calculator's always agree.

use serde_json::{json, Value};

use crate::ops::conv::conv2d_output_shape;
use crate::{Conv2dParams, Padding2d, PaddingMode};

/// A square input, kernel and settings for the playground.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyperQuery {
    pub input: usize,
    pub kernel: usize,
    /// `"valid"`, `"same"`, `"full"` or a number of pixels on every side.
    pub padding: String,
    pub stride: usize,
    pub dilation: usize,
    /// `"zeros"`, `"reflect"`, `"replicate"` (edge) or `"circular"`.
    pub padding_mode: String,
}

impl Default for HyperQuery {
    fn default() -> Self {
        HyperQuery { input: 5, kernel: 3, padding: "0".into(), stride: 1, dilation: 1, padding_mode: "zeros".into() }
    }
}

/// The output size, the resolved padding and the formula with the numbers filled in, or
/// `ok: false` with the engine's explanation. `remainder` is `(I + P − F) mod S`: the rows
/// and columns the last window cannot reach (PyTorch drops them; CNN Explainer calls such a
/// stride invalid).
///
/// ```
/// use convlab::explain::{hyper, HyperQuery};
/// let v = hyper(&HyperQuery { input: 5, kernel: 3, padding: "same".into(), stride: 2, ..Default::default() });
/// assert_eq!((v["ok"].as_bool(), v["output"].as_u64()), (Some(true), Some(3)));
/// let bad = hyper(&HyperQuery { input: 2, kernel: 5, ..Default::default() });
/// assert_eq!(bad["ok"], false);
/// ```
pub fn hyper(q: &HyperQuery) -> Value {
    let padding = match q.padding.as_str() {
        "valid" => Padding2d::Valid,
        "same" => Padding2d::Same,
        "full" => Padding2d::Full,
        n => match n.parse::<usize>() {
            Ok(p) if p <= 1024 => Padding2d::uniform(p),
            _ => {
                return json!({ "ok": false, "error": format!("padding '{n}' must be valid, same, full or a number up to 1024") })
            }
        },
    };
    let padding_mode = match q.padding_mode.as_str() {
        "zeros" | "zero" => PaddingMode::Zeros,
        "reflect" => PaddingMode::Reflect,
        "replicate" | "edge" => PaddingMode::Replicate,
        "circular" => PaddingMode::Circular,
        m => {
            return json!({ "ok": false, "error": format!("padding mode '{m}' must be zeros, reflect, replicate (edge) or circular") })
        }
    };
    if q.input == 0 || q.input > 4096 || q.kernel > 4096 {
        return json!({ "ok": false, "error": "input size must be between 1 and 4096 and kernel at most 4096" });
    }
    let params = Conv2dParams { stride: [q.stride; 2], padding, dilation: [q.dilation; 2], groups: 1, padding_mode };
    match conv2d_output_shape(&[1, 1, q.input, q.input], &[1, 1, q.kernel, q.kernel], &params) {
        Ok(g) => {
            let axis = g.window().height();
            let fe = axis.effective_kernel();
            let span = axis.input() + axis.pad_start() + axis.pad_end() - fe;
            json!({
                "ok": true, "output": g.ho(), "pad": g.pad(), "effective_kernel": fe,
                "remainder": span % q.stride, "formula": axis.numbers(),
            })
        }
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}
