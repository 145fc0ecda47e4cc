//! Character-level tokenizer: the vocabulary is the sorted set of distinct Unicode scalar
//! values of the corpus, so any text (CJK, emoji) works and ids are stable for a corpus.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharTokenizer {
    /// id -> character, sorted ascending (so char -> id is a binary search).
    chars: Vec<char>,
}

impl CharTokenizer {
    /// Builds the vocabulary of `corpus`; an empty corpus is an error.
    pub fn from_corpus(corpus: &str) -> Result<Self> {
        // a table for ASCII and a set for the rest: sorting every character of a 1 MB corpus
        // was most of the page's Start in WebAssembly
        let mut ascii = [false; 128];
        let mut other = std::collections::BTreeSet::new();
        for ch in corpus.chars() {
            match ascii.get_mut(ch as usize) {
                Some(seen) => *seen = true,
                None => {
                    other.insert(ch);
                }
            }
        }
        let chars: Vec<char> = (0u8..128).filter(|&b| ascii[b as usize]).map(char::from).chain(other).collect();
        if chars.is_empty() {
            return Err(Error::Data("the corpus is empty: a character vocabulary needs at least one character".into()));
        }
        Ok(CharTokenizer { chars })
    }

    /// A vocabulary given as id -> character (sorted, distinct, non-empty).
    pub fn from_chars(chars: Vec<char>) -> Result<Self> {
        let t = CharTokenizer { chars };
        t.check()?;
        Ok(t)
    }

    /// Validates a deserialised vocabulary (sorted, distinct, non-empty).
    pub(crate) fn check(&self) -> Result<()> {
        if self.chars.is_empty() {
            return Err(Error::Tokenizer("character vocabulary is empty".into()));
        }
        if self.chars.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Tokenizer("character vocabulary is not sorted and distinct".into()));
        }
        Ok(())
    }

    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Encodes text; a character outside the vocabulary is an error naming it and where it is.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        // ASCII through a table, the rest by binary search: the page encodes its 1 MB corpus in
        // both training workers at every Start
        let mut ascii = [u32::MAX; 128];
        for (i, &c) in self.chars.iter().enumerate().take_while(|(_, c)| c.is_ascii()) {
            ascii[c as usize] = i as u32;
        }
        text.chars()
            .enumerate()
            .map(|(pos, ch)| {
                let id = match ascii.get(ch as usize) {
                    Some(&id) => id,
                    None => self.chars.binary_search(&ch).map_or(u32::MAX, |i| i as u32),
                };
                if id == u32::MAX {
                    Err(Error::UnknownChar { ch, pos, vocab: self.chars.len() })
                } else {
                    Ok(id)
                }
            })
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                self.chars.get(id as usize).copied().ok_or_else(|| {
                    Error::Tokenizer(format!("token id {id} is outside the vocabulary of {}", self.chars.len()))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ascii_cjk_emoji() {
        for text in ["First Citizen:\nBefore we proceed", "你好，世界！机器学习", "🦀 rust + 🧠 gpt = ❤️‍🔥", "a\u{0}b\tc\r\n"] {
            let t = CharTokenizer::from_corpus(text).unwrap();
            let ids = t.encode(text).unwrap();
            assert_eq!(ids.len(), text.chars().count());
            assert_eq!(t.decode(&ids).unwrap(), text);
        }
    }

    #[test]
    fn vocab_is_sorted_distinct_chars() {
        let t = CharTokenizer::from_corpus("banana").unwrap();
        assert_eq!(t.chars(), &['a', 'b', 'n']);
        assert_eq!(t.encode("nab").unwrap(), vec![2, 0, 1]);
    }

    #[test]
    fn unknown_char_and_bad_id_are_clear_errors() {
        let t = CharTokenizer::from_corpus("abc").unwrap();
        let e = t.encode("abz").unwrap_err().to_string();
        assert!(e.contains("'z'") && e.contains("position 2") && e.contains("3 characters"), "{e}");
        let e = t.decode(&[0, 7]).unwrap_err().to_string();
        assert!(e.contains("token id 7"), "{e}");
        assert!(CharTokenizer::from_corpus("").is_err());
    }

    #[test]
    fn json_round_trip() {
        let t = crate::tokenizer::Tokenizer::Char(CharTokenizer::from_corpus("héllo wörld").unwrap());
        let back = crate::tokenizer::Tokenizer::from_json(&t.to_json()).unwrap();
        assert_eq!(back.encode("wörld").unwrap(), t.encode("wörld").unwrap());
        assert!(crate::tokenizer::Tokenizer::from_json(r#"{"kind":"char","chars":["b","a"]}"#).is_err());
        assert!(crate::tokenizer::Tokenizer::from_json("not json").is_err());
    }
}
