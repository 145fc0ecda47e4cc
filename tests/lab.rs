//! The lab's measurements: surprisal and head scores by their definitions, eval's loss as the
//! mean surprisal, and the CPU and GPU backends agreeing.

use pollster::block_on;
use tinygpt::backend::Backend;
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::GpuBackend;
use tinygpt::lab;
use tinygpt::model::Gpt;
use tinygpt::train::{evaluate, Trainer};

fn cfg() -> ModelConfig {
    ModelConfig { vocab_size: 13, n_layer: 2, n_head: 3, n_embd: 24, block_size: 10, pos: PosEncoding::Learned }
}

/// A slightly trained model, so attention is not uniform.
fn model<B: Backend>(backend: B) -> Gpt<B> {
    let mut m = Gpt::new(cfg(), backend, 4).unwrap();
    let ids: Vec<u32> = (0..400).map(|i| ((i * 7 + i / 3) % 13) as u32).collect();
    let data = tinygpt::data::Dataset::new(ids, 10).unwrap();
    let tr = Trainer::new(data, TrainConfig { batch_size: 4, steps: 8, warmup: 1, lr: 1e-2, min_lr: 1e-3, ..TrainConfig::default() }).unwrap();
    for _ in 0..8 {
        block_on(tr.step(&mut m)).unwrap();
    }
    m
}

fn text(n: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 5 + i * i) % 13) as u32).collect()
}

#[test]
fn mean_surprisal_is_evals_loss_and_each_token_is_its_own() {
    let mut m = model(CpuBackend::new());
    // 3 whole windows of 10 + 1: eval's windows exactly
    let ids = text(31);
    let (s, mean) = block_on(lab::surprisal(&mut m, &ids)).unwrap();
    assert_eq!(s.len(), 31);
    assert!(s[0].is_none() && s[1..].iter().all(|x| x.is_some_and(|v| v >= 0.0)));
    let (loss, _, n) = block_on(evaluate(&mut m, &ids, 2)).unwrap();
    assert_eq!(n, 30);
    assert!((mean - loss).abs() < 1e-5, "mean surprisal {mean} vs eval loss {loss}");
    // token 13 (in the second window, position 2 of it): -ln softmax(logits)[x]
    block_on(m.forward(&ids[10..20], None, 1, 10)).unwrap();
    let logits = block_on(m.read_logits());
    let row = &logits[2 * 13..3 * 13];
    let z: f32 = row.iter().map(|v| v.exp()).sum();
    let want = -(row[ids[13] as usize].exp() / z).ln();
    assert!((s[13].unwrap() - want).abs() < 1e-5, "{:?} vs {want}", s[13]);
    // a text that does not fill its last window still gets every token's surprisal
    let (s, _) = block_on(lab::surprisal(&mut m, &text(25))).unwrap();
    assert_eq!(s.iter().filter(|x| x.is_some()).count(), 24);
    assert!(block_on(lab::surprisal(&mut m, &[3])).is_err(), "one token has no surprisal");
}

#[test]
fn head_scores_follow_their_definitions() {
    let mut m = model(CpuBackend::new());
    let ids = text(14);
    let h = block_on(lab::head_scores(&mut m, &ids)).unwrap();
    assert_eq!((h.previous_token.len(), h.previous_token[0].len()), (2, 3));
    // recompute from the attention over the text cut to the context (10 tokens)
    block_on(m.decode_with(&ids[..10], 0, true)).unwrap();
    let att = block_on(m.read_decode_attention(10, 10));
    for l in 0..2 {
        for hd in 0..3 {
            let a = |r: usize, c: usize| att[l][(hd * 10 + r) * 10 + c];
            let prev: f32 = (1..10).map(|r| a(r, r - 1)).sum::<f32>() / 9.0;
            let first: f32 = (1..10).map(|r| a(r, 0)).sum::<f32>() / 9.0;
            assert!((h.previous_token[l][hd] - prev).abs() < 1e-6);
            assert!((h.first_token[l][hd] - first).abs() < 1e-6);
            assert!((0.0..=1.0).contains(&h.induction[l][hd]));
        }
    }
    // induction: the first 5 tokens twice; rows 5..10 look at t - 5 + 1
    let twice: Vec<u32> = ids[..5].iter().chain(&ids[..5]).copied().collect();
    block_on(m.decode_with(&twice, 0, true)).unwrap();
    let att = block_on(m.read_decode_attention(10, 10));
    let ind: f32 = (5..10).map(|r| att[1][(2 * 10 + r) * 10 + r - 4]).sum::<f32>() / 5.0;
    assert!((h.induction[1][2] - ind).abs() < 1e-6);
}

