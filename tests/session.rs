//! The Session both the CLI and the page drive: its training events and their cadence, chunks
//! that change nothing numerically, and a recipe that survives load and save.

use pollster::block_on;
use tinygpt::checkpoint;
use tinygpt::config::{PosEncoding, TrainConfig};
use tinygpt::error::Error;
use tinygpt::session::{ChunkEnd, Event, NewModel, Policy, Session};
use tinygpt::tokenizer::TokenizerKind;

const TEXT: &str = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n";

fn shape() -> NewModel {
    NewModel { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, pos: PosEncoding::Learned, tokenizer: TokenizerKind::Char }
}

fn recipe(steps: usize) -> TrainConfig {
    TrainConfig { batch_size: 3, steps, lr: 2e-3, min_lr: 2e-4, warmup: 2, eval_batches: 2, seed: 5, ..TrainConfig::default() }
}

fn session(steps: usize) -> Session {
    let mut s = Session::new();
    block_on(s.new_model(&TEXT.repeat(20), &shape(), recipe(steps))).unwrap();
    s
}

/// Calls train_chunk(n) until done: every event, and where each chunk ended.
fn run(s: &mut Session, n: usize) -> (Vec<Event>, Vec<ChunkEnd>) {
    let (mut events, mut ends) = (Vec::new(), Vec::new());
    loop {
        let end = block_on(s.train_chunk(n, |e| events.push(e.clone()))).unwrap();
        ends.push(end);
        if end.done {
            return (events, ends);
        }
        assert!(ends.len() < 100, "training must make progress: {ends:?}");
    }
}

#[test]
fn a_short_run_gives_steps_evals_samples_and_saves_on_the_policy() {
    let mut s = session(12);
    s.set_policy(Policy { eval_every: 4, sample_every: 6, save_every: 5 });
    let (events, ends) = run(&mut s, 100);
    let mut want = Vec::new();
    for k in 1..=12 {
        want.push(format!("step {k}"));
        if k % 4 == 0 || k == 12 {
            want.push(format!("eval {k}"));
        }
        if k % 6 == 0 || k == 12 {
            want.push(format!("sample {k}"));
        }
        if k % 5 == 0 || k == 12 {
            want.push(format!("save {k}"));
        }
    }
    let got: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Step(r) => format!("step {}", r.step),
            Event::Eval { step, .. } => format!("eval {step}"),
            Event::Sample { step } => format!("sample {step}"),
            Event::Save { step } => format!("save {step}"),
        })
        .collect();
    assert_eq!(got, want);
    // a chunk ends right after a sample or a save, so the driver can act on it
    let stops: Vec<usize> = ends.iter().map(|e| e.step).collect();
    assert_eq!(stops, vec![5, 6, 10, 12]);
    assert!(ends.last().unwrap().done && ends.iter().all(|e| e.total == 12));
    for e in &events {
        match e {
            Event::Step(r) => {
                assert!(r.loss.is_finite() && r.grad_norm.is_finite() && r.ms > 0.0, "{r:?}");
                let tokens = 3.0 * 8.0;
                assert!((r.tokens_per_s * r.ms / 1e3 - tokens).abs() < 1e-6 * tokens, "{r:?}");
            }
            Event::Eval { val_loss, val_acc, .. } => assert!(val_loss.is_finite() && (0.0..=1.0).contains(val_acc)),
            _ => {}
        }
    }
    // nothing more to do once done
    let mut more = Vec::new();
    let end = block_on(s.train_chunk(5, |e| more.push(e.clone()))).unwrap();
    assert!(end.done && more.is_empty());
}

#[test]
fn chunk_sizes_change_nothing_numerically() {
    let steps = |n: usize| -> Vec<(usize, f32, f32)> {
        let mut s = session(9);
        s.set_policy(Policy { eval_every: 4, sample_every: 0, save_every: 0 });
        let (events, ends) = run(&mut s, n);
        if n == 1 {
            assert_eq!(ends.len(), 9, "one step per chunk");
        }
        events.iter().filter_map(|e| if let Event::Step(r) = e { Some((r.step, r.loss, r.grad_norm)) } else { None }).collect()
    };
    let one = steps(1);
    assert_eq!(one.len(), 9);
    assert_eq!(steps(100), one, "pipelined across a whole run or settled every step: the same numbers");
    assert_eq!(steps(4), one);
}

#[test]
fn load_then_save_keeps_the_recipe() {
    let mut s = session(3);
    let (_, _) = run(&mut s, 10);
    let bytes = block_on(s.checkpoint_bytes(false)).unwrap();
    let mut t = Session::new();
    block_on(t.load(checkpoint::from_bytes(&bytes, "a.safetensors").unwrap())).unwrap();
    assert_eq!(t.recipe(), Some(&recipe(3)), "the loaded model keeps its recipe");
    assert_eq!(t.info().unwrap().train, Some(recipe(3)));
    assert_eq!(t.step(), 3);
    // saved again (weights only, too), the recipe is still there
    for weights_only in [false, true] {
        let again = block_on(t.checkpoint_bytes(weights_only)).unwrap();
        let ck = checkpoint::from_bytes(&again, "b.safetensors").unwrap();
        assert_eq!(ck.train, Some(recipe(3)));
    }
}

#[test]
fn failures_have_kinds_and_keep_the_session() {
    let mut s = Session::new();
    let e = block_on(s.train_chunk(1, |_| {})).unwrap_err();
    assert_eq!(e.kind(), "state", "{e}");
    assert_eq!(s.info().unwrap_err().kind(), "state");

    let mut s = session(6);
    let before = s.info().unwrap();
    let e = s.encode("Zebra").unwrap_err();
    assert_eq!(e, Error::UnknownChar { ch: 'Z', pos: 0, vocab: before.vocab_size });
    assert_eq!(e.kind(), "unknown_char");
    // a model that cannot be made leaves the current one
    let bad = NewModel { n_embd: 15, ..shape() };
    assert_eq!(block_on(s.new_model(TEXT, &bad, recipe(6))).unwrap_err().kind(), "config");
    assert_eq!(s.info().unwrap().n_embd, 16);

    // a NaN step: kind numeric with its step and lr, the step counter unchanged
    let mut s = session(6);
    s.set_policy(Policy { eval_every: 0, sample_every: 0, save_every: 0 });
    block_on(s.train_chunk(2, |_| {})).unwrap();
    s.test_fault("nan").unwrap();
    let e = block_on(s.train_chunk(2, |_| {})).unwrap_err();
    match e {
        Error::Numeric { step, lr, .. } => assert!(step == 3 && lr.is_nan(), "{step} {lr}"),
        e => panic!("expected a numeric error, got {e}"),
    }
    assert_eq!(s.step(), 2, "the failed step is not counted");
    let mut after = Vec::new();
    block_on(s.train_chunk(1, |e| after.push(e.clone()))).unwrap();
    assert!(matches!(&after[0], Event::Step(r) if r.step == 3 && r.loss.is_finite()), "training goes on: {after:?}");
}
