#!/usr/bin/env python3
"""PyTorch reference for the lab (logit lens, head ablation, surprisal, head scores).

Writes tests/fixtures/lab.safetensors; tests/lab_reference.rs compares tinygpt with it.
Run by hand (needs torch and safetensors):

    python3 tests/reference/make_lab_fixture.py

The tiny model and its weights are make_fixtures.py's (learned positions), written out in
float64 torch so every operation is visible; the definitions are the lab's (src/lab.rs).
"""

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import BLOCK_SIZE, C, HS, N_HEAD, N_LAYER, OUT_DIR, V, f32, init_params, layer_norm  # noqa: E402

torch.set_default_dtype(torch.float64)
ABLATE = [(0, 1), (1, 0)]  # (layer, head) pairs ablated in the ablation fixture


def run(params, idx, ablate=()):
    """One sequence idx [T]: (streams h_0..h_L [L+1,T,C], attention per layer [NH,T,T], logits [T,V])."""
    t = idx.shape[0]
    x = params["transformer.wte.weight"][idx] + params["transformer.wpe.weight"][:t]
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    streams, atts = [x], []
    for i in range(N_LAYER):
        p = lambda n: params[f"transformer.h.{i}.{n}"]  # noqa: E731
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
        q, k, v = (h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")).split(C, dim=-1)
        q, k, v = (z.view(t, N_HEAD, HS).transpose(0, 1) for z in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(HS)).masked_fill(~causal, float("-inf")).softmax(-1)
        atts.append(att)
        y = (att @ v).transpose(0, 1).contiguous().view(t, C)
        # zero-ablation: the head's columns of attn.c_proj's input, at every position
        for (l, hd) in ablate:
            if l == i:
                y[:, hd * HS:(hd + 1) * HS] = 0
        x = x + (y @ p("attn.c_proj.weight") + p("attn.c_proj.bias"))
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
        h = F.gelu(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"), approximate="tanh")
        x = x + (h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias"))
        streams.append(x)
    lnf = lambda z: layer_norm(z, params["transformer.ln_f.weight"], params["transformer.ln_f.bias"])  # noqa: E731
    return torch.stack(streams), atts, lnf(x) @ params["transformer.wte.weight"].T, lnf


def main():
    torch.manual_seed(4321)
    params = {k: v.detach() for k, v in init_params("learned").items()}
    out = {f"param.{k}": f32(v) for k, v in params.items()}
    wte = params["transformer.wte.weight"]

    # logit lens at every stream and position
    lens_ids = torch.randint(0, V, (BLOCK_SIZE,))
    streams, _, logits, lnf = run(params, lens_ids)
    out["lens_ids"] = lens_ids.to(torch.int64)
    out["lens_probs"] = f32(torch.stack([(lnf(s) @ wte.T).softmax(-1) for s in streams]))  # [L+1,T,V]
    out["lens_logits"] = f32(logits)

    # two heads ablated: logits and loss
    ab_ids, ab_tgt = torch.randint(0, V, (BLOCK_SIZE,)), torch.randint(0, V, (BLOCK_SIZE,))
    _, _, ab_logits, _ = run(params, ab_ids, ABLATE)
    out["ablate_ids"], out["ablate_targets"] = ab_ids.to(torch.int64), ab_tgt.to(torch.int64)
    out["ablate_logits"] = f32(ab_logits)
    out["ablate_loss"] = f32(F.cross_entropy(ab_logits, ab_tgt).reshape(1))

    # surprisal over eval's windows plus a last, shorter one
    sur_ids = torch.randint(0, V, (20,))
    sur = []
    i = 0
    while i + 1 < len(sur_ids):
        n = min(BLOCK_SIZE, len(sur_ids) - 1 - i)
        _, _, lg, _ = run(params, sur_ids[i:i + n])
        sur.append(-lg.log_softmax(-1)[torch.arange(n), sur_ids[i + 1:i + n + 1]])
        i += n
    out["sur_ids"] = sur_ids.to(torch.int64)
    out["surprisal"] = f32(torch.cat(sur))  # tokens 1..

    # head scores: previous-token and first-token on the text cut to the context; induction on
    # its first half fed twice
    sc_ids = torch.randint(0, V, (BLOCK_SIZE + 3,))
    x = sc_ids[:BLOCK_SIZE]
    _, atts, _, _ = run(params, x)
    r = torch.arange(1, len(x))
    out["previous_token"] = f32(torch.stack([a[:, r, r - 1].mean(-1) for a in atts]))
    out["first_token"] = f32(torch.stack([a[:, r, 0].mean(-1) for a in atts]))
    n = min(len(sc_ids), BLOCK_SIZE // 2)
    _, atts2, _, _ = run(params, torch.cat([sc_ids[:n], sc_ids[:n]]))
    r = torch.arange(n, 2 * n)
    out["induction"] = f32(torch.stack([a[:, r, r - n + 1].mean(-1) for a in atts2]))
    out["score_ids"] = sc_ids.to(torch.int64)

    meta = {"vocab_size": str(V), "n_layer": str(N_LAYER), "n_head": str(N_HEAD), "n_embd": str(C),
            "block_size": str(BLOCK_SIZE), "pos": "learned", "ablate": ",".join(f"{l}.{h}" for l, h in ABLATE)}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "lab.safetensors"
    save_file(out, str(path), metadata=meta)
    print(f"wrote {path} ({path.stat().st_size} bytes); ablated loss {out['ablate_loss'].item():.6f}")


if __name__ == "__main__":
    main()
