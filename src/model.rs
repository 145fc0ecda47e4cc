//! The GPT-2-style decoder, written once over the Backend trait.
//!
//! tokens -> wte + PE -> n_layer × [x + attn(ln_1 x); x + mlp(ln_2 x)] -> ln_f -> logits = x·wteᵀ
//! Parameters live in one flat layout, each tensor at an offset aligned to 64 elements (256
//! bytes, WebGPU's storage offset alignment), named as Hugging Face GPT-2 names them. The
//! layout is cut into buffers no larger than the backend's binding limit (one buffer for the
//! models people train here; several for GPT-2 on a GPU with WebGPU's 128 MiB default, whose
//! 154 MB wte is then cut by rows).
//! Gradients and the two AdamW moments share that layout; they are allocated at the first
//! training step, so a model only used for generation (GPT-2 in the page) costs a quarter.

use crate::backend::{AdamWStep, Backend, Pending, Tensor};
use crate::config::{ModelConfig, PosEncoding, TrainConfig};
use crate::cpu::encoder::sinusoidal_table;
use crate::error::{Error, Result};
use crate::rng::Rng;

const ALIGN: usize = 64;

/// One named parameter tensor.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    /// Hugging Face GPT-2 name, e.g. `transformer.h.0.attn.c_attn.weight`.
    pub name: String,
    /// Shape as stored here ([OC, C] for linear weights).
    pub shape: Vec<usize>,
    /// True for Conv1D weights, which Hugging Face stores transposed ([C, OC]).
    pub hf_transposed: bool,
    /// Weight decay applies (2-D tensors only).
    pub decay: bool,
    pub off: usize,
    pub len: usize,
}

impl ParamSpec {
    /// Shape in a Hugging Face checkpoint.
    pub fn hf_shape(&self) -> Vec<usize> {
        if self.hf_transposed {
            vec![self.shape[1], self.shape[0]]
        } else {
            self.shape.clone()
        }
    }
}

/// Builds the parameter table for a config, in GPT-2 order.
pub fn param_specs(cfg: &ModelConfig) -> Vec<ParamSpec> {
    let (v, c, t) = (cfg.vocab_size, cfg.n_embd, cfg.block_size);
    let mut specs = Vec::new();
    let mut off = 0;
    let mut add = |name: String, shape: Vec<usize>, hf_transposed: bool| {
        let len: usize = shape.iter().product();
        let decay = shape.len() == 2;
        specs.push(ParamSpec { name, shape, hf_transposed, decay, off, len });
        off += len.div_ceil(ALIGN) * ALIGN;
    };
    add("transformer.wte.weight".into(), vec![v, c], false);
    if cfg.pos == PosEncoding::Learned {
        add("transformer.wpe.weight".into(), vec![t, c], false);
    }
    for l in 0..cfg.n_layer {
        let p = format!("transformer.h.{l}.");
        add(format!("{p}ln_1.weight"), vec![c], false);
        add(format!("{p}ln_1.bias"), vec![c], false);
        add(format!("{p}attn.c_attn.weight"), vec![3 * c, c], true);
        add(format!("{p}attn.c_attn.bias"), vec![3 * c], false);
        add(format!("{p}attn.c_proj.weight"), vec![c, c], true);
        add(format!("{p}attn.c_proj.bias"), vec![c], false);
        add(format!("{p}ln_2.weight"), vec![c], false);
        add(format!("{p}ln_2.bias"), vec![c], false);
        add(format!("{p}mlp.c_fc.weight"), vec![4 * c, c], true);
        add(format!("{p}mlp.c_fc.bias"), vec![4 * c], false);
        add(format!("{p}mlp.c_proj.weight"), vec![c, 4 * c], true);
        add(format!("{p}mlp.c_proj.bias"), vec![c], false);
    }
    add("transformer.ln_f.weight".into(), vec![c], false);
    add("transformer.ln_f.bias".into(), vec![c], false);
    specs
}

/// Which of the four parameter-shaped buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Param,
    Grad,
    AdamM,
    AdamV,
}

/// Views of one block's parameters (or gradients) inside a flat buffer.
#[derive(Clone, Copy, Debug)]
struct Block {
    ln1w: Tensor,
    ln1b: Tensor,
    qkvw: Tensor,
    qkvb: Tensor,
    attprojw: Tensor,
    attprojb: Tensor,
    ln2w: Tensor,
    ln2b: Tensor,
    fcw: Tensor,
    fcb: Tensor,
    fcprojw: Tensor,
    fcprojb: Tensor,
}

/// Views of every parameter (or gradient) in a flat buffer.
#[derive(Clone, Debug)]
struct Views {
    /// wte by rows: (first token id, [rows, C]); one part unless the binding limit cut it.
    wte: Vec<(usize, Tensor)>,
    wpe: Option<Tensor>,
    blocks: Vec<Block>,
    lnfw: Tensor,
    lnfb: Tensor,
}

/// The flat layout's cut into buffers: (flat start, length) spans, each at most `max`
/// elements, holding whole tensors, except that wte, when it alone is over `max`, is cut by
/// rows of C. Any other tensor over the limit is an error naming it.
fn cut(specs: &[ParamSpec], total: usize, max: usize, c: usize) -> Result<Vec<(usize, usize)>> {
    let mut spans = Vec::new();
    let (mut start, mut end) = (0, 0);
    for (i, s) in specs.iter().enumerate() {
        let next = specs.get(i + 1).map_or(total, |n| n.off);
        if next - s.off <= max {
            if next - start > max {
                spans.push((start, end - start));
                start = s.off;
            }
            end = next;
            continue;
        }
        let rows = max / c;
        if s.name != "transformer.wte.weight" || rows == 0 {
            return Err(Error::Gpu(format!(
                "tensor '{}' has {} elements ({} MiB), more than the {} MiB one buffer of this device holds",
                s.name,
                s.len,
                (s.len * 4) >> 20,
                (max * 4) >> 20
            )));
        }
        if end > start {
            spans.push((start, end - start));
        }
        let v = s.len / c;
        for r0 in (0..v).step_by(rows) {
            let len = if r0 + rows >= v { next - (s.off + r0 * c) } else { rows * c };
            spans.push((s.off + r0 * c, len));
        }
        (start, end) = (next, next);
    }
    if end > start {
        spans.push((start, end - start));
    }
    Ok(spans)
}

