//! Hugging Face GPT-2 folders: read one as a [`Checkpoint`] (config.json + model.safetensors +
//! tokenizer.json or vocab.json/merges.txt), and write a checkpoint as one that
//! `transformers.GPT2LMHeadModel.from_pretrained` and `PreTrainedTokenizerFast` load.
//!
//! Folders are untrusted: the config is checked against tinygpt's limits and the safetensors
//! header against the config (names, dtypes, shapes, offsets inside the file) before any
//! tensor is read; every error names the file and says what was expected and what was got.

use crate::checkpoint::Checkpoint;
use crate::config::{ModelConfig, PosEncoding};
use crate::error::{Error, Result};
use crate::half::f16_to_f32;
use crate::backend::Backend;
use crate::model::{param_specs, sinusoidal_table, Gpt, Slot};
use crate::tokenizer::bpe::{dense_vocab, BpeTokenizer};
use crate::tokenizer::{CharTokenizer, Tokenizer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const TOKENIZER_JSON: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
pub const VOCAB: &str = "vocab.json";
pub const MERGES: &str = "merges.txt";

/// Largest JSON file read (GPT-2's tokenizer.json is 1.4 MB).
const MAX_JSON_BYTES: u64 = 64 << 20;
/// safetensors' own header limit.
const MAX_HEADER_BYTES: u64 = 100 << 20;

/// A Hugging Face folder read into a checkpoint, with notes for the user (dtype conversions).
pub struct HfModel {
    pub checkpoint: Checkpoint,
    pub notes: Vec<String>,
}

/// Where a folder's files come from: the disk (CLI), the files a user picked (page), or
/// memory (tests, fuzzing). Files are read by range so a 500 MB model.safetensors is never
/// held whole next to its converted tensors.
pub trait Folder {
    /// How `file` is named in messages (its path, or the picked file's name).
    fn label(&self, file: &str) -> String;
    /// The file's size in bytes, or None when the folder has no such file.
    fn size(&self, file: &str) -> Result<Option<u64>>;
    /// Bytes start..end of `file` (within its size).
    fn read_range(&self, file: &str, start: u64, end: u64) -> Result<Vec<u8>>;
}

/// A folder on disk.
pub struct DiskFolder<'a>(pub &'a Path);

