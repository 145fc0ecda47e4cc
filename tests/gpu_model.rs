//! The whole GPT on the GPU backend against the CPU backend: same config, same seed, same
//! batches. Ten AdamW steps give the same losses (within 1e-3) and greedy generation with the
//! KV cache gives the same tokens.

mod common;
use common::{assert_close, gpu_or_skip};
use pollster::block_on;
use tinygpt::backend::Backend;
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::kernels::{self, Kernel};
use tinygpt::gpu::GpuBackend;
use tinygpt::data::{Dataset, Split};
use tinygpt::model::{Gpt, Slot};
use tinygpt::sample::{generate, SampleConfig};
use tinygpt::train::batch_rng;

/// Awkward on purpose: 3 heads of 16, context 13, vocab 65.
fn config(pos: PosEncoding) -> ModelConfig {
    config_t(pos, 13)
}

/// With context `t`: from 16 on, a CPU adapter's attention runs as batched matmuls.
fn config_t(pos: PosEncoding, t: usize) -> ModelConfig {
    ModelConfig { vocab_size: 65, n_layer: 2, n_head: 3, n_embd: 48, block_size: t, pos }
}

/// A corpus with structure to learn: a repeating phrase with a few variations.
fn corpus() -> Dataset {
    corpus_t(13)
}

fn corpus_t(t: usize) -> Dataset {
    let phrase: Vec<u32> = "to be or not to be, that is the question. ".bytes().map(|b| (b % 65) as u32).collect();
    let tokens: Vec<u32> = (0..4000).map(|i| phrase[(i + i / 97) % phrase.len()]).collect();
    Dataset::new(tokens, t).unwrap()
}

/// Losses of 10 steps, then 40 greedy tokens (the window slides at context t).
async fn run<B: Backend>(be: B, pos: PosEncoding, t: usize, dropout: f32) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let cfg = config_t(pos, t);
    let tc = TrainConfig { batch_size: 3, lr: 1e-2, warmup: 0, steps: 10, dropout, ..TrainConfig::default() };
    let data = corpus_t(t);
    let mut model = Gpt::new(cfg.clone(), be, 42).unwrap();
    let mut losses = Vec::new();
    for step in 0..10 {
        let (x, y) = data.batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, step));
        let s = model.train_step(&x, &y, tc.batch_size, cfg.block_size, tc.lr_at(step as usize), &tc).await.unwrap();
        losses.push(s.loss);
    }
    let params = model.read_flat(Slot::Param).await;
    let prompt = &data.split(Split::Val)[..5];
    let sc = SampleConfig { max_tokens: 40, temperature: 0.0, ..SampleConfig::default() };
    let tokens = generate(&mut model, prompt, &sc, |_| true).await.unwrap();
    (losses, params, tokens)
}

#[test]
fn gpu_model_trains_and_generates_like_the_cpu() {
    // context 13: fused attention kernels; 19: batched attention products on CPU adapters;
    // and with dropout, whose masks both backends draw from the same hash
    for (pos, t, dropout) in [(PosEncoding::Learned, 13, 0.0), (PosEncoding::Sinusoidal, 19, 0.0), (PosEncoding::Learned, 13, 0.2)] {
        let Some(g) = gpu_or_skip() else { return };
        let (gl, gp, gt) = block_on(run(g, pos, t, dropout));
        let (cl, cp, ct) = block_on(run(CpuBackend::new(), pos, t, dropout));
        eprintln!("{pos} dropout {dropout}: cpu losses {cl:?}\n{pos}: gpu losses {gl:?}");
        assert!(cl[9] < cl[0] - 0.5, "the model learns: {cl:?}");
        assert_close(&format!("{pos} dropout {dropout} losses"), &gl, &cl, 1e-3, 0.0);
        assert_close(&format!("{pos} dropout {dropout} params after 10 steps"), &gp, &cp, 2e-3, 1e-2);
        assert_eq!(gt, ct, "{pos} dropout {dropout}: greedy tokens");
    }
}

/// The device self-check the page runs, at its small odd shape and at a training shape (the
/// `page` preset's: attention at T = 128 through the batched products and multi-tile grids):
/// every op on lavapipe agrees with the CPU, each row labelled with its shape.
#[test]
fn selfcheck_agrees_with_the_cpu_at_both_shapes() {
    use tinygpt::selfcheck::{compare, Shape};
    let Some(mut g) = common::gpu_or_skip() else { return };
    let train = Shape::training(8, 128, 192, 6, 65);
    let rows = pollster::block_on(compare(&mut tinygpt::cpu::CpuBackend::new(), &mut g, &[Shape::SMALL, train]));
    let per = rows.len() / 2;
    assert!(per >= 15 && rows.len() == 2 * per, "{rows:?}");
    assert!(rows[..per].iter().all(|r| r.1 == "2,7,24,3") && rows[per..].iter().all(|r| r.1 == "8,128,192,6"), "{rows:?}");
    for (op, shape, err) in rows {
        assert!(err < 1e-3, "{op} at {shape}: relative error {err}");
    }
}

