//! Hugging Face interop against what `tokenizers` and `transformers` computed
//! (tests/reference/make_hf_fixtures.py): BPE ids, a GPT-2 folder's logits, the real GPT-2
//! tokenizer, exported folders as transformers reads them, and every bad-folder error.

mod common;
use common::{assert_close, Fixture};
use pollster::block_on;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tinygpt::checkpoint::Checkpoint;
use tinygpt::config::{ModelConfig, PosEncoding};
use tinygpt::cpu::CpuBackend;
use tinygpt::hf;
use tinygpt::model::param_specs;
use tinygpt::rng::Rng;
use tinygpt::tokenizer::{BpeTokenizer, Tokenizer, TokenizerKind};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fix(p: &str) -> PathBuf {
    Path::new(FIX).join(p)
}

fn samples(fx: &Fixture) -> Vec<(String, Vec<u32>)> {
    (0..fx.m::<usize>("samples")).map(|i| (fx.meta[&format!("text.{i}")].clone(), fx.ids(&format!("ids.{i}")))).collect()
}

fn check_tokens(tok: &Tokenizer, fx: &Fixture, what: &str) {
    for (text, want) in samples(fx) {
        let ids = tok.encode(&text).unwrap();
        assert_eq!(ids, want, "{what}: ids of {text:?}");
        assert_eq!(tok.decode_bytes(&ids).unwrap(), text.as_bytes(), "{what}: round trip of {text:?}");
    }
}

/// Logits (all positions) and loss (each position predicting the next) of a checkpoint.
fn logits_and_loss(ck: Checkpoint, ids: &[u32]) -> (Vec<f32>, f32) {
    let (mut model, _, _) = ck.into_model(CpuBackend::new()).unwrap();
    let t = ids.len();
    block_on(model.forward(ids, None, 1, t)).unwrap();
    let logits = block_on(model.read_logits());
    let (loss, _) = block_on(model.forward(&ids[..t - 1], Some(&ids[1..]), 1, t - 1)).unwrap().unwrap();
    (logits, loss)
}

#[test]
fn tiny_gpt2_folder_matches_transformers() {
    let fx = Fixture::load(&fix("hf_tiny_expected.safetensors").to_string_lossy());
    let m = hf::load_dir(&fix("hf_tiny")).unwrap();
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    assert_eq!(m.checkpoint.cfg.vocab_size, fx.m::<usize>("vocab_size"));
    assert_eq!((m.checkpoint.cfg.n_layer, m.checkpoint.cfg.n_head, m.checkpoint.cfg.n_embd, m.checkpoint.cfg.block_size), (2, 4, 64, 32));
    check_tokens(&m.checkpoint.tokenizer, &fx, "tokenizer.json");

    let vocab = std::fs::read_to_string(fix("hf_tiny/vocab.json")).unwrap();
    let merges = std::fs::read_to_string(fix("hf_tiny/merges.txt")).unwrap();
    check_tokens(&Tokenizer::Bpe(BpeTokenizer::from_vocab_merges(&vocab, &merges).unwrap()), &fx, "vocab.json + merges.txt");

    let ids = fx.ids("input_ids");
    let (logits, loss) = logits_and_loss(m.checkpoint, &ids);
    assert_close("logits", &logits, fx.f("logits"), 1e-4, 1e-4);
    assert_close("loss", &[loss], fx.f("loss"), 1e-4, 1e-4);
}

#[test]
fn real_gpt2_tokenizer_ids_match() {
    let fx = Fixture::load(&fix("gpt2_tokenizer/expected.safetensors").to_string_lossy());
    let vocab = std::fs::read_to_string(fix("gpt2_tokenizer/encoder.json")).unwrap();
    let merges = std::fs::read_to_string(fix("gpt2_tokenizer/vocab.bpe")).unwrap();
    let tok = Tokenizer::Bpe(BpeTokenizer::from_vocab_merges(&vocab, &merges).unwrap());
    assert_eq!(tok.vocab_size(), 50257);
    check_tokens(&tok, &fx, "GPT-2");
    // survives the checkpoint's JSON
    let back = Tokenizer::from_json(&tok.to_json()).unwrap();
    assert_eq!(back.encode("Hello world! 🦀").unwrap(), tok.encode("Hello world! 🦀").unwrap());
}

