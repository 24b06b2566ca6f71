//! Running an input: every layer's activations (paged for wide layers), logits and
//! probabilities; dataset thumbnails; the confusion matrix over the test split.

use serde_json::{json, Value};

use super::{entry_ids, Explainer, InputSource, Prepared};
use crate::nn::Recorded;
use crate::{no_grad, Error, Tensor};

/// The most maps (channels) or units one response carries per layer.
pub const MAX_PAGE: usize = 256;

fn range(v: &[f32]) -> (f32, f32) {
    v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// The most units of a flat layer one response carries.
pub const MAX_UNITS: usize = 4096;

/// One layer's output: `offset..offset+count` of its maps (4-D), or up to [`MAX_UNITS`]
/// units from `offset` (2-D).
fn layer_json(id: &str, out: &Tensor, offset: usize, count: usize) -> Value {
    let d = &out.dims()[1..];
    let data = out.storage();
    let (lo, hi) = range(&data);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
    match d.len() {
        3 => {
            let (c, hw) = (d[0], d[1] * d[2]);
            let end = (offset + count).min(c);
            let maps: Vec<&[f32]> = (offset.min(end)..end).map(|i| &data[i * hw..(i + 1) * hw]).collect();
            json!({ "id": id, "shape": d, "min": lo, "max": hi, "offset": offset.min(end), "maps": maps })
        }
        _ => {
            let n = data.len();
            let end = (offset + MAX_UNITS).min(n);
            json!({ "id": id, "shape": d, "min": lo, "max": hi, "offset": offset.min(end), "values": &data[offset.min(end)..end] })
        }
    }
}

/// Softmax in f64 (the probabilities shown beside the logits).
pub(crate) fn softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let e: Vec<f64> = logits.iter().map(|&l| (l as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

impl Explainer {
    /// The probabilities of a model's last output: itself when the model ends in a softmax.
    pub(crate) fn probs(&self, logits: &[f32]) -> Vec<f64> {
        if self.layers.last().is_some_and(|l| l.kind == "Softmax") {
            logits.iter().map(|&v| v as f64).collect()
        } else {
            softmax(logits)
        }
    }

    fn run_json(&self, id: &str, p: &Prepared, y: &Tensor, rec: &[Recorded], maps: usize) -> Value {
        let ids = entry_ids(rec);
        let layers: Vec<Value> = rec.iter().zip(&ids).map(|(r, lid)| layer_json(lid, &r.output, 0, maps)).collect();
        let logits = y.to_vec();
        let probs = self.probs(&logits);
        let predicted = probs.iter().enumerate().fold(0, |b, (i, &v)| if v > probs[b] { i } else { b });
        let x = p.x.storage();
        let (lo, hi) = range(&x);
        json!({
            "input_id": id,
            "label": p.label,
            "image": { "shape": self.input_shape, "data": p.image },
            "input": { "min": lo, "max": hi, "maps": x.chunks(self.input_shape[1] * self.input_shape[2]).collect::<Vec<_>>() },
            "layers": layers,
            "logits": logits,
            "probs": probs,
            "predicted": predicted,
        })
    }

    /// Runs an input and returns its id (for detail requests), the picture, every layer's
    /// activations (the first `maps` maps of each), the logits, probabilities and prediction.
    pub fn run(&self, src: &InputSource, maps: usize) -> Result<Value, Error> {
        let maps = maps.clamp(1, MAX_PAGE);
        let prepared = self.prepare(src)?;
        let (id, p) = match src {
            InputSource::Sample(i) => (format!("sample:{i}"), std::sync::Arc::new(prepared)),
            _ => self.remember(prepared),
        };
        let (y, rec) = self.record(&p.x);
        Ok(self.run_json(&id, &p, &y, &rec, maps))
    }

    /// `count` maps (or [`MAX_UNITS`] units of a flat layer) of one layer from `offset`: the
    /// paging of wide layers.
    pub fn layer_maps(&self, input: &str, layer: &str, offset: usize, count: usize) -> Result<Value, Error> {
        let (i, _) = self.layer(layer)?;
        let p = self.lookup(input)?;
        let (_, rec) = self.record(&p.x);
        let r = rec.get(i).ok_or_else(|| Error::Invalid(format!("layer '{layer}' did not run on this input")))?;
        Ok(layer_json(layer, &r.output, offset, count.clamp(1, MAX_PAGE)))
    }

    /// Thumbnails of test samples `offset..offset+count` (`C×H×W` in `[0, 1]`) with labels.
    pub fn samples(&self, offset: usize, count: usize) -> Result<Value, Error> {
        let Some(d) = &self.dataset else { return Ok(json!({ "total": 0, "samples": [] })) };
        let end = (offset + count.min(64)).min(d.len());
        let mut out = Vec::new();
        for i in offset.min(end)..end {
            let s = d.get(i)?;
            out.push(json!({ "index": i, "label": s.label, "data": s.image }));
        }
        Ok(json!({ "total": d.len(), "shape": d.image_shape(), "samples": out }))
    }

    /// The confusion matrix (rows: true class, columns: predicted) over the first `limit` test
    /// samples, the accuracy, and the most confident mistakes. Computed once, then cached.
    pub fn confusion(&self, limit: usize) -> Result<Value, Error> {
        if let Some(v) = self.confusion.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(v.clone());
        }
        let Some(d) = &self.dataset else { return Ok(Value::Null) };
        if d.classes().len() != self.class_names.len() {
            let few = |c: &[String]| c.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
            return Err(Error::Invalid(format!(
                "the dataset's {} classes ({}, ...) are not the model's {} ({}, ...): a confusion matrix needs the same classes",
                d.classes().len(),
                few(d.classes()),
                self.class_names.len(),
                few(&self.class_names)
            )));
        }
        let k = self.class_names.len();
        let n = d.len().min(limit);
        let mut matrix = vec![vec![0usize; k]; k];
        let mut mistakes: Vec<(f64, usize, usize, usize)> = Vec::new();
        let [c, h, w] = [self.input_shape[0], self.input_shape[1], self.input_shape[2]];
        for start in (0..n).step_by(64) {
            let end = (start + 64).min(n);
            let mut xs = Vec::with_capacity((end - start) * c * h * w);
            let mut labels = Vec::new();
            for i in start..end {
                let p = self.prepare(&InputSource::Sample(i))?;
                xs.extend_from_slice(&p.x.storage());
                labels.push(p.label.unwrap_or(0));
            }
            let x = Tensor::from_vec(xs, [end - start, c, h, w]);
            let y = no_grad(|| self.model.run(&x, crate::nn::Mode::Eval));
            for (row, logits) in y.to_vec().chunks(k).enumerate() {
                let probs = self.probs(logits);
                let pred = probs.iter().enumerate().fold(0, |b, (i, &v)| if v > probs[b] { i } else { b });
                let label = labels[row].min(k - 1);
                matrix[label][pred] += 1;
                if pred != label {
                    mistakes.push((probs[pred], start + row, label, pred));
                }
            }
        }
        mistakes.sort_by(|a, b| b.0.total_cmp(&a.0));
        let correct: usize = (0..k).map(|i| matrix[i][i]).sum();
        let worst: Vec<Value> = mistakes
            .iter()
            .take(8)
            .map(|(p, i, l, pr)| json!({ "index": i, "label": l, "predicted": pr, "prob": p }))
            .collect();
        let v = json!({ "classes": self.class_names, "n": n, "accuracy": if n > 0 { correct as f64 / n as f64 } else { 0.0 }, "matrix": matrix, "mistakes": worst });
        *self.confusion.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.clone());
        Ok(v)
    }
}
