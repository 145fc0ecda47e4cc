//! One Session that both the CLI and the page drive: the model on either backend, the backend
//! choice, new / load / load_hf / save, and the training loop's policy (pipelined steps, the
//! step in flight settled before each evaluation, the cadence of evaluations, samples and saves)
//! written once. `src/web.rs` is a one-to-one #[wasm_bindgen] layer over it; `src/bin/tinygpt.rs`
//! prints its events.

use crate::backend::Backend;
use crate::checkpoint::{self, Checkpoint};
use crate::config::{ModelConfig, PosEncoding, TrainConfig};
use crate::cpu::CpuBackend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use crate::hf;
use crate::model::{Gpt, StepStats};
use crate::sample::{Generator, SampleConfig};
use crate::tokenizer::{Tokenizer, TokenizerKind, Utf8Stream};
use crate::train::{self, Trainer};
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

/// Where new models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU backend (a software adapter such as
    /// lavapipe is slower than the CPU backend, so it is skipped). The CLI's default.
    Auto,
    /// Any GPU adapter, software ones included, else the CPU backend, saying why (the page).
    AnyGpu,
    /// The GPU, or an error when there is none.
    Gpu,
    Cpu,
}

/// What `use_backend` chose and why.
#[derive(Clone, Debug, Serialize)]
pub struct BackendReport {
    /// "webgpu" (any wgpu adapter) or "cpu".
    pub backend: &'static str,
    /// The adapter, or "CPU (WebAssembly)" / "CPU".
    pub adapter: String,
    /// Why the CPU was chosen, when it was.
    pub reason: Option<String>,
}

/// One backend's time for a training step and for one KV-cached decoded token of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Timing {
    pub train_step_ms: f64,
    pub decode_token_ms: f64,
}

/// Both backends timed on the same workload, and which one each job should use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// The workload: "L layers x H heads, C wide, context T, batch B".
    pub workload: String,
    pub cpu: Timing,
    /// None when there is no GPU adapter (`gpu_error` says why) or it was cut short.
    pub gpu: Option<Timing>,
    pub gpu_error: Option<String>,
    /// "gpu" or "cpu", for training and for generation.
    pub train: &'static str,
    pub generate: &'static str,
    /// One line saying why.
    pub why: String,
}

/// The faster backend for each job, by the measured times (ties go to the CPU, which needs no
/// device). Pure, so the choice itself is testable with made-up timings.
pub fn choose_backends(cpu: Timing, gpu: Option<Timing>) -> (&'static str, &'static str, String) {
    let Some(g) = gpu else { return ("cpu", "cpu", "no GPU timing: the CPU".into()) };
    let pick = |c: f64, g: f64| if g < c { "gpu" } else { "cpu" };
    let (train, generate) = (pick(cpu.train_step_ms, g.train_step_ms), pick(cpu.decode_token_ms, g.decode_token_ms));
    let why = format!(
        "training step: CPU {:.1} ms, GPU {:.1} ms -> {train}; a generated token: CPU {:.2} ms, GPU {:.2} ms -> {generate}",
        cpu.train_step_ms, g.train_step_ms, cpu.decode_token_ms, g.decode_token_ms
    );
    (train, generate, why)
}

/// Times `cfg` on `backend`: one warm-up step (pipeline compiles, buffers), then `steps` timed
/// training steps on a fixed batch and `tokens` decoded one by one after an 8-token prompt.
/// `give_up_ms`: stop after the first timed step when it is slower than this (no need to time
/// a backend that has already lost).
async fn time_backend<B: Backend>(cfg: &ModelConfig, backend: B, b: usize, steps: usize, tokens: usize, give_up_ms: f64) -> Result<Option<Timing>> {
    let mut m = Gpt::new(cfg.clone(), backend, 1)?;
    let t = cfg.block_size;
    let mut rng = crate::rng::Rng::new(7);
    let x: Vec<u32> = (0..b * t).map(|_| rng.below(cfg.vocab_size) as u32).collect();
    let y: Vec<u32> = x.iter().map(|&i| (i + 1) % cfg.vocab_size as u32).collect();
    let tc = TrainConfig { batch_size: b, ..TrainConfig::default() };
    m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
    let mut train = 0.0;
    for k in 0..steps {
        let t0 = now_ms();
        m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
        train += now_ms() - t0;
        if k == 0 && train > give_up_ms {
            return Ok(None);
        }
    }
    let prompt = &x[..8.min(t)];
    m.decode(prompt, 0).await?;
    let n = tokens.min(t - prompt.len());
    let t0 = now_ms();
    for k in 0..n {
        m.decode(&x[prompt.len() + k..][..1], prompt.len() + k).await?;
    }
    let decode = (now_ms() - t0) / n.max(1) as f64;
    Ok(Some(Timing { train_step_ms: train / steps as f64, decode_token_ms: decode }))
}

