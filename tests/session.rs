//! The Session both the CLI and the page drive: its training events and their cadence, chunks
//! that change nothing numerically, and a recipe that survives load and save.

use pollster::block_on;
use tinygpt::checkpoint::{self, Store};
use tinygpt::config::{PosEncoding, TrainConfig};
use tinygpt::error::Error;
use tinygpt::session::{BackendChoice, ChunkEnd, Event, NewModel, Policy, Session};
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
            Event::Plan { step, .. } => format!("plan {step}"),
        })
        .collect();
    // no budget: no plan
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
    let bytes = block_on(s.checkpoint_bytes(Store::Full)).unwrap();
    let mut t = Session::new();
    block_on(t.load(checkpoint::from_bytes(&bytes, "a.safetensors").unwrap())).unwrap();
    assert_eq!(t.recipe(), Some(&recipe(3)), "the loaded model keeps its recipe");
    assert_eq!(t.info().unwrap().train, Some(recipe(3)));
    assert_eq!(t.step(), 3);
    // saved again (weights only, too), the recipe is still there
    for store in [Store::Full, Store::Weights, Store::WeightsF16] {
        let again = block_on(t.checkpoint_bytes(store)).unwrap();
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

#[test]
fn the_backend_choice_takes_the_faster_of_each() {
    use tinygpt::session::{choose_backends, Timing};
    let t = |train_step_ms, decode_token_ms| Timing { train_step_ms, decode_token_ms };
    // a software GPU: slower at both
    let (train, generate, why) = choose_backends(t(50.0, 2.0), Some(t(900.0, 30.0)));
    assert_eq!((train, generate), ("cpu", "cpu"), "{why}");
    assert!(why.contains("50.0") && why.contains("900.0"), "the line names both figures: {why}");
    // a real GPU that trains faster but decodes a single token slower: the choices differ
    let two = |c, g| {
        let (a, b, _) = choose_backends(c, g);
        (a, b)
    };
    assert_eq!(two(t(50.0, 2.0), Some(t(5.0, 3.0))), ("gpu", "cpu"));
    assert_eq!(two(t(50.0, 2.0), Some(t(5.0, 1.0))), ("gpu", "gpu"));
    // no GPU, or a tie: the CPU
    assert_eq!(two(t(50.0, 2.0), None), ("cpu", "cpu"));
    assert_eq!(two(t(50.0, 2.0), Some(t(50.0, 2.0))), ("cpu", "cpu"));
}

#[test]
fn calibration_times_both_backends_on_the_models_shape() {
    let mut s = Session::new();
    assert_eq!(block_on(s.calibrate(None, 2)).unwrap_err().kind(), "state", "no model and no shape");
    let mut s = session(3);
    let c = block_on(s.calibrate(None, 2)).unwrap();
    assert!(c.workload.contains("2 layers x 2 heads, 16 wide, context 8, batch 2"), "{}", c.workload);
    assert!(c.cpu.train_step_ms > 0.0 && c.cpu.decode_token_ms > 0.0, "{c:?}");
    match (&c.gpu, &c.gpu_error) {
        (Some(g), None) => assert!(g.train_step_ms > 0.0 && g.decode_token_ms > 0.0, "{c:?}"),
        (None, Some(e)) => assert!(!e.is_empty()),
        _ => panic!("a GPU timing or the reason there is none: {c:?}"),
    }
    let (train, generate, _) = tinygpt::session::choose_backends(c.cpu, c.gpu);
    assert_eq!((c.train, c.generate), (train, generate), "the choice follows the figures: {c:?}");
    assert_eq!(s.step(), 0, "the current model is not touched");
}

#[test]
fn an_f16_checkpoint_is_a_sixth_of_the_size_and_widens_to_the_rounded_weights() {
    let mut s = session(6);
    run(&mut s, 6);
    let full = block_on(s.checkpoint_bytes(Store::Full)).unwrap();
    let half = block_on(s.checkpoint_bytes(Store::WeightsF16)).unwrap();
    let (a, b) = (checkpoint::from_bytes(&full, "f32").unwrap(), checkpoint::from_bytes(&half, "f16").unwrap());
    assert!(b.tensors.keys().all(|n| !n.starts_with("optimizer.")), "weights only");
    let mut worst = 0f32;
    for (n, x) in b.tensors.iter() {
        for (&w, &r) in x.iter().zip(&a.tensors[n]) {
            assert_eq!(w, tinygpt::half::f16_to_f32(tinygpt::half::f32_to_f16(r)), "{n}: the weight rounded to f16");
            worst = worst.max((w - r).abs() / r.abs().max(1e-3));
        }
    }
    assert!(worst > 0.0 && worst < 1e-3, "rounded, by at most half an f16 ulp: {worst}");
    let params: usize = b.tensors.values().map(Vec::len).sum();
    assert!(half.len() < full.len() / 5 && half.len() > 2 * params, "{} vs {} bytes", half.len(), full.len());
    // loaded, it evaluates within f16 rounding of the f32 model
    let mut t = Session::new();
    block_on(t.load(b)).unwrap();
    let ids = s.encode(TEXT).unwrap();
    let (l32, _, _) = block_on(s.evaluate(&ids, Some(2))).unwrap();
    let (l16, _, _) = block_on(t.evaluate(&ids, Some(2))).unwrap();
    assert!((l32 - l16).abs() < 1e-2, "{l32} vs {l16}");
}

/// Moving the model between backends mid-run keeps every number: the weights, the AdamW
/// moments, the step and the training data go with it.
#[test]
fn moving_the_model_to_another_backend_keeps_the_run() {
    let mut stay = session(8);
    let (events, _) = run(&mut stay, 8);
    let losses = |ev: &[Event]| ev.iter().filter_map(|e| if let Event::Step(r) = e { Some(r.loss) } else { None }).collect::<Vec<_>>();
    let mut moved = session(8);
    let mut first = Vec::new();
    block_on(moved.train_chunk(4, |e| first.push(e.clone()))).unwrap();
    // to the CPU (where it is: nothing to move), to a GPU when there is one, and back
    let r = block_on(moved.move_to(BackendChoice::Cpu)).unwrap();
    assert_eq!(r.backend, "cpu");
    let gpu = block_on(moved.move_to(BackendChoice::AnyGpu)).unwrap();
    assert_eq!(moved.step(), 4, "the step goes with the model");
    if gpu.backend == "webgpu" {
        assert!(moved.describe_backend() != "CPU", "{}", moved.describe_backend());
        assert!(gpu.compiled_ahead >= 20, "the move compiles the pipelines ahead: {}", gpu.compiled_ahead);
        block_on(moved.move_to(BackendChoice::Cpu)).unwrap();
    }
    assert_eq!(moved.describe_backend(), stay.describe_backend());
    let (rest, _) = run(&mut moved, 100);
    let got: Vec<f32> = losses(&first).into_iter().chain(losses(&rest)).collect();
    assert_eq!(got, losses(&events), "the run continues exactly as if it had never moved");
    let ck = |s: &mut Session| checkpoint::from_bytes(&block_on(s.checkpoint_bytes(Store::Full)).unwrap(), "x").unwrap();
    let (a, b) = (ck(&mut moved), ck(&mut stay));
    assert_eq!((a.step, a.tensors.len()), (b.step, b.tensors.len()));
    for (n, x) in &a.tensors {
        assert!(x == &b.tensors[n], "{n} differs after the move");
    }
    // no model: only the choice for new models changes
    let mut empty = Session::new();
    assert_eq!(block_on(empty.move_to(BackendChoice::Cpu)).unwrap().backend, "cpu");
}

/// Calls train_chunk(n) until done, with no bound on the number of chunks (a budget's length
/// is not known in advance).
fn run_to_end(s: &mut Session, n: usize) -> (Vec<Event>, Vec<ChunkEnd>) {
    let (mut events, mut ends) = (Vec::new(), Vec::new());
    loop {
        let end = block_on(s.train_chunk(n, |e| events.push(e.clone()))).unwrap();
        ends.push(end);
        if end.done {
            return (events, ends);
        }
    }
}

/// A time budget plans the run once, after the step that found enough of it timed: the plan's
/// steps become the run's total (the chunks', the recipe's, the schedule's end) and the run
/// ends, done, at exactly that step. Only order and counts are checked, never wall times.
#[test]
fn a_time_budget_plans_the_run_once_and_it_ends_at_the_plan() {
    // an open length before the plan: the page's derived cadence (evaluations every 250,
    // samples every 500, saves every 50) until the plan re-derives it
    let open = 1_000_000;
    let mut s = session(open);
    s.set_budget(Some(2000.0));
    assert_eq!(s.budget(), Some((2000.0, false)));
    let (events, ends) = run_to_end(&mut s, 40);
    let plans: Vec<(usize, usize, usize, f64, f64)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Plan { step, steps, ms_per_step, budget_ms } => Some((i, *step, *steps, *ms_per_step, *budget_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(plans.len(), 1, "one plan per run: {plans:?}");
    let (i, at, steps, ms, budget) = plans[0];
    assert!(matches!(&events[i - 1], Event::Step(r) if r.step == at), "right after the step that triggered it: {:?}", &events[i - 1]);
    assert!(at >= tinygpt::session::PLAN_MIN_STEPS && steps > at && steps < open, "{at} {steps}");
    assert!(ms > 0.0 && budget == 2000.0);
    // every step once, in order, up to exactly the plan's
    let stepped: Vec<usize> = events.iter().filter_map(|e| if let Event::Step(r) = e { Some(r.step) } else { None }).collect();
    assert!(stepped.len() == steps && stepped.iter().enumerate().all(|(i, &k)| k == i + 1), "every step once, in order, to {steps}: {} events, the last {:?}", stepped.len(), stepped.last());
    let last = ends.last().unwrap();
    assert_eq!((last.step, last.total, last.done), (steps, steps, true));
    // chunks before the plan had the open length; every one after it, the plan's
    assert!(ends.iter().all(|e| e.total == open || e.total == steps));
    assert!(ends.iter().filter(|e| e.step > at).all(|e| e.total == steps));
    assert!(ends.iter().filter(|e| e.step < at).all(|e| e.total == open));
    // the run ends with an evaluation, and the schedule ends at the plan's step count
    assert!(matches!(events.iter().rev().find(|e| !matches!(e, Event::Sample { .. } | Event::Save { .. })), Some(Event::Eval { step, .. }) if *step == steps));
    let lr_last = events.iter().rev().find_map(|e| if let Event::Step(r) = e { Some(r.lr) } else { None }).unwrap();
    assert_eq!(lr_last, TrainConfig { steps, ..recipe(open) }.lr_at(steps - 1));
    assert_eq!(s.recipe().unwrap().steps, steps, "the recipe (what is saved) has the plan's length");
    assert_eq!(s.budget(), Some((2000.0, true)));
    // the cadence follows the new length: the page's for `steps` after the plan
    assert_eq!(s.policy(), Policy::page(steps));
    for e in &events {
        if let Event::Eval { step, .. } = e {
            let pol = if *step <= at { Policy::page(open) } else { Policy::page(steps) };
            assert!(*step == steps || step % pol.eval_every == 0, "evaluation at {step} (plan at {at} of {steps})");
        }
    }
    // nothing more to do once done, and no second plan
    let mut more = Vec::new();
    assert!(block_on(s.train_chunk(5, |e| more.push(e.clone()))).unwrap().done && more.is_empty());
}

/// Preparing clears a budget (call set_budget after preparing); a budget that is not a positive
/// number is none; without one a run has no plan.
#[test]
fn preparing_clears_the_budget_and_no_budget_means_no_plan() {
    let mut s = session(10);
    s.set_budget(Some(60_000.0));
    s.prepare_training(&TEXT.repeat(20), recipe(10)).unwrap();
    assert_eq!(s.budget(), None);
    for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        s.set_budget(Some(bad));
        assert_eq!(s.budget(), None, "{bad}");
    }
    let (events, ends) = run_to_end(&mut s, 100);
    assert!(!events.iter().any(|e| matches!(e, Event::Plan { .. })));
    assert_eq!(ends.last().unwrap().total, 10);
}

/// A budget set on a run that reaches its prepared length before enough of it is timed ends
/// there, with no plan.
#[test]
fn a_run_shorter_than_the_timing_ends_without_a_plan() {
    let mut s = session(6);
    s.set_budget(Some(600_000.0));
    let (events, ends) = run_to_end(&mut s, 100);
    assert!(!events.iter().any(|e| matches!(e, Event::Plan { .. })));
    assert_eq!((ends.last().unwrap().step, ends.last().unwrap().total), (6, 6));
    assert_eq!(s.budget(), Some((600_000.0, false)));
}

/// A budget already spent when the run is planned (the timing alone takes longer): the plan is
/// one more step, the one already in flight, which settles at once and ends the run with its
/// evaluation; no step is lost or repeated.
#[test]
fn a_budget_spent_by_the_timing_ends_one_step_after_the_plan() {
    let mut s = session(1_000_000);
    s.set_budget(Some(1.0));
    let (events, ends) = run_to_end(&mut s, 1_000);
    let (i, at, steps) = events
        .iter()
        .enumerate()
        .find_map(|(i, e)| if let Event::Plan { step, steps, .. } = e { Some((i, *step, *steps)) } else { None })
        .expect("a plan");
    assert_eq!(steps, at + 1);
    assert!(matches!(&events[i - 1], Event::Step(r) if r.step == at));
    let stepped: Vec<usize> = events.iter().filter_map(|e| if let Event::Step(r) = e { Some(r.step) } else { None }).collect();
    assert!(stepped.len() == steps && stepped.iter().enumerate().all(|(i, &k)| k == i + 1), "every step once, in order, to {steps}: {} events, the last {:?}", stepped.len(), stepped.last());
    let tail: Vec<String> = events[i + 1..]
        .iter()
        .map(|e| match e {
            Event::Step(r) => format!("step {}", r.step),
            Event::Eval { step, .. } => format!("eval {step}"),
            Event::Sample { step } => format!("sample {step}"),
            Event::Save { step } => format!("save {step}"),
            Event::Plan { step, .. } => format!("plan {step}"),
        })
        .filter(|e| !e.ends_with(&format!(" {at}")))
        .collect();
    assert_eq!(tail, [format!("step {steps}"), format!("eval {steps}"), format!("sample {steps}"), format!("save {steps}")]);
    assert_eq!((ends.last().unwrap().step, ends.last().unwrap().total), (steps, steps));
}