/// On a GPU whose buffers are small, the parameters are cut into several buffers (and GPT-2's
/// wte by rows): training over many buffers and generation with a cut wte match the CPU.
#[test]
fn gpu_model_cut_into_small_buffers_matches_the_cpu() {
    let Some(mut g) = gpu_or_skip() else { return };
    g.set_max_elems(4 * 48 * 48); // c_fc fits, the rest is spread over ~20 buffers
    let (gl, _, gt) = block_on(run(g, PosEncoding::Learned, 13, 0.0));
    let (cl, _, ct) = block_on(run(CpuBackend::new(), PosEncoding::Learned, 13, 0.0));
    assert_close("losses, params in many buffers", &gl, &cl, 1e-3, 0.0);
    assert_eq!(gt, ct, "greedy tokens");

    // the tiny GPT-2 from transformers (vocab 300, C 64): wte [300, 64] over a 16384 limit
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hf_tiny");
    let ck = tinygpt::hf::load_dir(std::path::Path::new(dir)).unwrap().checkpoint;
    let Some(mut g) = gpu_or_skip() else { return };
    g.set_max_elems(64 * 256);
    let mut cut = ck.build(g).unwrap();
    let mut whole = ck.build(CpuBackend::new()).unwrap();
    let prompt = ck.tokenizer.encode("Hello wörld").unwrap();
    let sc = SampleConfig { max_tokens: 20, temperature: 0.8, seed: 3, ..SampleConfig::default() };
    let a = block_on(generate(&mut cut, &prompt, &sc, |_| true)).unwrap();
    let b = block_on(generate(&mut whole, &prompt, &sc, |_| true)).unwrap();
    assert_eq!(a, b, "sampled tokens with wte cut in two on the GPU");
    let e = block_on(cut.forward(&prompt, None, 1, prompt.len())).unwrap_err().to_string();
    assert!(e.contains("wte") && e.contains("training"), "{e}");
}

/// The context-13 model after one training step on the GPU, with that step's batch.
fn trained_one_step(g: GpuBackend) -> (Gpt<GpuBackend>, Vec<u32>, Vec<u32>, TrainConfig) {
    let cfg = config(PosEncoding::Learned);
    let tc = TrainConfig { batch_size: 3, ..TrainConfig::default() };
    let mut model = Gpt::new(cfg.clone(), g, 42).unwrap();
    let (x, y) = corpus().batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, 0));
    block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, 1e-3, &tc)).unwrap();
    (model, x, y, tc)
}

/// A device lost mid-training (as on a driver reset) is an error from the step that met it,
/// naming the loss; nothing panics, and generation on that device reports it too.
#[test]
fn a_lost_device_is_an_error_not_a_panic() {
    let Some(g) = gpu_or_skip() else { return };
    let (mut model, x, y, tc) = trained_one_step(g);
    let cfg = model.cfg.clone();
    assert_eq!(model.backend.fault(), None);
    model.backend.lose_device();
    let e = block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, 1e-3, &tc)).unwrap_err().to_string();
    assert!(e.contains("lost") && e.contains("step 2 did not complete"), "{e}");
    assert_eq!(model.step, 1);
    let e = block_on(model.decode(&x[..4], 0)).unwrap_err().to_string();
    assert!(e.contains("lost"), "{e}");
}

/// A training step is one submit whose bind groups, from the second step on, all come from the
/// cache; and a step reads back once (loss, hits and gradient norm together).
#[test]
fn training_steps_reuse_their_bind_groups() {
    let Some(g) = gpu_or_skip() else { return };
    let cfg = config_t(PosEncoding::Learned, 19);
    let tc = TrainConfig { batch_size: 3, lr: 1e-2, warmup: 0, steps: 10, ..TrainConfig::default() };
    let data = corpus_t(19);
    let mut model = Gpt::new(cfg.clone(), g, 42).unwrap();
    let mut created = Vec::new();
    for step in 0..4 {
        let (x, y) = data.batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, step));
        block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, tc.lr_at(step as usize), &tc)).unwrap();
        created.push(model.backend.bind_groups_created());
    }
    assert!(created[0] > 50, "the first step creates its bind groups: {created:?}");
    assert_eq!(created[1], created[3], "steps after the first create no bind groups: {created:?}");
    // consecutive dispatches share compute passes: a step's few passes are cut only by its
    // copies, clears and readback
    let (d0, p0) = model.backend.counts();
    let (x, y) = data.batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, 9));
    block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, 1e-3, &tc)).unwrap();
    let (d1, p1) = model.backend.counts();
    assert!(d1 - d0 > 40 && p1 - p0 <= 8, "{} dispatches in {} passes", d1 - d0, p1 - p0);
}