impl Folder for DiskFolder<'_> {
    fn label(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
    fn size(&self, file: &str) -> Result<Option<u64>> {
        match std::fs::metadata(self.0.join(file)) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Err(Error::Io(format!("{} is not a file", self.label(file)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(format!("cannot read {}: {e}", self.label(file)))),
        }
    }
    fn read_range(&self, file: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::Io(format!("cannot read {}: {e}", self.label(file)));
        let mut f = std::fs::File::open(self.0.join(file)).map_err(io)?;
        let mut buf = vec![0u8; (end - start) as usize];
        f.seek(SeekFrom::Start(start)).and_then(|_| f.read_exact(&mut buf)).map_err(io)?;
        Ok(buf)
    }
}

/// A folder held in memory, file name -> bytes.
pub struct MemFolder(pub HashMap<String, Vec<u8>>);

impl Folder for MemFolder {
    fn label(&self, file: &str) -> String {
        file.to_string()
    }
    fn size(&self, file: &str) -> Result<Option<u64>> {
        Ok(self.0.get(file).map(|b| b.len() as u64))
    }
    fn read_range(&self, file: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let b = self.0.get(file).ok_or_else(|| Error::Io(format!("{file}: missing")))?;
        b.get(start as usize..end as usize).map(<[u8]>::to_vec).ok_or_else(|| Error::Io(format!("{file}: bytes {start}..{end} outside its {} bytes", b.len())))
    }
}

/// Reads a GPT-2 folder on disk (any size: gpt2, gpt2-medium, distilgpt2...).
pub fn load_dir(dir: &Path) -> Result<HfModel> {
    if !dir.is_dir() {
        return Err(Error::Io(format!("{} is not a folder", dir.display())));
    }
    load(&DiskFolder(dir))
}

/// Reads a GPT-2 folder: config.json, the tokenizer, then model.safetensors checked against
/// both before its tensors are read.
pub fn load(folder: &dyn Folder) -> Result<HfModel> {
    let (cfg, tokenizer) = read_config_and_tokenizer(folder)?;
    let mut notes = Vec::new();
    let mut tensors = HashMap::new();
    each_weight(folder, &cfg, &mut notes, |name, data| {
        tensors.insert(name.to_string(), data);
        Ok(())
    })?;
    Ok(HfModel { checkpoint: Checkpoint { cfg, tokenizer, step: 0, train: None, tensors }, notes })
}

/// Reads a GPT-2 folder straight into a model on `backend`, one tensor at a time, so the
/// weights are never held twice (GPT-2 124M is 500 MB of f32; wasm32 has 4 GB in all). The
/// model is allocated before any weight is read: a device that cannot hold it fails at once.
/// Returns the model, its tokenizer and notes (dtype conversions).
pub fn load_into<B: Backend>(folder: &dyn Folder, backend: B) -> Result<(Gpt<B>, Tokenizer, Vec<String>)> {
    let (cfg, tokenizer) = read_config_and_tokenizer(folder)?;
    let mut model = Gpt::empty(cfg.clone(), backend)?;
    let mut notes = Vec::new();
    each_weight(folder, &cfg, &mut notes, |name, data| model.write_hf(name, Slot::Param, &data))?;
    Ok((model, tokenizer, notes))
}

fn read_config_and_tokenizer(folder: &dyn Folder) -> Result<(ModelConfig, Tokenizer)> {
    let cfg = config_from_json(&read_json(folder, CONFIG)?, &folder.label(CONFIG))?;
    let (tokenizer, tok_file) = read_tokenizer(folder)?;
    if tokenizer.vocab_size() != cfg.vocab_size {
        return Err(Error::Tokenizer(format!(
            "{tok_file}: the tokenizer has {} tokens but {} says vocab_size = {}",
            tokenizer.vocab_size(),
            folder.label(CONFIG),
            cfg.vocab_size
        )));
    }
    Ok((cfg, tokenizer))
}

/// A whole file, refused when missing or larger than `max`.
fn read_capped(folder: &dyn Folder, file: &str, max: u64) -> Result<Vec<u8>> {
    let len = folder.size(file)?.ok_or_else(|| Error::Io(format!("{}: missing", folder.label(file))))?;
    if len > max {
        return Err(Error::Io(format!("{}: {len} bytes, more than the {max} expected at most", folder.label(file))));
    }
    folder.read_range(file, 0, len)
}

fn read_json(folder: &dyn Folder, file: &str) -> Result<Value> {
    let bytes = read_capped(folder, file, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Checkpoint(format!("{}: not valid JSON ({e})", folder.label(file))))
}

/// A GPT-2 config.json -> ModelConfig; anything GPT2LMHeadModel does differently from tinygpt's
/// model (another architecture, activation, LayerNorm eps, untied head...) is an error.
pub fn config_from_json(v: &Value, file: &str) -> Result<ModelConfig> {
    let err = |m: String| Error::Config(format!("{file}: {m}"));
    if v["model_type"] != "gpt2" {
        return Err(err(format!("model_type is {}, expected \"gpt2\" (only GPT-2 models can be loaded)", v["model_type"])));
    }
    let int = |key: &str| -> Result<usize> {
        v[key].as_u64().map(|x| x as usize).ok_or_else(|| err(format!("'{key}' is {}, expected a positive integer", v[key])))
    };
    let n_positions = if v.get("n_positions").is_some() { int("n_positions")? } else { int("n_ctx")? };
    let cfg = ModelConfig {
        vocab_size: int("vocab_size")?,
        n_layer: int("n_layer")?,
        n_head: int("n_head")?,
        n_embd: int("n_embd")?,
        block_size: n_positions,
        pos: PosEncoding::Learned,
    };
    cfg.validate().map_err(|e| err(e.to_string()))?;
    let act = v.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new");
    if !matches!(act, "gelu_new" | "gelu_pytorch_tanh") {
        return Err(err(format!("activation_function is \"{act}\", expected \"gelu_new\" (GELU, tanh approximation)")));
    }
    let eps = v.get("layer_norm_epsilon").and_then(Value::as_f64).unwrap_or(1e-5);
    if (eps - 1e-5).abs() > 1e-12 {
        return Err(err(format!("layer_norm_epsilon is {eps}, expected 1e-5")));
    }
    match v.get("n_inner") {
        None | Some(Value::Null) => {}
        Some(x) if x.as_u64() == Some(4 * cfg.n_embd as u64) => {}
        Some(x) => return Err(err(format!("n_inner is {x}, expected null or 4 * n_embd = {}", 4 * cfg.n_embd))),
    }
    for (key, want) in [("tie_word_embeddings", true), ("scale_attn_weights", true), ("scale_attn_by_inverse_layer_idx", false), ("add_cross_attention", false)] {
        if let Some(x) = v.get(key) {
            if x.as_bool() != Some(want) {
                return Err(err(format!("{key} is {x}, expected {want} (tinygpt's model has no other variant)")));
            }
        }
    }
    Ok(cfg)
}

/// config.json for a GPT2LMHeadModel of `cfg`.
pub fn config_json(cfg: &ModelConfig) -> Value {
    json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.block_size,
        "n_ctx": cfg.block_size,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "n_inner": null,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "tie_word_embeddings": true,
        "use_cache": true,
        "bos_token_id": null,
        "eos_token_id": null,
        "torch_dtype": "float32",
        // informational: a sinusoidal model's fixed table is exported as wpe
        "tinygpt_positions": cfg.pos.to_string(),
    })
}

