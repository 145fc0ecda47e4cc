//! Whole-model behaviour on the CPU backend: determinism, learning, KV-cache equivalence,
//! checkpoint round-trips and resume, and checkpoint files that must be refused.

use pollster::block_on;
use tinygpt::checkpoint;
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::cpu::CpuBackend;
use tinygpt::data::Dataset;
use tinygpt::model::{Gpt, Slot};
use tinygpt::sample::{generate, SampleConfig};
use tinygpt::tokenizer::{CharTokenizer, Tokenizer};
use tinygpt::train::{evaluate, Trainer};

const TEXT: &str = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\nAnd by opposing end them. To die—to sleep,\nNo more; and by a sleep to say we end\n";

fn setup(pos: PosEncoding) -> (Tokenizer, Dataset, ModelConfig, TrainConfig) {
    let text = TEXT.repeat(4);
    let tok = Tokenizer::Char(CharTokenizer::from_corpus(&text).unwrap());
    let cfg = ModelConfig { vocab_size: tok.vocab_size(), n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, pos };
    let data = Dataset::new(tok.encode(&text).unwrap(), cfg.block_size).unwrap();
    let tc = TrainConfig { batch_size: 4, steps: 40, warmup: 5, lr: 3e-3, min_lr: 3e-4, eval_batches: 2, ..TrainConfig::default() };
    (tok, data, cfg, tc)
}

fn run(model: Gpt<CpuBackend>, data: &Dataset, tc: &TrainConfig, steps: usize) -> (Gpt<CpuBackend>, Vec<f32>) {
    let mut model = model;
    let tr = Trainer::new(data.clone(), tc.clone()).unwrap();
    let losses = (0..steps).map(|_| block_on(tr.step(&mut model)).unwrap().loss).collect();
    (model, losses)
}

#[test]
fn same_seed_same_losses_and_the_loss_falls() {
    for pos in [PosEncoding::Learned, PosEncoding::Sinusoidal] {
        let (_, data, cfg, tc) = setup(pos);
        let (_, a) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 7).unwrap(), &data, &tc, 40);
        let (_, b) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 7).unwrap(), &data, &tc, 40);
        assert_eq!(a, b, "{pos}: same seed, same losses");
        let first: f32 = a[..5].iter().sum::<f32>() / 5.0;
        let last: f32 = a[35..].iter().sum::<f32>() / 5.0;
        assert!(last < first * 0.9, "{pos}: loss should fall: {first} -> {last}");
        let (_, c) = run(Gpt::new(cfg, CpuBackend::new(), 8).unwrap(), &data, &tc, 3);
        assert_ne!(a[..3], c[..], "another seed, other weights");
    }
}

#[test]
fn kv_cache_matches_full_recompute_and_forward() {
    let (tok, data, cfg, tc) = setup(PosEncoding::Learned);
    let (mut model, _) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 3).unwrap(), &data, &tc, 20);
    let prompt = tok.encode("To be").unwrap();
    // 40 tokens with a 16-token context: the window slides several times
    for temperature in [0.0, 1.0] {
        let sc = SampleConfig { max_tokens: 40, temperature, seed: 5, ..SampleConfig::default() };
        let fast = block_on(generate(&mut model, &prompt, &sc, |_| true)).unwrap();
        let slow = block_on(generate(&mut model, &prompt, &SampleConfig { use_cache: false, ..sc.clone() }, |_| true)).unwrap();
        assert_eq!(fast.len(), 40);
        assert_eq!(fast, slow, "cache and no cache must pick the same tokens (temperature {temperature})");
    }
    // decode's last-position logits equal the training forward's logits at that position
    let seq: Vec<u32> = data.train[..cfg.block_size].to_vec();
    let inc = block_on(model.decode(&seq[..10], 0)).unwrap();
    let _ = inc;
    let mut last = Vec::new();
    for (i, &id) in seq[10..].iter().enumerate() {
        last = block_on(model.decode(&[id], 10 + i)).unwrap();
    }
    block_on(model.forward(&seq, None, 1, seq.len())).unwrap();
    let full = block_on(model.read_logits());
    let v = cfg.vocab_size;
    let want = &full[(seq.len() - 1) * v..];
    for (a, b) in last.iter().zip(want) {
        assert!((a - b).abs() < 1e-4, "decode {a} vs forward {b}");
    }
}