/// KV-cached decoding binds the cache and the probabilities whole (their views move a row a
/// token), so after the first token every token's bind groups come from the cache.
#[test]
fn decoded_tokens_reuse_their_bind_groups() {
    let Some(g) = gpu_or_skip() else { return };
    let cfg = config_t(PosEncoding::Learned, 19);
    let mut model = Gpt::new(cfg.clone(), g, 42).unwrap();
    let ids: Vec<u32> = (0..16).map(|i| (i * 7 % cfg.vocab_size) as u32).collect();
    block_on(model.decode_with(&ids[..8], 0, false)).unwrap();
    let mut created = Vec::new();
    for pos in 8..14 {
        block_on(model.decode_with(&ids[pos..pos + 1], pos, false)).unwrap();
        created.push(model.backend.bind_groups_created());
    }
    assert_eq!(created[1], created[5], "tokens after the first single one create no bind groups: {created:?}");
}

/// Pipelined steps (`train_step_lagged`: each call returns the step before's statistics) give
/// the plain steps' losses; a step that goes NaN is reported one call late, by number, and the
/// step already submitted behind it skips its update too (the device's failure guard), so the
/// weights are exactly those of the last good step, as without pipelining. On both backends.
async fn lagged<B: Backend>(be: B) -> Vec<f32> {
    let cfg = config(PosEncoding::Learned);
    let tc = TrainConfig { batch_size: 3, lr: 1e-2, warmup: 0, steps: 10, ..TrainConfig::default() };
    let data = corpus();
    let mut model = Gpt::new(cfg.clone(), be, 42).unwrap();
    let batch = |step: u64| data.batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, step));
    let mut got = Vec::new();
    for step in 0..10u64 {
        let (x, y) = batch(step);
        let r = model.train_step_lagged(&x, &y, None, tc.batch_size, cfg.block_size, tc.lr_at(step as usize), &tc).await.unwrap();
        assert_eq!(r.is_none(), step == 0, "the first call has nothing to report yet");
        got.extend(r);
    }
    got.extend(model.finish_lagged().await.unwrap());
    assert_eq!(got.iter().map(|s| s.step).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());

    // step 11; then poison every embedding row's first value for step 12 only (restored once
    // 12 is submitted): 12 goes NaN, and 13, fine on its own, is submitted before 12 is read
    let (x, y) = batch(10);
    assert!(model.train_step_lagged(&x, &y, None, 3, 13, 1e-3, &tc).await.unwrap().is_none());
    let good = model.read_flat(Slot::Param).await;
    let clean = model.read_hf("transformer.wte.weight", Slot::Param).await.unwrap();
    let mut wte = clean.clone();
    for r in 0..65 {
        wte[r * cfg.n_embd] = f32::INFINITY;
    }
    model.write_hf("transformer.wte.weight", Slot::Param, &wte).unwrap();
    let (x, y) = batch(11);
    assert_eq!(model.train_step_lagged(&x, &y, None, 3, 13, 1e-3, &tc).await.unwrap().unwrap().step, 11);
    model.write_hf("transformer.wte.weight", Slot::Param, &clean).unwrap();
    let (x, y) = batch(12);
    let e = model.train_step_lagged(&x, &y, None, 3, 13, 1e-3, &tc).await.unwrap_err().to_string();
    assert!(e.contains("NaN") && e.contains("step 12"), "{e}");
    assert_eq!(model.step, 11, "steps 12 and 13 failed and are not counted");
    assert_eq!(model.read_flat(Slot::Param).await, good, "neither the failed step nor the one behind it changed a weight");
    // reported, the guard is off: training goes on
    let (x, y) = batch(11);
    assert!(model.train_step_lagged(&x, &y, None, 3, 13, 1e-3, &tc).await.unwrap().is_none());
    assert_eq!(model.finish_lagged().await.unwrap().unwrap().step, 12);
    assert_ne!(model.read_flat(Slot::Param).await, good);
    got.iter().map(|s| s.loss).collect()
}