/// The folder's tokenizer: tokenizer.json if present, else vocab.json + merges.txt.
/// Returns it with the file it came from (for messages).
fn read_tokenizer(folder: &dyn Folder) -> Result<(Tokenizer, String)> {
    if folder.size(TOKENIZER_JSON)?.is_some() {
        let name = folder.label(TOKENIZER_JSON);
        let v = read_json(folder, TOKENIZER_JSON)?;
        let tok = tokenizer_from_json(&v).map_err(|e| Error::Tokenizer(format!("{name}: {}", strip_kind(&e))))?;
        return Ok((tok, name));
    }
    let (vp, mp) = (folder.label(VOCAB), folder.label(MERGES));
    match (folder.size(VOCAB)?.is_some(), folder.size(MERGES)?.is_some()) {
        (true, true) => {
            let text = |file: &str, label: &str| String::from_utf8(read_capped(folder, file, MAX_JSON_BYTES)?).map_err(|_| Error::Tokenizer(format!("{label}: not UTF-8")));
            let (vocab, merges) = (text(VOCAB, &vp)?, text(MERGES, &mp)?);
            let tok = BpeTokenizer::from_vocab_merges(&vocab, &merges).map_err(|e| Error::Tokenizer(format!("{vp} + {mp}: {}", strip_kind(&e))))?;
            Ok((Tokenizer::Bpe(tok), vp))
        }
        (true, false) => Err(Error::Io(format!("{mp}: missing (vocab.json needs merges.txt beside it)"))),
        (false, true) => Err(Error::Io(format!("{vp}: missing (merges.txt needs vocab.json beside it)"))),
        (false, false) => Err(Error::Io(format!("{}: missing; no tokenizer: expected {TOKENIZER_JSON}, or {VOCAB} + {MERGES}", folder.label(TOKENIZER_JSON)))),
    }
}

/// "tokenizer error: msg" -> "msg", to re-wrap with a file name.
fn strip_kind(e: &Error) -> String {
    let s = e.to_string();
    s.split_once(" error: ").map_or(s.clone(), |(_, m)| m.to_string())
}

