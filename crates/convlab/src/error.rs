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

/// The first line of a panic's message (the engine panics with a message naming the op and
/// the shapes; an unknown payload gives an empty string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    msg.lines().next().unwrap_or("").to_string()
}

/// Runs `f`, turning a panic inside the engine (a shape a model cannot take) into the first
/// line of its message. The panic hook still runs.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

std::thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`catch_panic`] without the panic hook's report for panics on this thread during `f`
/// (for callers that turn the message into their own error). The first call wraps the hook
/// installed at that moment once, process-wide; other threads keep reporting, so concurrent
/// callers need no coordination.
///
/// ```
/// let err = convlab::error::catch_panic_quietly(|| convlab::Tensor::zeros([2, 3]).reshape([4])).unwrap_err();
/// assert!(err.contains("reshape"), "{err}");
/// ```
pub fn catch_panic_quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_panic(f);
    QUIET.with(|q| q.set(was));
    r
}
