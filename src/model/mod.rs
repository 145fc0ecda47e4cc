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
//!
//! Here: `Gpt` itself (construction, forward, backward, decode). block.rs: the transformer
//! block, forward and backward, for training and decoding; layout.rs: the parameter table and
//! its cut into buffers; step.rs: training steps; buffers.rs: activations and the KV cache;
//! pe.rs: the sinusoid table.

mod block;
mod buffers;
mod layout;
mod pe;
mod step;
#[cfg(test)]
mod tests;

pub use layout::{param_specs, transpose, ParamSpec, Slot};
pub use pe::sinusoidal_table;
pub use step::{Shard, StepStats};

use crate::backend::{Backend, DropoutMask, Tensor};
use crate::cpu::dropout::{hash, mask};
use crate::config::{ModelConfig, PosEncoding};
use crate::error::{Error, Result};
use crate::rng::Rng;
use block::{Attn, BlockDrop};
use buffers::{Acts, Infer};
use layout::{Layout, Views};
use step::{InFlight, TrainBufs};

pub struct Gpt<B: Backend> {
    pub cfg: ModelConfig,
    pub backend: B,
    pub specs: Vec<ParamSpec>,
    /// Optimizer steps taken (AdamW's t).
    pub step: u32,
    /// The flat layout and its cut into buffers, which params and the training slots share.
    layout: Layout,
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
    /// Ablated heads, (layer, head) sorted, and per layer its keep mask [NH] (1 kept, 0
    /// ablated) when it has any: a layer without one runs no mask op at all.
    ablated: Vec<(usize, usize)>,
    keep: Vec<Option<Tensor>>,
    /// The dropout of the last forward pass (a training step's), which its backward repeats.
    drop: Option<StepDropout>,
}

/// One training step's dropout: probability p on the embeddings (wte + positions) and on both
/// projections' outputs in every block (GPT-2's embd_pdrop and resid_pdrop; attention
/// probabilities are not dropped). Each of those 1 + 2·n_layer sites draws its own mask from
/// the step's seed; `row0`, the first row of the batch this pass holds, makes a data-parallel
/// worker draw its rows of the whole batch's masks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDropout {
    pub p: f32,
    pub seed: u32,
    pub row0: usize,
}

impl StepDropout {
    /// Step `step`'s dropout for a run seeded `seed` (None when p is 0: no op runs at all).
    pub fn for_step(p: f32, seed: u64, step: u32, row0: usize) -> Option<StepDropout> {
        (p > 0.0).then(|| StepDropout { p, seed: hash(hash(seed as u32 ^ hash((seed >> 32) as u32)) ^ step), row0 })
    }

    /// The mask of site `site` (0: embeddings, 1 + 2l: block l's attn.c_proj, 2 + 2l: its
    /// mlp.c_proj) over [rows, t, c] activations.
    fn mask(&self, site: u32, t: usize, c: usize) -> DropoutMask {
        mask(self.p, hash(self.seed ^ hash(site.wrapping_add(0x9e37_79b9))), (self.row0 * t * c) as u32)
    }

    fn block(&self, l: usize, t: usize, c: usize) -> BlockDrop {
        let l = l as u32;
        BlockDrop { attn: self.mask(1 + 2 * l, t, c), mlp: self.mask(2 + 2 * l, t, c) }
    }
}

impl<B: Backend> Gpt<B> {
    /// A model with GPT-2 initialisation from `seed`: weights N(0, 0.02), residual projections
    /// N(0, 0.02/sqrt(2·n_layer)), biases 0, LayerNorm weights 1.
    pub fn new(cfg: ModelConfig, backend: B, seed: u64) -> Result<Self> {
        let mut g = Self::empty(cfg, backend)?;
        let mut rng = Rng::new(seed);
        let proj_std = 0.02 / (2.0 * g.cfg.n_layer as f32).sqrt();
        let mut flat = vec![0.0f32; g.layout.total];
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
        let layout = Layout::new(&specs, backend.max_elems(), cfg.n_embd)?;
        let params = layout.alloc(&mut backend, "params")?;
        let pv = layout.views(&params, &specs, cfg.n_embd, cfg.pos == PosEncoding::Learned);
        let pe = match pv.wpe {
            Some(wpe) => wpe,
            None => {
                let pe = backend.alloc(cfg.block_size * cfg.n_embd, "sinusoid table")?;
                backend.write(pe, &sinusoidal_table(cfg.block_size, cfg.n_embd));
                pe
            }
        };
        let stats = backend.alloc(4, "stats")?;
        let keep = vec![None; cfg.n_layer];
        Ok(Gpt { cfg, backend, specs, step: 0, layout, params, pv, train: None, pe, stats, acts: None, infer: None, in_flight: None, ablated: Vec::new(), keep, drop: None })
    }

    /// wte as one tensor, which training and full-sequence forward passes need; a GPT-2 whose
    /// wte the device had to cut (see `layout::cut`) can only generate.
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