/// A tokenizer.json: a byte-level BPE, or the character map tinygpt exports (a BPE without
/// merges or pre-tokenizer, decoded with Fuse).
pub fn tokenizer_from_json(v: &Value) -> Result<Tokenizer> {
    let is_char_map = v["model"]["type"] == "BPE"
        && v["pre_tokenizer"].is_null()
        && v["decoder"]["type"] == "Fuse"
        && v["model"]["merges"].as_array().is_some_and(|m| m.is_empty());
    if is_char_map {
        let map: HashMap<String, u32> = serde_json::from_value(v["model"]["vocab"].clone())
            .map_err(|e| Error::Tokenizer(format!("model.vocab: expected an object of character -> id ({e})")))?;
        let chars = dense_vocab(map)?
            .into_iter()
            .map(|s| {
                let mut it = s.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => Ok(c),
                    _ => Err(Error::Tokenizer(format!("character map: expected one character per token, got {s:?}"))),
                }
            })
            .collect::<Result<Vec<char>>>()?;
        return Ok(Tokenizer::Char(CharTokenizer::from_chars(chars)?));
    }
    Ok(Tokenizer::Bpe(BpeTokenizer::from_tokenizer_json(&v.to_string())?))
}

/// tokenizer.json for a character tokenizer: transformers' PreTrainedTokenizerFast reproduces
/// the exact char -> id map (BPE without merges = one token per character; Fuse joins them).
pub fn char_tokenizer_json(t: &CharTokenizer) -> Value {
    let vocab: serde_json::Map<String, Value> = t.chars().iter().enumerate().map(|(i, c)| (c.to_string(), Value::from(i))).collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": null,
        "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": [],
        },
    })
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON serialises");
    s.push('\n');
    s.into_bytes()
}

/// The files of an exported folder, by name (deterministic bytes).
pub fn export_files(ck: &Checkpoint) -> Result<Vec<(String, Vec<u8>)>> {
    let cfg = &ck.cfg;
    let mut files = vec![(CONFIG.to_string(), json_bytes(&config_json(cfg)))];

    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for s in param_specs(cfg) {
        let data = ck.tensors.get(&s.name).ok_or_else(|| Error::Checkpoint(format!("checkpoint has no tensor '{}'", s.name)))?;
        tensors.push((s.name.clone(), s.hf_shape(), data.iter().flat_map(|x| x.to_le_bytes()).collect()));
    }
    if cfg.pos == PosEncoding::Sinusoidal {
        let pe = sinusoidal_table(cfg.block_size, cfg.n_embd);
        tensors.push(("transformer.wpe.weight".into(), vec![cfg.block_size, cfg.n_embd], pe.iter().flat_map(|x| x.to_le_bytes()).collect()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, shape, b)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).expect("sizes agree")))
        .collect();
    // transformers refuses a safetensors file without format = pt
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let st = safetensors::serialize(views, Some(meta)).map_err(|e| Error::Checkpoint(format!("could not serialise {WEIGHTS}: {e}")))?;
    files.push((WEIGHTS.to_string(), st));

    let tok_json = match &ck.tokenizer {
        Tokenizer::Char(t) => char_tokenizer_json(t),
        Tokenizer::Symbols(_) => {
            return Err(Error::Tokenizer(
                "this model reads a task's symbols (each number one token), which no Hugging Face tokenizer.json reproduces; \
                 export-hf takes character and byte-level BPE models"
                    .into(),
            ))
        }
        Tokenizer::Bpe(t) => {
            files.push((VOCAB.to_string(), json_bytes(&t.vocab_json())));
            files.push((MERGES.to_string(), t.merges_txt().into_bytes()));
            t.to_tokenizer_json()
        }
    };
    files.push((TOKENIZER_JSON.to_string(), json_bytes(&tok_json)));
    let tok_cfg = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": cfg.block_size,
        "clean_up_tokenization_spaces": false,
    });
    files.push((TOKENIZER_CONFIG.to_string(), json_bytes(&tok_cfg)));
    Ok(files)
}