/// Where the current model came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    New,
    Checkpoint,
    Hf,
}

/// When training pauses for the driver or evaluates, in optimizer steps (0 = never; every
/// kind also happens at the last step of the run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub eval_every: usize,
    pub sample_every: usize,
    pub save_every: usize,
}

impl Policy {
    /// The page's: about ten evaluations (every 10..=250 steps) and eight samples (every
    /// 50..=500) per run, an autosave every 50 steps.
    pub fn page(steps: usize) -> Policy {
        Policy { eval_every: (steps / 10).clamp(10, 250), sample_every: (steps / 8).clamp(50, 500), save_every: 50 }
    }

    /// The CLI's: evaluations at the recipe's interval, a checkpoint at each; one sample, at
    /// the end.
    pub fn cli(tc: &TrainConfig) -> Policy {
        Policy { eval_every: tc.eval_interval, sample_every: 0, save_every: tc.eval_interval }
    }

    fn due(every: usize, step: usize, total: usize) -> bool {
        step == total || (every > 0 && step % every == 0)
    }
}

/// One optimizer step's figures. `ms` is the time of the call that ran the step (on the CPU
/// backend the work happens there; on a GPU that call waits for the step before, the same
/// time in steady state); a step settled on its own takes the longer of that call and the
/// settling (on a GPU the settling is where it ran).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub loss: f32,
    pub acc: f32,
    pub lr: f32,
    pub grad_norm: f32,
    pub ms: f64,
    pub tokens_per_s: f64,
}

/// What a training chunk reports, in order. `Sample` and `Save` say that one is due: the
/// chunk ends right after them, so the driver can sample or save with the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Step(StepReport),
    Eval { step: usize, val_loss: f32, val_acc: f32 },
    Sample { step: usize },
    Save { step: usize },
}