#[test]
fn cpu_and_gpu_agree() {
    let Ok(g) = GpuBackend::new_blocking() else {
        eprintln!("no GPU adapter: skipped");
        return;
    };
    let (mut c, mut g) = (model(CpuBackend::new()), model(g));
    let ids = text(27);
    let (sc, mc) = block_on(lab::surprisal(&mut c, &ids)).unwrap();
    let (sg, mg) = block_on(lab::surprisal(&mut g, &ids)).unwrap();
    assert!((mc - mg).abs() < 1e-4, "{mc} vs {mg}");
    for (a, b) in sc.iter().zip(&sg) {
        assert!((a.unwrap_or(0.0) - b.unwrap_or(0.0)).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    let (hc, hg) = (block_on(lab::head_scores(&mut c, &ids)).unwrap(), block_on(lab::head_scores(&mut g, &ids)).unwrap());
    for (x, y) in [(&hc.previous_token, &hg.previous_token), (&hc.first_token, &hg.first_token), (&hc.induction, &hg.induction)] {
        for (r, s) in x.iter().flatten().zip(y.iter().flatten()) {
            assert!((r - s).abs() < 1e-4, "{r} vs {s}");
        }
    }
}

#[test]
fn the_lens_last_stream_is_the_models_own_distribution() {
    let mut m = model(CpuBackend::new());
    let ids = text(9);
    let streams = block_on(lab::lens(&mut m, &ids, 13)).unwrap();
    assert_eq!(streams.len(), 3, "streams 0..=L");
    assert!(streams.iter().all(|s| s.len() == 9 && s.iter().all(|p| p.len() == 13)));
    block_on(m.forward(&ids, None, 1, 9)).unwrap();
    let logits = block_on(m.read_logits());
    for (t, p) in streams[2].iter().enumerate() {
        let want = tinygpt::sample::softmax_t(&logits[t * 13..(t + 1) * 13], 1.0);
        for &(id, prob) in p {
            assert_eq!(prob, want[id as usize], "position {t}, token {id}: bit for bit");
        }
        assert!(p.windows(2).all(|w| w[0].1 >= w[1].1), "most likely first");
    }
    // the embeddings' lens differs from the output's
    assert_ne!(streams[0][3], streams[2][3]);
    // a text longer than the context: its last block_size tokens
    assert_eq!(block_on(lab::lens(&mut m, &text(25), 2)).unwrap()[0].len(), 10);
}

#[test]
fn ablation_changes_every_measure_and_clearing_it_restores_them_exactly() {
    let mut m = model(CpuBackend::new());
    let ids = text(21);
    let before = (block_on(lab::surprisal(&mut m, &ids)).unwrap(), block_on(lab::head_scores(&mut m, &ids)).unwrap(), block_on(lab::lens(&mut m, &ids, 3)).unwrap());
    m.set_ablation(&[]).unwrap();
    let none = (block_on(lab::surprisal(&mut m, &ids)).unwrap(), block_on(lab::head_scores(&mut m, &ids)).unwrap(), block_on(lab::lens(&mut m, &ids, 3)).unwrap());
    assert_eq!(none, before, "ablating no head changes nothing, bit for bit");
    m.set_ablation(&[(0, 1), (1, 2)]).unwrap();
    let ablated = (block_on(lab::surprisal(&mut m, &ids)).unwrap(), block_on(lab::head_scores(&mut m, &ids)).unwrap(), block_on(lab::lens(&mut m, &ids, 3)).unwrap());
    assert_ne!(ablated.0, before.0, "surprisal changes");
    assert_ne!(ablated.1.previous_token[1], before.1.previous_token[1], "layer 1's attention sees a changed stream");
    assert_eq!(ablated.1.previous_token[0], before.1.previous_token[0], "layer 0's attention pattern is computed before its own ablation");
    assert_ne!(ablated.2[2], before.2[2], "the lens changes");
    assert_eq!(ablated.2[0], before.2[0], "the embeddings do not");
    m.set_ablation(&[]).unwrap();
    let cleared = (block_on(lab::surprisal(&mut m, &ids)).unwrap(), block_on(lab::head_scores(&mut m, &ids)).unwrap(), block_on(lab::lens(&mut m, &ids, 3)).unwrap());
    assert_eq!(cleared, before, "clearing restores the exact previous outputs");
}

#[test]
fn cpu_and_gpu_agree_on_the_lens_and_an_ablated_model() {
    let Ok(g) = GpuBackend::new_blocking() else {
        eprintln!("no GPU adapter: skipped");
        return;
    };
    let (mut c, mut g) = (model(CpuBackend::new()), model(g));
    c.set_ablation(&[(1, 0)]).unwrap();
    g.set_ablation(&[(1, 0)]).unwrap();
    let ids = text(17);
    let (lc, lg) = (block_on(lab::lens(&mut c, &ids, 13)).unwrap(), block_on(lab::lens(&mut g, &ids, 13)).unwrap());
    for (sc, sg) in lc.iter().flatten().zip(lg.iter().flatten()) {
        // compare by token id: near-ties may order differently
        for &(id, p) in sc {
            let q = sg.iter().find(|x| x.0 == id).expect("every token is in a top-13 of 13").1;
            assert!((p - q).abs() < 1e-4, "token {id}: {p} vs {q}");
        }
    }
    let ((sc, mc), (sg, mg)) = (block_on(lab::surprisal(&mut c, &ids)).unwrap(), block_on(lab::surprisal(&mut g, &ids)).unwrap());
    assert!((mc - mg).abs() < 1e-4);
    for (a, b) in sc.iter().zip(&sg) {
        assert!((a.unwrap_or(0.0) - b.unwrap_or(0.0)).abs() < 1e-4);
    }
    let (hc, hg) = (block_on(lab::head_scores(&mut c, &ids)).unwrap(), block_on(lab::head_scores(&mut g, &ids)).unwrap());
    for (r, s) in hc.induction.iter().flatten().zip(hg.induction.iter().flatten()) {
        assert!((r - s).abs() < 1e-4, "{r} vs {s}");
    }
}
