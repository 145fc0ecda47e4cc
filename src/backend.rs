//! The Backend trait: the ops a GPT needs, on buffers the backend owns.
//!
//! The model (src/model/) is written once against this trait; the CPU reference backend
//! (src/cpu/) and the GPU backend (src/gpu/) implement it. Backends know nothing of the UI.
//!
//! Conventions, as in llm.c:
//! - Arguments are (outputs, inputs, then sizes B,T,C,NH...). Every buffer is row-major f32
//!   unless it holds token ids (u32).
//! - Linear weights are stored [OC, C] (out = inp · Wᵀ + b), like `nn.Linear` and llm.c.
//!   Checkpoints hold the Hugging Face GPT-2 Conv1D layout [C, OC]; src/checkpoint.rs transposes.
//! - "Input gradients" (dinp, dqkv, dlogits) are OVERWRITTEN, except in layernorm_backward,
//!   whose dinp is ADDED to: it feeds the residual stream, whose gradient flows through every
//!   block unchanged (the residual add's backward is the identity on both inputs).
//!   Parameter gradients are always ADDED to (the LM head and the encoder both add into dwte).

use crate::error::Result;

/// A view of `len` elements starting at element `off` of the backend's buffer `buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tensor {
    pub buf: usize,
    pub off: usize,
    pub len: usize,
}

impl Tensor {
    /// A sub-view `len` elements long starting `off` elements into this one.
    pub fn view(&self, off: usize, len: usize) -> Tensor {
        assert!(off + len <= self.len, "view {off}+{len} outside tensor of {}", self.len);
        Tensor { buf: self.buf, off: self.off + off, len }
    }

    /// True when the two views share any element.
    pub fn overlaps(&self, other: &Tensor) -> bool {
        self.buf == other.buf
            && self.len > 0
            && other.len > 0
            && self.off < other.off + other.len
            && other.off < self.off + self.len
    }
}

/// AdamW hyper-parameters for one update (lr already scheduled for this step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Decoupled weight decay, applied to the `decayed` ranges `Backend::adamw` is given (the
    /// matrices), not to biases, LayerNorm and other 1-D params.
    pub weight_decay: f32,
    /// 1-based step count, for bias correction.
    pub t: u32,
    /// Clip gradients to this global L2 norm; 0 disables clipping.
    pub max_norm: f32,
}

/// One dropout mask, drawn from a hash rather than stored: element i (counted from `base`) is
/// kept when `hash(base + i ^ seed) >= threshold` and then scaled by `scale`, zeroed otherwise.
/// Forward and backward recompute the same mask from the same four numbers, so nothing is kept
/// between them, and two backends (or two data-parallel workers, each with its own `base`)
/// draw the same bits. See `cpu::dropout`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    pub seed: u32,
    /// The index of the first element in the whole batch (a worker's first row times the row's
    /// elements), so a shard of a batch draws the shard of the whole batch's mask.
    pub base: u32,
    /// round(p · 2³²): the drop probability p in the hash's units.
    pub threshold: u32,
    /// 1 / (1 - p), so the expected value of a kept-or-zeroed element is the element.
    pub scale: f32,
}

/// A readback started by `Backend::read_start`, to be finished by `read_done`.
#[derive(Debug)]
pub struct Pending {
    /// The values, when the backend had them at once (the CPU).
    pub ready: Option<Vec<f32>>,
    /// The backend's own handle otherwise.
    pub id: usize,
}

#[allow(async_fn_in_trait)]
pub trait Backend {
    /// A short description: "cpu" or the GPU adapter's name and type.
    fn describe(&self) -> String;