#[test]
fn lagged_steps_match_plain_ones_and_fail_as_a_whole() {
    let (cl, _, _) = block_on(run(CpuBackend::new(), PosEncoding::Learned, 13, 0.0));
    let cpu = block_on(lagged(CpuBackend::new()));
    assert_eq!(cpu, cl, "CPU: pipelined and plain steps give the same losses");
    let Some(g) = gpu_or_skip() else { return };
    let gpu = block_on(lagged(g));
    assert_close("GPU pipelined losses", &gpu, &cl, 1e-3, 0.0);
}

/// `bench`'s per-kernel profile: every dispatch of a step is counted under its entry point, with
/// GPU time from timestamp queries where the adapter has them (lavapipe does).
#[test]
fn profiling_counts_every_dispatch_of_a_step() {
    let Some(g) = gpu_or_skip() else { return };
    let (mut model, x, y, tc) = trained_one_step(g);
    let cfg = model.cfg.clone();
    model.backend.set_profiling(true);
    block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, 1e-3, &tc)).unwrap();
    let source = model.backend.profile_source();
    let rows = model.backend.profile();
    eprintln!("profile ({source}): {rows:?}");
    let get = |k: Kernel| rows.iter().find(|r| r.0 == k.entry).unwrap_or_else(|| panic!("{} in {rows:?}", k.entry));
    // 4 per layer (qkv, attention projection, mlp up and down) and the LM head, whichever the
    // variant (both files name it alike); the update's failure guard is one kernel of its own
    assert_eq!(kernels::matmul_blocked::FORWARD.entry, kernels::matmul_tiled::FORWARD.entry);
    assert_eq!(get(kernels::matmul_blocked::FORWARD).1, 4 * cfg.n_layer + 1);
    assert_eq!(get(kernels::guard::FAILURE_GUARD).1, 1);
    assert_eq!(get(kernels::encoder::FORWARD).1, 1);
    assert!(rows.iter().all(|r| r.2 >= 0.0) && rows.iter().map(|r| r.2).sum::<f64>() > 0.0, "{rows:?}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert_eq!(source, "timestamp queries", "lavapipe has TIMESTAMP_QUERY");
    }
    // no head ablated: no mask op at all; one: a mask in its layer's forward and backward
    assert!(rows.iter().all(|r| r.0 != kernels::head_mask::FORWARD.entry), "{rows:?}");
    model.set_ablation(&[(1, 0)]).unwrap();
    model.backend.set_profiling(true);
    block_on(model.train_step(&x, &y, tc.batch_size, cfg.block_size, 1e-3, &tc)).unwrap();
    let rows = model.backend.profile();
    assert_eq!(rows.iter().find(|r| r.0 == kernels::head_mask::FORWARD.entry).map(|r| r.1), Some(2), "{rows:?}");
}

/// Logits of a forward pass and of decoding, and one training step's gradients, with heads
/// 0.2, 1.0 and 1.1 ablated: what the lab will compare.
async fn ablated<B: Backend>(be: B, t: usize) -> Vec<Vec<f32>> {
    let cfg = config_t(PosEncoding::Learned, t);
    let tc = TrainConfig { batch_size: 3, ..TrainConfig::default() };
    let mut model = Gpt::new(cfg.clone(), be, 42).unwrap();
    model.set_ablation(&[(0, 2), (1, 0), (1, 1)]).unwrap();
    let (x, y) = corpus_t(t).batch(Split::Train, tc.batch_size, t, &mut batch_rng(tc.seed, 0));
    model.forward(&x, None, tc.batch_size, t).await.unwrap();
    let logits = model.read_logits().await;
    let decoded = model.decode(&x[..t], 0).await.unwrap();
    model.train_step(&x, &y, tc.batch_size, t, 1e-3, &tc).await.unwrap();
    vec![logits, decoded, model.read_flat(Slot::Grad).await]
}

#[test]
fn an_ablated_model_agrees_with_the_cpu() {
    // context 13: fused attention kernels; 19: batched attention products on CPU adapters
    for t in [13, 19] {
        let Some(g) = gpu_or_skip() else { return };
        let got = block_on(ablated(g, t));
        let want = block_on(ablated(CpuBackend::new(), t));
        for (what, (g, w)) in ["logits", "decoded logits", "gradients"].iter().zip(got.iter().zip(&want)) {
            assert_close(&format!("ablated model, T={t}: {what}"), g, w, 1e-4, 0.0);
        }
    }
}
