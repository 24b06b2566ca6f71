//! [`CheckpointMeta`]: what a checkpoint says about its model, stored in the safetensors
//! `__metadata__` table (string to string) with one entry per field, each value JSON text:
//! `"model": "\"resnet18\""`, `"config": "{\"in_channels\":3,\"num_classes\":10}"`,
//! `"epoch": "12"`, `"class_names": "[\"cat\",\"dog\"]"`,
//! `"normalization": "{\"mean\":[..],\"std\":[..]}"`, `"convlab_version": "\"0.1.0\""`.
//! Other entries (written by other tools) are kept in `extra`, verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::models::ModelConfig;

/// Per-channel input normalization, `x' = (x − mean) / std`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Checks that the means are finite and the standard deviations finite and positive
    /// (a zero or NaN std would turn every input into NaN or infinity).
    ///
    /// ```
    /// use convlab::checkpoint::Normalization;
    /// let n = Normalization { mean: vec![0.5], std: vec![0.0] };
    /// assert_eq!(n.check().unwrap_err(), "std[0] = 0 must be a positive finite number");
    /// ```
    pub fn check(&self) -> Result<(), String> {
        if let Some((i, v)) = self.mean.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!("mean[{i}] = {v} must be a finite number"));
        }
        if let Some((i, v)) = self.std.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v > 0.0)) {
            return Err(format!("std[{i}] = {v} must be a positive finite number"));
        }
        Ok(())
    }
}

/// Metadata of a checkpoint. Every field may be empty: a plain PyTorch `state_dict` file
/// has none of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointMeta {
    /// The zoo name (`"resnet18"`) or a description of the network.
    pub model: String,
    /// The model's configuration, e.g. `{"in_channels": 3, "num_classes": 10}`.
    pub config: serde_json::Value,
    /// Training epochs completed when saved.
    pub epoch: Option<u64>,
    /// Output class names, in logit order.
    pub class_names: Vec<String>,
    /// The input normalization the model was trained with.
    pub normalization: Option<Normalization>,
    /// The ConvLab version that wrote the file ([`super::save`] fills it in when empty).
    pub convlab_version: String,
    /// Metadata entries that are not fields of this struct, verbatim.
    #[serde(skip)]
    pub extra: BTreeMap<String, String>,
}

const FIELDS: [&str; 6] = ["model", "config", "epoch", "class_names", "normalization", "convlab_version"];

impl CheckpointMeta {
    /// Metadata naming the model and its configuration, with this ConvLab's version.
    pub fn new(model: &str, config: serde_json::Value) -> CheckpointMeta {
        CheckpointMeta {
            model: model.to_string(),
            config,
            convlab_version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }
    }

    /// Metadata for the zoo model `name` built with `config`.
    pub fn for_model(name: &str, config: &ModelConfig) -> CheckpointMeta {
        CheckpointMeta::new(
            name,
            serde_json::json!({ "in_channels": config.in_channels, "num_classes": config.num_classes }),
        )
    }

    /// The zoo configuration recorded in `config`, when it has one.
    pub fn model_config(&self) -> Option<ModelConfig> {
        let get = |k: &str| self.config.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
        Some(ModelConfig { in_channels: get("in_channels")?, num_classes: get("num_classes")? })
    }

    /// The safetensors `__metadata__` entries: one per non-empty field (JSON text) plus
    /// `extra`.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let mut out = self.extra.clone();
        let value = serde_json::to_value(self).expect("CheckpointMeta serializes");
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let empty = v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty());
                if !empty {
                    out.insert(k, v.to_string());
                }
            }
        }
        out
    }

    /// Reads the fields back from `__metadata__` entries. A value that is not JSON is taken
    /// as a string; a value of the wrong type is an error naming the key.
    pub fn from_metadata(raw: &BTreeMap<String, String>) -> Result<CheckpointMeta, String> {
        let mut fields = serde_json::Map::new();
        let mut extra = BTreeMap::new();
        for (k, v) in raw {
            if FIELDS.contains(&k.as_str()) {
                let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone()));
                let mut one = serde_json::Map::new();
                one.insert(k.clone(), value.clone());
                serde_json::from_value::<CheckpointMeta>(serde_json::Value::Object(one))
                    .map_err(|e| format!("metadata '{k}' = {v:?}: {e}"))?;
                fields.insert(k.clone(), value);
            } else {
                extra.insert(k.clone(), v.clone());
            }
        }
        let mut meta: CheckpointMeta =
            serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| format!("metadata: {e}"))?;
        meta.extra = extra;
        if let Some(n) = &meta.normalization {
            n.check().map_err(|e| format!("metadata 'normalization': {e}"))?;
        }
        Ok(meta)
    }
}