    // ---- buffers ----
    /// A zeroed f32 buffer of `len` elements. `label` names it in errors (e.g. over a limit).
    fn alloc(&mut self, len: usize, label: &str) -> Result<Tensor>;
    /// A zeroed u32 buffer (token ids).
    fn alloc_u32(&mut self, len: usize, label: &str) -> Result<Tensor>;
    fn write(&mut self, dst: Tensor, data: &[f32]);
    fn write_u32(&mut self, dst: Tensor, data: &[u32]);
    /// Copies a tensor back to the host. Async because in a browser a GPU readback completes
    /// only once control returns to the event loop; natively (and on the CPU) it is ready
    /// when polled, and `pollster::block_on` drives it.
    fn read(&mut self, src: Tensor) -> impl std::future::Future<Output = Vec<f32>>;
    /// Starts reading `src` back without waiting: the copy is taken after the work recorded so
    /// far, which starts running now; later work may change `src` freely. `read_done` returns
    /// the values. Lets a training loop record the next step while the device finishes this one.
    fn read_start(&mut self, src: Tensor) -> Pending;
    /// The values of a `read_start`.
    fn read_done(&mut self, p: Pending) -> impl std::future::Future<Output = Vec<f32>>;
    fn zero(&mut self, t: Tensor);
    /// Releases a whole buffer (pass the tensor `alloc` returned); its handle must not be used again.
    fn free(&mut self, t: Tensor);
    /// A hint that ops will take ever-changing views of buffer `t` (the KV cache's rows, the
    /// probabilities of a growing context): the GPU binds it whole, with the view's offset in
    /// the op's parameters, so each token reuses the same bind groups. No effect on the CPU.
    fn bind_whole(&mut self, _t: Tensor) {}
    /// The most elements one buffer (one shader binding) may hold: the model cuts its
    /// parameters into buffers of at most this size.
    fn max_elems(&self) -> usize;
    /// dst = src: same length, different buffers.
    fn copy(&mut self, dst: Tensor, src: Tensor);
    /// A device fault (GPU error, device lost) met since the backend was made, if any: the
    /// results of work since then are not to be trusted.
    fn fault(&self) -> Option<String> {
        None
    }

    // ---- encoder: token embedding + positional encoding ----
    /// out[B,T,C] = wte[inp[b,t]] + pe[pos0 + t]; pe is wpe (learned) or the sinusoid table.
    #[allow(clippy::too_many_arguments)]
    fn encoder_forward(&mut self, out: Tensor, inp: Tensor, wte: Tensor, pe: Tensor, b: usize, t: usize, c: usize, pos0: usize);
    /// dwte[V,C] += scatter of dout by token; dwpe[T..,C] += sum over batch (learned PE only).
    #[allow(clippy::too_many_arguments)]
    fn encoder_backward(&mut self, dwte: Tensor, dwpe: Option<Tensor>, dout: Tensor, inp: Tensor, b: usize, t: usize, c: usize);

