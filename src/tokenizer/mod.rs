//! Tokenizers. Character level today (char.rs); byte-level BPE joins as another variant.

pub mod char;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub use self::char::CharTokenizer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Tokenizer {
    Char(CharTokenizer),
}

impl Tokenizer {
    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Char(t) => t.vocab_size(),
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Char(t) => t.encode(text),
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Char(t) => t.decode(ids),
        }
    }

    /// JSON for a checkpoint's metadata.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("tokenizer serialises")
    }

    pub fn from_json(s: &str) -> Result<Self> {
        let t: Tokenizer = serde_json::from_str(s).map_err(|e| Error::Tokenizer(format!("tokenizer description is not valid: {e}")))?;
        match &t {
            Tokenizer::Char(c) => c.check()?,
        }
        Ok(t)
    }
}