#[test]
fn generation_reports_probabilities_and_attention() {
    let (tok, data, cfg, tc) = setup(PosEncoding::Sinusoidal);
    let (mut model, _) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 3).unwrap(), &data, &tc, 5);
    let prompt = tok.encode("the ").unwrap();
    let sc = SampleConfig { max_tokens: 3, with_attention: true, ..SampleConfig::default() };
    let mut events = Vec::new();
    block_on(generate(&mut model, &prompt, &sc, |e| {
        events.push(e.clone());
        true
    }))
    .unwrap();
    assert_eq!(events.len(), 3);
    let a0 = events[0].attention.as_ref().unwrap();
    assert_eq!((a0.rows, a0.keys, a0.layers.len()), (4, 4, 2));
    assert_eq!(a0.layers[0].len(), cfg.n_head * 4 * 4);
    let a1 = events[1].attention.as_ref().unwrap();
    assert_eq!((a1.rows, a1.keys), (1, 5), "one new row over five keys");
    for ev in &events {
        assert_eq!(ev.top.len(), 5);
        assert!(ev.top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(ev.prob > 0.0 && ev.prob <= 1.0);
    }
    // early stop from the callback
    let mut n = 0;
    let out = block_on(generate(&mut model, &prompt, &SampleConfig { max_tokens: 50, ..SampleConfig::default() }, |_| {
        n += 1;
        n < 4
    }))
    .unwrap();
    assert_eq!(out.len(), 4);
    assert!(block_on(generate(&mut model, &[], &SampleConfig::default(), |_| true)).is_err());
}

#[test]
fn checkpoint_round_trip_and_resume_are_bit_exact() {
    let dir = std::env::temp_dir().join(format!("tinygpt-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for pos in [PosEncoding::Learned, PosEncoding::Sinusoidal] {
        let (tok, data, cfg, tc) = setup(pos);
        let (_, straight) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 11).unwrap(), &data, &tc, 10);
        let (mut half, first) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 11).unwrap(), &data, &tc, 5);
        let path = dir.join(format!("{pos}.safetensors"));
        block_on(checkpoint::save(&path, &mut half, &tok, Some(&tc))).unwrap();
        let (mut back, tok2, tc2) = checkpoint::load(&path).unwrap().into_model(CpuBackend::new()).unwrap();
        assert_eq!(tok2, tok);
        assert_eq!(tc2.as_ref(), Some(&tc));
        assert_eq!(back.step, 5);
        for slot in [Slot::Param, Slot::AdamM, Slot::AdamV] {
            assert_eq!(block_on(back.read_flat(slot)), block_on(half.read_flat(slot)), "{slot:?} bit-exact");
        }
        let (_, second) = run(back, &data, &tc, 5);
        let resumed: Vec<f32> = first.into_iter().chain(second).collect();
        assert_eq!(resumed, straight, "{pos}: resume continues the same curve");
        // Hugging Face layout on disk: c_attn.weight is [C, 3C]
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("transformer.h.0.attn.c_attn.weight").unwrap().shape(), &[32, 96]);
        assert_eq!(st.tensor("transformer.h.1.mlp.c_proj.weight").unwrap().shape(), &[128, 32]);
        assert_eq!(st.tensor("transformer.wpe.weight").is_ok(), pos == PosEncoding::Learned);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes a safetensors file from (name, shape, f32 data) and metadata.