/// Writes a checkpoint as a Hugging Face GPT-2 folder.
pub fn export(ck: &Checkpoint, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    let mut names = Vec::new();
    for (name, bytes) in export_files(ck)? {
        let p = dir.join(&name);
        std::fs::write(&p, bytes).map_err(|e| Error::Io(format!("cannot write {}: {e}", p.display())))?;
        names.push(name);
    }
    Ok(names)
}

/// One tensor's entry in a safetensors header.
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// Reads and checks a safetensors header without reading the data.
fn read_header(folder: &dyn Folder, file: &str) -> Result<BTreeMap<String, Entry>> {
    let label = folder.label(file);
    let err = |m: String| Error::Checkpoint(format!("{label}: {m}"));
    let len = folder.size(file)?.ok_or_else(|| Error::Io(format!("{label}: missing (the weights of the model)")))?;
    if len < 8 {
        return Err(err(format!("not a safetensors file: {len} bytes, too short for a header")));
    }
    let n = folder.read_range(file, 0, 8)?;
    let n = u64::from_le_bytes(n.try_into().expect("8 bytes"));
    if n > MAX_HEADER_BYTES || n + 8 > len {
        return Err(err(format!("not a safetensors file: header length {n} for a file of {len} bytes")));
    }
    let header = folder.read_range(file, 8, 8 + n)?;
    let v: BTreeMap<String, Value> = serde_json::from_slice(&header).map_err(|e| err(format!("safetensors header is not valid JSON ({e})")))?;
    let data_len = len - 8 - n;
    let mut entries = BTreeMap::new();
    for (name, t) in v {
        if name == "__metadata__" {
            continue;
        }
        let bad = || err(format!("tensor '{name}': expected {{dtype, shape, data_offsets}}, got {t}"));
        let dtype = t["dtype"].as_str().ok_or_else(bad)?.to_string();
        let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).map_err(|_| bad())?;
        let offs: [u64; 2] = serde_json::from_value(t["data_offsets"].clone()).map_err(|_| bad())?;
        if offs[0] > offs[1] || offs[1] > data_len {
            return Err(err(format!("tensor '{name}': data_offsets {offs:?} outside the {data_len} data bytes (truncated file?)")));
        }
        entries.insert(name, Entry { dtype, shape, start: 8 + n + offs[0], end: 8 + n + offs[1] });
    }
    Ok(entries)
}

fn to_f32(dtype: &str, b: &[u8]) -> Vec<f32> {
    match dtype {
        "F32" => b.chunks_exact(4).map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect(),
        "F16" => b.chunks_exact(2).map(|x| f16_to_f32(u16::from_le_bytes([x[0], x[1]]))).collect(),
        "BF16" => b.chunks_exact(2).map(|x| f32::from_bits((u16::from_le_bytes([x[0], x[1]]) as u32) << 16)).collect(),
        _ => unreachable!("dtype checked"),
    }
}

