//! The browser API: a thin #[wasm_bindgen] layer over the library, no maths. The page's Web
//! Worker owns one `Engine`. Every method that fails returns a JS Error with a message for
//! the user and leaves the engine as it was (a bad checkpoint keeps the previous model).

use crate::backend::Backend;
use crate::checkpoint;
use crate::config::{ModelConfig, PosEncoding, TrainConfig};
use crate::cpu::CpuBackend;
use crate::gpu::GpuBackend;
use crate::data::Dataset;
use crate::error::Error;
use crate::model::{Gpt, StepStats};
use crate::sample::{Generator, SampleConfig};
use crate::hf;
use crate::tokenizer::{Tokenizer, TokenizerKind, Utf8Stream};
use std::collections::HashMap;
use crate::train;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

fn js_err(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

fn from_js<T: for<'de> Deserialize<'de>>(v: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(v).map_err(|e| JsError::new(&format!("{what}: {e}")))
}

/// The model on whichever backend this page got.
enum AnyModel {
    Cpu(Gpt<CpuBackend>),
    Gpu(Gpt<GpuBackend>),
}

/// Runs `$body` with `$m` bound to the concrete `Gpt<_>`.
macro_rules! with_model {
    ($any:expr, $m:ident => $body:expr) => {
        match $any {
            AnyModel::Cpu($m) => $body,
            AnyModel::Gpu($m) => $body,
        }
    };
}

#[derive(Serialize)]
struct ModelInfo {
    n_layer: usize,
    n_head: usize,
    n_embd: usize,
    block_size: usize,
    vocab_size: usize,
    pos: String,
    params: usize,
    step: u32,
    /// The tokens as text, id order (characters for a char model).
    vocab: Vec<String>,
    /// "char" or "bpe".
    tokenizer: &'static str,
    /// Where the model came from: "new", "checkpoint" or "hf".
    source: &'static str,
}

#[derive(Deserialize)]
#[serde(default)]
struct GenOptions {
    max_tokens: usize,
    temperature: f32,
    top_k: usize,
    top_p: f32,
    seed: u64,
    with_attention: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        let d = SampleConfig::default();
        GenOptions { max_tokens: d.max_tokens, temperature: d.temperature, top_k: d.top_k, top_p: d.top_p, seed: d.seed, with_attention: false }
    }
}

#[derive(Serialize)]
struct Alt {
    text: String,
    prob: f32,
}

#[derive(Serialize)]
struct TokenOut {
    id: u32,
    text: String,
    prob: f32,
    top: Vec<Alt>,
    window_start: usize,
}

/// The page's model-shape controls; the vocabulary is learned from the corpus.
#[derive(Deserialize)]
struct PageModelConfig {
    n_layer: usize,
    n_head: usize,
    n_embd: usize,
    block_size: usize,
    pos: PosEncoding,
    /// "char" (default) or "bpe:N", as the CLI's --tokenizer.
    #[serde(default)]
    tokenizer: Option<String>,
}

#[derive(Serialize)]
struct StepOut {
    step: usize,
    loss: f32,
    acc: f32,
    lr: f32,
    grad_norm: f32,
}

/// A step's statistics for the page, or null.
fn step_out(r: Option<StepStats>) -> Result<JsValue, JsError> {
    match r {
        None => Ok(JsValue::NULL),
        Some(r) => to_js(&StepOut { step: r.step as usize, loss: r.loss, acc: r.acc, lr: r.lr, grad_norm: r.grad_norm }),
    }
}

#[wasm_bindgen]
pub struct Engine {
    model: Option<AnyModel>,
    tok: Option<Tokenizer>,
    train: Option<(Dataset, TrainConfig)>,
    generator: Option<Generator>,
    /// Holds back a character split across tokens while streaming (byte-level BPE).
    stream: Utf8Stream,
    source: &'static str,
    backend_name: String,
    /// New models go on WebGPU (set by `init` when an adapter was found).
    gpu: bool,
    /// Test hook: the next training step gets a NaN learning rate.
    nan_next: bool,
}

impl Engine {
    fn tok(&self) -> Result<&Tokenizer, JsError> {
        self.tok.as_ref().ok_or_else(|| JsError::new("no model is loaded"))
    }