fn write_st(tensors: &[(String, Vec<usize>, Vec<f32>)], meta: std::collections::HashMap<String, String>) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.2.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| (t.0.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.1.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn bad_checkpoints_are_refused_with_names() {
    let (tok, _, cfg, _) = setup(PosEncoding::Learned);
    let mut model = Gpt::new(cfg.clone(), CpuBackend::new(), 1).unwrap();
    let good = block_on(checkpoint::to_bytes(&mut model, &tok, None)).unwrap();
    assert!(checkpoint::from_bytes(&good, "good").is_ok());
    let err = |b: &[u8]| checkpoint::from_bytes(b, "f.safetensors").unwrap_err().to_string();

    let e = err(&good[..good.len() / 2]);
    assert!(e.contains("f.safetensors") && e.contains("not a readable safetensors"), "truncated: {e}");
    let e = err(b"");
    assert!(e.contains("not a readable safetensors"), "empty: {e}");
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(&huge).contains("larger than the file"), "{}", err(&huge));
    // a 20 MB header of valid JSON padding: refused by size, before parsing
    let mut big = 20_000_000u64.to_le_bytes().to_vec();
    big.extend(std::iter::repeat_n(b' ', 20_000_000));
    assert!(err(&big).contains("header of 20000000 bytes"), "{}", err(&big));

    // rebuild the file with one change at a time
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
    let meta = header.metadata().clone().unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()))
        .collect();
    let name = "transformer.h.1.attn.c_attn.weight";

    let missing: Vec<_> = tensors.iter().filter(|t| t.0 != name).cloned().collect();
    let e = err(&write_st(&missing, meta.clone()));
    assert!(e.contains(name) && e.contains("missing") && e.contains("[32, 96]"), "{e}");

    let reshaped: Vec<_> = tensors.iter().map(|t| if t.0 == name { (t.0.clone(), vec![96, 32], t.2.clone()) } else { t.clone() }).collect();
    let e = err(&write_st(&reshaped, meta.clone()));
    assert!(e.contains(name) && e.contains("[96, 32]") && e.contains("expected [32, 96]"), "{e}");

    let nan: Vec<_> = tensors.iter().map(|t| if t.0 == name { let mut d = t.2.clone(); d[5] = f32::NAN; (t.0.clone(), t.1.clone(), d) } else { t.clone() }).collect();
    let e = err(&write_st(&nan, meta.clone()));
    assert!(e.contains(name) && e.contains("non-finite") && e.contains("index 5"), "{e}");

    let mut m2 = meta.clone();
    m2.insert("config".into(), serde_json::to_string(&ModelConfig { n_layer: 1_000_000_000, ..cfg.clone() }).unwrap());
    let e = err(&write_st(&tensors, m2));
    assert!(e.contains("n_layer") && e.contains("1000000000"), "{e}");

    let mut m3 = meta.clone();
    m3.remove("format");
    assert!(err(&write_st(&tensors, m3)).contains("not a tinygpt checkpoint"));

    let mut m4 = meta.clone();
    m4.insert("tokenizer".into(), Tokenizer::Char(CharTokenizer::from_corpus("abc").unwrap()).to_json());
    assert!(err(&write_st(&tensors, m4)).contains("vocab_size"));

    // a wrong dtype: the same bytes declared I32 (F16 weights are read, widened)
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.2.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            if t.0 == name {
                (t.0.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::I32, t.1.clone(), b).unwrap())
            } else {
                (t.0.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.1.clone(), b).unwrap())
            }
        })
        .collect();
    let e = err(&safetensors::serialize(views, Some(meta)).unwrap());
    assert!(e.contains(name) && e.contains("I32") && e.contains("expected F32 or F16"), "{e}");
}

#[test]
fn nan_loss_stops_with_a_message_and_keeps_weights() {
    let (_, data, cfg, tc) = setup(PosEncoding::Learned);
    let mut model = Gpt::new(cfg.clone(), CpuBackend::new(), 1).unwrap();
    let (x, y) = (data.train[..16].to_vec(), data.train[1..17].to_vec());
    block_on(model.train_step(&x, &y, 1, 16, 1e-3, &tc)).unwrap();
    let before = block_on(model.read_flat(Slot::Param));
    // poison one embedding row the batch uses: the forward pass goes NaN
    let mut wte = block_on(model.read_hf("transformer.wte.weight", Slot::Param)).unwrap();
    let row = x[0] as usize * cfg.n_embd;
    let saved = wte[row];
    wte[row] = f32::INFINITY;
    model.write_hf("transformer.wte.weight", Slot::Param, &wte).unwrap();
    let e = block_on(model.train_step(&x, &y, 1, 16, 1e-3, &tc)).unwrap_err().to_string();
    assert!(e.contains("NaN") && e.contains("step 2") && e.contains("learning rate"), "{e}");
    wte[row] = saved;
    model.write_hf("transformer.wte.weight", Slot::Param, &wte).unwrap();
    assert_eq!(block_on(model.read_flat(Slot::Param)), before, "weights untouched by the failed step");
    assert_eq!(model.step, 1);
}