/// Where a chunk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkEnd {
    pub step: usize,
    pub total: usize,
    pub done: bool,
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
    /// "char" or "bpe".
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
    policy: Policy,
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
            policy: Policy::page(TrainConfig::default().steps),
            source: Source::New,
            gpu: false,
            spare: None,
            backend_name: cpu_name().into(),
            generator: None,
            stream: Utf8Stream::new(),
            in_flight_ms: 0.0,
            nan_next: false,
        }
    }

    /// Chooses where new models run (the current model, if any, stays where it is).
    pub async fn use_backend(&mut self, choice: BackendChoice) -> Result<BackendReport> {
        let cpu = |s: &mut Session, reason: Option<String>| {
            s.gpu = false;
            s.spare = None;
            s.backend_name = cpu_name().into();
            BackendReport { backend: "cpu", adapter: s.backend_name.clone(), reason }
        };
        if choice == BackendChoice::Cpu {
            return Ok(cpu(self, Some("the CPU was requested".into())));
        }
        match GpuBackend::new().await {
            Ok(g) if choice == BackendChoice::Auto && g.adapter_info().device_type == wgpu::DeviceType::Cpu => Ok(cpu(
                self,
                Some(format!("the only GPU adapter is a software one ({}), slower than the CPU backend; --backend gpu forces it", g.describe())),
            )),
            Ok(g) => {
                self.gpu = true;
                self.backend_name = g.describe();
                self.spare = Some(g);
                Ok(BackendReport { backend: "webgpu", adapter: self.backend_name.clone(), reason: None })
            }
            Err(e) if choice == BackendChoice::Gpu => Err(e),
            Err(e) => Ok(cpu(self, Some(e.message()))),
        }
    }

    /// Compiles every GPU pipeline of the device new models will use (see
    /// `GpuBackend::warm_up`). Returns how many. Not called by the page: on SwiftShader the
    /// browser compiles pipelines one after another in its GPU process, so warming all of them
    /// at start delayed the first token by tens of seconds (measured in the e2e tests).
    pub fn warm_up(&mut self) -> usize {
        self.spare.as_mut().map_or(0, |g| g.warm_up())
    }

    async fn gpu_device(&mut self) -> Result<GpuBackend> {
        match self.spare.take() {
            Some(g) => Ok(g),
            None => GpuBackend::new().await,
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
    }

    /// A fresh model of `shape` with a tokenizer learned from `corpus`, prepared to train on
    /// it with `tc`. Nothing changes on error.
    pub async fn new_model(&mut self, corpus: &str, shape: &NewModel, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        if corpus.is_empty() {
            return Err(Error::Data("the training text is empty".into()));
        }
        let tok = Tokenizer::train(shape.tokenizer, corpus)?;
        let cfg = ModelConfig {
            vocab_size: tok.vocab_size(),
            n_layer: shape.n_layer,
            n_head: shape.n_head,
            n_embd: shape.n_embd,
            block_size: shape.block_size,
            pos: shape.pos,
        };
        cfg.validate()?;
        let data = Dataset::new(tok.encode(corpus)?, cfg.block_size)?;
        let model = if self.gpu { AnyModel::Gpu(Gpt::new(cfg, self.gpu_device().await?, tc.seed)?) } else { AnyModel::Cpu(Gpt::new(cfg, CpuBackend::new(), tc.seed)?) };
        let trainer = Trainer::new(data, tc.clone())?;
        self.policy = Policy::page(tc.steps);
        self.install(model, tok, Some(tc), Some(trainer), Source::New);
        Ok(())
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

    /// The current model (weights, AdamW moments unless `weights_only`, step, recipe) as
    /// .safetensors bytes. A faulted GPU device is refused: what it reads back is not the model.
    pub async fn checkpoint_bytes(&mut self, weights_only: bool) -> Result<Vec<u8>> {
        let tok = self.tok.clone().ok_or_else(no_model)?;
        let recipe = self.recipe.clone();
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => {
            let b = checkpoint::to_bytes_with(m, &tok, recipe.as_ref(), !weights_only).await;
            match m.backend.fault() {
                Some(f) => Err(Error::Gpu(format!("{f}; the model cannot be read from it"))),
                None => b,
            }
        })
    }

    /// Writes `checkpoint_bytes` to `path` atomically.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn save(&mut self, path: &std::path::Path, weights_only: bool) -> Result<()> {
        let bytes = self.checkpoint_bytes(weights_only).await?;
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

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn set_policy(&mut self, p: Policy) {
        self.policy = p;
    }

    /// The prepared training split (train, val tokens).
    pub fn data(&self) -> Option<&Dataset> {
        self.trainer.as_ref().map(|t| &t.data)
    }

    pub fn step(&self) -> u32 {
        self.model.as_ref().map_or(0, |m| with_model!(m, x => x.step))
    }

    pub fn num_params(&self) -> usize {
        self.model.as_ref().map_or(0, |m| with_model!(m, x => x.num_params()))
    }

    /// Times a training step and a decoded token on the CPU backend and on a GPU device, for
    /// the current model's shape (without one, `shape`), and says which backend each job
    /// should use. A GPU whose first timed step is already over 3x the CPU's is not timed
    /// further. The current model is not touched.
    pub async fn calibrate(&mut self, shape: Option<ModelConfig>, batch: usize) -> Result<Calibration> {
        let cfg = match (self.config(), shape) {
            (Ok(c), _) => c,
            (Err(_), Some(c)) => c,
            (Err(e), None) => return Err(e),
        };
        cfg.validate()?;
        let b = batch.max(1);
        let workload = format!("{} layers x {} heads, {} wide, context {}, batch {b}", cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size);
        let cpu = time_backend(&cfg, CpuBackend::new(), b, 2, 16, f64::INFINITY).await?.expect("no limit on the CPU");
        let (gpu, gpu_error) = match GpuBackend::new().await {
            Err(e) => (None, Some(e.message())),
            Ok(g) => match time_backend(&cfg, g, b, 2, 16, 3.0 * cpu.train_step_ms).await {
                Ok(Some(t)) => (Some(t), None),
                Ok(None) => (None, Some(format!("its first training step took over 3x the CPU's {:.0} ms; not timed further", cpu.train_step_ms))),
                Err(e) => (None, Some(e.message())),
            },
        };
        let (train, generate, mut why) = choose_backends(cpu, gpu);
        if let Some(e) = &gpu_error {
            why = format!("GPU: {e}; the CPU for both");
        }
        Ok(Calibration { workload, cpu, gpu, gpu_error, train, generate, why })
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
            tokenizer: match tok { Tokenizer::Char(_) => "char", Tokenizer::Bpe(_) => "bpe" },
            source: self.source,
            train: self.recipe.clone(),
        }))
    }

    /// Prepares the current model to train on `corpus` with `tc` (its vocabulary must cover
    /// the corpus). Nothing changes on error.
    pub fn prepare_training(&mut self, corpus: &str, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        if corpus.is_empty() {
            return Err(Error::Data("the training text is empty".into()));
        }
        let tok = self.tokenizer()?;
        let ids = tok.encode(corpus)?;
        let data = Dataset::new(ids, self.config()?.block_size)?;
        self.trainer = Some(Trainer::new(data, tc.clone())?);
        self.policy = Policy::page(tc.steps);
        self.recipe = Some(tc);
        Ok(())
    }

    /// Runs up to `n` optimizer steps, calling `on_event` for each event as it happens, and
    /// returns where it stopped: after `n` steps, at the run's end, or right after a `Sample`
    /// or `Save` event (the driver acts on it, then calls again). Steps are pipelined (each
    /// call records and submits a step and reads the one before's statistics, so a GPU never
    /// idles while the host looks at a loss); the step in flight is settled before every
    /// evaluation and before returning, so nothing is in flight between chunks. A failed
    /// step is an error (kind "numeric" or "gpu") and the weights are the last good step's.
    pub async fn train_chunk(&mut self, n: usize, mut on_event: impl FnMut(&Event)) -> Result<ChunkEnd> {
        let trainer = self.trainer.as_ref().ok_or_else(|| Error::State("prepare training first".into()))?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let poisoned = std::mem::take(&mut self.nan_next).then(|| TrainConfig { lr: f32::NAN, min_lr: f32::NAN, ..trainer.tc.clone() });
        let pol = self.policy;
        let in_flight = &mut self.in_flight_ms;
        with_model!(model, m => chunk(m, trainer, poisoned, pol, n, in_flight, &mut on_event).await)
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

    /// The tokens of `text` as labels, its per-token surprisal (None for the first) and the mean
    /// (`lab::surprisal`). An empty text is an error.
    pub async fn surprisal(&mut self, text: &str) -> Result<(Vec<String>, Vec<Option<f32>>, f32)> {
        let ids = self.encode_some(text)?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let (s, mean) = with_model!(model, m => crate::lab::surprisal(m, &ids).await)?;
        Ok((self.labels(&ids), s, mean))
    }

    /// Every head's previous-token, first-token and induction scores on `text` (`lab::head_scores`).
    pub async fn head_scores(&mut self, text: &str) -> Result<crate::lab::HeadScores> {
        let ids = self.encode_some(text)?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => crate::lab::head_scores(m, &ids).await)
    }

    /// The logit lens of `text`: the tokens it reads (its last block_size), their ids, and for
    /// each residual stream 0..=L and position the `k` most likely next tokens (id, label, prob).
    /// The bool says whether the text was cut to the context.
    #[allow(clippy::type_complexity)]
    pub async fn lens(&mut self, text: &str, k: usize) -> Result<(Vec<u32>, Vec<Vec<Vec<(u32, String, f32)>>>, bool)> {
        let ids = self.encode_some(text)?;
        let bs = self.config()?.block_size;
        let cut = ids.len() > bs;
        let ids = ids[ids.len().saturating_sub(bs)..].to_vec();
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let streams = with_model!(model, m => crate::lab::lens(m, &ids, k).await)?;
        let tok = self.tok.as_ref().ok_or_else(no_model)?;
        let named = streams.into_iter().map(|s| s.into_iter().map(|p| p.into_iter().map(|(i, pr)| (i, token_label(tok, i), pr)).collect()).collect()).collect();
        Ok((ids, named, cut))
    }

    /// Ablates `heads` (layer, head) in every computation from now on (generation, eval, lens,
    /// surprisal, attention, scores), replacing the earlier set; `&[]` clears it. Out of range:
    /// an error, the set in force kept. A generation in progress ends (its KV cache was
    /// computed without the new set).
    pub fn set_ablation(&mut self, heads: &[(usize, usize)]) -> Result<()> {
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => m.set_ablation(heads))?;
        self.generator = None;
        Ok(())
    }

    /// The ablated heads, (layer, head) sorted.
    pub fn ablation(&self) -> Vec<(usize, usize)> {
        self.model.as_ref().map_or_else(Vec::new, |m| with_model!(m, x => x.ablation()))
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

/// Milliseconds on a monotonic clock (performance.now() in a browser).
#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
}

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    let now = perf.as_ref().and_then(|p| js_sys::Reflect::get(p, &"now".into()).ok()).and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (perf, now) {
        (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or_else(js_sys::Date::now),
        _ => js_sys::Date::now(),
    }
}

