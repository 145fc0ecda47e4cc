//! Tokenizers: character level (char.rs), byte-level BPE in the GPT-2 scheme (bpe.rs), and a
//! fixed vocabulary of symbols for the toy tasks (symbols.rs).

pub mod bpe;
mod bpe_json;
mod pretokenize;
pub mod char;
mod letters;
pub mod symbols;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

pub use self::bpe::BpeTokenizer;
pub use self::char::CharTokenizer;
pub use self::symbols::SymbolTokenizer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Tokenizer {
    Char(CharTokenizer),
    Bpe(BpeTokenizer),
    /// A task's fixed symbols (`modadd`: each number one token).
    Symbols(SymbolTokenizer),
}

/// Which tokenizer `tinygpt train` learns from its corpus: `char` or `bpe:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    Char,
    /// Byte-level BPE with this many tokens (256 bytes + merges).
    Bpe(usize),
}

impl std::str::FromStr for TokenizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "tokenizer: expected 'char' or 'bpe:N' with N in {}..={}, got '{s}'",
                bpe::MIN_TRAIN_VOCAB,
                bpe::MAX_TRAIN_VOCAB
            ))
        };
        match s.split_once(':') {
            None if s == "char" => Ok(TokenizerKind::Char),
            Some(("bpe", n)) => {
                let n: usize = n.parse().map_err(|_| bad())?;
                if !(bpe::MIN_TRAIN_VOCAB..=bpe::MAX_TRAIN_VOCAB).contains(&n) {
                    return Err(bad());
                }
                Ok(TokenizerKind::Bpe(n))
            }
            _ => Err(bad()),
        }
    }
}

impl Tokenizer {
    /// Learns a tokenizer of `kind` from a corpus.
    pub fn train(kind: TokenizerKind, corpus: &str) -> Result<Self> {
        Ok(match kind {
            TokenizerKind::Char => Tokenizer::Char(CharTokenizer::from_corpus(corpus)?),
            TokenizerKind::Bpe(n) => Tokenizer::Bpe(BpeTokenizer::train(corpus, n)?),
        })
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Tokenizer::Char(t) => t.vocab_size(),
            Tokenizer::Bpe(t) => t.vocab_size(),
            Tokenizer::Symbols(t) => t.vocab_size(),
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Char(t) => t.encode(text),
            Tokenizer::Bpe(t) => Ok(t.encode(text)),
            Tokenizer::Symbols(t) => t.encode(text),
        }
    }

    /// Text of `ids`. A BPE sequence that does not end on a character boundary (e.g. one token
    /// of a multi-byte character) gets U+FFFD for the partial character; stream with
    /// [`Tokenizer::decode_bytes`] and [`Utf8Stream`] instead.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Char(t) => t.decode(ids),
            Tokenizer::Bpe(t) => Ok(String::from_utf8_lossy(&t.decode_bytes(ids)?).into_owned()),
            Tokenizer::Symbols(t) => t.decode(ids),
        }
    }

    /// The UTF-8 bytes of `ids` (a BPE token may hold part of a character).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        match self {
            Tokenizer::Char(t) => Ok(t.decode(ids)?.into_bytes()),
            Tokenizer::Bpe(t) => t.decode_bytes(ids),
            Tokenizer::Symbols(t) => Ok(t.decode(ids)?.into_bytes()),
        }
    }

    /// JSON for a checkpoint's metadata.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("tokenizer serialises")
    }

    /// Parses and validates a checkpoint's tokenizer description.
    pub fn from_json(s: &str) -> Result<Self> {
        let t: Tokenizer = serde_json::from_str(s).map_err(|e| Error::Tokenizer(format!("tokenizer description is not valid: {e}")))?;
        match &t {
            Tokenizer::Char(c) => c.check()?,
            Tokenizer::Symbols(s) => s.check()?,
            Tokenizer::Bpe(_) => {} // validated while deserialising
        }
        Ok(t)
    }
}

/// Turns a stream of byte chunks (one token's bytes at a time) into text, holding back an
/// incomplete character until its remaining bytes arrive. Invalid bytes become U+FFFD.
#[derive(Clone, Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..good]).expect("valid prefix"));
                    match e.error_len() {
                        // The tail may be the start of a character: wait for more bytes.
                        None => {
                            self.pending.drain(..good);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..good + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_stream_waits_for_whole_characters() {
        let text = "a🦀é日";
        let mut s = Utf8Stream::new();
        let out: Vec<String> = text.as_bytes().iter().map(|&b| s.push(&[b])).collect();
        assert_eq!(out.concat(), text);
        assert_eq!(out[1..5], ["", "", "", "🦀"]);
        assert_eq!(s.push(b"x\xffy"), "x\u{FFFD}y");
        assert_eq!(s.push(b"\xe6\x97"), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }

    #[test]
    fn kind_parses_char_and_bpe_sizes() {
        assert_eq!("char".parse::<TokenizerKind>().unwrap(), TokenizerKind::Char);
        assert_eq!("bpe:2048".parse::<TokenizerKind>().unwrap(), TokenizerKind::Bpe(2048));
        for bad in ["bpe", "bpe:", "bpe:100", "bpe:9000", "bpe:x", "word", "char:3"] {
            let e = bad.parse::<TokenizerKind>().unwrap_err().to_string();
            assert!(e.contains("'char' or 'bpe:N'") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn bpe_survives_the_checkpoint_json() {
        let t = Tokenizer::train(TokenizerKind::Bpe(270), "hello hello world, hello there").unwrap();
        let back = Tokenizer::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.encode("hello").unwrap().len(), 1);
        let bad = t.to_json().replace("\"merges\":[[", "\"merges\":[[\"zz\",\"q\"],[");
        assert!(Tokenizer::from_json(&bad).unwrap_err().to_string().contains("\"zz\" is not in the vocabulary"));
    }
}