#[test]
fn evaluate_counts_every_window_position() {
    let (_, data, cfg, _) = setup(PosEncoding::Learned);
    let mut model = Gpt::new(cfg.clone(), CpuBackend::new(), 1).unwrap();
    let (loss, acc, n) = block_on(evaluate(&mut model, &data.val, 3)).unwrap();
    assert_eq!(n, (data.val.len() - 1) / 16 * 16);
    // an untrained model is near uniform: loss ≈ ln(V)
    assert!((loss - (cfg.vocab_size as f32).ln()).abs() < 0.3, "{loss}");
    assert!((0.0..=1.0).contains(&acc));
    assert!(block_on(evaluate(&mut model, &data.val[..10], 3)).is_err());
}

#[test]
fn training_buffers_come_with_the_first_step() {
    // A model used only for generation holds its weights alone: gradients and moments are
    // allocated by the first training step, and a checkpoint saved before it has no moments.
    let (tok, data, cfg, tc) = setup(PosEncoding::Learned);
    let mut model = Gpt::new(cfg, CpuBackend::new(), 5).unwrap();
    assert!(!model.has_optimizer_state());
    assert!(block_on(model.read_flat(Slot::AdamM)).iter().all(|&x| x == 0.0));
    let fresh = block_on(checkpoint::to_bytes(&mut model, &tok, None)).unwrap();
    let (mut model, _) = run(model, &data, &tc, 1);
    assert!(model.has_optimizer_state());
    assert!(block_on(model.read_flat(Slot::AdamV)).iter().any(|&x| x > 0.0));
    let trained = block_on(checkpoint::to_bytes(&mut model, &tok, None)).unwrap();
    assert!(trained.len() > 2 * fresh.len(), "moments saved after training: {} vs {} bytes", trained.len(), fresh.len());
}

#[test]
fn a_model_cut_into_buffers_computes_the_same() {
    // As on a GPU with small storage buffers: parameters spread over many buffers train the
    // same; a wte bigger than one buffer is cut by rows and generates the same tokens.
    let (_, data, cfg, tc) = setup(PosEncoding::Learned);
    let c = cfg.n_embd;
    let (_, whole) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 4).unwrap(), &data, &tc, 4);
    let (_, spread) = run(Gpt::new(cfg.clone(), CpuBackend::with_max_elems(4 * c * c), 4).unwrap(), &data, &tc, 4);
    for (a, b) in whole.iter().zip(&spread) {
        assert!((a - b).abs() < 1e-5, "losses {whole:?} vs {spread:?}");
    }

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hf_tiny");
    let ck = tinygpt::hf::load_dir(std::path::Path::new(dir)).unwrap().checkpoint;
    let (v, c) = (ck.cfg.vocab_size, ck.cfg.n_embd);
    let mut whole = ck.build(CpuBackend::new()).unwrap();
    let mut cut = ck.build(CpuBackend::with_max_elems(4 * c * c)).unwrap();
    assert!(v * c > 4 * c * c, "wte must be the one tensor over the limit");
    let prompt = ck.tokenizer.encode("Hello wörld 🦀").unwrap();
    let (lw, lc) = (block_on(whole.decode(&prompt, 0)).unwrap(), block_on(cut.decode(&prompt, 0)).unwrap());
    assert_eq!(lw, lc, "logits with wte in one buffer or cut by rows");
    for slot_name in ["transformer.wte.weight", "transformer.h.1.mlp.c_fc.weight"] {
        assert_eq!(block_on(cut.read_hf(slot_name, Slot::Param)).unwrap(), ck.tensors[slot_name], "{slot_name} reads back whole");
    }
    let sc = SampleConfig { max_tokens: 25, temperature: 0.9, seed: 8, ..SampleConfig::default() };
    let (a, b) = (block_on(generate(&mut whole, &prompt, &sc, |_| true)).unwrap(), block_on(generate(&mut cut, &prompt, &sc, |_| true)).unwrap());
    assert_eq!(a, b);
    // training needs wte whole; the message says why and what to do
    let e = block_on(cut.forward(&prompt, Some(&prompt), 1, prompt.len())).unwrap_err().to_string();
    assert!(e.contains("wte") && e.contains("CPU backend"), "{e}");
    // a tensor other than wte over the limit is refused by name
    let e = ck.build(CpuBackend::with_max_elems(c * c)).err().expect("refused").to_string();
    assert!(e.contains("c_attn.weight") || e.contains("c_fc.weight"), "{e}");
}

