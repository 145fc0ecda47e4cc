//! One error type for the library. Each variant carries a message that says what was
//! expected and what was got; the CLI prints it on one line and exits with code 2.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A model or training configuration that cannot work.
    Config(String),
    /// A corpus that cannot be trained on (empty, not UTF-8, too short...).
    Data(String),
    /// Text the tokenizer cannot encode, or ids it cannot decode.
    Tokenizer(String),
    /// A checkpoint that is missing, truncated, or does not match the model.
    Checkpoint(String),
    /// A file that could not be read or written.
    Io(String),
    /// Training stopped because the numbers went bad (NaN/Inf loss).
    Numeric(String),
    /// A GPU adapter, device or kernel problem.
    Gpu(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            Error::Config(m) => ("config", m),
            Error::Data(m) => ("data", m),
            Error::Tokenizer(m) => ("tokenizer", m),
            Error::Checkpoint(m) => ("checkpoint", m),
            Error::Io(m) => ("io", m),
            Error::Numeric(m) => ("numeric", m),
            Error::Gpu(m) => ("gpu", m),
        };
        write!(f, "{kind} error: {msg}")
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
