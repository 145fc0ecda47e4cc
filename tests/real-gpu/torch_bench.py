"""PyTorch's figures next to `tinygpt bench` on the same GPU (run by tests/real-gpu/run.sh).

- torch.matmul fp32 2048^3 with TF32 off (what tinygpt's f32 kernels compute), GFLOP/s;
- one training step of tinygpt's `small` preset (nanoGPT's shakespeare-char GPU recipe without
  dropout: 6 layers, 6 heads, 384 wide, context 256, batch 64, vocabulary 65; `--preset baby`
  for the CPU comparison), the same architecture (pre-LN, GELU (tanh), tied LM head, learned wpe, AdamW), fp32, eager, ms/step.
One JSON object per line on stdout.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# (vocab, layers, heads, width, context, batch), as tinygpt's presets
SHAPES = {"small": (65, 6, 6, 384, 256, 64), "baby": (65, 4, 4, 128, 64, 12), "page": (65, 6, 6, 192, 128, 16)}
# resid dropout on both projections' outputs, as tinygpt's presets (page: 0.1)
DROPOUT = {"page": 0.1}


class Block(nn.Module):
    def __init__(self, c, nh, p=0.0):
        super().__init__()
        self.nh = nh
        self.drop = nn.Dropout(p)
        self.ln_1 = nn.LayerNorm(c)
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)
        self.ln_2 = nn.LayerNorm(c)
        self.c_fc = nn.Linear(c, 4 * c)
        self.mlp_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.nh, c // self.nh).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.drop(self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c)))
        return x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class GPT(nn.Module):
    def __init__(self, v, l, nh, c, t, p=0.0):
        super().__init__()
        self.wte = nn.Embedding(v, c)
        self.wpe = nn.Embedding(t, c)
        self.h = nn.ModuleList(Block(c, nh, p) for _ in range(l))
        self.ln_f = nn.LayerNorm(c)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    # `baby` (4 layers, 4 heads, 128 wide, context 64, batch 12) is the CPU comparison next to
    # `tinygpt bench --backend cpu` (docs/benchmarks.md); `small` is the GPU one.
    ap.add_argument("--preset", choices=sorted(SHAPES), default="small")
    ap.add_argument("--no-matmul", action="store_true", help="skip the 2048^3 matmul")
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"

    if not a.no_matmul:
        matmul(dev, name)
    step_time(dev, name, a.preset, a.steps)


def matmul(dev, name):
    n = 2048
    x, w = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    for _ in range(3):
        x @ w
    sync(dev)
    reps = 20 if dev.type == "cuda" else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        x @ w
    sync(dev)
    s = (time.perf_counter() - t0) / reps
    print(json.dumps({"framework": "torch", "device": name, "kernel": "matmul fp32 (TF32 off)", "n": n, "ms": s * 1e3, "gflops": 2 * n**3 / s / 1e9}))


def step_time(dev, name, preset, steps):
    torch.manual_seed(1)
    v, l, nh, c, t, b = SHAPES[preset]
    model = GPT(v, l, nh, c, t, DROPOUT.get(preset, 0.0)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    idx = torch.randint(0, v, (b, t), device=dev)
    tgt = torch.randint(0, v, (b, t), device=dev)

    def step():
        loss = model(idx, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(2):
        step()
    sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(dev)
    ms = (time.perf_counter() - t0) * 1e3 / steps
    assert math.isfinite(loss.item())
    print(json.dumps({"framework": "torch", "device": name, "preset": preset, "ms_per_step": ms, "tokens_per_s": b * t / (ms / 1e3)}))


if __name__ == "__main__":
    main()
