#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for the tinygpt Rust model.

Writes tests/fixtures/gpt_learned.safetensors and
tests/fixtures/gpt_sinusoidal.safetensors. Run by hand:

    python3 tests/reference/make_fixtures.py

The model is written directly in torch (not `transformers`) so every
operation is visible and matches the Rust implementation one to one.
Everything is computed in float64 so the reference is far more precise than
the float32 Rust side; values are stored as float32 to keep files small.
"""

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------- config
V = 17           # vocab_size
N_LAYER = 2
N_HEAD = 2
C = 16           # n_embd
BLOCK_SIZE = 8
B = 2            # batch
T = 8            # sequence length (== block_size)
HS = C // N_HEAD

LR = 1e-2
BETA1, BETA2 = 0.9, 0.99
EPS = 1e-8
WEIGHT_DECAY = 0.1   # applied to 2-D params only
STEPS = 5
LN_EPS = 1e-5

SEEDS = {"learned": 1234, "sinusoidal": 5678}  # different seed per mode

OUT_DIR = Path(__file__).resolve().parent.parent / "fixtures"


# ---------------------------------------------------------------- params
def param_shapes(pos):
    """HF GPT-2 parameter names and shapes (Conv1D weights are [in, out])."""
    shapes = {"transformer.wte.weight": (V, C)}
    if pos == "learned":
        shapes["transformer.wpe.weight"] = (BLOCK_SIZE, C)
    for i in range(N_LAYER):
        p = f"transformer.h.{i}."
        shapes[p + "ln_1.weight"] = (C,)
        shapes[p + "ln_1.bias"] = (C,)
        shapes[p + "attn.c_attn.weight"] = (C, 3 * C)
        shapes[p + "attn.c_attn.bias"] = (3 * C,)
        shapes[p + "attn.c_proj.weight"] = (C, C)
        shapes[p + "attn.c_proj.bias"] = (C,)
        shapes[p + "ln_2.weight"] = (C,)
        shapes[p + "ln_2.bias"] = (C,)
        shapes[p + "mlp.c_fc.weight"] = (C, 4 * C)
        shapes[p + "mlp.c_fc.bias"] = (4 * C,)
        shapes[p + "mlp.c_proj.weight"] = (4 * C, C)
        shapes[p + "mlp.c_proj.bias"] = (C,)
    shapes["transformer.ln_f.weight"] = (C,)
    shapes["transformer.ln_f.bias"] = (C,)
    return shapes


def init_params(pos):
    """Random init, deliberately larger than GPT-2's 0.02 so the
    nonlinearities (softmax, GELU, LayerNorm) are exercised non-trivially."""
    params = {}
    for name, shape in param_shapes(pos).items():
        if name in ("transformer.wte.weight", "transformer.wpe.weight"):
            t = torch.randn(shape) * 0.5
        elif ".ln_" in name and name.endswith(".weight"):
            t = 1.0 + torch.randn(shape) * 0.1
        elif name.endswith(".bias"):
            t = torch.randn(shape) * 0.1
        else:  # the four weight matrices per layer
            t = torch.randn(shape) * 0.3
        params[name] = torch.nn.Parameter(t)
    return params


def sinusoidal_table():
    """Fixed PE table: channel j uses angle pos / 10000**((j - j%2)/C),
    sin for even j, cos for odd j. Computed in float64, not trainable."""
    pos = torch.arange(BLOCK_SIZE, dtype=torch.float64)[:, None]
    j = torch.arange(C)
    expo = (j - j % 2).to(torch.float64) / C
    angle = pos / torch.pow(torch.tensor(10000.0), expo)[None, :]
    return torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))


# ---------------------------------------------------------------- model
def layer_norm(x, w, b):
    return F.layer_norm(x, (C,), w, b, eps=LN_EPS)


def forward(params, pos, idx, targets):
    """Returns (logits [B,T,V], mean cross-entropy loss)."""
    Bn, Tn = idx.shape
    wte = params["transformer.wte.weight"]
    if pos == "learned":
        pe = params["transformer.wpe.weight"][:Tn]
    else:
        pe = sinusoidal_table()[:Tn]
    x = wte[idx] + pe

    # Causal mask: True where attention is allowed (key <= query).
    causal = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))

    for i in range(N_LAYER):
        p = lambda n: params[f"transformer.h.{i}.{n}"]  # noqa: E731

        # --- attention (pre-LN). Conv1D layout: y = x @ W + b.
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")
        q, k, v = qkv.split(C, dim=-1)
        # [B,T,C] -> [B,nh,T,hs]; head h takes channels h*hs:(h+1)*hs.
        q = q.view(Bn, Tn, N_HEAD, HS).transpose(1, 2)
        k = k.view(Bn, Tn, N_HEAD, HS).transpose(1, 2)
        v = v.view(Bn, Tn, N_HEAD, HS).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
        att = att.masked_fill(~causal, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(Bn, Tn, C)
        x = x + (y @ p("attn.c_proj.weight") + p("attn.c_proj.bias"))

        # --- MLP (pre-LN), tanh-approximate GELU as in GPT-2.
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
        h = F.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
        x = x + (h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias"))

    x = layer_norm(x, params["transformer.ln_f.weight"], params["transformer.ln_f.bias"])
    logits = x @ wte.T  # LM head tied to wte
    loss = F.cross_entropy(logits.view(-1, V), targets.view(-1))
    return logits, loss


# ---------------------------------------------------------------- fixtures
def f32(t):
    return t.detach().to(torch.float32).contiguous()


def make_fixture(pos):
    torch.manual_seed(SEEDS[pos])
    params = init_params(pos)
    idx = torch.randint(0, V, (B, T), dtype=torch.int64)
    targets = torch.randint(0, V, (B, T), dtype=torch.int64)  # independent

    out = {}
    for name, prm in params.items():
        out[f"param.{name}"] = f32(prm)

    # Forward/backward at the initial weights. wte.grad naturally sums the
    # embedding-lookup and tied-LM-head contributions.
    logits, loss = forward(params, pos, idx, targets)
    loss.backward()
    for name, prm in params.items():
        out[f"grad.{name}"] = f32(prm.grad)
    out["inputs"] = idx.clone()
    out["targets"] = targets.clone()
    out["logits"] = f32(logits)
    out["loss"] = f32(loss.reshape(1))

    # Clip threshold: half the initial grad norm (3 significant digits) so
    # clipping is guaranteed to trigger on step 0 and the Rust side's
    # clipping path is actually tested.
    init_norm = torch.sqrt(sum((prm.grad ** 2).sum() for prm in params.values())).item()
    max_norm = float(f"{init_norm / 2:.3g}")
    for prm in params.values():
        prm.grad = None

    # AdamW: decay 2-D params (embeddings + weight matrices), not 1-D ones.
    all_params = list(params.values())
    decay = [prm for prm in all_params if prm.dim() == 2]
    no_decay = [prm for prm in all_params if prm.dim() == 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=LR, betas=(BETA1, BETA2), eps=EPS,
    )
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        _, step_loss = forward(params, pos, idx, targets)  # same batch each step
        step_loss.backward()
        # Returns the total (pre-clipping) norm.
        norm = torch.nn.utils.clip_grad_norm_(all_params, max_norm)
        opt.step()
        losses.append(step_loss.item())
        norms.append(norm.item())
    assert norms[0] > max_norm, "clipping must trigger on step 0"
    assert losses[0] == loss.item()

    out["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    out["adamw_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    for name, prm in params.items():
        out[f"final.{name}"] = f32(prm)

    metadata = {
        "vocab_size": str(V),
        "n_layer": str(N_LAYER),
        "n_head": str(N_HEAD),
        "n_embd": str(C),
        "block_size": str(BLOCK_SIZE),
        "batch": str(B),
        "pos": pos,
        "lr": repr(LR),
        "beta1": repr(BETA1),
        "beta2": repr(BETA2),
        "eps": repr(EPS),
        "weight_decay": repr(WEIGHT_DECAY),
        "max_norm": repr(max_norm),
        "steps": str(STEPS),
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"gpt_{pos}.safetensors"
    save_file(out, str(path), metadata=metadata)

    print(f"[{pos}] wrote {path} ({path.stat().st_size} bytes)")
    print(f"  loss            = {loss.item():.6f}")
    print(f"  max_norm        = {max_norm}")
    print(f"  adamw_losses    = {[round(x, 6) for x in losses]}")
    print(f"  adamw_grad_norms= {[round(x, 6) for x in norms]}")


if __name__ == "__main__":
    for mode in ("learned", "sinusoidal"):
        make_fixture(mode)
