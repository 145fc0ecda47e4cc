//! One Session that both the CLI and the page drive: the model on either backend, the backend
//! choice, new / load / load_hf / save, and the training loop's policy (pipelined steps, the
//! step in flight settled before each evaluation, the cadence of evaluations, samples and saves)
//! written once. `src/web/` is a one-to-one #[wasm_bindgen] layer over it; `src/bin/tinygpt/`
//! prints its events.

use crate::backend::Backend;
use crate::checkpoint::{self, Checkpoint, Store};
use crate::config::{ModelConfig, PosEncoding, TrainConfig};
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use crate::hf;
use crate::model::Gpt;
use crate::sample::{Generator, SampleConfig};
use crate::tokenizer::{Tokenizer, TokenizerKind, Utf8Stream};
use crate::train::{self, TrainData, Trainer};
use serde::Serialize;


/// The model on whichever backend the session chose.
pub enum AnyModel {
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

// after the macro, so the submodules can use it
mod calibrate;
mod lab;
mod placement;
mod tasks;
mod training;

pub use calibrate::{choose_backends, Calibration, Timing};
pub use placement::{BackendChoice, BackendReport};
pub use tasks::TaskSample;
pub use training::{plan_steps, Cadence, ChunkEnd, DataParallel, Event, Exchange, Policy, StepReport, PLAN_MIN_MS, PLAN_MIN_SHARE, PLAN_MIN_STEPS, PLAN_SHARE};

/// Where the current model came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    New,
    Checkpoint,
    Hf,
}

/// A model's shape and provenance, for display.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub block_size: usize,
    pub vocab_size: usize,
    pub pos: String,
    pub params: usize,
    pub step: u32,
    /// The tokens as text, id order (characters for a char model).
    pub vocab: Vec<String>,
    /// "char", "bpe" or "symbols" (a task's).
    pub tokenizer: &'static str,
    pub source: Source,
    /// The recipe the model was trained with (kept across load and save), if known.
    pub train: Option<TrainConfig>,
}

/// One generated token for display.
#[derive(Clone, Debug, Serialize)]
pub struct TokenOut {
    pub id: u32,
    /// Whole characters: "" while a byte-level token holds only part of one.
    pub text: String,
    pub prob: f32,
    pub top: Vec<Alt>,
    pub window_start: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alt {
    pub text: String,
    pub prob: f32,
}

/// The attention of every head over a text: per layer [NH, T, T].
pub struct AttentionMap {
    pub tokens: Vec<String>,
    /// Tokens dropped from the front (the text was longer than the context).
    pub offset: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub layers: Vec<Vec<f32>>,
}

/// The positional table the model adds: [T, C].
pub struct PeTable {
    pub kind: String,
    pub t: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

/// A new model's shape, the vocabulary being learned from the corpus.
#[derive(Clone, Debug)]
pub struct NewModel {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub block_size: usize,
    pub pos: PosEncoding,
    pub tokenizer: TokenizerKind,
}

pub struct Session {
    model: Option<AnyModel>,
    tok: Option<Tokenizer>,
    /// The current model's recipe: kept on load, written on save, replaced by training.
    recipe: Option<TrainConfig>,
    trainer: Option<Trainer>,
    /// The cadence of evaluations, samples and saves (derived from the recipe, or fixed).
    cadence: Cadence,
    /// The time budget of the run prepared (`set_budget`), if any.
    budget: Option<training::Budget>,
    source: Source,
    /// New models go on a GPU device (each model gets its own, so a failed replacement never
    /// disturbs the current one).
    gpu: bool,
    /// The device the backend choice probed, used by the next model.
    spare: Option<GpuBackend>,
    backend_name: String,
    generator: Option<Generator>,
    /// Holds back a character split across tokens while streaming (byte-level BPE).
    stream: Utf8Stream,
    /// Duration of the call that recorded the step now in flight.
    in_flight_ms: f64,
    /// Test hook: the next training step gets a NaN learning rate.
    nan_next: bool,
    /// Data-parallel training: this worker's place and link (None: this session alone).
    dp: Option<DataParallel>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

fn no_model() -> Error {
    Error::State("no model is loaded".into())
}

impl Session {
    /// No model yet; new models go on the CPU until `use_backend` says otherwise.
    pub fn new() -> Session {
        Session {
            model: None,
            tok: None,
            recipe: None,
            trainer: None,
            cadence: Cadence::Page,
            budget: None,
            source: Source::New,
            gpu: false,
            spare: None,
            backend_name: cpu_name().into(),
            generator: None,
            stream: Utf8Stream::new(),
            in_flight_ms: 0.0,
            nan_next: false,
            dp: None,
        }
    }