/// The views of flat range [off, off+len) in the buffers of a cut: one per span it touches.
fn parts(bufs: &[Tensor], spans: &[(usize, usize)], off: usize, len: usize) -> Vec<(usize, Tensor)> {
    spans
        .iter()
        .zip(bufs)
        .filter(|((s, l), _)| *s < off + len && off < s + l)
        .map(|(&(s, l), b)| {
            let (a, e) = (off.max(s), (off + len).min(s + l));
            (a - off, b.view(a - s, e - a))
        })
        .collect()
}

/// A tensor that lies in one buffer of the cut.
fn one(bufs: &[Tensor], spans: &[(usize, usize)], off: usize, len: usize) -> Tensor {
    let p = parts(bufs, spans, off, len);
    assert!(p.len() == 1, "tensor at {off} (+{len}) spans {} buffers", p.len());
    p[0].1
}

fn views(bufs: &[Tensor], spans: &[(usize, usize)], specs: &[ParamSpec], c: usize, learned: bool) -> Views {
    let wte = parts(bufs, spans, specs[0].off, specs[0].len).into_iter().map(|(at, t)| (at / c, t)).collect();
    let mut it = specs[1..].iter().map(|s| one(bufs, spans, s.off, s.len));
    let mut next = || it.next().expect("spec table matches the layout");
    let wpe = if learned { Some(next()) } else { None };
    let n_layer = (specs.len() - 3 - learned as usize) / 12;
    let blocks = (0..n_layer)
        .map(|_| Block {
            ln1w: next(),
            ln1b: next(),
            qkvw: next(),
            qkvb: next(),
            attprojw: next(),
            attprojb: next(),
            ln2w: next(),
            ln2b: next(),
            fcw: next(),
            fcb: next(),
            fcprojw: next(),
            fcprojb: next(),
        })
        .collect();
    Views { wte, wpe, blocks, lnfw: next(), lnfb: next() }
}

/// Per-layer activations kept for the backward pass. Shapes in comments: N = B*T.
struct LayerActs {
    ln1: Tensor,      // [N,C]
    ln1_mean: Tensor, // [N]
    ln1_rstd: Tensor, // [N]
    qkv: Tensor,      // [N,3C]
    atty: Tensor,     // [N,C]
    att: Tensor,      // [B,NH,T,T]
    attproj: Tensor,  // [N,C]
    res2: Tensor,     // [N,C]
    ln2: Tensor,      // [N,C]
    ln2_mean: Tensor, // [N]
    ln2_rstd: Tensor, // [N]
    fch: Tensor,      // [N,4C]
    fchg: Tensor,     // [N,4C]
    fcproj: Tensor,   // [N,C]
    res3: Tensor,     // [N,C]
}

/// Activations and gradient scratch for one (B, T).
struct Acts {
    b: usize,
    t: usize,
    inputs: Tensor,   // u32 [N]
    targets: Tensor,  // u32 [N]
    encoded: Tensor,  // [N,C]
    layers: Vec<LayerActs>,
    lnf: Tensor,      // [N,C]
    lnf_mean: Tensor, // [N]
    lnf_rstd: Tensor, // [N]
    logits: Tensor,   // [N,V]
    losses: Tensor,   // [N]
    hits: Tensor,     // [N]
    // gradient scratch, shared by all layers (backward visits one layer at a time)
    dlogits: Tensor, // [N,V]
    dstream: Tensor, // [N,C] gradient of the residual stream
    dln: Tensor,     // [N,C]
    datty: Tensor,   // [N,C]
    dqkv: Tensor,    // [N,3C]
    dfch: Tensor,    // [N,4C]
    dfchg: Tensor,   // [N,4C]
    all: Vec<Tensor>,
}

/// KV-cached inference buffers for one sequence (B = 1) of up to block_size positions.
struct Infer {
    tokens: Tensor, // u32 [T]
    encoded: Tensor, // [T,C]
    ln: Tensor,      // [T,C]
    mean: Tensor,    // [T]
    rstd: Tensor,    // [T]
    qkv: Vec<Tensor>, // per layer [T,3C]: the KV cache (q rows are scratch)
    /// Attention probabilities, grown to what calls need (up to [NH,T,T]): one per layer when
    /// the caller keeps them (to look at), else one buffer all layers reuse. A call with n new
    /// rows over tk keys fills [NH,n,tk].
    att: Vec<Tensor>,
    att_shared: Option<Tensor>,
    /// The last decode kept every layer's attention.
    kept: bool,
    atty: Tensor,     // [T,C]
    proj: Tensor,     // [T,C]
    res_a: Tensor,    // [T,C]
    res_b: Tensor,    // [T,C]
    fch: Tensor,      // [T,4C]
    fchg: Tensor,     // [T,4C]
    logits: Tensor,   // [V]
}

/// What one optimizer step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// The step's number: 1 for the first optimizer step.
    pub step: u32,
    pub loss: f32,
    /// Fraction of positions whose argmax prediction was the target.
    pub acc: f32,
    pub grad_norm: f32,
    pub lr: f32,
}

