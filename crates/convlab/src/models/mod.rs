//! The model zoo: the lecture's classic networks, built by name.
//!
//! (Being built: the networks arrive one by one; [`build`] names what is available.)

use crate::nn::{Module, ParamRng};
use crate::Error;

/// What every zoo model takes: input channels and number of classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub in_channels: usize,
    pub num_classes: usize,
}

/// Builds the zoo model `name` with weights drawn from `seed`.
pub fn build(name: &str, config: &ModelConfig, seed: u64) -> Result<Box<dyn Module>, Error> {
    let _ = (config, ParamRng::new(seed));
    Err(Error::Invalid(format!("unknown model '{name}'; available: {}", names().join(", "))))
}

/// The names [`build`] accepts.
pub fn names() -> Vec<&'static str> {
    Vec::new()
}