// ---------------------------------------------------------------- folder variants

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tinygpt-hf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of hf_tiny with `edit` applied to its tensors (name -> (dtype, shape, bytes)).
fn tiny_copy(name: &str, edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> PathBuf {
    let d = tmpdir(name);
    for f in ["config.json", "tokenizer.json", "vocab.json", "merges.txt"] {
        std::fs::copy(fix("hf_tiny").join(f), d.join(f)).unwrap();
    }
    let bytes = std::fs::read(fix("hf_tiny/model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = st.tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    edit(&mut tensors);
    let views: Vec<_> = tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    std::fs::write(d.join("model.safetensors"), safetensors::serialize(views, None).unwrap()).unwrap();
    d
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|x| f32::from_le_bytes(x.try_into().unwrap())).collect()
}

#[test]
fn folder_variants_give_the_same_model() {
    let fx = Fixture::load(&fix("hf_tiny_expected.safetensors").to_string_lossy());
    let ids = fx.ids("input_ids");

    // The hub's layout: no `transformer.` prefix, the causal-mask buffers, a tied lm_head.
    let d = tiny_copy("noprefix", |ts| {
        let wte = ts.iter().find(|t| t.0 == "transformer.wte.weight").unwrap().clone();
        for t in ts.iter_mut() {
            t.0 = t.0.trim_start_matches("transformer.").to_string();
        }
        ts.push(("lm_head.weight".into(), wte.1, wte.2, wte.3));
        ts.push(("h.0.attn.bias".into(), Dtype::F32, vec![1, 1, 32, 32], vec![0; 32 * 32 * 4]));
    });
    std::fs::remove_file(d.join("tokenizer.json")).unwrap(); // vocab.json + merges.txt only
    let m = hf::load_dir(&d).unwrap();
    let (logits, _) = logits_and_loss(m.checkpoint, &ids);
    assert_close("logits without prefix", &logits, fx.f("logits"), 1e-4, 1e-4);

    // Half precision is converted to f32, and said so.
    for (dtype, name) in [(Dtype::F16, "F16"), (Dtype::BF16, "BF16")] {
        let d = tiny_copy(name, |ts| {
            for t in ts.iter_mut() {
                let halves: Vec<u8> = f32s(&t.3)
                    .iter()
                    .flat_map(|&x| {
                        let h = if dtype == Dtype::F16 { to_f16(x) } else { (x.to_bits() >> 16) as u16 };
                        h.to_le_bytes()
                    })
                    .collect();
                t.1 = dtype;
                t.3 = halves;
            }
        });
        let m = hf::load_dir(&d).unwrap();
        assert!(m.notes.iter().any(|n| n.contains(&format!("{name} tensor(s) to f32"))), "{:?}", m.notes);
        let (logits, _) = logits_and_loss(m.checkpoint, &ids);
        assert_close(&format!("logits from {name}"), &logits, fx.f("logits"), 0.1, 0.05);
        std::fs::remove_dir_all(&d).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// f32 -> f16 by truncation (enough for a test of the f16 reader).
fn to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

// ---------------------------------------------------------------- bad folders

fn load_err(d: &Path) -> String {
    match hf::load_dir(d) {
        Ok(_) => panic!("{} loaded, expected an error", d.display()),
        Err(e) => e.to_string(),
    }
}

fn expect(e: &str, needles: &[&str]) {
    for n in needles {
        assert!(e.contains(n), "error should mention {n:?}: {e}");
    }
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

#[test]
fn bad_folders_name_the_file_and_the_mismatch() {
    // a missing file
    for (file, needle) in [("config.json", "config.json"), ("model.safetensors", "model.safetensors")] {
        let d = tiny_copy(&format!("missing-{file}"), |_| {});
        std::fs::remove_file(d.join(file)).unwrap();
        expect(&load_err(&d), &[needle]);
    }
    let d = tiny_copy("missing-tok", |_| {});
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    std::fs::remove_file(d.join("merges.txt")).unwrap();
    expect(&load_err(&d), &["merges.txt", "missing"]);
    std::fs::remove_file(d.join("vocab.json")).unwrap();
    expect(&load_err(&d), &["no tokenizer", "tokenizer.json", "vocab.json + merges.txt"]);

    // another architecture
    let d = tiny_copy("llama", |_| {});
    edit_json(&d.join("config.json"), |v| v["model_type"] = "llama".into());
    expect(&load_err(&d), &["config.json", "model_type", "\"llama\"", "\"gpt2\""]);
    // an absurd config is refused before anything is allocated
    edit_json(&d.join("config.json"), |v| {
        v["model_type"] = "gpt2".into();
        v["n_layer"] = 1_000_000.into();
    });
    expect(&load_err(&d), &["config.json", "n_layer", "1000000"]);

    // the tokenizer's vocabulary does not match vocab_size
    let d = tiny_copy("vocab", |_| {});
    edit_json(&d.join("config.json"), |v| v["vocab_size"] = 301.into());
    expect(&load_err(&d), &["tokenizer.json", "300 tokens", "vocab_size = 301"]);

    // a tensor of the wrong shape, a missing one, an unexpected one, a wrong dtype
    let d = tiny_copy("shape", |ts| {
        let t = ts.iter_mut().find(|t| t.0 == "transformer.h.1.mlp.c_fc.weight").unwrap();
        t.2 = vec![256, 64];
    });
    expect(&load_err(&d), &["model.safetensors", "transformer.h.1.mlp.c_fc.weight", "[256, 64]", "[64, 256]"]);
    let d = tiny_copy("missing-tensor", |ts| ts.retain(|t| t.0 != "transformer.ln_f.bias"));
    expect(&load_err(&d), &["model.safetensors", "transformer.ln_f.bias", "missing"]);
    let d = tiny_copy("extra", |ts| ts.push(("transformer.h.2.ln_1.weight".into(), Dtype::F32, vec![64], vec![0; 256])));
    expect(&load_err(&d), &["unexpected", "transformer.h.2.ln_1.weight"]);
    let d = tiny_copy("dtype", |ts| {
        let t = ts.iter_mut().find(|t| t.0 == "transformer.wpe.weight").unwrap();
        t.1 = Dtype::I32;
    });
    expect(&load_err(&d), &["transformer.wpe.weight", "I32", "expected F32, F16 or BF16"]);
    let d = tiny_copy("untied", |ts| ts.push(("lm_head.weight".into(), Dtype::F32, vec![300, 64], vec![0; 300 * 64 * 4])));
    expect(&load_err(&d), &["lm_head.weight", "untied"]);
    let d = tiny_copy("nan", |ts| {
        let t = ts.iter_mut().find(|t| t.0 == "transformer.ln_f.weight").unwrap();
        t.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    expect(&load_err(&d), &["transformer.ln_f.weight", "non-finite", "index 2"]);

    // truncated or garbage weights: found from the header, before reading tensors
    let d = tiny_copy("truncated", |_| {});
    let w = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &w[..w.len() / 2]).unwrap();
    expect(&load_err(&d), &["model.safetensors", "outside", "truncated"]);
    let mut huge = (1u64 << 40).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    std::fs::write(d.join("model.safetensors"), huge).unwrap();
    expect(&load_err(&d), &["model.safetensors", "header length 1099511627776"]);

    // tokenizers that are not GPT-2's kind
    let d = tiny_copy("wordpiece", |_| {});
    edit_json(&d.join("tokenizer.json"), |v| v["model"]["type"] = "WordPiece".into());
    expect(&load_err(&d), &["tokenizer.json", "model.type", "WordPiece"]);
    edit_json(&d.join("tokenizer.json"), |v| {
        v["model"]["type"] = "BPE".into();
        v["pre_tokenizer"]["add_prefix_space"] = true.into();
    });
    expect(&load_err(&d), &["tokenizer.json", "add_prefix_space"]);
    std::fs::write(d.join("tokenizer.json"), "{not json").unwrap();
    expect(&load_err(&d), &["tokenizer.json", "not valid JSON"]);
}

// ---------------------------------------------------------------- export

const EXPORT_TEXT: &str = "ROMEO:\nBut soft, what light through yonder window breaks? Café 🦀  ok\n";

/// Deterministic tinygpt models to export: weights from integer random bits (no libm), so
/// every platform writes the same bytes.
fn export_models() -> Vec<(&'static str, Checkpoint)> {
    let corpus = format!("{EXPORT_TEXT}{}", "It is the east, and Juliet is the sun. Arise, fair sun!\n".repeat(5));
    let mut out = Vec::new();
    for (name, kind, pos, seed) in [
        ("char_sinusoidal", TokenizerKind::Char, PosEncoding::Sinusoidal, 1),
        ("bpe_learned", TokenizerKind::Bpe(300), PosEncoding::Learned, 2),
    ] {
        let tokenizer = Tokenizer::train(kind, &corpus).unwrap();
        let cfg = ModelConfig { vocab_size: tokenizer.vocab_size(), n_layer: 2, n_head: 2, n_embd: 16, block_size: 16, pos };
        let mut rng = Rng::new(seed);
        let tensors: HashMap<String, Vec<f32>> = param_specs(&cfg)
            .into_iter()
            .map(|s| {
                let centre = if s.name.contains(".ln_") && s.name.ends_with(".weight") { 1.0 } else { 0.0 };
                (s.name, (0..s.len).map(|_| centre + rng.uniform_f32() - 0.5).collect())
            })
            .collect();
        out.push((name, Checkpoint { cfg, tokenizer, step: 0, train: None, tensors }));
    }
    out
}

fn safetensors_f32(bytes: &[u8]) -> (HashMap<String, String>, Vec<(String, Vec<usize>, Vec<f32>)>) {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut ts: Vec<_> = st.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), f32s(t.data()))).collect();
    ts.sort_by(|a, b| a.0.cmp(&b.0));
    (header.metadata().clone().unwrap_or_default(), ts)
}

#[test]
fn export_is_what_transformers_read() {
    let write = std::env::var_os("TINYGPT_WRITE_FIXTURES").is_some();
    let regen = "rerun TINYGPT_WRITE_FIXTURES=1 cargo test --test hf export, then tests/reference/make_hf_fixtures.py";
    let expected = (!write).then(|| Fixture::load(&fix("hf_export_expected.safetensors").to_string_lossy()));
    for (name, ck) in export_models() {
        let dir = fix("hf_export").join(name);
        let files = hf::export_files(&ck).unwrap();
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            for (f, bytes) in &files {
                std::fs::write(dir.join(f), bytes).unwrap();
            }
            std::fs::write(dir.join("sample.json"), serde_json::json!({ "text": EXPORT_TEXT }).to_string()).unwrap();
            continue;
        }
        // The committed folder (which transformers read) is what the exporter writes today.
        for (f, bytes) in &files {
            let committed = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{name}/{f}: {e}; {regen}"));
            if f == hf::WEIGHTS {
                // values to 1e-6: the sinusoid table may differ in the last bit across libms
                let (m1, t1) = safetensors_f32(bytes);
                let (m2, t2) = safetensors_f32(&committed);
                assert_eq!(m1, m2, "{name}/{f} metadata; {regen}");
                assert_eq!(t1.iter().map(|t| (&t.0, &t.1)).collect::<Vec<_>>(), t2.iter().map(|t| (&t.0, &t.1)).collect::<Vec<_>>(), "{name}/{f}; {regen}");
                for (a, b) in t1.iter().zip(&t2) {
                    assert_close(&format!("{name}/{f} {}", a.0), &a.2, &b.2, 1e-6, 0.0);
                }
            } else {
                assert!(bytes == &committed, "{name}/{f} differs from the committed export; {regen}");
            }
        }
        let fx = expected.as_ref().unwrap();
        assert_eq!(fx.meta[&format!("{name}.text")], EXPORT_TEXT);
        // transformers' tokenizer (loaded from our tokenizer.json) gave the ids we give
        let want_ids = fx.ids(&format!("{name}.ids"));
        assert_eq!(ck.tokenizer.encode(EXPORT_TEXT).unwrap(), want_ids, "{name}: ids");
        // ... and GPT2LMHeadModel the logits our model gives
        let x = &want_ids[..want_ids.len().min(ck.cfg.block_size)];
        let (logits, _) = logits_and_loss(ck.clone(), x);
        assert_close(&format!("{name}: logits"), &logits, fx.f(&format!("{name}.logits")), 1e-4, 1e-4);

        // and the folder imports back to the same model (a sinusoid table becomes a learned wpe)
        let m = hf::load_dir(&dir).unwrap();
        assert_eq!(m.checkpoint.tokenizer, ck.tokenizer);
        assert_eq!(m.checkpoint.cfg, ModelConfig { pos: PosEncoding::Learned, ..ck.cfg.clone() });
        let (back, _) = logits_and_loss(m.checkpoint, x);
        assert_close(&format!("{name}: logits after import"), &back, &logits, 1e-5, 1e-5);
    }
}

// ---------------------------------------------------------------- folders from memory (the page)

#[test]
fn picked_files_load_as_the_folder_does() {
    // The page hands over the user's files by name; extra files are ignored.
    let dir = fix("hf_tiny");
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        files.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
    }
    let disk = hf::load_dir(&dir).unwrap().checkpoint;
    let mem = hf::load(&hf::MemFolder(files.clone())).unwrap().checkpoint;
    assert_eq!((mem.cfg.clone(), &mem.tokenizer), (disk.cfg.clone(), &disk.tokenizer));
    assert_eq!(mem.tensors, disk.tensors);

    // each missing piece is named; a truncated weights file is caught from its header
    for (drop, needle) in [("config.json", "config.json: missing"), ("model.safetensors", "model.safetensors: missing")] {
        let mut f = files.clone();
        f.remove(drop);
        let e = hf::load(&hf::MemFolder(f)).err().expect("refused").to_string();
        assert!(e.contains(needle), "{e}");
    }
    let mut f = files.clone();
    f.retain(|k, _| k == "config.json" || k == "model.safetensors");
    let e = hf::load(&hf::MemFolder(f)).err().expect("refused").to_string();
    assert!(e.contains("no tokenizer"), "{e}");
    let mut f = files;
    let w = f.get_mut("model.safetensors").unwrap();
    w.truncate(w.len() / 2);
    let e = hf::load(&hf::MemFolder(f)).err().expect("refused").to_string();
    assert!(e.contains("model.safetensors") && e.contains("outside"), "{e}");
}

#[test]
fn loading_straight_into_a_model_matches_the_checkpoint_path() {
    // The page reads a folder tensor by tensor into the model (never holding the weights twice).
    let dir = fix("hf_tiny");
    let ck = hf::load_dir(&dir).unwrap().checkpoint;
    let (mut model, tok, notes) = hf::load_into(&hf::DiskFolder(&dir), CpuBackend::new()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(tok, ck.tokenizer);
    for s in param_specs(&ck.cfg) {
        assert_eq!(block_on(model.read_hf(&s.name, tinygpt::model::Slot::Param)).unwrap(), ck.tensors[&s.name], "{}", s.name);
    }
    // a device too small for the model is refused before any weight is read
    let e = hf::load_into(&hf::DiskFolder(&dir), CpuBackend::with_max_elems(16)).err().expect("refused").to_string();
    assert!(e.contains("more than") && e.contains("buffer"), "{e}");
}