    fn model(&mut self) -> Result<&mut AnyModel, JsError> {
        self.model.as_mut().ok_or_else(|| JsError::new("no model is loaded"))
    }

    /// Each model gets its own device, so a failed replacement never disturbs the current one.
    async fn new_model(&self, cfg: ModelConfig, seed: u64) -> Result<AnyModel, Error> {
        if self.gpu {
            Ok(AnyModel::Gpu(Gpt::new(cfg, GpuBackend::new().await?, seed)?))
        } else {
            Ok(AnyModel::Cpu(Gpt::new(cfg, CpuBackend::new(), seed)?))
        }
    }

    async fn from_checkpoint(&self, ck: checkpoint::Checkpoint) -> Result<(AnyModel, Tokenizer, Option<TrainConfig>), Error> {
        if self.gpu {
            let (m, t, tc) = ck.into_model(GpuBackend::new().await?)?;
            Ok((AnyModel::Gpu(m), t, tc))
        } else {
            let (m, t, tc) = ck.into_model(CpuBackend::new())?;
            Ok((AnyModel::Cpu(m), t, tc))
        }
    }

    fn token_text(&self, id: u32) -> String {
        self.tok.as_ref().map(|t| token_label(t, id)).unwrap_or_default()
    }
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        console_error_panic_hook::set_once();
        Engine {
            model: None,
            tok: None,
            train: None,
            generator: None,
            stream: Utf8Stream::new(),
            source: "new",
            backend_name: "CPU (WebAssembly)".into(),
            gpu: false,
            nan_next: false,
        }
    }

    /// Picks the compute backend: WebGPU when `prefer_gpu` and an adapter is available, else
    /// the CPU (WebAssembly). Returns `{backend: "webgpu"|"cpu", adapter: str, reason: str|null}`
    /// where `reason` says why the CPU was chosen. Call before loading or creating a model.
    pub async fn init(&mut self, prefer_gpu: bool) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Init {
            backend: &'static str,
            adapter: String,
            reason: Option<String>,
        }
        if prefer_gpu {
            match GpuBackend::new().await {
                Ok(g) => {
                    self.gpu = true;
                    self.backend_name = format!("WebGPU: {}", g.describe());
                    return to_js(&Init { backend: "webgpu", adapter: self.backend_name.clone(), reason: None });
                }
                Err(e) => {
                    self.gpu = false;
                    self.backend_name = "CPU (WebAssembly)".into();
                    return to_js(&Init { backend: "cpu", adapter: self.backend_name.clone(), reason: Some(e.to_string()) });
                }
            }
        }
        self.gpu = false;
        self.backend_name = "CPU (WebAssembly)".into();
        to_js(&Init { backend: "cpu", adapter: self.backend_name.clone(), reason: Some("the CPU was requested".into()) })
    }

    /// Runs every op on this engine's GPU and on the CPU backend with the same random inputs:
    /// `[{op, rel_err}]` (largest relative difference per op). Empty on the CPU backend.
    pub async fn self_check(&mut self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Row {
            op: &'static str,
            rel_err: f32,
        }
        if !self.gpu {
            return to_js(&Vec::<Row>::new());
        }
        let mut g = GpuBackend::new().await.map_err(js_err)?;
        let rows = crate::selfcheck::compare(&mut CpuBackend::new(), &mut g).await;
        to_js(&rows.into_iter().map(|(op, rel_err)| Row { op, rel_err }).collect::<Vec<_>>())
    }

    /// Which backend this engine computes on, e.g. "CPU (WebAssembly)".
    pub fn backend(&self) -> String {
        self.backend_name.clone()
    }

    /// Replaces the model with a checkpoint's; on any error the current model stays.
    pub async fn load_checkpoint(&mut self, bytes: Vec<u8>, name: String) -> Result<JsValue, JsError> {
        let ck = checkpoint::from_bytes(&bytes, &name).map_err(js_err)?;
        let (m, t, tc) = self.from_checkpoint(ck).await.map_err(js_err)?;
        self.model = Some(m);
        self.tok = Some(t);
        self.generator = None;
        // a loaded model keeps its recipe for further training on the same corpus
        self.train = None;
        self.source = "checkpoint";
        let _ = tc;
        self.info()
    }

    /// Replaces the model with a Hugging Face GPT-2 folder's, from the files the user picked
    /// (File objects; config.json, model.safetensors, and tokenizer.json or vocab.json +
    /// merges.txt; others are ignored). Files are read slice by slice, so the weights are never
    /// held twice. Returns `info()` plus `notes`, `backend` and `fallback` (why a model the
    /// GPU cannot hold runs on the CPU). On any error the current model stays.
    pub async fn load_hf(&mut self, files: js_sys::Array) -> Result<JsValue, JsError> {
        let mut map = HashMap::new();
        for f in files.iter() {
            let f: web_sys::File = f.dyn_into().map_err(|_| JsError::new("load_hf expects File objects"))?;
            map.insert(f.name(), f);
        }
        let folder = BlobFolder(map);
        // The model is allocated before its weights are read: a GPU that cannot hold it fails
        // at once, and the files are read again straight into a CPU model instead.
        let gpu = if self.gpu { Some(GpuBackend::new().await) } else { None };
        let (model, tok, notes, fallback) = match gpu.map(|g| g.and_then(|g| hf::load_into(&folder, g))) {
            Some(Ok((m, t, n))) => (AnyModel::Gpu(m), t, n, None),
            Some(Err(Error::Gpu(why))) => {
                let (m, t, n) = hf::load_into(&folder, CpuBackend::new()).map_err(js_err)?;
                (AnyModel::Cpu(m), t, n, Some(format!("{why}. The model runs on the CPU (WebAssembly) instead, slower.")))
            }
            Some(Err(e)) => return Err(js_err(e)),
            None => {
                let (m, t, n) = hf::load_into(&folder, CpuBackend::new()).map_err(js_err)?;
                (AnyModel::Cpu(m), t, n, None)
            }
        };
        let backend = with_model!(&model, x => x.backend.describe());
        self.model = Some(model);
        self.tok = Some(tok);
        self.generator = None;
        self.train = None;
        self.source = "hf";
        let info = self.info()?;
        js_sys::Reflect::set(&info, &"notes".into(), &to_js(&notes)?).ok();
        js_sys::Reflect::set(&info, &"backend".into(), &JsValue::from_str(&backend)).ok();
        js_sys::Reflect::set(&info, &"fallback".into(), &fallback.map_or(JsValue::NULL, |f| JsValue::from_str(&f))).ok();
        Ok(info)
    }

    /// The current model (weights, AdamW moments, step) as .safetensors bytes, the CLI's format.
    pub async fn checkpoint_bytes(&mut self) -> Result<Vec<u8>, JsError> {
        let tok = self.tok()?.clone();
        let tc = self.train.as_ref().map(|t| t.1.clone());
        let bytes = with_model!(self.model()?, m => {
            let b = checkpoint::to_bytes(m, &tok, tc.as_ref()).await;
            // what a faulted device reads back is not the model: never let it overwrite a save
            match m.backend.fault() {
                Some(f) => Err(Error::Gpu(format!("{f}; the model cannot be read from it"))),
                None => b,
            }
        });
        bytes.map_err(js_err)
    }

    pub fn info(&mut self) -> Result<JsValue, JsError> {
        let tok = self.tok()?.clone();
        let vocab = (0..tok.vocab_size() as u32).map(|i| token_label(&tok, i)).collect();
        let info = with_model!(self.model()?, m => ModelInfo {
            n_layer: m.cfg.n_layer,
            n_head: m.cfg.n_head,
            n_embd: m.cfg.n_embd,
            block_size: m.cfg.block_size,
            vocab_size: m.cfg.vocab_size,
            pos: m.cfg.pos.to_string(),
            params: m.num_params(),
            step: m.step,
            vocab,
            tokenizer: match tok { Tokenizer::Char(_) => "char", Tokenizer::Bpe(_) => "bpe" },
            source: self.source,
        });
        to_js(&info)
    }

    /// Starts a generation; then call `next_token` until it returns null.
    pub fn start_generation(&mut self, prompt: &str, opts: JsValue) -> Result<(), JsError> {
        let o: GenOptions = if opts.is_undefined() || opts.is_null() { GenOptions::default() } else { from_js(opts, "generation options")? };
        let ids = self.tok()?.encode(prompt).map_err(js_err)?;
        let cfg = SampleConfig {
            max_tokens: o.max_tokens,
            temperature: o.temperature,
            top_k: o.top_k,
            top_p: o.top_p,
            seed: o.seed,
            with_attention: o.with_attention,
            ..SampleConfig::default()
        };
        let bs = with_model!(self.model()?, m => m.cfg.block_size);
        self.generator = Some(Generator::new(&ids, &cfg, bs).map_err(js_err)?);
        self.stream = Utf8Stream::new();
        Ok(())
    }

    /// The next generated token `{id, text, prob, top: [{text, prob}], window_start}`, or null
    /// when the generation is complete (or none was started). `text` is whole characters: ""
    /// while a token holds only part of one (byte-level BPE), the rest coming with later tokens.
    pub async fn next_token(&mut self) -> Result<JsValue, JsError> {
        let Some(mut g) = self.generator.take() else { return Ok(JsValue::NULL) };
        let ev = with_model!(self.model()?, m => g.next(m).await).map_err(js_err)?;
        let Some(ev) = ev else { return Ok(JsValue::NULL) };
        self.generator = Some(g);
        let bytes = self.tok()?.decode_bytes(&[ev.id]).map_err(js_err)?;
        let text = self.stream.push(&bytes);
        let out = TokenOut {
            id: ev.id,
            text,
            prob: ev.prob,
            top: ev.top.iter().map(|&(i, p)| Alt { text: self.token_text(i), prob: p }).collect(),
            window_start: ev.window_start,
        };
        to_js(&out)
    }

    /// Attention of the model over `text` (its last block_size tokens):
    /// `{tokens: [str], t, n_layer, n_head, layers: [Float32Array(NH*T*T)]}`.
    pub async fn attention(&mut self, text: &str) -> Result<JsValue, JsError> {
        let tok = self.tok()?.clone();
        let mut ids = tok.encode(text).map_err(js_err)?;
        if ids.is_empty() {
            return Err(JsError::new("type some text to see its attention"));
        }
        let (bs, nl, nh) = with_model!(self.model()?, m => (m.cfg.block_size, m.cfg.n_layer, m.cfg.n_head));
        let start = ids.len().saturating_sub(bs);
        ids.drain(..start);
        let t = ids.len();
        let layers = with_model!(self.model()?, m => {
            m.decode_with(&ids, 0, true).await.map_err(js_err)?;
            m.read_decode_attention(t, t).await
        });
        let obj = js_sys::Object::new();
        let tokens: js_sys::Array = ids.iter().map(|&i| JsValue::from_str(&token_label(&tok, i))).collect();
        let arr: js_sys::Array = layers.iter().map(|l| JsValue::from(js_sys::Float32Array::from(l.as_slice()))).collect();
        js_sys::Reflect::set(&obj, &"tokens".into(), &tokens).ok();
        js_sys::Reflect::set(&obj, &"offset".into(), &JsValue::from(start as u32)).ok();
        js_sys::Reflect::set(&obj, &"t".into(), &JsValue::from(t as u32)).ok();
        js_sys::Reflect::set(&obj, &"n_layer".into(), &JsValue::from(nl as u32)).ok();
        js_sys::Reflect::set(&obj, &"n_head".into(), &JsValue::from(nh as u32)).ok();
        js_sys::Reflect::set(&obj, &"layers".into(), &arr).ok();
        Ok(obj.into())
    }

    /// The positional table the model adds: `{kind, t, c, data: Float32Array(T*C)}`.
    pub async fn pe_table(&mut self) -> Result<JsValue, JsError> {
        let (kind, t, c, data) = with_model!(self.model()?, m => (m.cfg.pos.to_string(), m.cfg.block_size, m.cfg.n_embd, m.pe_table().await));
        let obj = js_sys::Object::new();
        js_sys::Reflect::set(&obj, &"kind".into(), &JsValue::from_str(&kind)).ok();
        js_sys::Reflect::set(&obj, &"t".into(), &JsValue::from(t as u32)).ok();
        js_sys::Reflect::set(&obj, &"c".into(), &JsValue::from(c as u32)).ok();
        js_sys::Reflect::set(&obj, &"data".into(), &js_sys::Float32Array::from(data.as_slice()).into()).ok();
        Ok(obj.into())
    }

    /// Prepares training on `corpus`. With `continue_model` the current model keeps training
    /// (its vocabulary must cover the corpus); otherwise a fresh model of `model_cfg`
    /// ({n_layer, n_head, n_embd, block_size, pos, tokenizer: "char"|"bpe:N"}) is made with a
    /// tokenizer learned from the corpus (its characters, or a byte-level BPE of N tokens).
    /// `train_cfg` is a TrainConfig (fields optional). Nothing changes on error.
    pub async fn prepare_training(&mut self, corpus: String, model_cfg: JsValue, train_cfg: JsValue, continue_model: bool) -> Result<JsValue, JsError> {
        let corpus = corpus.as_str();
        let tc: TrainConfig = if train_cfg.is_undefined() { TrainConfig::default() } else { from_js(train_cfg, "training settings")? };
        tc.validate().map_err(js_err)?;
        if corpus.is_empty() {
            return Err(JsError::new("the training text is empty"));
        }
        if continue_model && self.model.is_some() {
            let tok = self.tok()?.clone();
            let ids = tok.encode(corpus).map_err(|e| JsError::new(&format!("the loaded model cannot read this text ({e}); start a new model instead")))?;
            let bs = with_model!(self.model()?, m => m.cfg.block_size);
            let data = Dataset::new(ids, bs).map_err(js_err)?;
            self.train = Some((data, tc));
        } else {
            let pc: PageModelConfig = from_js(model_cfg, "model settings")?;
            let kind: TokenizerKind = pc.tokenizer.as_deref().unwrap_or("char").parse().map_err(js_err)?;
            let tok = Tokenizer::train(kind, corpus).map_err(js_err)?;
            let cfg = ModelConfig { vocab_size: tok.vocab_size(), n_layer: pc.n_layer, n_head: pc.n_head, n_embd: pc.n_embd, block_size: pc.block_size, pos: pc.pos };
            cfg.validate().map_err(js_err)?;
            let ids = tok.encode(corpus).map_err(js_err)?;
            let data = Dataset::new(ids, cfg.block_size).map_err(js_err)?;
            let model = self.new_model(cfg, tc.seed).await.map_err(js_err)?;
            self.model = Some(model);
            self.tok = Some(tok);
            self.generator = None;
            self.train = Some((data, tc));
            self.source = "new";
        }
        self.info()
    }

    /// One optimizer step: `{step, loss, acc, lr, grad_norm}`. A NaN loss is an error and the
    /// weights stay those of the last good step.
    pub async fn train_step(&mut self) -> Result<JsValue, JsError> {
        self.train_step_with(false).await
    }

    /// One optimizer step, pipelined: submits it and returns the step before's
    /// `{step, loss, acc, lr, grad_norm}` (null for the first), so the GPU runs this step while
    /// the page shows the last. A failed step is reported one call late, weights untouched by
    /// it. Call `train_finish` before anything else uses the model.
    pub async fn train_step_lagged(&mut self) -> Result<JsValue, JsError> {
        self.train_step_with(true).await
    }

    /// Optimizer steps taken, including one submitted by `train_step_lagged` and not yet read.
    pub fn steps_done(&self) -> Result<u32, JsError> {
        let model = self.model.as_ref().ok_or_else(|| JsError::new("no model is loaded"))?;
        Ok(with_model!(model, m => m.step))
    }

    /// The statistics of the last `train_step_lagged` not yet returned (null if none).
    pub async fn train_finish(&mut self) -> Result<JsValue, JsError> {
        let model = self.model.as_mut().ok_or_else(|| JsError::new("no model is loaded"))?;
        let r = with_model!(model, m => m.finish_lagged().await).map_err(js_err)?;
        step_out(r)
    }

    async fn train_step_with(&mut self, lagged: bool) -> Result<JsValue, JsError> {
        let (data, tc) = self.train.as_ref().ok_or_else(|| JsError::new("prepare training first"))?;
        let poisoned;
        let tc = if std::mem::take(&mut self.nan_next) {
            poisoned = TrainConfig { lr: f32::NAN, min_lr: f32::NAN, ..tc.clone() };
            &poisoned
        } else {
            tc
        };
        let model = self.model.as_mut().ok_or_else(|| JsError::new("no model is loaded"))?;
        let r = with_model!(model, m => {
            if lagged {
                train::train_step_lagged(m, data, tc).await
            } else {
                train::train_step(m, data, tc).await.map(Some)
            }
        })
        .map_err(js_err)?;
        step_out(r)
    }

    /// Validation loss and accuracy estimate: `{val_loss, val_acc}`.
    pub async fn estimate_val(&mut self) -> Result<JsValue, JsError> {
        let (data, tc) = self.train.as_ref().ok_or_else(|| JsError::new("prepare training first"))?;
        let model = self.model.as_mut().ok_or_else(|| JsError::new("no model is loaded"))?;
        let (l, a) = with_model!(model, m => train::estimate_val(m, data, tc).await).map_err(js_err)?;
        #[derive(Serialize)]
        struct V {
            val_loss: f32,
            val_acc: f32,
        }
        to_js(&V { val_loss: l, val_acc: a })
    }

    /// The GPU fault (error or device lost) the current model's device met, if any: then the
    /// model must be reloaded from its last save, on a new device or on the CPU.
    pub fn fault(&self) -> Option<String> {
        match &self.model {
            Some(AnyModel::Gpu(m)) => m.backend.fault(),
            _ => None,
        }
    }

    /// Test hooks for the page's fault handling: "nan" gives the next training step a NaN
    /// learning rate; "device-lost" destroys the model's GPU device, as a driver reset would.
    pub fn test_fault(&mut self, kind: &str) -> Result<(), JsError> {
        match (kind, &self.model) {
            ("nan", _) => self.nan_next = true,
            ("device-lost", Some(AnyModel::Gpu(m))) => m.backend.lose_device(),
            ("device-lost", _) => return Err(JsError::new("the model is not on a GPU")),
            _ => return Err(JsError::new(&format!("unknown fault '{kind}': expected 'nan' or 'device-lost'"))),
        }
        Ok(())
    }

    /// Token ids of `text`, or an error naming a character the model does not know.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.tok()?.encode(text).map_err(js_err)
    }

    pub fn describe_backend(&mut self) -> String {
        match &self.model {
            Some(AnyModel::Cpu(m)) => m.backend.describe(),
            Some(AnyModel::Gpu(m)) => m.backend.describe(),
            None => self.backend_name.clone(),
        }
    }
}