#[test]
fn a_non_finite_learning_rate_never_reaches_the_weights() {
    let (_, data, cfg, tc) = setup(PosEncoding::Learned);
    let mut model = Gpt::new(cfg, CpuBackend::new(), 1).unwrap();
    let (x, y) = (data.train[..16].to_vec(), data.train[1..17].to_vec());
    block_on(model.train_step(&x, &y, 1, 16, 1e-3, &tc)).unwrap();
    let before = block_on(model.read_flat(Slot::Param));
    let e = block_on(model.train_step(&x, &y, 1, 16, f32::NAN, &tc)).unwrap_err().to_string();
    assert!(e.contains("NaN") && e.contains("step 2") && e.contains("learning rate NaN"), "{e}");
    assert_eq!(block_on(model.read_flat(Slot::Param)), before);
    assert_eq!(model.step, 1);
    block_on(model.train_step(&x, &y, 1, 16, 1e-3, &tc)).unwrap();
    assert_eq!(model.step, 2, "training goes on after the refused step");
}

/// The head ablation of the lab: zeroed heads change every forward pass (evaluation, decode,
/// training) and their gradient; clearing them gives back exactly the model before.
#[test]
fn ablated_heads_are_zeroed_forward_and_backward_and_clearing_restores_the_model() {
    let (_, data, cfg, tc) = setup(PosEncoding::Learned);
    let (c, v, t) = (cfg.n_embd, cfg.vocab_size, cfg.block_size);
    let (mut model, _) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 3).unwrap(), &data, &tc, 5);
    let seq: Vec<u32> = data.train[..t].to_vec();
    let logits = |m: &mut Gpt<CpuBackend>| {
        block_on(m.forward(&seq, None, 1, t)).unwrap();
        block_on(m.read_logits())
    };
    let decoded = |m: &mut Gpt<CpuBackend>| block_on(m.decode(&seq, 0)).unwrap();
    let (plain, plain_decoded) = (logits(&mut model), decoded(&mut model));
    assert!(model.ablation().is_empty());

    model.set_ablation(&[(1, 0), (0, 1), (1, 0)]).unwrap();
    assert_eq!(model.ablation(), vec![(0, 1), (1, 0)], "sorted, each once");
    let ablated = logits(&mut model);
    assert_ne!(ablated, plain, "ablating heads changes the logits");
    let last = &ablated[(t - 1) * v..];
    for (a, b) in decoded(&mut model).iter().zip(last) {
        assert!((a - b).abs() < 1e-4, "decode applies the ablation as forward does: {a} vs {b}");
    }
    model.set_ablation(&[(1, 0)]).unwrap();
    let one = logits(&mut model);
    assert!(one != ablated && one != plain, "a new set replaces the old one");

    // out of range: a clear message, and the set in force stays
    for (bad, want) in [((2, 1), "head 2.1 is out of range: the model has 2 layers (0..1) of 2 heads (0..1)"), ((0, 2), "head 0.2 is out of range")] {
        let e = model.set_ablation(&[(0, 0), bad]).unwrap_err();
        assert!(matches!(e, tinygpt::error::Error::Config(_)) && e.to_string().contains(want), "{e}");
        assert_eq!(model.ablation(), vec![(1, 0)]);
    }

    // backward: head 1.0's output is zero, so its q, k and v (its columns of layer 1's
    // c_attn, HF layout [C, 3C]) get no gradient, while the other head's and layer 0's do
    let (x, y) = (data.train[..t].to_vec(), data.train[1..t + 1].to_vec());
    block_on(model.train_step(&x, &y, 1, t, 1e-3, &tc)).unwrap();
    let hs = c / cfg.n_head;
    for l in 0..2 {
        let g = block_on(model.read_hf(&format!("transformer.h.{l}.attn.c_attn.weight"), Slot::Grad)).unwrap();
        let gb = block_on(model.read_hf(&format!("transformer.h.{l}.attn.c_attn.bias"), Slot::Grad)).unwrap();
        for j in 0..3 * c {
            let head = (j % c) / hs;
            let col_zero = (0..c).all(|i| g[i * 3 * c + j] == 0.0) && gb[j] == 0.0;
            assert_eq!(col_zero, l == 1 && head == 0, "layer {l}, c_attn column {j} (head {head}): zero gradient only for the ablated head");
        }
    }

    model.set_ablation(&[]).unwrap();
    assert!(model.ablation().is_empty());
    let (mut fresh, _) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 3).unwrap(), &data, &tc, 5);
    assert_eq!(logits(&mut fresh), plain, "the same model again");
    fresh.set_ablation(&[(0, 0), (1, 1)]).unwrap();
    fresh.set_ablation(&[]).unwrap();
    assert_eq!(logits(&mut fresh), plain, "set then cleared: exactly the logits before");
    assert_eq!(decoded(&mut fresh), plain_decoded, "and exactly the decoded ones");
}