/// GPT-2 weights by tinygpt name (`transformer.` prefix), f32, HF layout, handed to `sink` one
/// at a time once the whole header has been checked against the config.
fn each_weight(folder: &dyn Folder, cfg: &ModelConfig, notes: &mut Vec<String>, mut sink: impl FnMut(&str, Vec<f32>) -> Result<()>) -> Result<()> {
    let file = folder.label(WEIGHTS);
    let err = |m: String| Error::Checkpoint(format!("{file}: {m}"));
    let entries = read_header(folder, WEIGHTS)?;
    let prefix = if entries.contains_key("transformer.wte.weight") {
        "transformer."
    } else if entries.contains_key("wte.weight") {
        ""
    } else {
        return Err(err("has no 'transformer.wte.weight' or 'wte.weight': not a GPT-2 checkpoint".into()));
    };
    let specs = param_specs(cfg);
    let mut wanted: Vec<(String, String, Vec<usize>)> =
        specs.iter().map(|s| (s.name.clone(), format!("{prefix}{}", &s.name["transformer.".len()..]), s.hf_shape())).collect();
    if entries.contains_key("lm_head.weight") {
        wanted.push(("lm_head.weight".into(), "lm_head.weight".into(), vec![cfg.vocab_size, cfg.n_embd]));
    }
    // Everything else must be a known buffer (the causal mask GPT-2 once saved).
    let unexpected: Vec<&String> = entries
        .keys()
        .filter(|k| !wanted.iter().any(|w| &w.1 == *k) && !(k.ends_with(".attn.bias") || k.ends_with(".attn.masked_bias")))
        .collect();
    if !unexpected.is_empty() {
        let list: Vec<&str> = unexpected.iter().take(5).map(|s| s.as_str()).collect();
        return Err(err(format!("{} unexpected tensor(s) for a GPT-2 of {} layers: {}", unexpected.len(), cfg.n_layer, list.join(", "))));
    }
    let mut converted: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, name, shape) in &wanted {
        let e = entries.get(name).ok_or_else(|| err(format!("tensor '{name}' is missing (expected shape {shape:?})")))?;
        let size = match e.dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            d => return Err(err(format!("tensor '{name}' has dtype {d}, expected F32, F16 or BF16"))),
        };
        if &e.shape != shape {
            return Err(err(format!("tensor '{name}' has shape {:?}, expected {shape:?} for the config's sizes", e.shape)));
        }
        let want_bytes = shape.iter().product::<usize>() as u64 * size;
        if e.end - e.start != want_bytes {
            return Err(err(format!("tensor '{name}' holds {} bytes, expected {want_bytes} for shape {shape:?} in {}", e.end - e.start, e.dtype)));
        }
    }
    // an lm_head.weight (listed last) must equal wte: only then is wte's copy kept
    let has_head = wanted.iter().any(|w| w.0 == "lm_head.weight");
    let mut wte_copy = None;
    for (ours, name, _) in &wanted {
        let e = &entries[name];
        let data = to_f32(&e.dtype, &folder.read_range(WEIGHTS, e.start, e.end)?);
        if e.dtype != "F32" {
            *converted.entry(if e.dtype == "F16" { "F16" } else { "BF16" }).or_default() += 1;
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(err(format!("tensor '{name}' holds a non-finite value ({}) at index {i}", data[i])));
        }
        if ours == "lm_head.weight" {
            if Some(&data) != wte_copy.as_ref() {
                return Err(err("lm_head.weight differs from the token embedding: an untied LM head is not supported".into()));
            }
            continue;
        }
        if has_head && ours == "transformer.wte.weight" {
            wte_copy = Some(data.clone());
        }
        sink(ours, data)?;
    }
    for (d, n) in converted {
        notes.push(format!("{file}: converted {n} {d} tensor(s) to f32"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_configs_parse_and_others_are_refused() {
        let gpt2 = json!({"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
                          "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "n_inner": null});
        let c = config_from_json(&gpt2, "config.json").unwrap();
        assert_eq!((c.vocab_size, c.block_size, c.n_layer), (50257, 1024, 12));
        let mut llama = gpt2.clone();
        llama["model_type"] = "llama".into();
        let e = config_from_json(&llama, "x/config.json").unwrap_err().to_string();
        assert!(e.contains("x/config.json") && e.contains("\"llama\"") && e.contains("\"gpt2\""), "{e}");
        let mut relu = gpt2.clone();
        relu["activation_function"] = "relu".into();
        assert!(config_from_json(&relu, "c").unwrap_err().to_string().contains("\"relu\""));
        let mut huge = gpt2.clone();
        huge["n_embd"] = 1_000_000_000.into();
        assert!(config_from_json(&huge, "c").unwrap_err().to_string().contains("n_embd"));
        let back = config_from_json(&config_json(&c), "c").unwrap();
        assert_eq!(back, c);
    }
}
