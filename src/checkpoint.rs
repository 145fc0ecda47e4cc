//! Checkpoints as safetensors, with Hugging Face GPT-2 tensor names and shapes
//! (`transformer.h.{i}.attn.c_attn.weight` [C,3C] ...). The model config, tokenizer and step go
//! in `__metadata__`; the AdamW moments are saved as `optimizer.exp_avg.<name>` and
//! `optimizer.exp_avg_sq.<name>` so `--resume` continues the same curve.
//!
//! Files are untrusted: every problem (truncated, wrong dtype, missing or misshapen tensor,
//! NaN weights, absurd config) is an error naming the file and the tensor, found before the
//! model is allocated.

use crate::backend::Backend;
use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::half::{f16_to_f32, f32_to_f16};
use crate::model::{param_specs, Gpt, Slot};
use crate::tokenizer::Tokenizer;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT: &str = "tinygpt";
const M_PREFIX: &str = "optimizer.exp_avg.";
const V_PREFIX: &str = "optimizer.exp_avg_sq.";

/// Everything a checkpoint holds, parsed and validated, not yet on a backend.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub cfg: ModelConfig,
    pub tokenizer: Tokenizer,
    /// Optimizer steps taken.
    pub step: u32,
    pub train: Option<TrainConfig>,
    /// Tensors in Hugging Face layout, by name (parameters and, if saved, moments).
    pub tensors: HashMap<String, Vec<f32>>,
}

fn le_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// What a checkpoint file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// Weights and AdamW moments as f32: `--resume` continues the same curve.
    Full,
    /// Weights only, f32: a third of the size; training from it restarts the moments at zero.
    Weights,
    /// Weights only, rounded to f16 (a sixth of the size), widened to f32 at load: for
    /// shipping a model (the page's default). The rounding moves the loss by ~1e-4.
    WeightsF16,
}

/// Serialises a model (weights and AdamW moments) with its tokenizer.
pub async fn to_bytes<B: Backend>(model: &mut Gpt<B>, tok: &Tokenizer, train: Option<&TrainConfig>) -> Result<Vec<u8>> {
    to_bytes_with(model, tok, train, Store::Full).await
}

pub async fn to_bytes_with<B: Backend>(model: &mut Gpt<B>, tok: &Tokenizer, train: Option<&TrainConfig>, store: Store) -> Result<Vec<u8>> {
    let specs = model.specs.clone();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    // a model never trained has no moments to save (they would be zeros)
    let slots: &[(&str, Slot)] = if store == Store::Full && model.has_optimizer_state() { &[("", Slot::Param), (M_PREFIX, Slot::AdamM), (V_PREFIX, Slot::AdamV)] } else { &[("", Slot::Param)] };
    for s in &specs {
        for &(prefix, slot) in slots {
            let x = model.read_hf(&s.name, slot).await?;
            let bytes = if store == Store::WeightsF16 { x.iter().flat_map(|&v| f32_to_f16(v).to_le_bytes()).collect() } else { le_bytes(&x) };
            owned.push((format!("{prefix}{}", s.name), s.hf_shape(), bytes));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("config".to_string(), serde_json::to_string(&model.cfg).expect("config serialises"));
    meta.insert("tokenizer".to_string(), tok.to_json());
    meta.insert("step".to_string(), model.step.to_string());
    if let Some(tc) = train {
        meta.insert("train_config".to_string(), serde_json::to_string(tc).expect("config serialises"));
    }
    let dtype = if store == Store::WeightsF16 { Dtype::F16 } else { Dtype::F32 };
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, shape, bytes)| (n.clone(), TensorView::new(dtype, shape.clone(), bytes).expect("sizes agree")))
        .collect();
    safetensors::serialize(views, Some(meta)).map_err(|e| Error::Checkpoint(format!("could not serialise the checkpoint: {e}")))
}

/// Saves atomically: writes `<path>.tmp`, then renames it over `path`, so a crash mid-save
/// leaves the previous checkpoint intact.
pub async fn save<B: Backend>(path: &Path, model: &mut Gpt<B>, tok: &Tokenizer, train: Option<&TrainConfig>) -> Result<()> {
    save_with(path, model, tok, train, Store::Full).await
}

pub async fn save_with<B: Backend>(path: &Path, model: &mut Gpt<B>, tok: &Tokenizer, train: Option<&TrainConfig>, store: Store) -> Result<()> {
    let bytes = to_bytes_with(model, tok, train, store).await?;
    write_atomic(path, &bytes)
}

/// Writes `<path>.tmp`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Error::Io(format!("cannot write checkpoint {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io(format!("cannot move {} to {}: {e}", tmp.display(), path.display())))?;
    Ok(())
}

/// Largest JSON header we accept; ours are a few KB even for GPT-2 sizes.
pub const MAX_HEADER: u64 = 16 << 20;

/// Loads a checkpoint file. The 8-byte header length is checked against the file size and
/// MAX_HEADER before the file is read, so a hostile length never drives an allocation.
pub fn load(path: &Path) -> Result<Checkpoint> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| Error::Io(format!("cannot read checkpoint {name}: {e}"));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut n = [0u8; 8];
    if len < 8 || f.read_exact(&mut n).is_err() {
        return Err(Error::Checkpoint(format!("{name}: {len} bytes is too short for a safetensors file (8-byte header length first)")));
    }
    check_header_len(u64::from_le_bytes(n), len, &name)?;
    let bytes = std::fs::read(path).map_err(io)?;
    from_bytes(&bytes, &name)
}

