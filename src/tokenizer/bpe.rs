//! Byte-level BPE in the GPT-2 scheme, written here (see docs/tokenizers.md for why not the
//! `tokenizers` crate).
//!
//! encode: text -> split on added tokens (e.g. `<|endoftext|>`) -> GPT-2 pre-tokens (the regex
//! below) -> UTF-8 bytes -> one symbol per byte -> repeatedly merge the adjacent pair of lowest
//! merge rank (all its non-overlapping occurrences, left to right) -> ids.
//! decode: ids -> bytes (so a single token may be part of a UTF-8 character; see
//! [`crate::tokenizer::Utf8Stream`]).
//!
//! Vocabulary strings are in Hugging Face's byte-level form: each byte is shown as one printable
//! character (GPT-2's `bytes_to_unicode`, e.g. a space is `Ġ`), as in vocab.json and merges.txt.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

pub use super::pretokenize::{byte_to_char, bytes_to_token, pretokenize};
pub(crate) use super::bpe_json::dense_vocab;
use super::bpe_json::{parse_tokenizer_json, short, split_merge};
use super::pretokenize::char_to_byte;

/// Smallest and largest vocabulary `train` makes (256 byte tokens plus merges).
pub const MIN_TRAIN_VOCAB: usize = 256;
pub const MAX_TRAIN_VOCAB: usize = 8192;

/// A token matched literally in the text before pre-tokenisation (`<|endoftext|>`), as
/// Hugging Face's `added_tokens`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
}

/// What a checkpoint stores (and what `tokenizer.json` / vocab.json + merges.txt give).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BpeSpec {
    /// id -> byte-level token string.
    pub vocab: Vec<String>,
    /// Merge rules, highest priority first.
    pub merges: Vec<(String, String)>,
    #[serde(default)]
    pub added: Vec<AddedToken>,
    /// Hugging Face's `ignore_merges`: a pre-token that is itself in the vocabulary is one token.
    #[serde(default)]
    pub ignore_merges: bool,
}

/// A ready-to-use byte-level BPE (built from a [`BpeSpec`], which it serialises as).
#[derive(Clone)]
pub struct BpeTokenizer {
    spec: BpeSpec,
    /// id -> bytes
    bytes: Vec<Vec<u8>>,
    /// byte -> id of its single-byte token
    byte_id: [u32; 256],
    /// (left, right) -> (rank, merged id)
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// byte-level string -> id (for ignore_merges)
    by_str: HashMap<String, u32>,
}

impl std::fmt::Debug for BpeTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BpeTokenizer({} tokens, {} merges, {} added)", self.spec.vocab.len(), self.spec.merges.len(), self.spec.added.len())
    }
}

impl PartialEq for BpeTokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Serialize for BpeTokenizer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for BpeTokenizer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let spec = BpeSpec::deserialize(d)?;
        BpeTokenizer::new(spec).map_err(serde::de::Error::custom)
    }
}

impl BpeTokenizer {
    /// Validates a spec: ids dense, every vocabulary string byte-level (added tokens excepted),
    /// all 256 bytes present, each merge's parts and result in the vocabulary.
    pub fn new(spec: BpeSpec) -> Result<Self> {
        let err = |m: String| Err(Error::Tokenizer(m));
        if spec.vocab.is_empty() {
            return err("BPE vocabulary is empty".into());
        }
        let mut added_content: HashMap<u32, &str> = HashMap::new();
        for a in &spec.added {
            if a.id as usize >= spec.vocab.len() {
                return err(format!("added token {:?} has id {}, outside the vocabulary of {}", a.content, a.id, spec.vocab.len()));
            }
            if a.content.is_empty() {
                return err(format!("added token {} is empty", a.id));
            }
            added_content.insert(a.id, &a.content);
        }
        let c2b = char_to_byte();
        let mut bytes = Vec::with_capacity(spec.vocab.len());
        let mut by_str = HashMap::with_capacity(spec.vocab.len());
        let mut byte_id = [u32::MAX; 256];
        for (id, s) in spec.vocab.iter().enumerate() {
            let b: Vec<u8> = match added_content.get(&(id as u32)) {
                Some(content) => content.as_bytes().to_vec(),
                None => s
                    .chars()
                    .map(|c| c2b.get(&c).copied())
                    .collect::<Option<_>>()
                    .ok_or_else(|| Error::Tokenizer(format!("token {id} {s:?} is not in byte-level form (GPT-2's byte-to-unicode characters)")))?,
            };
            if b.is_empty() {
                return err(format!("token {id} is empty"));
            }
            if b.len() == 1 && byte_id[b[0] as usize] == u32::MAX && !added_content.contains_key(&(id as u32)) {
                byte_id[b[0] as usize] = id as u32;
            }
            if by_str.insert(s.clone(), id as u32).is_some() {
                return err(format!("token {s:?} appears twice in the vocabulary (second time as id {id})"));
            }
            bytes.push(b);
        }
        if let Some(b) = byte_id.iter().position(|&i| i == u32::MAX) {
            return err(format!("the vocabulary has no token for byte 0x{b:02X} ({:?}): a byte-level BPE needs all 256", byte_to_char()[b]));
        }
        let mut merges = HashMap::with_capacity(spec.merges.len());
        for (rank, (a, b)) in spec.merges.iter().enumerate() {
            let id = |s: &str| {
                by_str.get(s).copied().ok_or_else(|| Error::Tokenizer(format!("merge {} ({a:?} {b:?}): {s:?} is not in the vocabulary", rank + 1)))
            };
            let key = (id(a)?, id(b)?);
            let merged = id(&format!("{a}{b}"))?;
            // A repeated merge keeps its first (highest-priority) rank, as Hugging Face does.
            merges.entry(key).or_insert((rank as u32, merged));
        }
        Ok(BpeTokenizer { spec, bytes, byte_id, merges, by_str })
    }