/// What training adds to a model: gradients and the two AdamW moments, cut as the params.
struct TrainBufs {
    grads: Vec<Tensor>,
    adam_m: Vec<Tensor>,
    adam_v: Vec<Tensor>,
    gv: Views,
    /// Per-buffer sums of squared gradients, when there are several buffers.
    norms: Option<Tensor>,
    /// [1] each: the failure guard (0, or NaN once a step's gradient norm was non-finite on the
    /// device, until that failure is reported), scratch for adding it, and a constant 0.
    guard: Tensor,
    guard_sum: Tensor,
    zero: Tensor,
}

/// One buffer per span of the cut; on failure what was allocated is given back.
fn alloc_cut<B: Backend>(be: &mut B, spans: &[(usize, usize)], label: &str) -> Result<Vec<Tensor>> {
    let mut out = Vec::with_capacity(spans.len());
    for &(_, len) in spans {
        match be.alloc(len, label) {
            Ok(t) => out.push(t),
            Err(e) => {
                out.into_iter().for_each(|t| be.free(t));
                return Err(e);
            }
        }
    }
    Ok(out)
}

pub struct Gpt<B: Backend> {
    pub cfg: ModelConfig,
    pub backend: B,
    pub specs: Vec<ParamSpec>,
    /// Optimizer steps taken (AdamW's t).
    pub step: u32,
    /// The flat layout's length, and its cut into buffers (flat start, length).
    total: usize,
    spans: Vec<(usize, usize)>,
    params: Vec<Tensor>,
    pv: Views,
    /// Gradients and AdamW moments, from the first training step on.
    train: Option<TrainBufs>,
    /// The table the encoder adds: wpe, or the fixed sinusoid table [block_size, C].
    pe: Tensor,
    stats: Tensor, // [4]: loss sum, hit sum, grad norm², unused
    acts: Option<Acts>,
    infer: Option<Infer>,
    /// A step of `train_step_lagged` whose statistics are not yet read.
    in_flight: Option<InFlight>,
}

/// A training step recorded and submitted, its (loss sum, hit sum, norm²) on the way back.
struct InFlight {
    stats: Pending,
    /// Positions in the batch.
    n: usize,
    lr: f32,
    /// The step's number (1-based).
    step: u32,
}

impl<B: Backend> Gpt<B> {
    /// A model with GPT-2 initialisation from `seed`: weights N(0, 0.02), residual projections
    /// N(0, 0.02/sqrt(2·n_layer)), biases 0, LayerNorm weights 1.
    pub fn new(cfg: ModelConfig, backend: B, seed: u64) -> Result<Self> {
        let mut g = Self::empty(cfg, backend)?;
        let mut rng = Rng::new(seed);
        let proj_std = 0.02 / (2.0 * g.cfg.n_layer as f32).sqrt();
        let mut flat = vec![0.0f32; g.total];
        for s in &g.specs {
            let dst = &mut flat[s.off..s.off + s.len];
            if s.name.ends_with("ln_1.weight") || s.name.ends_with("ln_2.weight") || s.name.ends_with("ln_f.weight") {
                dst.fill(1.0);
            } else if s.decay {
                let std = if s.name.ends_with("c_proj.weight") { proj_std } else { 0.02 };
                dst.iter_mut().for_each(|x| *x = rng.normal() * std);
            }
        }
        g.write_flat(Slot::Param, &flat)?;
        Ok(g)
    }

    /// A model with every parameter zero (to be filled from a checkpoint).
    pub fn empty(cfg: ModelConfig, mut backend: B) -> Result<Self> {
        cfg.validate()?;
        let specs = param_specs(&cfg);
        let last = specs.last().expect("at least ln_f");
        let total = last.off + last.len.div_ceil(ALIGN) * ALIGN;
        let spans = cut(&specs, total, backend.max_elems(), cfg.n_embd)?;
        let params = alloc_cut(&mut backend, &spans, "params")?;
        let learned = cfg.pos == PosEncoding::Learned;
        let pv = views(&params, &spans, &specs, cfg.n_embd, learned);
        let pe = match pv.wpe {
            Some(wpe) => wpe,
            None => {
                let pe = backend.alloc(cfg.block_size * cfg.n_embd, "sinusoid table")?;
                backend.write(pe, &sinusoidal_table(cfg.block_size, cfg.n_embd));
                pe
            }
        };
        let stats = backend.alloc(4, "stats")?;
        Ok(Gpt { cfg, backend, specs, step: 0, total, spans, params, pv, train: None, pe, stats, acts: None, infer: None, in_flight: None })
    }

    /// Allocates the gradients and (zeroed) AdamW moments, once.
    fn ensure_train(&mut self) -> Result<()> {
        if self.train.is_some() {
            return Ok(());
        }
        let (be, spans) = (&mut self.backend, &self.spans);
        let mut got: Vec<Vec<Tensor>> = Vec::new();
        for label in ["grads", "adam_m", "adam_v"] {
            match alloc_cut(be, spans, label) {
                Ok(b) => got.push(b),
                Err(e) => {
                    // give back what was allocated before reporting the one that failed
                    got.into_iter().flatten().for_each(|t| be.free(t));
                    return Err(e);
                }
            }
        }
        let norms = if spans.len() > 1 { Some(be.alloc(spans.len(), "gradient norms")?) } else { None };
        let (guard, guard_sum, zero) = (be.alloc(1, "failure guard")?, be.alloc(1, "failure guard sum")?, be.alloc(1, "zero")?);
        for t in [guard, zero] {
            be.zero(t);
        }
        let adam_v = got.pop().expect("three");
        let adam_m = got.pop().expect("three");
        let grads = got.pop().expect("three");
        for t in adam_m.iter().chain(&adam_v) {
            be.zero(*t);
        }
        let gv = views(&grads, spans, &self.specs, self.cfg.n_embd, self.cfg.pos == PosEncoding::Learned);
        self.train = Some(TrainBufs { grads, adam_m, adam_v, gv, norms, guard, guard_sum, zero });
        Ok(())
    }

