//! Entry points shared by the cargo-fuzz targets (fuzz/) and the regression test that replays
//! their corpus (tests/fuzz_corpus.rs), so normal `cargo test` re-runs every input the fuzzer
//! found interesting. Each must return (an Err is fine) and never panic or abort.

use crate::checkpoint;
use crate::hf;
use crate::config::{ModelConfig, TrainConfig};
use crate::cpu::CpuBackend;
use crate::tokenizer::{CharTokenizer, Tokenizer};

/// Checkpoint bytes: parse and validate; a valid, small one is also put on the CPU backend.
pub fn checkpoint(data: &[u8]) {
    if let Ok(ck) = checkpoint::from_bytes(data, "fuzz.safetensors") {
        if ck.cfg.num_params() < 1 << 20 {
            let _ = ck.into_model(CpuBackend::new());
        }
    }
}

/// First line: a tokenizer description (JSON) or, if that fails, a corpus for a char
/// vocabulary; the rest: text to encode. The bytes also serve as ids to decode.
pub fn tokenizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let tok = match Tokenizer::from_json(head) {
        Ok(t) => t,
        Err(_) => match CharTokenizer::from_corpus(head) {
            Ok(c) => Tokenizer::Char(c),
            Err(_) => return,
        },
    };
    if let Ok(ids) = tok.encode(rest) {
        assert_eq!(tok.decode(&ids).expect("decoding what was encoded"), rest, "round trip");
    }
    let ids: Vec<u32> = data.chunks(4).map(|c| c.iter().fold(0u32, |a, &b| a << 8 | b as u32)).collect();
    let _ = tok.decode(&ids);
}

/// JSON as a ModelConfig and as a TrainConfig, validated; a valid model config also gets its
/// parameter count (which must not overflow for anything validate() accepts).
pub fn config(data: &[u8]) {
    if let Ok(c) = serde_json::from_slice::<ModelConfig>(data) {
        if c.validate().is_ok() {
            let _ = c.num_params();
        }
    }
    if let Ok(t) = serde_json::from_slice::<TrainConfig>(data) {
        if t.validate().is_ok() {
            for s in [0, t.warmup, t.steps, t.steps.saturating_add(1)] {
                assert!(t.lr_at(s).is_finite());
            }
        }
    }
}

/// Separates the files of a Hugging Face folder in one fuzz input.
pub const HF_SEPARATOR: &[u8] = b"\n--8<--\n";
/// The files, in order, that an input's sections become (an empty section: no such file).
pub const HF_FILES: [&str; 5] = [hf::CONFIG, hf::WEIGHTS, hf::TOKENIZER_JSON, hf::VOCAB, hf::MERGES];

/// Sections of the input as a Hugging Face GPT-2 folder in memory (config.json,
/// model.safetensors, tokenizer.json, vocab.json, merges.txt), loaded as the page loads a
/// user's picked files; a small valid model is also put on the CPU backend.
pub fn hf_folder(data: &[u8]) {
    if let Ok(m) = hf::load(&hf::MemFolder(hf_files(data))) {
        if m.checkpoint.cfg.num_params() < 1 << 20 {
            let _ = m.checkpoint.build(CpuBackend::new());
        }
    }
}

/// An input's sections by file name.
pub fn hf_files(data: &[u8]) -> std::collections::HashMap<String, Vec<u8>> {
    let mut files = std::collections::HashMap::new();
    let mut rest = data;
    for name in HF_FILES {
        let (section, tail) = match rest.windows(HF_SEPARATOR.len()).position(|w| w == HF_SEPARATOR) {
            Some(i) => (&rest[..i], &rest[i + HF_SEPARATOR.len()..]),
            None => (rest, &rest[rest.len()..]),
        };
        if !section.is_empty() {
            files.insert(name.to_string(), section.to_vec());
        }
        rest = tail;
    }
    files
}
