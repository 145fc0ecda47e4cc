//! The browser API: a #[wasm_bindgen] layer one to one over `Session`, no maths and no policy.
//! The page's Web Worker owns one `Engine`. Every method that fails throws a JS Error whose
//! `kind` is `Error::kind()` ("config", "data", "tokenizer", "unknown_char", "checkpoint",
//! "io", "numeric", "gpu", "state"), whose `message` has no kind prefix, and which carries the
//! structured fields of its kind ("numeric": `step`, `lr`; "unknown_char": `ch`, `pos`, `vocab`).
//! The engine is left as it was (a bad checkpoint keeps the previous model).

use crate::checkpoint;
use crate::config::{preset, PosEncoding, TrainConfig, PRESET_NAMES};
use crate::error::Error;
use crate::sample::SampleConfig;
use crate::session::{BackendChoice, Event, NewModel, Session};
use crate::tokenizer::TokenizerKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

mod js;
use js::{backend_report, check_rows, from_js, js_err, set, to_js, BlobFolder, JsExchange};

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

/// The page's training controls: any TrainConfig field, the rest its defaults; without
/// `min_lr` it is lr/10 and without `warmup` min(100, steps/10), as the CLI's --lr does, and
/// without `eval_batches` 4 (the page evaluates often, ten times a run, so each is cheaper; the
/// run's last evaluation takes the CLI's 20, `FINAL_EVAL_BATCHES`).
fn page_train_config(v: JsValue) -> Result<TrainConfig, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(TrainConfig::default());
    }
    let has = |k: &str| js_sys::Reflect::has(&v, &k.into()).unwrap_or(false);
    let (min_lr, warmup, eval_batches) = (has("min_lr"), has("warmup"), has("eval_batches"));
    let mut tc: TrainConfig = from_js(v, "training settings")?;
    if !min_lr {
        tc.min_lr = tc.lr / 10.0;
    }
    if !warmup {
        tc.warmup = (tc.steps / 10).min(100);
    }
    if !eval_batches {
        tc.eval_batches = 4;
    }
    Ok(tc)
}

