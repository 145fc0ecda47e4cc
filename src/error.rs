//! One error type for the library. Each variant carries a message that says what was
//! expected and what was got; the CLI prints it on one line and exits with code 2. `kind()`
//! names the variant for programs (the page switches on it, never on message text), and the
//! structured variants carry what a program needs to act (the step and lr of a numeric failure,
//! the character a model never saw).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A model or training configuration that cannot work.
    Config(String),
    /// A corpus that cannot be trained on (empty, not UTF-8, too short...).
    Data(String),
    /// Text the tokenizer cannot encode, or ids it cannot decode.
    Tokenizer(String),
    /// A character outside a character-level model's vocabulary, at character `pos` (from 0).
    UnknownChar { ch: char, pos: usize, vocab: usize },
    /// A checkpoint that is missing, truncated, or does not match the model.
    Checkpoint(String),
    /// A file that could not be read or written.
    Io(String),
    /// Training step `step` went bad (NaN/Inf loss or update) at learning rate `lr`; the
    /// weights are those of the last good step.
    Numeric { step: u32, lr: f32, what: String },
    /// A GPU adapter, device or kernel problem.
    Gpu(String),
    /// A call that needs something not there yet (no model loaded, training not prepared).
    State(String),
}

impl Error {
    /// The variant's name, stable for programs: "config", "data", "tokenizer", "unknown_char",
    /// "checkpoint", "io", "numeric", "gpu", "state".
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Data(_) => "data",
            Error::Tokenizer(_) => "tokenizer",
            Error::UnknownChar { .. } => "unknown_char",
            Error::Checkpoint(_) => "checkpoint",
            Error::Io(_) => "io",
            Error::Numeric { .. } => "numeric",
            Error::Gpu(_) => "gpu",
            Error::State(_) => "state",
        }
    }

    /// The message without its kind prefix.
    pub fn message(&self) -> String {
        match self {
            Error::Config(m) | Error::Data(m) | Error::Tokenizer(m) | Error::Checkpoint(m) | Error::Io(m) | Error::Gpu(m) | Error::State(m) => m.clone(),
            Error::UnknownChar { ch, pos, vocab } => format!(
                "character {ch:?} (U+{:04X}) at position {pos} is not in the model's vocabulary of {vocab} characters",
                *ch as u32
            ),
            Error::Numeric { step, lr, what } => {
                format!("{what} at step {step}; learning rate {lr} may be too high. The weights are those of the last good step.")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Error::UnknownChar { .. } => "tokenizer",
            e => e.kind(),
        };
        write!(f, "{kind} error: {}", self.message())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