/// The training loop, once, for every backend: see `Session::train_chunk`.
async fn chunk<B: Backend>(
    m: &mut Gpt<B>,
    tr: &Trainer,
    poisoned: Option<TrainConfig>,
    pol: Policy,
    n: usize,
    in_flight_ms: &mut f64,
    on_event: &mut impl FnMut(&Event),
) -> Result<ChunkEnd> {
    let total = tr.tc.steps;
    let tokens = (tr.tc.batch_size * m.cfg.block_size) as f64;
    // nothing is in flight between chunks; a stale lagged step (someone else's) is dropped
    m.finish_lagged().await.ok();
    let mut poisoned = poisoned;
    let mut taken = 0;
    loop {
        let step = m.step as usize;
        if step >= total || taken >= n {
            return Ok(ChunkEnd { step, total, done: step >= total });
        }
        let next = step + 1;
        // the step settles at once when the chunk ends with it or an evaluation follows it
        let settle = taken + 1 >= n || next >= total || [pol.eval_every, pol.sample_every, pol.save_every].iter().any(|&e| Policy::due(e, next, total));
        let t0 = now_ms();
        let r = match poisoned.take() {
            Some(tc) => train::train_step_lagged(m, &tr.data, &tc).await,
            None => tr.step_lagged(m).await,
        };
        let d = now_ms() - t0;
        let mut settled: Vec<(StepStats, f64)> = r?.map(|s| (s, *in_flight_ms)).into_iter().collect();
        *in_flight_ms = d;
        taken += 1;
        if settle {
            let t1 = now_ms();
            let s = m.finish_lagged().await?;
            settled.extend(s.map(|s| (s, in_flight_ms.max(now_ms() - t1))));
        }
        for (s, ms) in settled {
            let step = s.step as usize;
            on_event(&Event::Step(StepReport { step, loss: s.loss, acc: s.acc, lr: s.lr, grad_norm: s.grad_norm, ms, tokens_per_s: tokens / (ms / 1e3) }));
            if Policy::due(pol.eval_every, step, total) {
                let (val_loss, val_acc) = tr.estimate_val(m).await?;
                on_event(&Event::Eval { step, val_loss, val_acc });
            }
            let sample = Policy::due(pol.sample_every, step, total);
            let save = Policy::due(pol.save_every, step, total);
            if sample {
                on_event(&Event::Sample { step });
            }
            if save {
                on_event(&Event::Save { step });
            }
            if sample || save {
                return Ok(ChunkEnd { step, total, done: step >= total });
            }
        }
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
