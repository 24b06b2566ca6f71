//! Evaluation: the model in [`Mode::Eval`] under [`no_grad`] over a loader: mean loss,
//! accuracy and (on request) every prediction with its confidence, for confusion matrices
//! and "most confident mistakes".

use crate::data::DataLoader;
use crate::nn::{Forward, Mode, Module};
use crate::ops::loss::cross_entropy;
use crate::{no_grad, CrossEntropyParams, Error, Reduction, Tensor};

/// One test image's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Index in the dataset.
    pub index: usize,
    pub label: usize,
    pub predicted: usize,
    /// Softmax probability of the predicted class.
    pub confidence: f32,
}

/// What [`evaluate`] measured.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    pub accuracy: f64,
    pub count: usize,
    /// Every prediction, in loader order (empty unless asked for).
    pub predictions: Vec<Prediction>,
}

impl Evaluation {
    /// `matrix[true][predicted]` counts over `classes` classes (needs the predictions).
    pub fn confusion(&self, classes: usize) -> Vec<Vec<usize>> {
        let mut m = vec![vec![0usize; classes]; classes];
        for p in &self.predictions {
            if p.label < classes && p.predicted < classes {
                m[p.label][p.predicted] += 1;
            }
        }
        m
    }
}

/// The index of the largest value of each row of `[N, C]` logits, and its value.
pub fn argmax_rows(logits: &[f32], classes: usize) -> Vec<(usize, f32)> {
    logits
        .chunks(classes.max(1))
        .map(|row| {
            row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best })
        })
        .collect()
}

/// Runs `model` in evaluation mode over `loader` (at most `limit` images) without building a
/// graph. With `keep_predictions`, returns each image's prediction too.
pub fn evaluate(
    model: &dyn Module,
    loader: &DataLoader,
    limit: Option<usize>,
    keep_predictions: bool,
) -> Result<Evaluation, Error> {
    let mut ev = Evaluation::default();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let limit = limit.unwrap_or(usize::MAX);
    no_grad(|| -> Result<(), Error> {
        for batch in loader.epoch(0) {
            if ev.count >= limit {
                break;
            }
            let batch = batch?;
            let take = batch.labels.len().min(limit - ev.count);
            let (images, labels, indices) = if take < batch.labels.len() {
                (batch.images.narrow(0, 0, take), &batch.labels[..take], &batch.indices[..take])
            } else {
                (batch.images.clone(), &batch.labels[..], &batch.indices[..])
            };
            let logits = model.forward(&images, &mut Forward::new(Mode::Eval, 0));
            let classes = logits.dims()[1];
            let params = CrossEntropyParams { reduction: Reduction::Sum, ..Default::default() };
            loss_sum += cross_entropy(&logits, labels, &params).item() as f64;
            let probs: Option<Tensor> = keep_predictions.then(|| logits.softmax(-1));
            let probs = probs.map(|p| p.to_vec());
            for (i, (pred, _)) in argmax_rows(&logits.to_vec(), classes).into_iter().enumerate() {
                correct += (pred == labels[i]) as usize;
                if let Some(p) = &probs {
                    ev.predictions.push(Prediction {
                        index: indices[i],
                        label: labels[i],
                        predicted: pred,
                        confidence: p[i * classes + pred],
                    });
                }
            }
            ev.count += take;
        }
        Ok(())
    })?;
    if ev.count > 0 {
        ev.loss = loss_sum / ev.count as f64;
        ev.accuracy = correct as f64 / ev.count as f64;
    }
    Ok(ev)
}
