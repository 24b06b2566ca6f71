//! The crate's error type, for fallible boundaries (files, user input).

/// Errors that carry a message naming the file, layer or shapes involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit together; the message names both.
    #[error("shape error: {0}")]
    Shape(String),
    /// An invalid option or argument value.
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A file that could be read but not understood.
    #[error("{path}: {msg}")]
    Format { path: String, msg: String },
    /// A training run that cannot go on (its loss turned NaN or infinite); the message names
    /// the step and the last good checkpoint.
    #[error("{0}")]
    Training(String),
}

pub type Result<T> = std::result::Result<T, Error>;