fn check_header_len(n: u64, file_len: u64, name: &str) -> Result<()> {
    if n > file_len.saturating_sub(8) {
        return Err(Error::Checkpoint(format!("{name}: header length {n} is larger than the file ({file_len} bytes): truncated or not a safetensors file")));
    }
    if n > MAX_HEADER {
        return Err(Error::Checkpoint(format!("{name}: header of {n} bytes is larger than the {} MiB a checkpoint header may have", MAX_HEADER >> 20)));
    }
    Ok(())
}

/// Parses and validates checkpoint bytes; `name` (a path or file name) is used in messages.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Checkpoint> {
    let err = |m: String| Error::Checkpoint(format!("{name}: {m}"));
    if bytes.len() >= 8 {
        check_header_len(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")), bytes.len() as u64, name)?;
    }
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| meta.get(k).ok_or_else(|| err(format!("metadata has no '{k}': not a tinygpt checkpoint (a Hugging Face model folder is imported with import-hf)")));
    if get("format")? != FORMAT {
        return Err(err(format!("metadata format is '{}', expected '{FORMAT}'", get("format")?)));
    }
    let cfg: ModelConfig = serde_json::from_str(get("config")?).map_err(|e| err(format!("model config in metadata is not valid: {e}")))?;
    cfg.validate().map_err(|e| err(e.to_string()))?;
    let tokenizer = Tokenizer::from_json(get("tokenizer")?).map_err(|e| err(e.to_string()))?;
    if tokenizer.vocab_size() != cfg.vocab_size {
        return Err(err(format!("tokenizer has {} tokens but the model's vocab_size is {}", tokenizer.vocab_size(), cfg.vocab_size)));
    }
    let step: u32 = get("step")?.parse().map_err(|_| err(format!("step '{}' is not a number", meta["step"])))?;
    let train = match meta.get("train_config") {
        Some(s) => Some(serde_json::from_str(s).map_err(|e| err(format!("train config in metadata is not valid: {e}")))?),
        None => None,
    };
    let mut tensors = HashMap::new();
    let specs = param_specs(&cfg);
    let has_moments = st.names().iter().any(|n| n.starts_with(M_PREFIX));
    for s in &specs {
        let mut names = vec![s.name.clone()];
        if has_moments {
            names.push(format!("{M_PREFIX}{}", s.name));
            names.push(format!("{V_PREFIX}{}", s.name));
        }
        for n in names {
            let t = st.tensor(&n).map_err(|_| err(format!("tensor '{n}' is missing (expected shape {:?})", s.hf_shape())))?;
            // weights may be f16 (a shipped model, widened here); moments are always f32
            let f16_ok = !n.starts_with("optimizer.");
            let data: Vec<f32> = match t.dtype() {
                Dtype::F32 => t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                Dtype::F16 if f16_ok => t.data().chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
                d => return Err(err(format!("tensor '{n}' has dtype {d:?}, expected F32{}", if f16_ok { " or F16" } else { "" }))),
            };
            if t.shape() != s.hf_shape().as_slice() {
                return Err(err(format!("tensor '{n}' has shape {:?}, expected {:?} for this config", t.shape(), s.hf_shape())));
            }
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(err(format!("tensor '{n}' holds a non-finite value ({}) at index {i}", data[i])));
            }
            tensors.insert(n, data);
        }
    }
    Ok(Checkpoint { cfg, tokenizer, step, train, tensors })
}

impl Checkpoint {
    /// The checkpoint as a weights-only tinygpt file (e.g. a Hugging Face model imported).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut owned = Vec::new();
        for s in param_specs(&self.cfg) {
            let data = self.tensors.get(&s.name).ok_or_else(|| Error::Checkpoint(format!("tensor '{}' is missing", s.name)))?;
            owned.push((s.name.clone(), s.hf_shape(), le_bytes(data)));
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("config".to_string(), serde_json::to_string(&self.cfg).expect("config serialises"));
        meta.insert("tokenizer".to_string(), self.tokenizer.to_json());
        meta.insert("step".to_string(), self.step.to_string());
        if let Some(tc) = &self.train {
            meta.insert("train_config".to_string(), serde_json::to_string(tc).expect("config serialises"));
        }
        let views: Vec<(String, TensorView)> = owned
            .iter()
            .map(|(n, shape, bytes)| (n.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes).expect("sizes agree")))
            .collect();
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::Checkpoint(format!("could not serialise the checkpoint: {e}")))
    }

    /// Puts the weights (and moments, if saved) on a backend.
    pub fn into_model<B: Backend>(self, backend: B) -> Result<(Gpt<B>, Tokenizer, Option<TrainConfig>)> {
        let model = self.build(backend)?;
        Ok((model, self.tokenizer, self.train))
    }

    /// A model with these weights (and moments, if saved) on a backend; the checkpoint stays,
    /// so a caller can try another backend when one fails (a model too big for a GPU).
    pub fn build<B: Backend>(&self, backend: B) -> Result<Gpt<B>> {
        let mut model = Gpt::empty(self.cfg.clone(), backend)?;
        let specs = model.specs.clone();
        for s in &specs {
            model.write_hf(&s.name, Slot::Param, &self.tensors[&s.name])?;
            if let (Some(m), Some(v)) = (self.tensors.get(&format!("{M_PREFIX}{}", s.name)), self.tensors.get(&format!("{V_PREFIX}{}", s.name))) {
                model.write_hf(&s.name, Slot::AdamM, m)?;
                model.write_hf(&s.name, Slot::AdamV, v)?;
            }
        }
        model.step = self.step;
        Ok(model)
    }
}