/// One token as the page labels it: its text, or, for a byte-level token holding part of a
/// UTF-8 character, the character's bytes in hex (`\xc3`), as GPT-2 token viewers show them.
fn token_label(tok: &Tokenizer, id: u32) -> String {
    let bytes = tok.decode_bytes(&[id]).unwrap_or_default();
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let b = e.into_bytes();
            let good = std::str::from_utf8(&b).map_or_else(|e| e.valid_up_to(), |s| s.len());
            let mut out = String::from_utf8_lossy(&b[..good]).into_owned();
            out.extend(b[good..].iter().map(|x| format!("\\x{x:02x}")));
            out
        }
    }
}

/// The files a user picked in the page, by name, read with FileReaderSync (the engine lives
/// in a Web Worker, where synchronous reads are allowed).
struct BlobFolder(HashMap<String, web_sys::File>);

impl hf::Folder for BlobFolder {
    fn label(&self, file: &str) -> String {
        file.to_string()
    }
    fn size(&self, file: &str) -> crate::error::Result<Option<u64>> {
        Ok(self.0.get(file).map(|f| f.size() as u64))
    }
    fn read_range(&self, file: &str, start: u64, end: u64) -> crate::error::Result<Vec<u8>> {
        let io = |e: JsValue| Error::Io(format!("cannot read {file}: {}", e.as_string().or_else(|| js_sys::Error::from(e).message().as_string()).unwrap_or_default()));
        let f = self.0.get(file).ok_or_else(|| Error::Io(format!("{file}: missing")))?;
        let slice = f.slice_with_f64_and_f64(start as f64, end as f64).map_err(io)?;
        let buf = web_sys::FileReaderSync::new().map_err(io)?.read_as_array_buffer(&slice).map_err(io)?;
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        if bytes.len() as u64 != end - start {
            return Err(Error::Io(format!("{file}: read {} bytes at {start}, expected {} (did the file change?)", bytes.len(), end - start)));
        }
        Ok(bytes)
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}
