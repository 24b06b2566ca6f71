//! The crate's error type, for fallible boundaries (files, user input).

/// Errors that carry a message naming the file, layer or shapes involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit together; the message names both.
    #[error("{0}")]
    Shape(String),
    /// An invalid option or argument value.
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A file that could be read but not understood.
    #[error("{path}: {msg}")]
    Format { path: String, msg: String },
    /// An error in one layer of a model: `path` is the layer's `state_dict` path below the
    /// module that reports it (`"layer1.0.conv1"`), `kind` its class name (`"Conv2d"`).
    #[error("{source} (layer {path}, {kind})")]
    Layer { path: String, kind: &'static str, source: Box<Error> },
    /// A training run that cannot go on (its loss turned NaN or infinite); the message names
    /// the step and the last good checkpoint.
    #[error("{0}")]
    Training(String),
    /// Something this build leaves out: `what` needs the named cargo feature of convlab
    /// (see the crate documentation's "Cargo features").
    #[error("{what} needs the `{feature}` feature of convlab")]
    MissingFeature { feature: &'static str, what: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// This error, as raised in the child `name` (of type `kind`) of a container: the path
    /// grows at the front (`conv1` inside `0` inside `layer1` is `layer1.0.conv1`) and the
    /// innermost layer's type is kept.
    ///
    /// ```
    /// use convlab::Error;
    /// let e = Error::Shape("input [1, 3] does not fit".into()).in_layer("conv1", "Conv2d").in_layer("layer1", "Sequential");
    /// assert_eq!(e.to_string(), "input [1, 3] does not fit (layer layer1.conv1, Conv2d)");
    /// ```
    pub fn in_layer(self, name: &str, kind: &'static str) -> Error {
        match self {
            Error::Layer { path, kind, source } if !name.is_empty() => {
                Error::Layer { path: format!("{name}.{path}"), kind, source }
            }
            e @ Error::Layer { .. } => e,
            e => Error::Layer { path: name.to_string(), kind, source: Box::new(e) },
        }
    }
}