    /// wte as one tensor, which training and full-sequence forward passes need; a GPT-2 whose
    /// wte the device had to cut (see `cut`) can only generate.
    fn whole_wte(&self) -> Result<Tensor> {
        match self.pv.wte[..] {
            [(_, w)] => Ok(w),
            _ => Err(Error::Gpu(format!(
                "wte [{}, {}] is {} MiB, more than this device holds in one buffer ({} MiB): the model can generate here, \
                 but training or evaluating it needs a device with a larger storage-buffer limit, or the CPU backend",
                self.cfg.vocab_size,
                self.cfg.n_embd,
                (self.cfg.vocab_size * self.cfg.n_embd * 4) >> 20,
                (self.backend.max_elems() * 4) >> 20
            ))),
        }
    }

    /// True once the model has gradients and AdamW moments (it has been trained or loaded them).
    pub fn has_optimizer_state(&self) -> bool {
        self.train.is_some()
    }

    pub fn num_params(&self) -> usize {
        self.specs.iter().map(|s| s.len).sum()
    }

    /// A slot's buffers (one per span of the cut); None for the training slots before training.
    fn slot(&self, slot: Slot) -> Option<&[Tensor]> {
        match (slot, &self.train) {
            (Slot::Param, _) => Some(&self.params),
            (_, None) => None,
            (Slot::Grad, Some(t)) => Some(&t.grads),
            (Slot::AdamM, Some(t)) => Some(&t.adam_m),
            (Slot::AdamV, Some(t)) => Some(&t.adam_v),
        }
    }

    /// The views of one spec in a slot, with each one's element offset inside the tensor.
    fn spec_parts(&self, slot: Slot, s: &ParamSpec) -> Option<Vec<(usize, Tensor)>> {
        self.slot(slot).map(|b| parts(b, &self.spans, s.off, s.len))
    }

