//! `Sequential`: modules applied in order, named `0`, `1`, ... as in PyTorch (or with the names
//! given, as with torch's `OrderedDict` form).

use crate::nn::module::{Forward, Module};
use crate::Tensor;

/// A chain of modules; the output of each is the input of the next.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a module named by its position.
    pub fn push(&mut self, module: impl Module + 'static) {
        let name = self.layers.len().to_string();
        self.layers.push((name, Box::new(module)));
    }

    /// Appends a boxed module named by its position.
    pub fn push_boxed(&mut self, module: Box<dyn Module>) {
        let name = self.layers.len().to_string();
        self.layers.push((name, module));
    }

    /// Appends a module under an explicit name (torch's `OrderedDict` form).
    pub fn push_named(&mut self, name: &str, module: Box<dyn Module>) {
        assert!(
            !name.is_empty() && !name.contains('.'),
            "Sequential: layer name '{name}' must be non-empty and without '.'"
        );
        assert!(self.layers.iter().all(|(n, _)| n != name), "Sequential: duplicate layer name '{name}'");
        self.layers.push((name.to_string(), module));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers with their names, in order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.layers.iter().map(|(n, m)| (n.as_str(), m.as_ref()))
    }
}

impl Module for Sequential {
    fn kind(&self) -> &'static str {
        "Sequential"
    }

    fn forward(&self, x: &Tensor, ctx: &mut Forward) -> Tensor {
        let mut h = x.clone();
        for (name, layer) in &self.layers {
            h = ctx.child(name, layer.as_ref(), &h);
        }
        h
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers.iter().map(|(n, m)| (n.clone(), m.as_ref())).collect()
    }

    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        self.layers.iter_mut().map(|(n, m)| (n.clone(), m.as_mut())).collect()
    }
}
