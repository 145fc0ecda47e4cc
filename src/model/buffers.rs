//! Activation buffers: training's, allocated once per (B, T), and decoding's KV cache.

use super::block::{Attn, BlockActs, BlockGrads};
use super::Gpt;
use crate::backend::{Backend, Tensor};
use crate::error::Result;

/// Activations and gradient scratch for one (B, T).
pub(super) struct Acts {
    pub b: usize,
    pub t: usize,
    pub inputs: Tensor,   // u32 [N]
    pub targets: Tensor,  // u32 [N]
    pub encoded: Tensor,  // [N,C]
    /// Each block's activations, kept for backward.
    pub layers: Vec<BlockActs>,
    pub lnf: Tensor,      // [N,C]
    pub lnf_mean: Tensor, // [N]
    pub lnf_rstd: Tensor, // [N]
    pub logits: Tensor,   // [N,V]
    pub losses: Tensor,   // [N]
    pub hits: Tensor,     // [N]
    pub weights: Tensor,  // [N] each target's loss weight
    /// `weights` holds all ones (text), so a text batch need not write it again.
    pub weights_ones: bool,
    pub dlogits: Tensor, // [N,V]
    /// The scale of the dlogits the last forward pass left with its loss (fused), if any:
    /// backward with that scale need not compute them again.
    pub dlogits_scale: Option<f32>,
    /// The blocks' gradient scratch; ln_f's backward uses its dln and dstream too.
    pub d: BlockGrads,
    pub all: Vec<Tensor>,
}

/// KV-cached inference buffers for one sequence (B = 1) of up to block_size positions.
pub(super) struct Infer {
    pub tokens: Tensor, // u32 [T]
    pub encoded: Tensor, // [T,C]
    pub ln: Tensor,      // [T,C]
    pub mean: Tensor,    // [T]
    pub rstd: Tensor,    // [T]
    pub qkv: Vec<Tensor>, // per layer [T,3C]: the KV cache (q rows are scratch)
    pub lse: Tensor,      // [NH,T] attention's log-sum-exp, all layers in turn (unread)
    /// Attention probabilities, grown to what calls need (up to [NH,T,T]), one per layer, only
    /// when the caller keeps them (to look at): attention computes none otherwise. A call with
    /// n new rows over tk keys fills [NH,n,tk].
    pub att: Vec<Tensor>,
    /// The last decode kept every layer's attention.
    pub kept: bool,
    pub atty: Tensor,     // [T,C]
    pub proj: Tensor,     // [T,C]
    pub res_a: Tensor,    // [T,C]
    pub res_b: Tensor,    // [T,C]
    pub fch: Tensor,      // [T,4C]
    pub fchg: Tensor,     // [T,4C]
    pub logits: Tensor,   // [V]
}

impl Infer {
    /// Layer l's activations and attention call for n new positions after pos0 cached ones,
    /// with `att` [NH,n,pos0+n] if kept: every layer writes the same buffers (ln_1 and ln_2 share `ln`,
    /// both projections `proj`), except its rows of the KV cache. res2 lives in res_a and res3
    /// in res_b, so no op reads and writes the same buffer when res3 is the next layer's x.
    pub fn block(&self, l: usize, att: Option<Tensor>, pos0: usize, n: usize, c: usize) -> (BlockActs, Attn) {
        let rows = |t: Tensor, w: usize| t.view(0, n * w);
        let (ln, mean, rstd, proj) = (rows(self.ln, c), self.mean.view(0, n), self.rstd.view(0, n), rows(self.proj, c));
        let cache = self.qkv[l];
        let nh = self.lse.len / self.tokens.len; // lse is [NH,T]
        let a = BlockActs {
            ln1: ln,
            ln1_mean: mean,
            ln1_rstd: rstd,
            qkv: cache.view(pos0 * 3 * c, n * 3 * c),
            atty: rows(self.atty, c),
            lse: self.lse.view(0, nh * n),
            att,
            attproj: proj,
            res2: rows(self.res_a, c),
            ln2: ln,
            ln2_mean: mean,
            ln2_rstd: rstd,
            fch: rows(self.fch, 4 * c),
            fchg: rows(self.fchg, 4 * c),
            fcproj: proj,
            res3: rows(self.res_b, c),
        };
        (a, Attn { b: 1, tq: n, tk: pos0 + n, kv: cache.view(0, (pos0 + n) * 3 * c) })
    }
}

impl<B: Backend> Gpt<B> {
    pub(super) fn ensure_acts(&mut self, b: usize, t: usize) -> Result<()> {
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
            layers.push(BlockActs {
                ln1: f(n * c, "ln_1")?,
                ln1_mean: f(n, "ln_1 mean")?,
                ln1_rstd: f(n, "ln_1 rstd")?,
                qkv: f(n * 3 * c, "qkv")?,
                atty: f(n * c, "attention out")?,
                lse: f(b * nh * t, "attention lse")?,
                att: None,
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
        let weights = f(n, "loss weights")?;
        let dlogits = f(n * v, "dlogits")?;
        let d = BlockGrads {
            dstream: f(n * c, "dresidual")?,
            dln: f(n * c, "dln")?,
            datty: f(n * c, "datt")?,
            dqkv: f(n * 3 * c, "dqkv")?,
            dfch: f(n * 4 * c, "dfch")?,
        };
        let inputs = be.alloc_u32(n, "inputs")?;
        let targets = be.alloc_u32(n, "targets")?;
        all.push(inputs);
        all.push(targets);
        self.acts = Some(Acts {
            b, t, inputs, targets, encoded, layers, lnf, lnf_mean, lnf_rstd, logits, losses, hits,
            weights, weights_ones: false, dlogits, dlogits_scale: None, d, all,
        });
        Ok(())
    }

    pub(super) fn ensure_infer(&mut self) -> Result<()> {
        if self.infer.is_some() {
            return Ok(());
        }
        let (c, v, t, nh) = (self.cfg.n_embd, self.cfg.vocab_size, self.cfg.block_size, self.cfg.n_head);
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
            lse: f(nh * t, "attention lse")?,
            att: Vec::new(),
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
        // each token writes the next row and attends over one more: views that move
        for &q in &inf.qkv {
            be.bind_whole(q);
        }
        self.infer = Some(inf);
        Ok(())
    }

    /// Attention probability buffers of `need` elements for every layer when `keep` (grown as
    /// needed, kept for `read_decode_attention`), else none: nothing computes them.
    pub(super) fn att_bufs(&mut self, need: usize, keep: bool) -> Result<Vec<Option<Tensor>>> {
        let n_layer = self.cfg.n_layer;
        let max = self.cfg.n_head * self.cfg.block_size * self.cfg.block_size;
        let (be, s) = (&mut self.backend, self.infer.as_mut().expect("ensure_infer() first"));
        s.kept = keep;
        if !keep {
            return Ok(vec![None; n_layer]);
        }
        for l in 0..n_layer {
            let t = match s.att.get(l).copied() {
                Some(t) if t.len >= need => t,
                old => {
                    let len = need.max(old.map_or(0, |t| 2 * t.len)).min(max);
                    if let Some(t) = old {
                        be.free(t);
                    }
                    let t = be.alloc(len, "attention probabilities")?;
                    // [NH, n, tk] grows by a column a token
                    be.bind_whole(t);
                    t
                }
            };
            if l < s.att.len() {
                s.att[l] = t;
            } else {
                s.att.push(t);
            }
        }
        Ok(s.att.iter().map(|t| Some(t.view(0, need))).collect())
    }

}