    fn spec(&self, name: &str) -> Result<&ParamSpec> {
        self.specs
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Checkpoint(format!("this model has no parameter '{name}'")))
    }

    /// One tensor in Hugging Face layout (Conv1D weights transposed to [C, OC]). Gradients and
    /// moments read as zeros before training.
    pub async fn read_hf(&mut self, name: &str, slot: Slot) -> Result<Vec<f32>> {
        let s = self.spec(name)?.clone();
        let Some(ps) = self.spec_parts(slot, &s) else { return Ok(vec![0.0; s.len]) };
        let mut data = Vec::with_capacity(s.len);
        for (_, t) in ps {
            data.extend(self.backend.read(t).await);
        }
        Ok(if s.hf_transposed { transpose(&data, s.shape[0], s.shape[1]) } else { data })
    }

    /// Writes one tensor given in Hugging Face layout; the length must match.
    pub fn write_hf(&mut self, name: &str, slot: Slot, data: &[f32]) -> Result<()> {
        let s = self.spec(name)?.clone();
        if data.len() != s.len {
            return Err(Error::Checkpoint(format!(
                "tensor '{name}': expected {} values (shape {:?}), got {}",
                s.len,
                s.hf_shape(),
                data.len()
            )));
        }
        if slot != Slot::Param {
            self.ensure_train()?;
        }
        let ps = self.spec_parts(slot, &s).expect("allocated above");
        if s.hf_transposed {
            // HF [C, OC] -> here [OC, C]; only wte is ever cut across buffers
            self.backend.write(ps[0].1, &transpose(data, s.shape[1], s.shape[0]));
        } else {
            for (at, t) in ps {
                self.backend.write(t, &data[at..at + t.len]);
            }
        }
        Ok(())
    }

    /// The whole flat buffer of one slot (padding included), e.g. to snapshot the weights.
    pub async fn read_flat(&mut self, slot: Slot) -> Vec<f32> {
        let Some(bufs) = self.slot(slot).map(<[Tensor]>::to_vec) else { return vec![0.0; self.total] };
        let mut out = Vec::with_capacity(self.total);
        for t in bufs {
            out.extend(self.backend.read(t).await);
        }
        out
    }

    pub fn write_flat(&mut self, slot: Slot, data: &[f32]) -> Result<()> {
        if slot != Slot::Param {
            self.ensure_train()?;
        }
        assert_eq!(data.len(), self.total, "write_flat: the whole layout");
        let bufs = self.slot(slot).expect("allocated above").to_vec();
        for (t, &(start, len)) in bufs.into_iter().zip(&self.spans) {
            self.backend.write(t, &data[start..start + len]);
        }
        Ok(())
    }

    /// The positional table the encoder adds, [block_size, C] (wpe, or the sinusoids).
    pub async fn pe_table(&mut self) -> Vec<f32> {
        self.backend.read(self.pe).await
    }

    fn ensure_acts(&mut self, b: usize, t: usize) -> Result<()> {
        if let Some(a) = &self.acts {
            if a.b == b && a.t == t {
                return Ok(());
            }
        }
        if let Some(a) = self.acts.take() {
            for x in a.all {
                self.backend.free(x);
            }
        }
        let (c, v, nh) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.n_head);
        let n = b * t;
        let be = &mut self.backend;
        let mut all = Vec::new();
        let mut f = |len: usize, label: &str| -> Result<Tensor> {
            let x = be.alloc(len, label)?;
            all.push(x);
            Ok(x)
        };
        let mut layers = Vec::new();
        for _ in 0..self.cfg.n_layer {
            layers.push(LayerActs {
                ln1: f(n * c, "ln_1")?,
                ln1_mean: f(n, "ln_1 mean")?,
                ln1_rstd: f(n, "ln_1 rstd")?,
                qkv: f(n * 3 * c, "qkv")?,
                atty: f(n * c, "attention out")?,
                att: f(b * nh * t * t, "attention probabilities")?,
                attproj: f(n * c, "attn c_proj out")?,
                res2: f(n * c, "residual 2")?,
                ln2: f(n * c, "ln_2")?,
                ln2_mean: f(n, "ln_2 mean")?,
                ln2_rstd: f(n, "ln_2 rstd")?,
                fch: f(n * 4 * c, "mlp c_fc out")?,
                fchg: f(n * 4 * c, "gelu out")?,
                fcproj: f(n * c, "mlp c_proj out")?,
                res3: f(n * c, "residual 3")?,
            });
        }
        let encoded = f(n * c, "encoded")?;
        let lnf = f(n * c, "ln_f")?;
        let lnf_mean = f(n, "ln_f mean")?;
        let lnf_rstd = f(n, "ln_f rstd")?;
        let logits = f(n * v, "logits")?;
        let losses = f(n, "losses")?;
        let hits = f(n, "hits")?;
        let dlogits = f(n * v, "dlogits")?;
        let dstream = f(n * c, "dresidual")?;
        let dln = f(n * c, "dln")?;
        let datty = f(n * c, "datt")?;
        let dqkv = f(n * 3 * c, "dqkv")?;
        let dfch = f(n * 4 * c, "dfch")?;
        let dfchg = f(n * 4 * c, "dgelu")?;
        let inputs = be.alloc_u32(n, "inputs")?;
        let targets = be.alloc_u32(n, "targets")?;
        all.push(inputs);
        all.push(targets);
        self.acts = Some(Acts {
            b, t, inputs, targets, encoded, layers, lnf, lnf_mean, lnf_rstd, logits, losses, hits,
            dlogits, dstream, dln, datty, dqkv, dfch, dfchg, all,
        });
        Ok(())
    }

    fn check_batch(&self, inputs: &[u32], b: usize, t: usize) -> Result<()> {
        if t == 0 || t > self.cfg.block_size {
            return Err(Error::Config(format!("sequence length: expected 1..={}, got {t}", self.cfg.block_size)));
        }
        if inputs.len() != b * t {
            return Err(Error::Config(format!("batch: expected {b}×{t} = {} tokens, got {}", b * t, inputs.len())));
        }
        if let Some(&bad) = inputs.iter().find(|&&x| x as usize >= self.cfg.vocab_size) {
            return Err(Error::Tokenizer(format!("token id {bad} is outside the vocabulary of {}", self.cfg.vocab_size)));
        }
        Ok(())
    }

    /// Forward pass over inputs[B,T]; with targets, also losses and hit counts.
    /// Returns (mean loss, accuracy) when targets are given.
    pub async fn forward(&mut self, inputs: &[u32], targets: Option<&[u32]>, b: usize, t: usize) -> Result<Option<(f32, f32)>> {
        if !self.record_forward(inputs, targets, b, t)? {
            return Ok(None);
        }
        let s = self.backend.read(self.stats.view(0, 2)).await;
        let n = (b * t) as f32;
        Ok(Some((s[0] / n, s[1] / n)))
    }

    /// Records the forward pass (and, with targets, the loss and hit sums into stats[0..2])
    /// without reading anything back. Returns whether targets were given.
    fn record_forward(&mut self, inputs: &[u32], targets: Option<&[u32]>, b: usize, t: usize) -> Result<bool> {
        self.check_batch(inputs, b, t)?;
        if let Some(tg) = targets {
            self.check_batch(tg, b, t)?;
        }
        let wte = self.whole_wte()?;
        if targets.is_some() {
            self.ensure_train()?;
        }
        self.ensure_acts(b, t)?;
        let a = self.acts.as_ref().expect("allocated above");
        let (c, v, nh) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.n_head);
        let n = b * t;
        let be = &mut self.backend;
        be.write_u32(a.inputs, inputs);
        be.encoder_forward(a.encoded, a.inputs, wte, self.pe, b, t, c, 0);
        let mut x = a.encoded;
        for (la, p) in a.layers.iter().zip(&self.pv.blocks) {
            be.layernorm_forward(la.ln1, la.ln1_mean, la.ln1_rstd, x, p.ln1w, p.ln1b, n, c);
            be.matmul_forward(la.qkv, la.ln1, p.qkvw, Some(p.qkvb), n, c, 3 * c);
            be.attention_forward(la.atty, la.att, la.qkv, b, t, t, c, nh);
            be.matmul_forward(la.attproj, la.atty, p.attprojw, Some(p.attprojb), n, c, c);
            be.residual_forward(la.res2, x, la.attproj, n * c);
            be.layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.res2, p.ln2w, p.ln2b, n, c);
            be.matmul_forward(la.fch, la.ln2, p.fcw, Some(p.fcb), n, c, 4 * c);
            be.gelu_forward(la.fchg, la.fch, n * 4 * c);
            be.matmul_forward(la.fcproj, la.fchg, p.fcprojw, Some(p.fcprojb), n, 4 * c, c);
            be.residual_forward(la.res3, la.res2, la.fcproj, n * c);
            x = la.res3;
        }
        be.layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, x, self.pv.lnfw, self.pv.lnfb, n, c);
        be.matmul_forward(a.logits, a.lnf, wte, None, n, c, v);
        let Some(tg) = targets else { return Ok(false) };
        be.write_u32(a.targets, tg);
        be.crossentropy_forward(a.losses, a.hits, a.logits, a.targets, n, v);
        be.sum(self.stats.view(0, 1), a.losses);
        be.sum(self.stats.view(1, 1), a.hits);
        Ok(true)
    }

    /// The logits of the last forward pass, [B,T,V].
    pub async fn read_logits(&mut self) -> Vec<f32> {
        let a = self.acts.as_ref().expect("forward() first");
        self.backend.read(a.logits).await
    }

    /// Zeroes the gradients, then back-propagates the mean loss of the last forward pass
    /// (which must have had targets) into them.
    pub fn backward(&mut self) {
        let a = self.acts.as_ref().expect("forward() with targets first");
        let (b, t) = (a.b, a.t);
        let (c, v, nh) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.n_head);
        let n = b * t;
        let be = &mut self.backend;
        let tb = self.train.as_ref().expect("forward() with targets first");
        let (p, g) = (&self.pv, &tb.gv);
        for &gb in &tb.grads {
            be.zero(gb);
        }
        be.crossentropy_backward(a.dlogits, a.logits, a.targets, n, v, 1.0 / n as f32);
        be.matmul_backward(a.dln, g.wte[0].1, None, a.dlogits, a.lnf, p.wte[0].1, n, c, v);
        let last = a.layers.last().map_or(a.encoded, |l| l.res3);
        be.zero(a.dstream);
        be.layernorm_backward(a.dstream, g.lnfw, g.lnfb, a.dln, last, p.lnfw, a.lnf_mean, a.lnf_rstd, n, c);
        for l in (0..a.layers.len()).rev() {
            let (la, pl, gl) = (&a.layers[l], &p.blocks[l], &g.blocks[l]);
            let x = if l == 0 { a.encoded } else { a.layers[l - 1].res3 };
            // dstream holds d(res3); res3 = res2 + fcproj passes it to both unchanged.
            be.matmul_backward(a.dfchg, gl.fcprojw, Some(gl.fcprojb), a.dstream, la.fchg, pl.fcprojw, n, 4 * c, c);
            be.gelu_backward(a.dfch, la.fch, a.dfchg, n * 4 * c);
            be.matmul_backward(a.dln, gl.fcw, Some(gl.fcb), a.dfch, la.ln2, pl.fcw, n, c, 4 * c);
            be.layernorm_backward(a.dstream, gl.ln2w, gl.ln2b, a.dln, la.res2, pl.ln2w, la.ln2_mean, la.ln2_rstd, n, c);
            // now dstream = d(res2); res2 = x + attproj.
            be.matmul_backward(a.datty, gl.attprojw, Some(gl.attprojb), a.dstream, la.atty, pl.attprojw, n, c, c);
            be.attention_backward(a.dqkv, a.datty, la.qkv, la.att, b, t, c, nh);
            be.matmul_backward(a.dln, gl.qkvw, Some(gl.qkvb), a.dqkv, la.ln1, pl.qkvw, n, c, 3 * c);
            be.layernorm_backward(a.dstream, gl.ln1w, gl.ln1b, a.dln, x, pl.ln1w, la.ln1_mean, la.ln1_rstd, n, c);
            // now dstream = d(x), the previous block's output.
        }
        be.encoder_backward(g.wte[0].1, g.wpe, a.dstream, a.inputs, b, t, c);
    }

    /// Records the update: clipping by global norm (the squared norm into stats[2]) and one
    /// AdamW step with learning rate `lr`; a NaN/Inf norm leaves the weights unchanged. Reads
    /// nothing back; false (nothing recorded) for a non-finite lr.
    fn record_update(&mut self, lr: f32, tc: &TrainConfig) -> bool {
        self.step += 1;
        if !lr.is_finite() {
            // never apply a non-finite update: the caller reports it, the weights stay
            return false;
        }
        let gn = self.stats.view(2, 1);
        let tb = self.train.as_ref().expect("backward() first");
        match tb.norms {
            None => self.backend.norm_sq(gn, tb.grads[0]),
            Some(norms) => {
                for (k, &gb) in tb.grads.iter().enumerate() {
                    self.backend.norm_sq(norms.view(k, 1), gb);
                }
                self.backend.sum(gn, norms);
            }
        }
        // A step whose norm was non-finite on the device makes every later step skip its update
        // too (norm² + NaN) until the failure is reported, so that a pipelined step submitted
        // behind a failed one fails with it, as an unpipelined step would never have run.
        // guard = norm²·0 afterwards: 0 while finite, NaN from a failure on.
        let be = &mut self.backend;
        be.residual_forward(tb.guard_sum, gn, tb.guard, 1);
        be.copy(gn, tb.guard_sum);
        be.matmul_forward(tb.guard, gn, tb.zero, None, 1, 1, 1);
        for s in &self.specs {
            let h = AdamWStep {
                lr,
                beta1: tc.beta1,
                beta2: tc.beta2,
                eps: tc.eps,
                weight_decay: if s.decay { tc.weight_decay } else { 0.0 },
                t: self.step,
                max_norm: tc.grad_clip,
            };
            let sp = |b: &[Tensor]| parts(b, &self.spans, s.off, s.len);
            for (((_, p), (_, g)), ((_, m), (_, v))) in sp(&self.params).into_iter().zip(sp(&tb.grads)).zip(sp(&tb.adam_m).into_iter().zip(sp(&tb.adam_v))) {
                self.backend.adamw(p, g, m, v, gn, &h);
            }
        }
        true
    }

    /// forward + backward + update on one batch, recorded as one piece of work with one
    /// readback at its end (loss, hits and gradient norm together: on a GPU, one submit per
    /// step). The loss is checked after the update: a non-finite loss gives an error and (its
    /// gradient norm being non-finite too) leaves the weights as they were.
    pub async fn train_step(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize, lr: f32, tc: &TrainConfig) -> Result<StepStats> {
        // a lagged step still unread is settled first (its statistics are dropped)
        self.finish_lagged().await?;
        self.record_forward(inputs, Some(targets), b, t)?;
        self.backward();
        let updated = self.record_update(lr, tc);
        let s = self.backend.read(self.stats.view(0, 3)).await;
        self.check_step(&s, b * t, lr, updated, self.step)
    }

    /// `train_step`, pipelined: records and submits this step, then returns the statistics of
    /// the step before it (None for the first), so the device never waits for the host to look
    /// at a loss: on a GPU the next step is recorded while this one runs. `finish_lagged`
    /// returns the last step's. A step that fails on the device is reported one call late; it
    /// changed no weights (a non-finite gradient norm skips the update), and the failure guard
    /// made the step already submitted behind it skip its update too, so the weights are the
    /// last good step's, as with `train_step`. A non-finite lr fails at once.
    pub async fn train_step_lagged(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize, lr: f32, tc: &TrainConfig) -> Result<Option<StepStats>> {
        self.record_forward(inputs, Some(targets), b, t)?;
        self.backward();
        if !self.record_update(lr, tc) {
            // a failure known now (non-finite lr): settle the step before, then report this one
            let prev = self.finish_lagged().await;
            let s = self.backend.read(self.stats.view(0, 3)).await;
            let this = self.check_step(&s, b * t, lr, false, self.step);
            prev?;
            return this.map(Some);
        }
        let stats = self.backend.read_start(self.stats.view(0, 3));
        let now = InFlight { stats, n: b * t, lr, step: self.step };
        match self.in_flight.replace(now) {
            None => Ok(None),
            Some(prev) => match self.settle(prev).await {
                Ok(s) => Ok(Some(s)),
                Err(e) => {
                    // the step after the failed one is settled too (a failure of its own is
                    // the same story: the first one is reported)
                    let _ = self.finish_lagged().await;
                    Err(e)
                }
            },
        }
    }

    /// The statistics of the last `train_step_lagged`, if any is unread.
    pub async fn finish_lagged(&mut self) -> Result<Option<StepStats>> {
        match self.in_flight.take() {
            None => Ok(None),
            Some(f) => self.settle(f).await.map(Some),
        }
    }

    async fn settle(&mut self, f: InFlight) -> Result<StepStats> {
        let s = self.backend.read_done(f.stats).await;
        self.check_step(&s, f.n, f.lr, true, f.step)
    }

    /// StepStats from (loss sum, hit sum, norm²) of step number `k`, or the error of a step
    /// that met a device fault or non-finite numbers (it is then not counted).
    fn check_step(&mut self, s: &[f32], n: usize, lr: f32, updated: bool, k: u32) -> Result<StepStats> {
        let n = n as f32;
        let (loss, acc) = (s[0] / n, s[1] / n);
        let grad_norm = if updated { s[2].sqrt() } else { f32::NAN };
        if let Some(f) = self.backend.fault() {
            self.step -= 1;
            return Err(Error::Gpu(format!("{f}; step {k} did not complete")));
        }
        if !loss.is_finite() || !grad_norm.is_finite() {
            self.step -= 1;
            // reported: steps recorded from now on may update again
            if let Some(tb) = &self.train {
                self.backend.zero(tb.guard);
            }
            let what = if loss.is_finite() { format!("the update became NaN (loss {loss}, gradient norm {grad_norm})") } else { format!("loss became {}", if loss.is_nan() { "NaN".to_string() } else { loss.to_string() }) };
            return Err(Error::Numeric { step: k, lr, what });
        }
        Ok(StepStats { step: k, loss, acc, grad_norm, lr })
    }

    // ---------------------------------------------------------------- inference with a KV cache

    fn ensure_infer(&mut self) -> Result<()> {
        if self.infer.is_some() {
            return Ok(());
        }
        let (c, v, t) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.block_size);
        let be = &mut self.backend;
        let mut f = |len: usize, label: &str| be.alloc(len, label);
        let mut qkv = Vec::new();
        for _ in 0..self.cfg.n_layer {
            qkv.push(f(t * 3 * c, "kv cache")?);
        }
        let inf = Infer {
            encoded: f(t * c, "encoded")?,
            ln: f(t * c, "ln")?,
            mean: f(t, "ln mean")?,
            rstd: f(t, "ln rstd")?,
            qkv,
            att: Vec::new(),
            att_shared: None,
            kept: false,
            atty: f(t * c, "attention out")?,
            proj: f(t * c, "proj")?,
            res_a: f(t * c, "residual")?,
            res_b: f(t * c, "residual")?,
            fch: f(t * 4 * c, "mlp")?,
            fchg: f(t * 4 * c, "gelu")?,
            logits: f(v, "logits")?,
            tokens: be.alloc_u32(t, "tokens")?,
        };
        self.infer = Some(inf);
        Ok(())
    }

    /// Runs `tokens` at positions pos0.. through the model, reusing the cached keys and values
    /// of positions 0..pos0 (computed by earlier calls), and returns the logits [V] of the last
    /// new position. pos0 + tokens.len() must not exceed block_size.
    pub async fn decode(&mut self, tokens: &[u32], pos0: usize) -> Result<Vec<f32>> {
        self.decode_with(tokens, pos0, false).await
    }

    /// Attention buffers of `need` elements for every layer: per layer when `keep`, else one
    /// shared (GPT-2 124M over its whole context would hold 600 MB of probabilities per layer set).
    fn att_bufs(&mut self, need: usize, keep: bool) -> Result<Vec<Tensor>> {
        let n_layer = self.cfg.n_layer;
        let max = self.cfg.n_head * self.cfg.block_size * self.cfg.block_size;
        let (be, s) = (&mut self.backend, self.infer.as_mut().expect("ensure_infer() first"));
        let mut grow = |t: Option<Tensor>| -> Result<Tensor> {
            match t {
                Some(t) if t.len >= need => Ok(t),
                old => {
                    let len = need.max(old.map_or(0, |t| 2 * t.len)).min(max);
                    if let Some(t) = old {
                        be.free(t);
                    }
                    be.alloc(len, "attention probabilities")
                }
            }
        };
        s.kept = keep;
        if keep {
            for l in 0..n_layer {
                let t = grow(s.att.get(l).copied())?;
                if l < s.att.len() {
                    s.att[l] = t;
                } else {
                    s.att.push(t);
                }
            }
            Ok(s.att.iter().map(|t| t.view(0, need)).collect())
        } else {
            let t = grow(s.att_shared)?;
            s.att_shared = Some(t);
            Ok(vec![t.view(0, need); n_layer])
        }
    }

    /// As `decode`; with `keep_attention` every layer's attention probabilities are kept for
    /// `read_decode_attention`.
    pub async fn decode_with(&mut self, tokens: &[u32], pos0: usize, keep_attention: bool) -> Result<Vec<f32>> {
        let n = tokens.len();
        if n == 0 || pos0 + n > self.cfg.block_size {
            return Err(Error::Config(format!(
                "decode: positions {pos0}..{} must lie within the context of {} (and at least one token)",
                pos0 + n,
                self.cfg.block_size
            )));
        }
        self.check_batch(tokens, 1, n)?;
        self.ensure_infer()?;
        let att = self.att_bufs(self.cfg.n_head * n * (pos0 + n), keep_attention)?;
        let s = self.infer.as_ref().expect("allocated above");
        let (c, nh) = (self.cfg.n_embd, self.cfg.n_head);
        let tk = pos0 + n;
        let be = &mut self.backend;
        let rows = |t: Tensor, w: usize| t.view(0, n * w);
        let tok = s.tokens.view(0, n);
        be.write_u32(tok, tokens);
        if let [(_, wte)] = self.pv.wte[..] {
            be.encoder_forward(rows(s.encoded, c), tok, wte, self.pe, 1, n, c, pos0);
        } else {
            // wte cut by rows: gather each token's row from its part, then add the positions
            for (i, &id) in tokens.iter().enumerate() {
                let &(r0, part) = self.pv.wte.iter().rev().find(|(r0, _)| *r0 <= id as usize).expect("part 0 starts at row 0");
                be.copy(s.ln.view(i * c, c), part.view((id as usize - r0) * c, c));
            }
            be.residual_forward(rows(s.encoded, c), rows(s.ln, c), self.pe.view(pos0 * c, n * c), n * c);
        }
        // res2 lives in res_a and res3 in res_b: no op reads and writes the same buffer.
        let (r2, r3) = (rows(s.res_a, c), rows(s.res_b, c));
        let mut x = rows(s.encoded, c);
        let (mean, rstd, ln) = (s.mean.view(0, n), s.rstd.view(0, n), rows(s.ln, c));
        for (l, p) in self.pv.blocks.iter().enumerate() {
            let cache = s.qkv[l];
            be.layernorm_forward(ln, mean, rstd, x, p.ln1w, p.ln1b, n, c);
            be.matmul_forward(cache.view(pos0 * 3 * c, n * 3 * c), ln, p.qkvw, Some(p.qkvb), n, c, 3 * c);
            be.attention_forward(rows(s.atty, c), att[l], cache.view(0, tk * 3 * c), 1, n, tk, c, nh);
            be.matmul_forward(rows(s.proj, c), rows(s.atty, c), p.attprojw, Some(p.attprojb), n, c, c);
            be.residual_forward(r2, x, rows(s.proj, c), n * c);
            be.layernorm_forward(ln, mean, rstd, r2, p.ln2w, p.ln2b, n, c);
            be.matmul_forward(rows(s.fch, 4 * c), ln, p.fcw, Some(p.fcb), n, c, 4 * c);
            be.gelu_forward(rows(s.fchg, 4 * c), rows(s.fch, 4 * c), n * 4 * c);
            be.matmul_forward(rows(s.proj, c), rows(s.fchg, 4 * c), p.fcprojw, Some(p.fcprojb), n, 4 * c, c);
            be.residual_forward(r3, r2, rows(s.proj, c), n * c);
            x = r3;
        }
        let last = x.view((n - 1) * c, c);
        be.layernorm_forward(ln.view(0, c), mean.view(0, 1), rstd.view(0, 1), last, self.pv.lnfw, self.pv.lnfb, 1, c);
        for &(r0, part) in &self.pv.wte {
            be.matmul_forward(s.logits.view(r0, part.len / c), ln.view(0, c), part, None, 1, c, part.len / c);
        }
        let logits = be.read(s.logits).await;
        match be.fault() {
            Some(f) => Err(Error::Gpu(f)),
            None => Ok(logits),
        }
    }

    /// Attention probabilities of the last decode_with(.., keep_attention = true) call: [layer][head][n][tk] flattened per
    /// layer as [NH, n, tk], where n new rows attended over tk positions.
    pub async fn read_decode_attention(&mut self, n: usize, tk: usize) -> Vec<Vec<f32>> {
        let nh = self.cfg.n_head;
        let s = self.infer.as_ref().expect("decode() first");
        assert!(s.kept, "read_decode_attention needs decode_with(.., keep_attention = true) first");
        let atts: Vec<Tensor> = s.att.iter().map(|a| a.view(0, nh * n * tk)).collect();
        let mut out = Vec::with_capacity(atts.len());
        for a in atts {
            out.push(self.backend.read(a).await);
        }
        out
    }
}

/// [rows, cols] -> [cols, rows]
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}
