//! One transformer block, res2 = x + attn(ln_1 x), res3 = res2 + mlp(ln_2 res2), written once
//! for training (B sequences of T positions, every activation kept for backward) and for
//! decoding (one sequence, a few new positions against a KV cache, buffers shared by all
//! layers). The one difference, how attention is called, is `Attn`. Its backward is below it.

use super::layout::Block;
use crate::backend::{Backend, DropoutMask, Tensor};

/// What one block's forward writes, N = B*Tq rows. Training keeps a set per layer for the
/// backward pass; decoding passes the same buffers for every layer, with ln_1 and ln_2 in one
/// and both projections in another (each is read before the next op overwrites it).
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockActs {
    pub ln1: Tensor,      // [N,C] ln_1 out
    pub ln1_mean: Tensor, // [N]
    pub ln1_rstd: Tensor, // [N]
    pub qkv: Tensor,      // [N,3C] c_attn out (decoding: the new rows of the KV cache)
    pub atty: Tensor,     // [N,C] attention out, attn.c_proj's input
    pub lse: Tensor,      // [B,NH,Tq] attention's log-sum-exp per query row (for backward)
    pub att: Option<Tensor>, // [B,NH,Tq,Tk] attention probabilities, only when wanted (views)
    pub attproj: Tensor,  // [N,C] attn.c_proj out
    pub res2: Tensor,     // [N,C] x + attn
    pub ln2: Tensor,      // [N,C] ln_2 out
    pub ln2_mean: Tensor, // [N]
    pub ln2_rstd: Tensor, // [N]
    pub fch: Tensor,      // [N,4C] c_fc out
    pub fchg: Tensor,     // [N,4C] gelu out
    pub fcproj: Tensor,   // [N,C] mlp.c_proj out
    pub res3: Tensor,     // [N,C] res2 + mlp: the block's output
}

/// How a block calls attention: the queries and keys it has, the one thing training and
/// decoding do differently.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attn {
    /// Sequences (B).
    pub b: usize,
    /// New positions per sequence, the queries: T in training, the new tokens in decoding.
    pub tq: usize,
    /// Positions attended over per sequence: Tq in training, pos0 + Tq with a KV cache.
    pub tk: usize,
    /// [B,Tk,3C] the q,k,v rows attention reads, whose last Tq rows per sequence are the
    /// activation `qkv`: `qkv` itself in training, the layer's cache up to Tk in decoding.
    pub kv: Tensor,
}

impl Attn {
    /// Training's (and full forward passes'): B sequences of T positions, no cache.
    pub fn full(qkv: Tensor, b: usize, t: usize) -> Attn {
        Attn { b, tq: t, tk: t, kv: qkv }
    }
}

/// A training step's dropout in one block: the masks on the two projections' outputs
/// (attn.c_proj and mlp.c_proj, before each is added to the residual stream), as GPT-2's
/// resid_pdrop. Decoding and evaluation pass none.
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockDrop {
    pub attn: DropoutMask,
    pub mlp: DropoutMask,
}

/// Gradient scratch for a block's backward, N = B*T; one set serves every layer (backward
/// visits one layer at a time, and each buffer is consumed before the next layer's).
#[derive(Clone, Copy, Debug)]
pub(super) struct BlockGrads {
    pub dstream: Tensor, // [N,C] gradient of the residual stream: d(res3) in, d(x) out
    pub dln: Tensor,     // [N,C]
    pub datty: Tensor,   // [N,C]
    pub dqkv: Tensor,    // [N,3C]
    pub dfch: Tensor,    // [N,4C]
}

