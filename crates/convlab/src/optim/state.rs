//! Exporting and importing per-parameter optimizer state as named tensors.

use std::collections::HashMap;

use crate::{Error, Tensor};

/// One parameter's state: named buffers (each the parameter's shape) and a step count.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParamState {
    pub(crate) step: Option<f32>,
    pub(crate) buffers: Vec<(&'static str, Vec<f32>)>,
}

impl ParamState {
    pub(crate) fn buffer(&mut self, name: &'static str) -> Option<&mut Vec<f32>> {
        self.buffers.iter_mut().find(|(n, _)| *n == name).map(|(_, b)| b)
    }

    /// The buffer `name`, created by `init` if absent.
    pub(crate) fn buffer_or(&mut self, name: &'static str, init: impl FnOnce() -> Vec<f32>) -> &mut Vec<f32> {
        let i = match self.buffers.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.buffers.push((name, init()));
                self.buffers.len() - 1
            }
        };
        &mut self.buffers[i].1
    }
}

/// The state of every parameter that has some, as `"<param>.<kind>"` tensors in parameter order
/// (buffers in the order of `kinds`, then `step`).
pub(crate) fn export(
    params: &[(String, Tensor)],
    states: &HashMap<String, ParamState>,
    kinds: &[&'static str],
) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (name, p) in params {
        let Some(s) = states.get(name) else { continue };
        for kind in kinds {
            if let Some((_, b)) = s.buffers.iter().find(|(n, _)| n == kind) {
                out.push((format!("{name}.{kind}"), Tensor::from_vec(b.clone(), p.shape().clone())));
            }
        }
        if let Some(step) = s.step {
            out.push((format!("{name}.step"), Tensor::from_vec(vec![step], [1])));
        }
    }
    out
}

/// Parses `"<param>.<kind>"` tensors. `kinds` are the buffer names this optimizer (with its
/// settings) keeps; `required` those every parameter with state must have; `with_step` whether
/// a step count is kept and required.
pub(crate) fn import(
    op: &str,
    params: &[(String, Tensor)],
    state: &[(String, Tensor)],
    kinds: &[&'static str],
    required: &[&'static str],
    with_step: bool,
) -> Result<HashMap<String, ParamState>, Error> {
    let shapes: HashMap<&str, &Tensor> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out: HashMap<String, ParamState> = HashMap::new();
    for (key, t) in state {
        let (name, kind) = key
            .rsplit_once('.')
            .ok_or_else(|| Error::Invalid(format!("{op}.load_state_dict: key {key:?} is not \"<param>.<state>\"")))?;
        let Some(p) = shapes.get(name) else {
            return Err(Error::Invalid(format!("{op}.load_state_dict: {key:?} names no parameter of this optimizer")));
        };
        let entry = out.entry(name.to_string()).or_default();
        if kind == "step" && with_step {
            if t.numel() != 1 {
                return Err(Error::Shape(format!(
                    "{op}.load_state_dict: {key} has shape {}, expected one element",
                    t.shape()
                )));
            }
            entry.step = Some(t.to_vec()[0]);
        } else if let Some(kind) = kinds.iter().find(|k| **k == kind) {
            if t.shape() != p.shape() {
                return Err(Error::Shape(format!(
                    "{op}.load_state_dict: {key} has shape {}, parameter {name} has shape {}",
                    t.shape(),
                    p.shape()
                )));
            }
            if entry.buffer(kind).is_some() {
                return Err(Error::Invalid(format!("{op}.load_state_dict: {key} appears twice")));
            }
            entry.buffers.push((kind, t.to_vec()));
        } else {
            let mut known: Vec<&str> = kinds.to_vec();
            if with_step {
                known.push("step");
            }
            return Err(Error::Invalid(format!(
                "{op}.load_state_dict: unknown state {kind:?} in {key:?} (this optimizer keeps {known:?})"
            )));
        }
    }
    for (name, s) in &mut out {
        if with_step && s.step.is_none() {
            return Err(Error::Invalid(format!("{op}.load_state_dict: {name} has state but no {name}.step")));
        }
        for kind in required {
            if s.buffer(kind).is_none() {
                return Err(Error::Invalid(format!("{op}.load_state_dict: {name} has state but no {name}.{kind}")));
            }
        }
        // Keep buffers in the canonical order so a re-export lists them the same way.
        s.buffers.sort_by_key(|(n, _)| kinds.iter().position(|k| k == n));
    }
    Ok(out)
}