/// The CPU per-op profile `bench` prints: every op of a step counted, matmuls by shape, and
/// profiling changes no number.
#[test]
fn cpu_profile_counts_every_op_of_a_step() {
    let (_, data, cfg, tc) = setup(PosEncoding::Learned);
    let tc = TrainConfig { dropout: 0.1, ..tc };
    let (plain, want) = run(Gpt::new(cfg.clone(), CpuBackend::new(), 1).unwrap(), &data, &tc, 2);
    assert!(plain.backend.profile().is_empty(), "off by default");
    let mut be = CpuBackend::new();
    be.set_profiling(true);
    let (model, got) = run(Gpt::new(cfg.clone(), be, 1).unwrap(), &data, &tc, 2);
    assert_eq!(got, want);
    let prof = model.backend.profile();
    let calls = |op: &str| prof.iter().filter(|(k, _, _)| k == op || k.starts_with(&format!("{op} "))).map(|(_, n, _)| *n).sum::<u32>();
    let l = cfg.n_layer as u32;
    // per step: ln_1, ln_2 per block and ln_f; c_attn, attn.c_proj, c_fc, mlp.c_proj per block and the LM head
    assert_eq!(calls("layernorm_forward"), 2 * (2 * l + 1), "{prof:?}");
    // (c_fc with its GELU fused, mlp.c_proj's backward with GELU's; the projections add into
    // the stream in their epilogue only without dropout)
    let fwd = calls("matmul_forward") + calls("matmul_forward_gelu") + calls("matmul_forward_residual");
    assert_eq!(fwd, 2 * (4 * l + 1), "{prof:?}");
    assert_eq!(calls("matmul_forward_gelu"), 2 * l, "{prof:?}");
    assert_eq!(calls("matmul_backward") + calls("matmul_backward_gelu"), 2 * (4 * l + 1), "{prof:?}");
    assert_eq!(calls("attention_forward"), 2 * l);
    // dropout: the embeddings and two sites per block, forward and backward
    assert_eq!(calls("dropout"), 2 * 2 * (1 + 2 * l));
    let lm_head = format!("matmul_forward {}x{}->{}", tc.batch_size * cfg.block_size, cfg.n_embd, cfg.vocab_size);
    assert!(prof.iter().any(|(k, _, _)| *k == lm_head), "{lm_head} in {prof:?}");
    assert!(prof.iter().all(|(_, _, s)| *s >= 0.0) && prof.windows(2).all(|w| w[0].2 >= w[1].2), "slowest first");
}
