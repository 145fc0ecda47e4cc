//! Reading Hugging Face's tokenizer files for a byte-level BPE: tokenizer.json's model,
//! vocab.json's ids, merges.txt's lines.

use super::bpe::AddedToken;
use crate::error::{Error, Result};
use std::collections::HashMap;

pub(crate) fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..s.char_indices().nth(117).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// "left right" -> (left, right).
pub(crate) fn split_merge(line: &str) -> std::result::Result<(String, String), String> {
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        [a, b] if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => Err(format!("expected two tokens separated by one space, got {line:?}")),
    }
}

/// {token: id} -> id-indexed list; ids must be exactly 0..n.
pub(crate) fn dense_vocab(map: HashMap<String, u32>) -> Result<Vec<String>> {
    let n = map.len();
    let mut vocab = vec![None; n];
    for (t, id) in map {
        match vocab.get_mut(id as usize) {
            Some(slot @ None) => *slot = Some(t),
            Some(Some(other)) => return Err(Error::Tokenizer(format!("id {id} is given to both {other:?} and {t:?}"))),
            None => return Err(Error::Tokenizer(format!("token {t:?} has id {id}, but ids must be 0..{n} for {n} tokens"))),
        }
    }
    Ok(vocab.into_iter().map(|t| t.expect("n distinct ids below n fill every slot")).collect())
}

type ParsedModel = (Vec<String>, Vec<(String, String)>, Vec<AddedToken>, bool);

/// The BPE model of a tokenizer.json: vocabulary (with added tokens), merges, added tokens.
pub(crate) fn parse_tokenizer_json(v: &serde_json::Value) -> Result<ParsedModel> {
    let model = &v["model"];
    if model["type"] != "BPE" {
        return Err(Error::Tokenizer(format!("model.type: expected \"BPE\", got {}", short(&model["type"]))));
    }
    for key in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
        let x = &model[key];
        if !(x.is_null() || x == "" || x == 0.0) {
            return Err(Error::Tokenizer(format!("model.{key}: expected null, got {x} (not supported)")));
        }
    }
    if model["byte_fallback"] == true {
        return Err(Error::Tokenizer("model.byte_fallback = true is not supported (a byte-level BPE needs no fallback)".into()));
    }
    let mut map: HashMap<String, u32> = serde_json::from_value(model["vocab"].clone())
        .map_err(|e| Error::Tokenizer(format!("model.vocab: expected an object of token -> id ({e})")))?;
    let mut added = Vec::new();
    if let Some(list) = v["added_tokens"].as_array() {
        for a in list {
            let (Some(id), Some(content)) = (a["id"].as_u64(), a["content"].as_str()) else {
                return Err(Error::Tokenizer(format!("added_tokens: expected {{\"id\": number, \"content\": string}}, got {}", short(a))));
            };
            let id = u32::try_from(id).map_err(|_| Error::Tokenizer(format!("added token {content:?}: id {id} is too large")))?;
            // An added token outside model.vocab extends it (its string is the content).
            if !map.contains_key(content) && !map.values().any(|&i| i == id) {
                map.insert(content.to_string(), id);
            }
            added.push(AddedToken { id, content: content.to_string() });
        }
    }
    let vocab = dense_vocab(map).map_err(|e| Error::Tokenizer(format!("model.vocab with added_tokens: {e}")))?;
    let merges = match model["merges"].as_array() {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let r = match m {
                    serde_json::Value::String(s) => split_merge(s),
                    serde_json::Value::Array(p) => match (p.first().and_then(|x| x.as_str()), p.get(1).and_then(|x| x.as_str()), p.len()) {
                        (Some(a), Some(b), 2) => Ok((a.to_string(), b.to_string())),
                        _ => Err(format!("expected [left, right], got {}", short(m))),
                    },
                    _ => Err(format!("expected \"left right\" or [left, right], got {}", short(m))),
                };
                r.map_err(|e| Error::Tokenizer(format!("model.merges[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>>>()?,
        None => return Err(Error::Tokenizer(format!("model.merges: expected a list, got {}", short(&model["merges"])))),
    };
    Ok((vocab, merges, added, model["ignore_merges"] == true))
}