#[wasm_bindgen]
pub struct Engine {
    s: Session,
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        console_error_panic_hook::set_once();
        Engine { s: Session::new() }
    }

    /// The engine's defaults, so the page copies none: `{train: TrainConfig, sample: {max_tokens,
    /// temperature, top_k, top_p, seed}, presets: [{name, model: {n_layer, n_head, n_embd,
    /// block_size, pos}, train: TrainConfig}], tokenizers: [str], tasks: [{name, label, skill,
    /// example: {prompt, answer}, metric, tokenizer, heldout, train_examples, probe, model:
    /// ModelConfig, train: TrainConfig}], budgets: [minutes], budget: minutes}` (`tasks::Task::describe`;
    /// the "Train for" choices and the default, `budget::BUDGETS_MINUTES`).
    pub fn defaults(&self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        struct Shape {
            n_layer: usize,
            n_head: usize,
            n_embd: usize,
            block_size: usize,
            pos: String,
        }
        #[derive(Serialize)]
        struct P {
            name: &'static str,
            model: Shape,
            train: TrainConfig,
        }
        #[derive(Serialize)]
        struct S {
            max_tokens: usize,
            temperature: f32,
            top_k: usize,
            top_p: f32,
            seed: u64,
        }
        #[derive(Serialize)]
        struct D {
            train: TrainConfig,
            sample: S,
            presets: Vec<P>,
            tokenizers: Vec<String>,
            tasks: Vec<crate::tasks::TaskInfo>,
            budgets: Vec<f64>,
            budget: f64,
        }
        let sc = SampleConfig::default();
        let presets = PRESET_NAMES
            .iter()
            .map(|n| {
                let p = preset(n).expect("listed presets exist");
                let m = p.model;
                P { name: p.name, model: Shape { n_layer: m.n_layer, n_head: m.n_head, n_embd: m.n_embd, block_size: m.block_size, pos: m.pos.to_string() }, train: p.train }
            })
            .collect();
        let tokenizers = ["char", "bpe:512", "bpe:1024", "bpe:2048"].iter().map(|t| t.to_string()).collect();
        to_js(&D {
            train: TrainConfig::default(),
            sample: S { max_tokens: sc.max_tokens, temperature: sc.temperature, top_k: sc.top_k, top_p: sc.top_p, seed: sc.seed },
            presets,
            tokenizers,
            tasks: crate::tasks::TASKS.iter().map(|t| t.describe()).collect(),
            budgets: crate::budget::BUDGETS_MINUTES.to_vec(),
            budget: crate::budget::DEFAULT_BUDGET_MINUTES,
        })
    }

    /// Picks the compute backend for new models: WebGPU when `prefer_gpu` and an adapter is
    /// available, else the CPU (WebAssembly). Returns `{backend: "webgpu"|"cpu", adapter: str,
    /// reason: str|null}` where `reason` says why the CPU was chosen.
    pub async fn init(&mut self, prefer_gpu: bool) -> Result<JsValue, JsValue> {
        let choice = if prefer_gpu { BackendChoice::AnyGpu } else { BackendChoice::Cpu };
        backend_report(self.s.use_backend(choice).await.map_err(js_err)?)
    }

    /// Moves the current model (weights, AdamW moments, step; the training data stays) to a
    /// GPU device (`to_gpu`, any adapter) or to the CPU, and new models go there too: the
    /// page does this between jobs when calibration found the other backend faster. Returns
    /// what `init` returns. On error the model stays where it was.
    pub async fn move_to(&mut self, to_gpu: bool) -> Result<JsValue, JsValue> {
        let choice = if to_gpu { BackendChoice::Gpu } else { BackendChoice::Cpu };
        backend_report(self.s.move_to(choice).await.map_err(js_err)?)
    }

    /// Runs every op on a GPU device and on the CPU backend with the same random inputs, at a
    /// small odd shape and at the training shape (the current model's, or `shape` as
    /// `calibrate` takes it when there is none, with `batch` sequences): `[{op, shape: "B,T,C,NH", rel_err}]` (largest
    /// relative difference per op and shape). Empty when new models run on the CPU.
    pub async fn self_check(&mut self, shape: JsValue, batch: u32) -> Result<JsValue, JsValue> {
        if !self.s.uses_gpu() {
            return check_rows(Vec::new());
        }
        let shape: Option<crate::config::ModelConfig> = if shape.is_undefined() || shape.is_null() { None } else { Some(from_js(shape, "self-check shape")?) };
        // as `calibrate`: the loaded model's shape first
        let m = self.s.config().ok().or(shape).unwrap_or_default();
        let train = crate::selfcheck::Shape::training(batch.max(1) as usize, m.block_size, m.n_embd, m.n_head, m.vocab_size);
        let mut g = crate::gpu::GpuBackend::new().await.map_err(js_err)?;
        check_rows(crate::selfcheck::compare(&mut crate::cpu::CpuBackend::new(), &mut g, &[crate::selfcheck::Shape::SMALL, train]).await)
    }

    /// The CPU backend's fast matmul (here the WebAssembly SIMD kernel) against its plain loops
    /// on awkward sizes (`selfcheck::cpu_kernels`): `[{op, rel_err}]`. Milliseconds.
    pub fn cpu_check(&self) -> Result<JsValue, JsValue> {
        check_rows(crate::selfcheck::cpu_kernels().into_iter().map(|(op, e)| (op, String::new(), e)).collect())
    }

    /// Times a training step and a decoded token on the CPU and on a GPU device for the
    /// current model's shape (or `shape`: {n_layer, n_head, n_embd, block_size, pos,
    /// vocab_size} when there is none) with `batch` sequences: `{workload, cpu: {train_step_ms,
    /// decode_token_ms}, gpu: {...}|null, gpu_error, train: "gpu"|"cpu", generate: "gpu"|"cpu",
    /// why}`. Run it in an engine of its own (a second worker): it takes seconds on a software GPU.
    pub async fn calibrate(&mut self, shape: JsValue, batch: u32) -> Result<JsValue, JsValue> {
        let shape: Option<crate::config::ModelConfig> = if shape.is_undefined() || shape.is_null() { None } else { Some(from_js(shape, "calibration shape")?) };
        to_js(&self.s.calibrate(shape, batch as usize).await.map_err(js_err)?)
    }

    /// The choice `calibrate` makes, from given timings (`{train_step_ms, decode_token_ms}` each;
    /// `gpu` may be null): `{train, generate, why}`. The page's tests feed it made-up figures.
    pub fn choose_backends(&self, cpu: JsValue, gpu: JsValue) -> Result<JsValue, JsValue> {
        #[derive(Deserialize)]
        struct T {
            train_step_ms: f64,
            decode_token_ms: f64,
        }
        let t = |v: T| crate::session::Timing { train_step_ms: v.train_step_ms, decode_token_ms: v.decode_token_ms };
        let cpu = t(from_js(cpu, "cpu timing")?);
        let gpu = if gpu.is_null() || gpu.is_undefined() { None } else { Some(t(from_js(gpu, "gpu timing")?)) };
        let (train, generate, why) = crate::session::choose_backends(cpu, gpu);
        #[derive(Serialize)]
        struct C {
            train: &'static str,
            generate: &'static str,
            why: String,
        }
        to_js(&C { train, generate, why })
    }

    /// Which backend the current model computes on (or new models will), e.g. "CPU (WebAssembly)".
    pub fn describe_backend(&self) -> String {
        self.s.describe_backend()
    }

    /// Replaces the model with a checkpoint's (keeping its recipe); on error the current model stays.
    pub async fn load_checkpoint(&mut self, bytes: Vec<u8>, name: String) -> Result<JsValue, JsValue> {
        let ck = checkpoint::from_bytes(&bytes, &name).map_err(js_err)?;
        self.s.load(ck).await.map_err(js_err)?;
        self.info()
    }

    /// Replaces the model with a Hugging Face GPT-2 folder's, from the files the user picked
    /// (File objects; config.json, model.safetensors, and tokenizer.json or vocab.json +
    /// merges.txt; others are ignored). Files are read slice by slice, so the weights are never
    /// held twice. Returns `info()` plus `notes`, `backend` and `fallback` (why a model the
    /// GPU cannot hold runs on the CPU). On any error the current model stays.
    pub async fn load_hf(&mut self, files: js_sys::Array) -> Result<JsValue, JsValue> {
        let mut map = HashMap::new();
        for f in files.iter() {
            let f: web_sys::File = f.dyn_into().map_err(|_| js_err(Error::Config("load_hf expects File objects".into())))?;
            map.insert(f.name(), f);
        }
        let (notes, fallback) = self.s.load_hf(&BlobFolder(map)).await.map_err(js_err)?;
        let info = self.info()?;
        set(&info, "notes", &to_js(&notes)?);
        set(&info, "backend", &JsValue::from_str(&self.s.describe_backend()));
        set(&info, "fallback", &fallback.map_or(JsValue::NULL, |f| JsValue::from_str(&f)));
        Ok(info)
    }

    /// The current model (weights, AdamW moments, step, recipe) as .safetensors bytes, the CLI's format.
    pub async fn checkpoint_bytes(&mut self) -> Result<Vec<u8>, JsValue> {
        self.s.checkpoint_bytes(crate::checkpoint::Store::Full).await.map_err(js_err)
    }

    /// `{n_layer, n_head, n_embd, block_size, vocab_size, pos, params, step, vocab: [str],
    /// tokenizer: "char"|"bpe", source: "new"|"checkpoint"|"hf", train: TrainConfig|null}`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.s.info().map_err(js_err)?)
    }

    /// Starts a generation; then call `next_token` until it returns null.
    pub fn start_generation(&mut self, prompt: &str, opts: JsValue) -> Result<(), JsValue> {
        let o: GenOptions = if opts.is_undefined() || opts.is_null() { GenOptions::default() } else { from_js(opts, "generation options")? };
        let cfg = SampleConfig {
            max_tokens: o.max_tokens,
            temperature: o.temperature,
            top_k: o.top_k,
            top_p: o.top_p,
            seed: o.seed,
            with_attention: o.with_attention,
            ..SampleConfig::default()
        };
        self.s.start_generation(prompt, &cfg).map_err(js_err)
    }

    /// The next generated token `{id, text, prob, top: [{text, prob}], window_start}`, or null
    /// when the generation is complete (or none was started). `text` is whole characters: ""
    /// while a token holds only part of one (byte-level BPE), the rest coming with later tokens.
    pub async fn next_token(&mut self) -> Result<JsValue, JsValue> {
        match self.s.next_token().await.map_err(js_err)? {
            Some(t) => to_js(&t),
            None => Ok(JsValue::NULL),
        }
    }

    /// Attention of the model over `text` (its last block_size tokens):
    /// `{tokens: [str], offset, t, n_layer, n_head, layers: [Float32Array(NH*T*T)]}`.
    pub async fn attention(&mut self, text: &str) -> Result<JsValue, JsValue> {
        let a = self.s.attention(text).await.map_err(js_err)?;
        let obj: JsValue = js_sys::Object::new().into();
        let tokens: js_sys::Array = a.tokens.iter().map(|t| JsValue::from_str(t)).collect();
        let layers: js_sys::Array = a.layers.iter().map(|l| JsValue::from(js_sys::Float32Array::from(l.as_slice()))).collect();
        set(&obj, "tokens", &tokens);
        set(&obj, "offset", &JsValue::from(a.offset as u32));
        set(&obj, "t", &JsValue::from(a.tokens.len() as u32));
        set(&obj, "n_layer", &JsValue::from(a.n_layer as u32));
        set(&obj, "n_head", &JsValue::from(a.n_head as u32));
        set(&obj, "layers", &layers);
        Ok(obj)
    }

    /// The positional table the model adds: `{kind, t, c, data: Float32Array(T*C)}`.
    pub async fn pe_table(&mut self) -> Result<JsValue, JsValue> {
        let p = self.s.pe_table().await.map_err(js_err)?;
        let obj: JsValue = js_sys::Object::new().into();
        set(&obj, "kind", &JsValue::from_str(&p.kind));
        set(&obj, "t", &JsValue::from(p.t as u32));
        set(&obj, "c", &JsValue::from(p.c as u32));
        set(&obj, "data", &js_sys::Float32Array::from(p.data.as_slice()).into());
        Ok(obj)
    }

    /// Prepares training on `corpus`. With `continue_model` the current model keeps training
    /// (its vocabulary must cover the corpus); otherwise a fresh model of `model_cfg`
    /// ({n_layer, n_head, n_embd, block_size, pos, tokenizer: "char"|"bpe:N"}) is made with a
    /// tokenizer learned from the corpus. `train_cfg` holds TrainConfig fields (any missing
    /// take their defaults; min_lr = lr/10 and warmup = min(100, steps/10) unless given).
    /// Returns `info()`. Nothing changes on error.
    pub async fn prepare_training(&mut self, corpus: String, model_cfg: JsValue, train_cfg: JsValue, continue_model: bool) -> Result<JsValue, JsValue> {
        let tc = page_train_config(train_cfg)?;
        if continue_model && self.s.info().is_ok() {
            self.s.prepare_training(&corpus, tc).map_err(js_err)?;
        } else {
            let pc: PageModelConfig = from_js(model_cfg, "model settings")?;
            let tokenizer: TokenizerKind = pc.tokenizer.as_deref().unwrap_or("char").parse().map_err(js_err)?;
            let shape = NewModel { n_layer: pc.n_layer, n_head: pc.n_head, n_embd: pc.n_embd, block_size: pc.block_size, pos: pc.pos, tokenizer };
            self.s.new_model(&corpus, &shape, tc).await.map_err(js_err)?;
        }
        self.info()
    }

    /// Prepares training on the toy task `name` (`defaults().tasks`). With `continue_model` the
    /// current model keeps training (its vocabulary must be the task's: an autosave of a run on
    /// it); otherwise a fresh model of `model_cfg` ({n_layer, n_head, n_embd, block_size, pos};
    /// the vocabulary is the task's). `train_cfg` as `prepare_training`'s. Returns `info()`.
    /// Nothing changes on error (an unknown task, a context too short for its examples: kind
    /// "config").
    pub async fn prepare_task(&mut self, name: String, model_cfg: JsValue, train_cfg: JsValue, continue_model: bool) -> Result<JsValue, JsValue> {
        let task = crate::tasks::task(&name).map_err(js_err)?;
        let tc = page_train_config(train_cfg)?;
        if continue_model && self.s.info().is_ok() {
            self.s.prepare_task(task, tc).map_err(js_err)?;
        } else {
            let pc: PageModelConfig = from_js(model_cfg, "model settings")?;
            let shape = crate::config::ModelConfig { vocab_size: 1, n_layer: pc.n_layer, n_head: pc.n_head, n_embd: pc.n_embd, block_size: pc.block_size, pos: pc.pos };
            self.s.new_task_model(task, &shape, tc).await.map_err(js_err)?;
        }
        self.info()
    }

    /// The greedy answers to the prepared task's first `n` held-out prompts: `[{prompt, answer,
    /// got, right}]`.
    pub async fn task_samples(&mut self, n: u32) -> Result<JsValue, JsValue> {
        to_js(&self.s.task_samples(n as usize).await.map_err(js_err)?)
    }

    /// Runs up to `n` optimizer steps: `{events: [...], step, total, done}`, the events in order:
    /// `{type: "step", step, loss, acc, lr, grad_norm, ms, tokens_per_s}`, `{type: "eval", step,
    /// val_loss, val_acc, train_exact, val_exact}` (the last two a task's exact match, else
    /// null), `{type: "sample", step}` (a sample is due) and `{type: "save", step}`
    /// (an autosave is due); the chunk ends right after a sample or save. With a time budget
    /// (`set_budget`), once enough of it is timed, `{type: "plan", step, steps, ms_per_step,
    /// budget_ms}` comes right after the step event of `step`, once per run: the run now ends
    /// at `steps` (the chunks' `total` from then on). The cadence is the engine's
    /// (`Policy::page`, or `Policy::task` on a task, for the run's current length); nothing is
    /// in flight when this returns. A failed step throws (kind "numeric" or "gpu") with the
    /// weights of the last good step.
    pub async fn train_chunk(&mut self, n: u32) -> Result<JsValue, JsValue> {
        let mut events: Vec<Event> = Vec::new();
        let end = self.s.train_chunk(n as usize, |e| events.push(e.clone())).await.map_err(js_err)?;
        #[derive(Serialize)]
        struct Chunk {
            events: Vec<Event>,
            step: usize,
            total: usize,
            done: bool,
        }
        to_js(&Chunk { events, step: end.step, total: end.total, done: end.done })
    }

    /// A time budget for the prepared run, in minutes (0 or negative: none): the run ends
    /// within it, counted from the start of the next `train_chunk` (the page's own time between
    /// chunks included); its step count is fixed from its first steps' times and announced by
    /// a "plan" event (see `train_chunk`). Preparing clears it, so call this after preparing.
    /// A non-finite number throws (kind "config"). See `Session::set_budget`.
    pub fn set_budget(&mut self, minutes: f64) -> Result<(), JsValue> {
        if !minutes.is_finite() {
            return Err(js_err(Error::Config(format!("a time budget must be a number of minutes (0: none), got {minutes}"))));
        }
        self.s.set_budget((minutes > 0.0).then_some(minutes * 60_000.0));
        Ok(())
    }

    /// Trains as worker `k` of `of` (data parallel), or alone again with `exchange` null.
    /// `exchange(step, loss_sum, hit_sum, positions, grads: Float32Array, lr)` sends this
    /// worker's part of a step to the others and resolves to theirs, `{loss_sum, hit_sum,
    /// positions, grads: Float32Array, lr}` (with two workers: the other's); the engine sums
    /// the parts in worker order and every worker applies worker 0's `lr` (its schedule may be
    /// replanned for a time budget). Worker 0 calls `train_chunk`, the others `peer_step`. See
    /// `Session::set_data_parallel`.
    pub fn set_data_parallel(&mut self, k: u32, of: u32, exchange: JsValue) -> Result<(), JsValue> {
        if exchange.is_null() || exchange.is_undefined() {
            return self.s.set_data_parallel(None).map_err(js_err);
        }
        let f: js_sys::Function = exchange.dyn_into().map_err(|_| js_err(Error::Config("set_data_parallel: exchange must be a function".into())))?;
        let link = Box::new(JsExchange { f, k: k as usize });
        self.s.set_data_parallel(Some(crate::session::DataParallel::new(k as usize, of as usize, link))).map_err(js_err)
    }

    /// Turns the per-op profile on (clearing it) or off (`Session::set_profiling`): the CPU
    /// backend's op times and, in data-parallel training, each step's parts.
    pub fn set_profiling(&mut self, on: bool) -> Result<(), JsValue> {
        self.s.set_profiling(on).map_err(js_err)
    }

    /// The profile since `set_profiling(true)`, slowest first: `[{op, calls, ms}]`.
    pub fn profile(&self) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        struct Op {
            op: String,
            calls: u32,
            ms: f64,
        }
        to_js(&self.s.profile().map_err(js_err)?.into_iter().map(|(op, calls, s)| Op { op, calls, ms: s * 1e3 }).collect::<Vec<_>>())
    }

    /// One data-parallel step as a worker other than 0: `{step, loss, acc, lr, grad_norm, ms,
    /// tokens_per_s}`.
    pub async fn peer_step(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.s.peer_step().await.map_err(js_err)?)
    }

    /// The logit lens of `text` (its last block_size tokens): `{tokens: [str], ids: [int], cut:
    /// bool, layers: [[[{id, token, prob}] x k per position] per stream 0..=L]}`; stream L is
    /// the model's next-token distribution.
    pub async fn lens(&mut self, text: &str, k: u32) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        struct Top {
            id: u32,
            token: String,
            prob: f32,
        }
        #[derive(Serialize)]
        struct Lens {
            tokens: Vec<String>,
            ids: Vec<u32>,
            cut: bool,
            layers: Vec<Vec<Vec<Top>>>,
        }
        let (ids, streams, cut) = self.s.lens(text, k.max(1) as usize).await.map_err(js_err)?;
        let layers = streams.into_iter().map(|st| st.into_iter().map(|p| p.into_iter().map(|(id, token, prob)| Top { id, token, prob }).collect()).collect()).collect();
        to_js(&Lens { tokens: self.s.labels(&ids), ids, cut, layers })
    }

    /// Per-token surprisal of `text` in nats: `{tokens: [str], surprisal: [null, float, ...], mean}`.
    pub async fn surprisal(&mut self, text: &str) -> Result<JsValue, JsValue> {
        #[derive(Serialize)]
        struct S {
            tokens: Vec<String>,
            surprisal: Vec<Option<f32>>,
            mean: f32,
        }
        let (tokens, surprisal, mean) = self.s.surprisal(text).await.map_err(js_err)?;
        to_js(&S { tokens, surprisal, mean })
    }

    /// Every head's scores on `text`: `{previous_token, first_token, induction}`, each [L][NH].
    pub async fn head_scores(&mut self, text: &str) -> Result<JsValue, JsValue> {
        to_js(&self.s.head_scores(text).await.map_err(js_err)?)
    }

    /// Zero-ablates `heads`, an array of [layer, head] pairs, in everything computed from now on
    /// (replacing the earlier set; [] clears it). Out of range: kind "config", the set kept.
    pub fn set_ablation(&mut self, heads: JsValue) -> Result<(), JsValue> {
        let heads: Vec<(usize, usize)> = from_js(heads, "heads")?;
        self.s.set_ablation(&heads).map_err(js_err)
    }

    /// The ablated heads, [[layer, head], ...] sorted.
    pub fn ablation(&self) -> Result<JsValue, JsValue> {
        to_js(&self.s.ablation())
    }

    /// The GPU fault (error or device lost) the current model's device met, if any: then the
    /// model must be reloaded from its last save, on a new device or on the CPU.
    pub fn fault(&self) -> Option<String> {
        self.s.fault()
    }

    /// Test hooks for the page's fault handling: "nan" gives the next training step a NaN
    /// learning rate; "device-lost" destroys the model's GPU device, as a driver reset would.
    pub fn test_fault(&mut self, kind: &str) -> Result<(), JsValue> {
        self.s.test_fault(kind).map_err(js_err)
    }

    /// Token ids of `text`, or an error naming a character the model does not know.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.s.encode(text).map_err(js_err)
    }

    /// Times one training step of `shape` ({n_layer, n_head, n_embd, block_size, pos,
    /// vocab_size}) with `batch` sequences on the CPU (WebAssembly), in ms: the basis of the
    /// budget plan when the CPU trains. Takes a few steps' time; the model is not touched.
    pub async fn time_cpu_step(&mut self, shape: JsValue, batch: u32) -> Result<f64, JsValue> {
        let shape: crate::config::ModelConfig = from_js(shape, "timed shape")?;
        self.s.time_cpu_step(&shape, batch as usize).await.map_err(js_err)
    }

    /// Every size preset's time on this device and the plan for a time budget
    /// (`budget::plan`): `measured` is `[{model: {n_layer, n_head, n_embd, block_size, pos,
    /// vocab_size}, batch, ms}]` (steps timed here, fitted by `budget::Cost`), `vocab_size` the corpus's, `minutes` the
    /// budget (0: each recipe whole), `current` `{model, batch}` a shape to estimate too (the
    /// form's; null for none). Returns `{presets: [{name, ms_per_step, recipe_steps, recipe_ms,
    /// budget_steps}], pick, model, train, why, current: [ms_per_step, budget_steps]|null}`.
    pub fn plan_budget(&self, measured: JsValue, vocab_size: u32, minutes: f64, current: JsValue) -> Result<JsValue, JsValue> {
        #[derive(Deserialize)]
        struct Current {
            model: crate::config::ModelConfig,
            batch: usize,
        }
        let m: Vec<crate::budget::Measured> = from_js(measured, "measured steps")?;
        let c: Option<Current> = if current.is_null() || current.is_undefined() { None } else { Some(from_js(current, "shape to estimate")?) };
        let minutes = if minutes == 0.0 { None } else { Some(minutes) };
        to_js(&crate::budget::plan(&m, vocab_size as usize, minutes, c.as_ref().map(|c| (&c.model, c.batch))).map_err(js_err)?)
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}