    pub fn spec(&self) -> &BpeSpec {
        &self.spec
    }

    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// Token ids of `text`; never fails (every byte has a token).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest added token (the longest at that position).
            let next = self
                .spec
                .added
                .iter()
                .filter_map(|a| rest.find(&a.content).map(|at| (at, Reverse(a.content.len()), a.id)))
                .min();
            let (plain, after) = match next {
                Some((at, Reverse(len), id)) => (&rest[..at], Some((id, &rest[at + len..]))),
                None => (rest, None),
            };
            for piece in pretokenize(plain) {
                self.encode_piece(piece.as_bytes(), &mut out);
            }
            match after {
                Some((id, tail)) => {
                    out.push(id);
                    rest = tail;
                }
                None => break,
            }
        }
        out
    }

    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if self.spec.ignore_merges {
            if let Some(&id) = self.by_str.get(&bytes_to_token(piece)) {
                out.push(id);
                return;
            }
        }
        let mut syms: Vec<u32> = piece.iter().map(|&b| self.byte_id[b as usize]).collect();
        loop {
            let best = syms.windows(2).filter_map(|w| self.merges.get(&(w[0], w[1]))).min_by_key(|(rank, _)| *rank);
            let Some(&(rank, merged)) = best else { break };
            let mut next = Vec::with_capacity(syms.len());
            let mut i = 0;
            while i < syms.len() {
                if i + 1 < syms.len() && self.merges.get(&(syms[i], syms[i + 1])).is_some_and(|m| m.0 == rank) {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(syms[i]);
                    i += 1;
                }
            }
            syms = next;
        }
        out.extend_from_slice(&syms);
    }

    /// The bytes of `ids`, concatenated (possibly not valid UTF-8 at the ends).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for &id in ids {
            let b = self
                .bytes
                .get(id as usize)
                .ok_or_else(|| Error::Tokenizer(format!("token id {id} is outside the vocabulary of {}", self.bytes.len())))?;
            out.extend_from_slice(b);
        }
        Ok(out)
    }

    /// Learns a byte-level BPE of `vocab_size` tokens (256 bytes + merges) from `corpus`.
    ///
    /// Deterministic: ids 0..256 are the bytes in order; each step merges the adjacent pair
    /// with the highest count (summed over all pre-tokens, overlapping pairs such as the two in
    /// `aaa` both counted), ties broken by the smallest (left id, right id); the new token gets
    /// the next id. Stops early when no pair is left (the vocabulary is then smaller).
    pub fn train(corpus: &str, vocab_size: usize) -> Result<Self> {
        if !(MIN_TRAIN_VOCAB..=MAX_TRAIN_VOCAB).contains(&vocab_size) {
            return Err(Error::Config(format!("BPE vocabulary size: expected {MIN_TRAIN_VOCAB}..={MAX_TRAIN_VOCAB}, got {vocab_size}")));
        }
        if corpus.is_empty() {
            return Err(Error::Data("the corpus is empty: nothing to learn a BPE from".into()));
        }
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for piece in pretokenize(corpus) {
            *counts.entry(piece).or_default() += 1;
        }
        // Sorted so that nothing depends on hash order.
        let mut pieces: Vec<(&str, u64)> = counts.into_iter().collect();
        pieces.sort_unstable();
        let mut words: Vec<Vec<u32>> = pieces.iter().map(|(p, _)| p.bytes().map(u32::from).collect()).collect();
        let freq: Vec<i64> = pieces.iter().map(|&(_, n)| n as i64).collect();

        let mut pair_count: HashMap<(u32, u32), i64> = HashMap::new();
        let mut pair_words: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for (w, syms) in words.iter().enumerate() {
            for p in syms.windows(2) {
                *pair_count.entry((p[0], p[1])).or_default() += freq[w];
                pair_words.entry((p[0], p[1])).or_default().push(w as u32);
            }
        }
        // Max-heap of (count, smallest pair first). Counts of existing pairs only fall, so a
        // popped entry whose count is stale is pushed back with the current count.
        let mut heap: BinaryHeap<(i64, Reverse<(u32, u32)>)> = pair_count.iter().map(|(&p, &c)| (c, Reverse(p))).collect();

        let b2c = byte_to_char();
        let mut vocab: Vec<String> = (0..256).map(|b| b2c[b].to_string()).collect();
        let mut merges = Vec::new();
        while vocab.len() < vocab_size {
            let Some((count, Reverse(pair))) = heap.pop() else { break };
            let now = pair_count.get(&pair).copied().unwrap_or(0);
            if now <= 0 {
                continue;
            }
            if now != count {
                heap.push((now, Reverse(pair)));
                continue;
            }
            let new_id = vocab.len() as u32;
            vocab.push(format!("{}{}", vocab[pair.0 as usize], vocab[pair.1 as usize]));
            merges.push((vocab[pair.0 as usize].clone(), vocab[pair.1 as usize].clone()));

            let mut touched = pair_words.remove(&pair).unwrap_or_default();
            touched.sort_unstable();
            touched.dedup();
            let mut new_pairs: Vec<(u32, u32)> = Vec::new();
            for &w in &touched {
                let syms = &mut words[w as usize];
                if !syms.windows(2).any(|p| (p[0], p[1]) == pair) {
                    continue;
                }
                let f = freq[w as usize];
                for p in syms.windows(2) {
                    *pair_count.get_mut(&(p[0], p[1])).expect("counted") -= f;
                }
                let mut merged = Vec::with_capacity(syms.len());
                let mut i = 0;
                while i < syms.len() {
                    if i + 1 < syms.len() && (syms[i], syms[i + 1]) == pair {
                        merged.push(new_id);
                        i += 2;
                    } else {
                        merged.push(syms[i]);
                        i += 1;
                    }
                }
                for p in merged.windows(2) {
                    let key = (p[0], p[1]);
                    *pair_count.entry(key).or_default() += f;
                    if key.0 == new_id || key.1 == new_id {
                        new_pairs.push(key);
                        pair_words.entry(key).or_default().push(w);
                    }
                }
                *syms = merged;
            }
            pair_count.remove(&pair);
            new_pairs.sort_unstable();
            new_pairs.dedup();
            for p in new_pairs {
                heap.push((pair_count[&p], Reverse(p)));
            }
        }
        BpeTokenizer::new(BpeSpec { vocab, merges, added: Vec::new(), ignore_merges: false })
    }

    /// From Hugging Face's `vocab.json` ({token: id}) and `merges.txt` ("left right" per line,
    /// an optional `#version` first line). `<|endoftext|>`, if in the vocabulary, is an added
    /// token, as GPT2Tokenizer makes it.
    pub fn from_vocab_merges(vocab_json: &str, merges_txt: &str) -> Result<Self> {
        let map: HashMap<String, u32> =
            serde_json::from_str(vocab_json).map_err(|e| Error::Tokenizer(format!("expected a JSON object of token -> id ({e})")))?;
        let vocab = dense_vocab(map)?;
        let mut merges = Vec::new();
        for (i, line) in merges_txt.lines().enumerate() {
            if line.is_empty() || (i == 0 && line.starts_with("#version")) {
                continue;
            }
            merges.push(split_merge(line).map_err(|m| Error::Tokenizer(format!("merges line {}: {m}", i + 1)))?);
        }
        let added = vocab
            .iter()
            .position(|t| t == "<|endoftext|>")
            .map(|id| AddedToken { id: id as u32, content: "<|endoftext|>".into() })
            .into_iter()
            .collect();
        BpeTokenizer::new(BpeSpec { vocab, merges, added, ignore_merges: false })
    }

    /// From a Hugging Face `tokenizer.json` whose model is a byte-level BPE (GPT-2's setup: no
    /// normalizer, ByteLevel pre-tokenizer with the GPT-2 regex and no prefix space).
    pub fn from_tokenizer_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::Tokenizer(format!("not valid JSON ({e})")))?;
        let (vocab, merges, added, ignore_merges) = parse_tokenizer_json(&v)?;
        let pre = &v["pre_tokenizer"];
        if pre["type"] != "ByteLevel" {
            return Err(Error::Tokenizer(format!("pre_tokenizer: expected ByteLevel (a byte-level BPE such as GPT-2's), got {}", short(pre))));
        }
        if pre["add_prefix_space"] == true {
            return Err(Error::Tokenizer("pre_tokenizer: add_prefix_space = true is not supported (GPT-2 uses false)".into()));
        }
        if pre["use_regex"] == false {
            return Err(Error::Tokenizer("pre_tokenizer: use_regex = false is not supported (GPT-2 splits with its regex)".into()));
        }
        if !v["normalizer"].is_null() {
            return Err(Error::Tokenizer(format!("normalizer: expected none (null), got {}", short(&v["normalizer"]))));
        }
        BpeTokenizer::new(BpeSpec { vocab, merges, added, ignore_merges })
    }

    /// `tokenizer.json` for this BPE, as `transformers`' PreTrainedTokenizerFast loads it.
    pub fn to_tokenizer_json(&self) -> serde_json::Value {
        let bl = |prefix: bool, trim: bool| serde_json::json!({"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": trim, "use_regex": true});
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": self.spec.added.iter().map(|a| serde_json::json!({
                "id": a.id, "content": a.content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true,
            })).collect::<Vec<_>>(),
            "normalizer": null,
            "pre_tokenizer": bl(false, true),
            "post_processor": bl(true, false),
            "decoder": bl(true, true),
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": self.spec.ignore_merges,
                "vocab": self.vocab_json(),
                "merges": self.spec.merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>(),
            },
        })
    }

    /// vocab.json's object, token -> id.
    pub fn vocab_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.spec.vocab.iter().enumerate().map(|(i, t)| (t.clone(), serde_json::Value::from(i))).collect())
    }

    /// merges.txt's text.
    pub fn merges_txt(&self) -> String {
        let mut s = String::from("#version: 0.2\n");
        for (a, b) in &self.spec.merges {
            s.push_str(a);
            s.push(' ');
            s.push_str(b);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_gpt2s() {
        let t = byte_to_char();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'A' as usize], 'A');
        assert_eq!(t[0], 'Ā');
        assert_eq!(t[0xAD], 'Ń');
        let mut all: Vec<char> = t.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 256);
    }

    #[test]
    fn pretokenizer_splits_as_gpt2() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello world", &["Hello", " world"]),
            ("I'm   here\n\n  ok", &["I", "'m", "  ", " here", "\n\n ", " ok"]),
            ("x  ", &["x", "  "]),
            ("a\n\nb", &["a", "\n", "\n", "b"]),
            ("   ", &["   "]),
            (" 123abc!!? ", &[" 123", "abc", "!!?", " "]),
            ("don't 'S", &["don", "'t", " '", "S"]),
            ("日本語 テスト🦀🦀", &["日本語", " テスト", "🦀🦀"]),
            ("\t\tfoo", &["\t", "\t", "foo"]),
        ];
        for (text, want) in cases {
            assert_eq!(&pretokenize(text), want, "{text:?}");
        }
    }

    /// The hand-written splitter against the pattern itself (fancy-regex has the lookahead).
    #[test]
    fn pretokenizer_equals_the_regex_on_random_text() {
        let re = fancy_regex::Regex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+").unwrap();
        let alphabet: Vec<char> = "aZé日ß9٣½ '\"sStrevmld!?.,-\n\t\r\u{a0}\u{3000}\u{2028}\u{200b}🦀\u{301}\u{16ee}Ⅻ_".chars().collect();
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..3000 {
            let n = rng.below(24);
            let text: String = (0..n).map(|_| alphabet[rng.below(alphabet.len())]).collect();
            let want: Vec<&str> = re.find_iter(&text).map(|m| m.unwrap().as_str()).collect();
            assert_eq!(pretokenize(&text), want, "{text:?}");
        }
    }

    #[test]
    fn trained_bpe_round_trips_any_utf8_and_is_deterministic() {
        let corpus = "the cat sat on the mat. the cat ate the rat! ünïcödé 日本語 🦀🦀 \n\n  spaces   ".repeat(20);
        let a = BpeTokenizer::train(&corpus, 300).unwrap();
        let b = BpeTokenizer::train(&corpus, 300).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.vocab_size(), 300);
        // first merge: the most frequent pair, smallest ids on a tie
        assert!(a.encode("the cat").len() < 7);
        for text in ["the cat", "", "zebra 🦓 \u{0} \r\n\t x", "日本語 日本", "a\u{301}", "   \n  "] {
            let ids = a.encode(text);
            assert_eq!(a.decode_bytes(&ids).unwrap(), text.as_bytes(), "{text:?}");
        }
        let json = serde_json::to_string(&a).unwrap();
        let back: BpeTokenizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back.encode(&corpus), a.encode(&corpus));
    }

    #[test]
    fn ties_go_to_the_smallest_pair() {
        // "ab" and "cd" each occur twice: (a, b) has the smaller ids, so it merges first.
        let t = BpeTokenizer::train("cd,ab,cd,ab", 257).unwrap();
        assert_eq!(t.spec().merges, vec![("a".to_string(), "b".to_string())]);
        let t = BpeTokenizer::train("cd,ab,cd,ab,cd", 257).unwrap();
        assert_eq!(t.spec().merges, vec![("c".to_string(), "d".to_string())]);
    }

    #[test]
    fn merges_apply_by_rank_not_position() {
        let b2c = byte_to_char();
        let mut vocab: Vec<String> = (0..256).map(|b| b2c[b].to_string()).collect();
        vocab.extend(["bc".to_string(), "ab".to_string(), "abc".to_string()]);
        let merges = vec![("b".into(), "c".into()), ("a".into(), "b".into()), ("a".into(), "bc".into())];
        let t = BpeTokenizer::new(BpeSpec { vocab, merges, added: vec![], ignore_merges: false }).unwrap();
        assert_eq!(t.encode("abc"), vec![258]);
        assert_eq!(t.encode("abab"), vec![257, 257]);
    }

    #[test]
    fn added_tokens_are_matched_first() {
        let mut spec = BpeTokenizer::train("hello world", 260).unwrap().spec().clone();
        spec.vocab.push("<|endoftext|>".into());
        spec.added.push(AddedToken { id: 260, content: "<|endoftext|>".into() });
        let t = BpeTokenizer::new(spec).unwrap();
        let ids = t.encode("hi<|endoftext|>hello");
        assert_eq!(ids.iter().filter(|&&i| i == 260).count(), 1);
        assert_eq!(t.decode_bytes(&ids).unwrap(), b"hi<|endoftext|>hello");
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = BpeTokenizer::from_vocab_merges(r#"{"a": 0, "b": 2}"#, "").unwrap_err().to_string();
        assert!(e.contains("ids must be 0..2"), "{e}");
        let e = BpeTokenizer::from_vocab_merges(r#"{"a": 0}"#, "").unwrap_err().to_string();
        assert!(e.contains("no token for byte 0x00"), "{e}");
        let mut vocab = bytes_to_token(&(0..=255).collect::<Vec<u8>>()).chars().enumerate().map(|(i, c)| (c.to_string(), i as u32)).collect::<HashMap<_, _>>();
        let ok = serde_json::to_string(&vocab).unwrap();
        let e = BpeTokenizer::from_vocab_merges(&ok, "#version: 0.2\na b\n").unwrap_err().to_string();
        assert!(e.contains("merge 1 (\"a\" \"b\")") && e.contains("\"ab\" is not in the vocabulary"), "{e}");
        let e = BpeTokenizer::from_vocab_merges(&ok, "a b c\n").unwrap_err().to_string();
        assert!(e.contains("merges line 1") && e.contains("two tokens"), "{e}");
        vocab.insert("a b".into(), 256);
        let e = BpeTokenizer::from_vocab_merges(&serde_json::to_string(&vocab).unwrap(), "").unwrap_err().to_string();
        assert!(e.contains("byte-level form"), "{e}");
        assert!(BpeTokenizer::train("abc", 100).unwrap_err().to_string().contains("256..=8192"));
        let e = BpeTokenizer::from_tokenizer_json(r#"{"model": {"type": "WordPiece"}}"#).unwrap_err().to_string();
        assert!(e.contains("model.type") && e.contains("WordPiece"), "{e}");
    }
}