    /// Installs a model; nothing of the previous one survives but the backend choice.
    fn install(&mut self, model: AnyModel, tok: Tokenizer, recipe: Option<TrainConfig>, trainer: Option<Trainer>, source: Source) {
        self.model = Some(model);
        self.tok = Some(tok);
        self.recipe = recipe;
        self.trainer = trainer;
        self.source = source;
        self.generator = None;
        self.budget = None;
    }

    /// A fresh model of `shape` with a tokenizer learned from `corpus`, prepared to train on
    /// it with `tc`. Nothing changes on error.
    pub async fn new_model(&mut self, corpus: &str, shape: &NewModel, tc: TrainConfig) -> Result<()> {
        self.new_model_more(corpus, "", shape, tc).await
    }

    /// `new_model`, with `more` text that only trains (`train --more-train`): the vocabulary
    /// is learned from both, the validation split is still `corpus`'s last 10%.
    pub async fn new_model_more(&mut self, corpus: &str, more: &str, shape: &NewModel, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        if corpus.is_empty() {
            return Err(Error::Data("the training text is empty".into()));
        }
        let tok = Tokenizer::train(shape.tokenizer, &[more, corpus].concat())?;
        let cfg = ModelConfig {
            vocab_size: tok.vocab_size(),
            n_layer: shape.n_layer,
            n_head: shape.n_head,
            n_embd: shape.n_embd,
            block_size: shape.block_size,
            pos: shape.pos,
        };
        cfg.validate()?;
        let data = Dataset::with_more_train(tok.encode(more)?, tok.encode(corpus)?, cfg.block_size)?;
        let model = self.new_gpt(cfg, tc.seed).await?;
        let trainer = Trainer::new(data, tc.clone())?;
        self.prepared(Cadence::Page);
        self.install(model, tok, Some(tc), Some(trainer), Source::New);
        Ok(())
    }

    /// A freshly initialised model of `cfg` on the backend new models go to.
    async fn new_gpt(&mut self, cfg: ModelConfig, seed: u64) -> Result<AnyModel> {
        Ok(if self.gpu { AnyModel::Gpu(Gpt::new(cfg, self.gpu_device().await?, seed)?) } else { AnyModel::Cpu(Gpt::new(cfg, CpuBackend::new(), seed)?) })
    }

    /// Replaces the model with a checkpoint's, keeping its recipe; on error the current model
    /// stays.
    pub async fn load(&mut self, ck: Checkpoint) -> Result<()> {
        let (model, tok, tc) = if self.gpu {
            let (m, t, tc) = ck.into_model(self.gpu_device().await?)?;
            (AnyModel::Gpu(m), t, tc)
        } else {
            let (m, t, tc) = ck.into_model(CpuBackend::new())?;
            (AnyModel::Cpu(m), t, tc)
        };
        self.install(model, tok, tc, None, Source::Checkpoint);
        Ok(())
    }

    /// Replaces the model with a Hugging Face GPT-2 folder's, read tensor by tensor straight
    /// into it. Returns the folder's notes and, when the GPU could not hold the model, why it
    /// runs on the CPU instead. On error the current model stays.
    pub async fn load_hf(&mut self, folder: &dyn hf::Folder) -> Result<(Vec<String>, Option<String>)> {
        // The model is allocated before its weights are read: a GPU that cannot hold it fails
        // at once, and the files are read again straight into a CPU model instead.
        let gpu = if self.gpu { Some(self.gpu_device().await) } else { None };
        let (model, tok, notes, fallback) = match gpu.map(|g| g.and_then(|g| hf::load_into(folder, g))) {
            Some(Ok((m, t, n))) => (AnyModel::Gpu(m), t, n, None),
            Some(Err(Error::Gpu(why))) => {
                let (m, t, n) = hf::load_into(folder, CpuBackend::new())?;
                (AnyModel::Cpu(m), t, n, Some(format!("{why}. The model runs on the CPU instead, slower.")))
            }
            Some(Err(e)) => return Err(e),
            None => {
                let (m, t, n) = hf::load_into(folder, CpuBackend::new())?;
                (AnyModel::Cpu(m), t, n, None)
            }
        };
        self.install(model, tok, None, None, Source::Hf);
        Ok((notes, fallback))
    }

