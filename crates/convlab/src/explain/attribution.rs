//! Class attribution: the gradient saliency map, guided backpropagation (ReLU layers pass back
//! only positive gradients where their input was positive, via
//! [`Forward::guided_backprop`](crate::nn::Forward::guided_backprop)) and Grad-CAM (the last
//! spatial layer's maps weighted by their mean gradient, then ReLU).

use serde_json::{json, Value};

use super::{entry_ids, Explainer};
use crate::nn::{Forward, Mode};
use crate::{Error, Tensor};

/// The score of `class` in a `[1, K]` output, as a scalar that back-propagates.
fn class_score(y: &Tensor, class: usize) -> Tensor {
    let k = y.dims()[1];
    let mut onehot = vec![0.0; k];
    onehot[class] = 1.0;
    (y * &Tensor::from_vec(onehot, [1, k])).sum_all()
}

impl Explainer {
    /// `method`: `"saliency"`, `"guided"` or `"gradcam"`; `class`: the class to explain (the
    /// predicted one when `None`); `layer`: Grad-CAM's layer (default: the last one with a
    /// spatial output). Returns `map` (`h×w`, for overlaying on the input) and, for the two
    /// gradient methods, the per-channel gradient `C×H×W`.
    pub fn attribution(
        &self,
        input: &str,
        method: &str,
        class: Option<usize>,
        layer: Option<&str>,
    ) -> Result<Value, Error> {
        let p = self.lookup(input)?;
        let k = self.class_names.len();
        let class = match class {
            Some(c) if c >= k => {
                return Err(Error::Invalid(format!("class {c} is out of range: the model has {k} classes")))
            }
            Some(c) => c,
            None => {
                let (y, _) = self.record(&p.x);
                let probs = self.probs(&y.to_vec());
                probs.iter().enumerate().fold(0, |b, (i, &v)| if v > probs[b] { i } else { b })
            }
        };
        match method {
            "saliency" | "guided" => {
                let x = p.x.detach().requires_grad_();
                let guided = method == "guided";
                let mut ctx = Forward::new(Mode::Eval, 0);
                ctx.guided_backprop = guided;
                let y = self.model.forward(&x, &mut ctx);
                let g = class_score(&y, class).backward().get(&x).map(|g| g.to_vec());
                let g = g.unwrap_or_else(|| vec![0.0; x.numel()]);
                let [c, h, w] = [self.input_shape[0], self.input_shape[1], self.input_shape[2]];
                let map: Vec<f32> =
                    (0..h * w).map(|i| (0..c).map(|ch| g[ch * h * w + i].abs()).fold(0.0, f32::max)).collect();
                Ok(json!({ "method": method, "class": class, "h": h, "w": w, "map": map, "gradient": g }))
            }
            "gradcam" => {
                let x = p.x.detach();
                let mut ctx = Forward::recording(Mode::Eval, 0);
                let y = self.model.forward(&x, &mut ctx);
                let rec = ctx.take_recorded();
                let ids = entry_ids(&rec);
                let pick = match layer {
                    Some(l) => ids.iter().position(|id| id == l),
                    None => rec.iter().rposition(|r| {
                        r.output.rank() == 4 && r.output.dims()[2] * r.output.dims()[3] > 1 && r.output.requires_grad()
                    }),
                };
                let res = pick.map(|i| {
                    let a = rec[i].output.clone();
                    let grads = class_score(&y, class).backward_retaining(&[&a]);
                    (ids[i].clone(), a.dims().to_vec(), a.to_vec(), grads.get(&a).map(|g| g.to_vec()))
                });
                let Some((id, dims, a, g)) = res else {
                    return Err(Error::Invalid(
                        layer.map_or("the model has no layer with a spatial output for Grad-CAM".into(), |l| {
                            format!("unknown layer '{l}'")
                        }),
                    ));
                };
                if dims.len() != 4 {
                    return Err(Error::Invalid(format!("layer '{id}' has no spatial output (shape {dims:?})")));
                }
                let (c, h, w) = (dims[1], dims[2], dims[3]);
                let g = g.unwrap_or_else(|| vec![0.0; a.len()]);
                let hw = h * w;
                let alpha: Vec<f32> =
                    (0..c).map(|ch| g[ch * hw..(ch + 1) * hw].iter().sum::<f32>() / hw as f32).collect();
                let map: Vec<f32> =
                    (0..hw).map(|i| (0..c).map(|ch| alpha[ch] * a[ch * hw + i]).sum::<f32>().max(0.0)).collect();
                Ok(
                    json!({ "method": method, "class": class, "layer": id, "h": h, "w": w, "map": map, "weights": alpha }),
                )
            }
            other => {
                Err(Error::Invalid(format!("unknown attribution method '{other}': use saliency, guided or gradcam")))
            }
        }
    }
}