/// a = the block with parameters p applied to x [N,C]. With `keep` [NH] (1 kept, 0 ablated:
/// see `Gpt::set_ablation`) the ablated heads' attention output is zeroed before attn.c_proj;
/// without, nothing is added. With `drop`, dropout on both projections' outputs.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward<B: Backend>(be: &mut B, a: &BlockActs, x: Tensor, p: &Block, keep: Option<Tensor>, drop: Option<&BlockDrop>, at: Attn, c: usize, nh: usize) {
    let n = at.b * at.tq;
    be.layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, p.ln_1_w, p.ln_1_b, n, c);
    be.matmul_forward(a.qkv, a.ln1, p.c_attn_w, Some(p.c_attn_b), n, c, 3 * c);
    be.attention_forward(a.atty, a.lse, a.att, at.kv, at.b, at.tq, at.tk, c, nh);
    if let Some(keep) = keep {
        be.head_mask(a.atty, keep, n, c, nh);
    }
    // attproj and fcproj are not read by backward (nor by anything else), so their dropout can
    // be in place; without dropout the projections add into the stream in their epilogue
    match drop {
        None => be.matmul_forward_residual(a.res2, x, a.atty, p.attn_c_proj_w, Some(p.attn_c_proj_b), n, c, c),
        Some(d) => {
            be.matmul_forward(a.attproj, a.atty, p.attn_c_proj_w, Some(p.attn_c_proj_b), n, c, c);
            be.dropout(a.attproj, &d.attn, n * c);
            be.residual_forward(a.res2, x, a.attproj, n * c);
        }
    }
    be.layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, p.ln_2_w, p.ln_2_b, n, c);
    be.matmul_forward_gelu(a.fchg, a.fch, a.ln2, p.c_fc_w, Some(p.c_fc_b), n, c, 4 * c);
    match drop {
        None => be.matmul_forward_residual(a.res3, a.res2, a.fchg, p.mlp_c_proj_w, Some(p.mlp_c_proj_b), n, 4 * c, c),
        Some(d) => {
            be.matmul_forward(a.fcproj, a.fchg, p.mlp_c_proj_w, Some(p.mlp_c_proj_b), n, 4 * c, c);
            be.dropout(a.fcproj, &d.mlp, n * c);
            be.residual_forward(a.res3, a.res2, a.fcproj, n * c);
        }
    }
}

/// Back-propagates d.dstream = d(res3) through the block of `forward(a, x, p, keep, drop,
/// Attn::full(..))`: parameter gradients are added into g, and d.dstream is left holding d(x).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward<B: Backend>(be: &mut B, g: &Block, d: &BlockGrads, a: &BlockActs, x: Tensor, p: &Block, keep: Option<Tensor>, drop: Option<&BlockDrop>, b: usize, t: usize, c: usize, nh: usize) {
    let n = b * t;
    // d(projection out) = d(stream) through the projection's dropout mask, in the free dln
    // scratch: the stream's own gradient goes on unmasked
    let through = |be: &mut B, m: Option<&DropoutMask>| match m {
        None => d.dstream,
        Some(m) => {
            be.copy(d.dln, d.dstream);
            be.dropout(d.dln, m, n * c);
            d.dln
        }
    };
    // res3 = res2 + fcproj passes d(res3) to both unchanged
    let dfcproj = through(be, drop.map(|d| &d.mlp));
    // through mlp.c_proj and the GELU before it in one op: d(fch) straight
    be.matmul_backward_gelu(d.dfch, g.mlp_c_proj_w, Some(g.mlp_c_proj_b), dfcproj, a.fchg, p.mlp_c_proj_w, a.fch, n, 4 * c, c);
    be.matmul_backward(d.dln, g.c_fc_w, Some(g.c_fc_b), d.dfch, a.ln2, p.c_fc_w, n, c, 4 * c);
    be.layernorm_backward(d.dstream, g.ln_2_w, g.ln_2_b, d.dln, a.res2, p.ln_2_w, a.ln2_mean, a.ln2_rstd, n, c);
    // now dstream = d(res2); res2 = x + attproj
    let dattproj = through(be, drop.map(|d| &d.attn));
    be.matmul_backward(d.datty, g.attn_c_proj_w, Some(g.attn_c_proj_b), dattproj, a.atty, p.attn_c_proj_w, n, c, c);
    // the ablation zeroed those columns of atty: their gradient is zero the same way
    if let Some(keep) = keep {
        be.head_mask(d.datty, keep, n, c, nh);
    }
    // out = atty as forward left it (ablated heads zeroed, as is their datty: D = 0 there)
    be.attention_backward(d.dqkv, d.datty, a.qkv, a.atty, a.lse, b, t, c, nh);
    be.matmul_backward(d.dln, g.c_attn_w, Some(g.c_attn_b), d.dqkv, a.ln1, p.c_attn_w, n, c, 3 * c);
    be.layernorm_backward(d.dstream, g.ln_1_w, g.ln_1_b, d.dln, x, p.ln_1_w, a.ln1_mean, a.ln1_rstd, n, c);
}