    /// A tinygpt checkpoint file or a Hugging Face GPT-2 folder; returns the folder's notes.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn load_path(&mut self, path: &std::path::Path) -> Result<Vec<String>> {
        if path.is_dir() {
            let (notes, fallback) = self.load_hf(&hf::DiskFolder(path)).await?;
            Ok(notes.into_iter().chain(fallback).collect())
        } else {
            self.load(checkpoint::load(path)?).await?;
            Ok(Vec::new())
        }
    }

    /// The current model (weights, AdamW moments with `Store::Full`, step, recipe) as
    /// .safetensors bytes. A faulted GPU device is refused: what it reads back is not the model.
    pub async fn checkpoint_bytes(&mut self, store: Store) -> Result<Vec<u8>> {
        let tok = self.tok.clone().ok_or_else(no_model)?;
        let recipe = self.recipe.clone();
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => {
            let b = checkpoint::to_bytes_with(m, &tok, recipe.as_ref(), store).await;
            match m.backend.fault() {
                Some(f) => Err(Error::Gpu(format!("{f}; the model cannot be read from it"))),
                None => b,
            }
        })
    }

    /// Writes `checkpoint_bytes` to `path` atomically.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn save(&mut self, path: &std::path::Path, store: Store) -> Result<()> {
        let bytes = self.checkpoint_bytes(store).await?;
        checkpoint::write_atomic(path, &bytes)
    }

    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tok.as_ref().ok_or_else(no_model)
    }

    pub fn config(&self) -> Result<ModelConfig> {
        Ok(with_model!(self.model.as_ref().ok_or_else(no_model)?, m => m.cfg.clone()))
    }

    pub fn recipe(&self) -> Option<&TrainConfig> {
        self.recipe.as_ref()
    }

    /// The cadence of evaluations, samples and saves for the current recipe.
    pub fn policy(&self) -> Policy {
        self.cadence.policy(self.recipe.as_ref().unwrap_or(&TrainConfig::default()))
    }

    /// A fixed cadence (until the next prepare), whatever the run's length.
    pub fn set_policy(&mut self, p: Policy) {
        self.cadence = Cadence::Fixed(p);
    }

    /// A cadence derived from the recipe (until the next prepare): a budget's plan re-derives
    /// it for the new step count. Preparing sets `Page` (a text) or `Task`.
    pub fn set_cadence(&mut self, c: Cadence) {
        self.cadence = c;
    }

    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// A time budget for the prepared run (`None`: none): it should end within `ms` of wall
    /// time from the start of the first `train_chunk` after this call (the driver's own time
    /// between chunks counts). Until the run is planned, the recipe's `steps` stays its
    /// length; once at least `PLAN_MIN_STEPS` steps and the larger of `PLAN_MIN_SHARE` of the
    /// budget and `PLAN_MIN_MS` have passed, the run is planned once (`plan_steps`, from the
    /// time a step took so far): the recipe's and the trainer's `steps` become the plan's (so
    /// the cosine schedule ends there), a derived cadence follows, and an `Event::Plan` comes
    /// right after that step's `Step` event. A run that reaches its steps before it is planned
    /// ends there. Every prepare (`new_model*`, `prepare_training*`, `new_task_model`,
    /// `prepare_task`) clears the budget: call this after preparing. A budget that is not a
    /// positive finite number is none.
    pub fn set_budget(&mut self, ms: Option<f64>) {
        self.budget = ms.filter(|m| m.is_finite() && *m > 0.0).map(|ms| training::Budget { ms, start: None, planned: false });
    }

    /// The time budget (ms) and, once planned, true.
    pub fn budget(&self) -> Option<(f64, bool)> {
        self.budget.map(|b| (b.ms, b.planned))
    }

    /// What every prepare does to the training state around the recipe: `cadence`, no budget.
    fn prepared(&mut self, cadence: Cadence) {
        self.cadence = cadence;
        self.budget = None;
    }

    /// What training is prepared on: a text's split (train, val tokens) or a task.
    pub fn data(&self) -> Option<&TrainData> {
        self.trainer.as_ref().map(|t| &t.data)
    }

    pub fn step(&self) -> u32 {
        self.model.as_ref().map_or(0, |m| with_model!(m, x => x.step))
    }

    pub fn num_params(&self) -> usize {
        self.model.as_ref().map_or(0, |m| with_model!(m, x => x.num_params()))
    }

    /// Whether new models go on a GPU device.
    pub fn uses_gpu(&self) -> bool {
        self.gpu
    }

    /// The backend the current model runs on (or, without one, where new models go).
    pub fn describe_backend(&self) -> String {
        match &self.model {
            Some(m) => with_model!(m, x => x.backend.describe()),
            None => self.backend_name.clone(),
        }
    }

    pub fn info(&self) -> Result<ModelInfo> {
        let tok = self.tokenizer()?;
        let model = self.model.as_ref().ok_or_else(no_model)?;
        Ok(with_model!(model, m => ModelInfo {
            n_layer: m.cfg.n_layer,
            n_head: m.cfg.n_head,
            n_embd: m.cfg.n_embd,
            block_size: m.cfg.block_size,
            vocab_size: m.cfg.vocab_size,
            pos: m.cfg.pos.to_string(),
            params: m.num_params(),
            step: m.step,
            vocab: (0..tok.vocab_size() as u32).map(|i| token_label(tok, i)).collect(),
            tokenizer: match tok { Tokenizer::Char(_) => "char", Tokenizer::Bpe(_) => "bpe", Tokenizer::Symbols(_) => "symbols" },
            source: self.source,
            train: self.recipe.clone(),
        }))
    }

    /// Prepares the current model to train on `corpus` with `tc` (its vocabulary must cover
    /// the corpus). Nothing changes on error.
    pub fn prepare_training(&mut self, corpus: &str, tc: TrainConfig) -> Result<()> {
        self.prepare_training_more(corpus, "", tc)
    }

    /// `prepare_training`, with `more` text that only trains (see `new_model_more`).
    pub fn prepare_training_more(&mut self, corpus: &str, more: &str, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        if corpus.is_empty() {
            return Err(Error::Data("the training text is empty".into()));
        }
        let tok = self.tokenizer()?;
        let data = Dataset::with_more_train(tok.encode(more)?, tok.encode(corpus)?, self.config()?.block_size)?;
        self.trainer = Some(Trainer::new(data, tc.clone())?);
        self.prepared(Cadence::Page);
        self.recipe = Some(tc);
        Ok(())
    }

    /// Runs up to `n` optimizer steps, calling `on_event` for each event as it happens, and
    /// returns where it stopped: after `n` steps, at the run's end, or right after a `Sample`
    /// or `Save` event (the driver acts on it, then calls again). Steps are pipelined (each
    /// call records and submits a step and reads the one before's statistics, so a GPU never
    /// idles while the host looks at a loss); the step in flight is settled before every
    /// evaluation and before returning, so nothing is in flight between chunks. With a time
    /// budget (`set_budget`) the run is planned once, at a step whose `Step` event is then
    /// followed by `Event::Plan`; from there `ChunkEnd::total` is the plan's. A failed step is
    /// an error (kind "numeric" or "gpu") and the weights are the last good step's.
    pub async fn train_chunk(&mut self, n: usize, mut on_event: impl FnMut(&Event)) -> Result<ChunkEnd> {
        let trainer = self.trainer.as_ref().ok_or_else(|| Error::State("prepare training first".into()))?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let poisoned = std::mem::take(&mut self.nan_next).then(|| TrainConfig { lr: f32::NAN, min_lr: f32::NAN, ..trainer.tc.clone() });
        let trainer = self.trainer.as_mut().expect("checked above");
        // a budget's clock starts with its first chunk
        let step = with_model!(&*model, m => m.step as usize);
        if let Some(b) = self.budget.as_mut().filter(|b| b.start.is_none()) {
            b.start = Some((training::now_ms(), step));
        }
        let in_flight = &mut self.in_flight_ms;
        let dp = self.dp.as_mut();
        let r = with_model!(model, m => training::chunk(m, trainer, poisoned, dp, self.cadence, self.budget.as_mut(), n, in_flight, &mut on_event).await);
        // a plan changed the run's length: the recipe (what is saved) says so too
        if let (Some(r), Some(t)) = (self.recipe.as_mut(), self.trainer.as_ref()) {
            r.steps = t.tc.steps;
        }
        r
    }

    /// Loss, accuracy and number of predictions over `tokens` in consecutive non-overlapping
    /// windows of the context (`train::evaluate`), `batch` windows per pass (default: the
    /// recipe's batch; one window for a model without a recipe, whose vocabulary and context
    /// may be GPT-2's).
    pub async fn evaluate(&mut self, tokens: &[u32], batch: Option<usize>) -> Result<(f32, f32, usize)> {
        let batch = batch.unwrap_or_else(|| self.recipe.as_ref().map_or(1, |t| t.batch_size));
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => train::evaluate(m, tokens, batch).await)
    }

    /// Starts a generation after `prompt`; then call `next_token` until it returns None.
    pub fn start_generation(&mut self, prompt: &str, cfg: &SampleConfig) -> Result<()> {
        let ids = self.tokenizer()?.encode(prompt)?;
        let bs = self.config()?.block_size;
        self.generator = Some(Generator::new(&ids, cfg, bs)?);
        self.stream = Utf8Stream::new();
        Ok(())
    }

    /// The next generated token, or None when the generation is complete (or none started).
    pub async fn next_token(&mut self) -> Result<Option<TokenOut>> {
        let Some(mut g) = self.generator.take() else { return Ok(None) };
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let Some(ev) = with_model!(model, m => g.next(m).await)? else { return Ok(None) };
        self.generator = Some(g);
        let tok = self.tok.as_ref().ok_or_else(no_model)?;
        let text = self.stream.push(&tok.decode_bytes(&[ev.id])?);
        Ok(Some(TokenOut {
            id: ev.id,
            text,
            prob: ev.prob,
            top: ev.top.iter().map(|&(i, p)| Alt { text: token_label(tok, i), prob: p }).collect(),
            window_start: ev.window_start,
        }))
    }

    /// What a finished generation still holds back (the rest of a character cut short).
    pub fn finish_generation(&mut self) -> String {
        self.generator = None;
        std::mem::replace(&mut self.stream, Utf8Stream::new()).finish()
    }

    /// The attention of every head over `text` (its last block_size tokens).
    pub async fn attention(&mut self, text: &str) -> Result<AttentionMap> {
        let tok = self.tokenizer()?.clone();
        let mut ids = tok.encode(text)?;
        if ids.is_empty() {
            return Err(Error::Data("type some text to see its attention".into()));
        }
        let cfg = self.config()?;
        let offset = ids.len().saturating_sub(cfg.block_size);
        ids.drain(..offset);
        let t = ids.len();
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let layers = with_model!(model, m => {
            m.decode_with(&ids, 0, true).await?;
            m.read_decode_attention(t, t).await
        });
        Ok(AttentionMap { tokens: ids.iter().map(|&i| token_label(&tok, i)).collect(), offset, n_layer: cfg.n_layer, n_head: cfg.n_head, layers })
    }

    pub async fn pe_table(&mut self) -> Result<PeTable> {
        let model = self.model.as_mut().ok_or_else(no_model)?;
        Ok(with_model!(model, m => PeTable { kind: m.cfg.pos.to_string(), t: m.cfg.block_size, c: m.cfg.n_embd, data: m.pe_table().await }))
    }

    /// `encode`, refusing an empty text.
    fn encode_some(&self, text: &str) -> Result<Vec<u32>> {
        if text.is_empty() {
            return Err(Error::Data("the text is empty".into()));
        }
        self.encode(text)
    }

    /// Tokens as the page labels them.
    pub fn labels(&self, ids: &[u32]) -> Vec<String> {
        self.tok.as_ref().map_or_else(Vec::new, |t| ids.iter().map(|&i| token_label(t, i)).collect())
    }

    /// Token ids of `text`, or an error naming a character the model does not know.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer()?.encode(text)
    }

    /// The GPU fault (error or device lost) the current model's device met, if any: then the
    /// model must be reloaded from its last save, on a new device or on the CPU.
    pub fn fault(&self) -> Option<String> {
        match &self.model {
            Some(AnyModel::Gpu(m)) => m.backend.fault(),
            _ => None,
        }
    }

    /// Test hooks for fault handling: "nan" gives the next training step a NaN learning rate;
    /// "device-lost" destroys the model's GPU device, as a driver reset would.
    pub fn test_fault(&mut self, kind: &str) -> Result<()> {
        match (kind, &self.model) {
            ("nan", _) => self.nan_next = true,
            ("device-lost", Some(AnyModel::Gpu(m))) => m.backend.lose_device(),
            ("device-lost", _) => return Err(Error::State("the model is not on a GPU".into())),
            _ => return Err(Error::Config(format!("unknown fault '{kind}': expected 'nan' or 'device-lost'"))),
        }
        Ok(())
    }
}

fn cpu_name() -> &'static str {
    if cfg!(target_arch = "wasm32") {
        "CPU (WebAssembly)"
    } else {
        "CPU"
    }
}

/// One token as the page labels it: its text, or, for a byte-level token holding part of a
/// UTF-8 character, the character's bytes in hex (`\xc3`), as GPT-2 token viewers show them.
pub fn token_label(tok: &Tokenizer, id: u32) -> String {
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
