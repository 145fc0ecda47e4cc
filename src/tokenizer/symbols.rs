//! A fixed vocabulary of symbols, each one token whatever its length: the toy tasks that need a
//! number to be one token (`modadd`'s "0".."p-1"). Text is read left to right, taking the
//! longest symbol that matches at each place, so "12+30=" is ["12", "+", "30", "="].

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolTokenizer {
    /// id -> symbol: distinct, non-empty.
    symbols: Vec<String>,
}

impl SymbolTokenizer {
    /// A vocabulary given as id -> symbol (distinct and non-empty).
    pub fn new(symbols: Vec<String>) -> Result<Self> {
        let t = SymbolTokenizer { symbols };
        t.check()?;
        Ok(t)
    }

    /// Validates a deserialised vocabulary.
    pub(crate) fn check(&self) -> Result<()> {
        if self.symbols.is_empty() {
            return Err(Error::Tokenizer("symbol vocabulary is empty".into()));
        }
        if let Some(i) = self.symbols.iter().position(String::is_empty) {
            return Err(Error::Tokenizer(format!("symbol {i} is empty")));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = self.symbols.iter().find(|s| !seen.insert(s.as_str())) {
            return Err(Error::Tokenizer(format!("symbol {s:?} appears twice in the vocabulary")));
        }
        Ok(())
    }

    pub fn vocab_size(&self) -> usize {
        self.symbols.len()
    }

    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The longest symbol at each place, left to right; a place where none matches is an error
    /// naming its character and position (in characters).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut rest = text;
        let mut pos = 0;
        while let Some(ch) = rest.chars().next() {
            let best = self.symbols.iter().enumerate().filter(|(_, s)| rest.starts_with(s.as_str())).max_by_key(|(_, s)| s.len());
            let Some((id, s)) = best else {
                return Err(Error::UnknownChar { ch, pos, vocab: self.symbols.len() });
            };
            out.push(id as u32);
            pos += s.chars().count();
            rest = &rest[s.len()..];
        }
        Ok(out)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                self.symbols.get(id as usize).map(String::as_str).ok_or_else(|| {
                    Error::Tokenizer(format!("token id {id} is outside the vocabulary of {}", self.symbols.len()))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers() -> SymbolTokenizer {
        let mut s: Vec<String> = (0..13).map(|i| i.to_string()).collect();
        s.extend(["+", "=", "\n"].map(String::from));
        SymbolTokenizer::new(s).unwrap()
    }

    #[test]
    fn longest_symbol_first_and_back() {
        let t = numbers();
        assert_eq!(t.encode("12+3=").unwrap(), vec![12, 13, 3, 14]);
        assert_eq!(t.encode("1=").unwrap(), vec![1, 14]);
        // "13" is not a symbol: "1" then "3"
        assert_eq!(t.encode("13").unwrap(), vec![1, 3]);
        assert_eq!(t.decode(&[12, 13, 3, 14, 15]).unwrap(), "12+3=\n");
    }

    #[test]
    fn unknown_text_and_bad_vocabularies_say_what() {
        let t = numbers();
        let e = t.encode("12*3").unwrap_err().to_string();
        assert!(e.contains("'*'") && e.contains("position 2"), "{e}");
        assert!(t.decode(&[99]).unwrap_err().to_string().contains("token id 99"));
        assert!(SymbolTokenizer::new(vec![]).is_err());
        assert!(SymbolTokenizer::new(vec!["a".into(), "".into()]).is_err());
        assert!(SymbolTokenizer::new(vec!["a".into(), "a".into()]).unwrap_err().to_string().contains("twice"));
    }
}