    /// The positional table the encoder adds, [block_size, C] (wpe, or the sinusoids).
    pub async fn pe_table(&mut self) -> Vec<f32> {
        self.backend.read(self.pe).await
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
        if !self.record_forward(inputs, targets, None, b, t, None, None)? {
            return Ok(None);
        }
        let s = self.backend.read(self.stats.view(0, 2)).await;
        let n = (b * t) as f32;
        Ok(Some((s[0] / n, s[1] / n)))
    }

    /// Forward pass with targets and per-position loss weights: each position's weighted loss
    /// and weighted hit (w when the argmax is the target), [B*T] each.
    pub async fn forward_rows(&mut self, inputs: &[u32], targets: &[u32], weights: &[f32], b: usize, t: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        self.record_forward(inputs, Some(targets), Some(weights), b, t, None, None)?;
        let a = self.acts.as_ref().expect("allocated by the forward pass");
        let (losses, hits) = (a.losses, a.hits);
        Ok((self.backend.read(losses).await, self.backend.read(hits).await))
    }

    /// Records the forward pass (and, with targets, the loss and hit sums into stats[0..2],
    /// each position weighted by `weights`, or 1 without) without reading anything back, with a
    /// training step's dropout if `drop`. With targets and `dlogits_scale` (a training step's
    /// 1/positions, known before its forward pass), the loss's gradient dlogits for `backward_over`
    /// is computed with the loss, in one pass over the logits. Returns whether targets were given.
    #[allow(clippy::too_many_arguments)]
    fn record_forward(&mut self, inputs: &[u32], targets: Option<&[u32]>, weights: Option<&[f32]>, b: usize, t: usize, drop: Option<StepDropout>, dlogits_scale: Option<f32>) -> Result<bool> {
        self.check_batch(inputs, b, t)?;
        if let Some(tg) = targets {
            self.check_batch(tg, b, t)?;
        }
        if let Some(w) = weights {
            if w.len() != b * t || w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(Error::Config(format!("loss weights: expected {b}×{t} = {} finite weights >= 0, got {}", b * t, w.len())));
            }
        }
        let wte = self.whole_wte()?;
        if targets.is_some() {
            self.ensure_train()?;
        }
        self.ensure_acts(b, t)?;
        // this pass overwrites the logits: dlogits of an earlier one are stale
        self.acts.as_mut().expect("allocated above").dlogits_scale = None;
        let a = self.acts.as_ref().expect("allocated above");
        let (c, v, nh) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.n_head);
        let n = b * t;
        let be = &mut self.backend;
        be.write_u32(a.inputs, inputs);
        be.encoder_forward(a.encoded, a.inputs, wte, self.pe, b, t, c, 0);
        self.drop = drop;
        if let Some(d) = drop {
            be.dropout(a.encoded, &d.mask(0, t, c), n * c);
        }
        let mut x = a.encoded;
        for (l, ((la, p), &keep)) in a.layers.iter().zip(&self.pv.blocks).zip(&self.keep).enumerate() {
            let bd = drop.map(|d| d.block(l, t, c));
            block::forward(be, la, x, p, keep, bd.as_ref(), Attn::full(la.qkv, b, t), c, nh);
            x = la.res3;
        }
        be.layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, x, self.pv.ln_f_w, self.pv.ln_f_b, n, c);
        be.matmul_forward(a.logits, a.lnf, wte, None, n, c, v);
        let Some(tg) = targets else { return Ok(false) };
        be.write_u32(a.targets, tg);
        match weights {
            Some(w) => be.write(a.weights, w),
            None if !a.weights_ones => be.write(a.weights, &vec![1.0; n]),
            None => {}
        }
        match dlogits_scale {
            Some(s) => be.crossentropy_fused(a.losses, a.hits, a.dlogits, a.logits, a.targets, a.weights, n, v, s),
            None => be.crossentropy_forward(a.losses, a.hits, a.logits, a.targets, a.weights, n, v),
        }
        be.sum(self.stats.view(0, 1), a.losses);
        be.sum(self.stats.view(1, 1), a.hits);
        let a = self.acts.as_mut().expect("allocated above");
        a.weights_ones = weights.is_none();
        a.dlogits_scale = dlogits_scale;
        Ok(true)
    }

    /// The logit lens of residual stream `l` of the last forward pass: ln_f(h_l)·wteᵀ [B,T,V],
    /// with the model's own final LayerNorm; h_0 is the embeddings (wte + positions), h_l the
    /// output of block l. At l = n_layer this recomputes the forward's own logits with the same
    /// ops on the same inputs, so they are equal bit for bit. Overwrites the forward's logits.
    pub async fn lens_logits(&mut self, l: usize) -> Result<Vec<f32>> {
        if l > self.cfg.n_layer {
            return Err(Error::Config(format!("stream {l}: the model has streams 0..={}", self.cfg.n_layer)));
        }
        let wte = self.whole_wte()?;
        let a = self.acts.as_mut().ok_or_else(|| Error::State("forward() first".into()))?;
        a.dlogits_scale = None; // the logits change
        let a = &*a;
        let (c, v, n) = (self.cfg.n_embd, self.cfg.vocab_size, a.b * a.t);
        let h = if l == 0 { a.encoded } else { a.layers[l - 1].res3 };
        self.backend.layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, h, self.pv.ln_f_w, self.pv.ln_f_b, n, c);
        self.backend.matmul_forward(a.logits, a.lnf, wte, None, n, c, v);
        Ok(self.backend.read(a.logits).await)
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
        self.backward_over((a.b * a.t) as f32);
    }

    /// `backward` with the loss averaged over `n_total` positions (the weights' sum) instead
    /// of the forward's own (data parallel: each worker's rows of a batch, so the workers'
    /// gradients sum to the whole batch's).
    pub(crate) fn backward_over(&mut self, n_total: f32) {
        let scale = 1.0 / n_total;
        // dlogits left by a fused forward are used once (and only with the same scale)
        let fused = self.acts.as_mut().and_then(|a| a.dlogits_scale.take()) == Some(scale);
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
        if !fused {
            be.crossentropy_backward(a.dlogits, a.logits, a.targets, a.weights, n, v, scale);
        }
        be.matmul_backward(a.d.dln, g.wte[0].1, None, a.dlogits, a.lnf, p.wte[0].1, n, c, v);
        let last = a.layers.last().map_or(a.encoded, |l| l.res3);
        be.zero(a.d.dstream);
        be.layernorm_backward(a.d.dstream, g.ln_f_w, g.ln_f_b, a.d.dln, last, p.ln_f_w, a.lnf_mean, a.lnf_rstd, n, c);
        for l in (0..a.layers.len()).rev() {
            let x = if l == 0 { a.encoded } else { a.layers[l - 1].res3 };
            let bd = self.drop.map(|d| d.block(l, t, c));
            block::backward(be, &g.blocks[l], &a.d, &a.layers[l], x, &p.blocks[l], self.keep[l], bd.as_ref(), b, t, c, nh);
        }
        if let Some(d) = self.drop {
            be.dropout(a.d.dstream, &d.mask(0, t, c), n * c);
        }
        be.encoder_backward(g.wte[0].1, g.wpe, a.d.dstream, a.inputs, b, t, c);
    }

    /// Ablates `heads`, (layer, head) pairs, replacing any earlier set (`&[]` ablates none): their
    /// attention output is zeroed before attn.c_proj in every forward pass (training, evaluation,
    /// decode) and so is its gradient in backward. Positions already in the KV cache keep what
    /// they were computed with: decode again from position 0. Out of range: Error::Config.
    pub fn set_ablation(&mut self, heads: &[(usize, usize)]) -> Result<()> {
        let (nl, nh) = (self.cfg.n_layer, self.cfg.n_head);
        if let Some(&(l, h)) = heads.iter().find(|&&(l, h)| l >= nl || h >= nh) {
            return Err(Error::Config(format!(
                "head {l}.{h} is out of range: the model has {nl} layers (0..{}) of {nh} heads (0..{})",
                nl - 1,
                nh - 1
            )));
        }
        let mut ablated = heads.to_vec();
        ablated.sort_unstable();
        ablated.dedup();
        // the new masks first, so that a failed allocation leaves the old set as it was
        let mut keep = vec![None; nl];
        for l in 0..nl {
            if !ablated.iter().any(|&(al, _)| al == l) {
                continue;
            }
            let mask: Vec<f32> = (0..nh).map(|h| if ablated.contains(&(l, h)) { 0.0 } else { 1.0 }).collect();
            match self.backend.alloc(nh, "head ablation mask") {
                Ok(t) => {
                    self.backend.write(t, &mask);
                    keep[l] = Some(t);
                }
                Err(e) => {
                    keep.into_iter().flatten().for_each(|t| self.backend.free(t));
                    return Err(e);
                }
            }
        }
        for t in std::mem::replace(&mut self.keep, keep).into_iter().flatten() {
            self.backend.free(t);
        }
        self.ablated = ablated;
        Ok(())
    }

    /// The ablated heads, (layer, head) sorted.
    pub fn ablation(&self) -> Vec<(usize, usize)> {
        self.ablated.clone()
    }

    /// Runs `tokens` at positions pos0.. through the model, reusing the cached keys and values
    /// of positions 0..pos0 (computed by earlier calls), and returns the logits [V] of the last
    /// new position. pos0 + tokens.len() must not exceed block_size.
    pub async fn decode(&mut self, tokens: &[u32], pos0: usize) -> Result<Vec<f32>> {
        self.decode_with(tokens, pos0, false).await
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
        let mut x = rows(s.encoded, c);
        for (l, p) in self.pv.blocks.iter().enumerate() {
            let (acts, at) = s.block(l, att[l], pos0, n, c);
            block::forward(be, &acts, x, p, self.keep[l], None, at, c, nh);
            x = acts.res3;
        }
        // ln_f and the LM head on the last position only
        let (last, ln) = (x.view((n - 1) * c, c), s.ln.view(0, c));
        be.layernorm_forward(ln, s.mean.view(0, 1), s.rstd.view(0, 1), last, self.pv.ln_f_w, self.pv.ln_f_b, 1, c);
        for &(r0, part) in &self.pv.wte {
            be.matmul_forward(s.logits.view(r0, part.len / c), ln, part, None, 1, c, part.len / c);
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