    // ---- layernorm over the last dim C, eps 1e-5 ----
    #[allow(clippy::too_many_arguments)]
    fn layernorm_forward(&mut self, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, bias: Tensor, n: usize, c: usize);
    #[allow(clippy::too_many_arguments)]
    fn layernorm_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, n: usize, c: usize);

    // ---- matmul: out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC] ----
    #[allow(clippy::too_many_arguments)]
    fn matmul_forward(&mut self, out: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize);
    #[allow(clippy::too_many_arguments)]
    fn matmul_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, n: usize, c: usize, oc: usize);
    /// The matmul with GELU in its epilogue (c_fc): pre[N,OC] = inp · wᵀ + bias and
    /// out[N,OC] = gelu(pre), as matmul_forward then gelu_forward.
    #[allow(clippy::too_many_arguments)]
    fn matmul_forward_gelu(&mut self, out: Tensor, pre: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize);
    /// The matmul with the residual add in its epilogue (the projections into the residual
    /// stream): out[N,OC] = res[N,OC] + (inp · wᵀ + bias), as matmul_forward then residual_forward.
    #[allow(clippy::too_many_arguments)]
    fn matmul_forward_residual(&mut self, out: Tensor, res: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize);
    /// matmul_backward followed by GELU's backward (mlp.c_proj, whose input was gelu(pre)):
    /// dinp[N,C] = (dout · w) ⊙ gelu'(pre[N,C]) (overwritten); dw, dbias added to as in matmul_backward.
    #[allow(clippy::too_many_arguments)]
    fn matmul_backward_gelu(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, pre: Tensor, n: usize, c: usize, oc: usize);

    // ---- causal multi-head attention ----
    /// qkv[B,Tk,3C] holds q,k,v rows; the Tq queries are the last Tq of the Tk positions
    /// (training: Tq = Tk = T; KV-cached decoding: Tq new rows after Tk-Tq cached ones).
    /// out[B,Tq,C]; lse[B,NH,Tq] each query row's log Σ_j exp(score_j) (what backward needs
    /// instead of the probabilities); att[B,NH,Tq,Tk], only when asked for (the attention
    /// views; training never), the softmax probabilities (zero above the diagonal).
    #[allow(clippy::too_many_arguments)]
    fn attention_forward(&mut self, out: Tensor, lse: Tensor, att: Option<Tensor>, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize);
    /// Training shapes only (Tq = Tk = T). dqkv[B,T,3C] is overwritten; dout[B,T,C], and the
    /// forward's qkv[B,T,3C], out[B,T,C] and lse[B,NH,T] (the probabilities are recomputed).
    #[allow(clippy::too_many_arguments)]
    fn attention_backward(&mut self, dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, b: usize, t: usize, c: usize, nh: usize);

    // ---- GELU, tanh approximation (GPT-2) ----
    fn gelu_forward(&mut self, out: Tensor, inp: Tensor, n: usize);
    fn gelu_backward(&mut self, dinp: Tensor, inp: Tensor, dout: Tensor, n: usize);

    // ---- head ablation ----
    /// y[N,C] in place: for each head h with keep[h] == 0 (keep [NH] holds 1 or 0), columns
    /// h·hs..(h+1)·hs (hs = C/NH) are set to 0 at every row. The model applies it to a layer's
    /// attention output (attn.c_proj's input); its backward is the same op on that gradient.
    fn head_mask(&mut self, y: Tensor, keep: Tensor, n: usize, c: usize, nh: usize);

    // ---- dropout ----
    /// y[N] in place: each element kept and scaled by m.scale, or set to 0, by the mask `m`
    /// (see `DropoutMask`). Its backward is the same op with the same mask on the gradient.
    fn dropout(&mut self, y: Tensor, m: &DropoutMask, n: usize);

    // ---- residual add ----
    fn residual_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, n: usize);

    // ---- softmax cross-entropy over V classes, fused ----
    /// losses[N] = -w·log softmax(logits)[target]; hits[N] = w when argmax == target (the first
    /// maximum wins) else 0; w = weights[N] (a task's answer tokens 1, other positions 0).
    #[allow(clippy::too_many_arguments)]
    fn crossentropy_forward(&mut self, losses: Tensor, hits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize);
    /// dlogits[N,V] = scale·w·(softmax(logits) - onehot(target)); overwritten.
    #[allow(clippy::too_many_arguments)]
    fn crossentropy_backward(&mut self, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32);
    /// `crossentropy_forward` then `crossentropy_backward` (the same numbers, bit for bit on
    /// the CPU) in one pass over the logits: a training step's loss and dlogits at once.
    #[allow(clippy::too_many_arguments)]
    fn crossentropy_fused(&mut self, losses: Tensor, hits: Tensor, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32);

    // ---- reductions and the optimizer ----
    /// out[0] = sum(x).
    fn sum(&mut self, out: Tensor, x: Tensor);
    /// out[0] = sum(x²): the squared global gradient norm when x is the flat gradient buffer.
    fn norm_sq(&mut self, out: Tensor, x: Tensor);
    /// One AdamW update of p from g with moments m, v (views of equal length: a whole parameter
    /// buffer, every tensor in it at once); g is scaled by min(1, max_norm/‖g‖) where ‖g‖² is
    /// read from grad_norm_sq[0] (kept on the device; no readback needed). Weight decay
    /// `h.weight_decay` applies to the elements in `decayed`, sorted disjoint (start, len)
    /// ranges of the views, and none to the rest. When ‖g‖² is NaN or infinite the update is
    /// skipped, so a blown-up step never reaches the weights and training can stop with the
    /// last good ones.
    #[allow(clippy::too_many_arguments)]
    fn adamw(&mut self, p: Tensor, g: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, decayed: &[(usize, usize)], h: &AdamWStep);
    /// The failure guard of pipelined steps, both [1] and updated in place (in two buffers):
    /// norm_sq += guard, then guard = norm_sq·0. The guard is 0 while norms are finite and NaN
    /// from the first that is not, so every later norm is NaN and AdamW skips every update
    /// recorded behind a failed step, until the caller zeroes the guard.
    fn failure_guard(&mut self, norm_sq: Tensor, guard: Tensor);
}
