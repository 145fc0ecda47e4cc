//! The toy tasks (src/tasks/): seeded generators with held-out sets they never train on, the
//! answer-only loss against a reference by hand on both backends, exact match against greedy
//! decoding, and the two circuits the tasks exist to show: an induction head and grokking.

use pollster::block_on;
use std::collections::HashSet;
use tinygpt::backend::Backend;
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::GpuBackend;
use tinygpt::model::{Gpt, Slot};
use tinygpt::rng::Rng;
use tinygpt::session::{Event, Session};
use tinygpt::tasks::{self, Encoded, TaskData, TASKS};

fn data(name: &str) -> TaskData {
    let t = tasks::task(name).unwrap();
    TaskData::new(t, &t.tokenizer(), t.model().block_size).unwrap()
}

#[test]
fn there_are_at_least_twelve_tasks_each_with_a_recipe_that_validates() {
    assert!(TASKS.len() >= 12, "{} tasks", TASKS.len());
    let names: HashSet<&str> = TASKS.iter().map(|t| t.name).collect();
    assert_eq!(names.len(), TASKS.len(), "names are distinct");
    for n in ["induction", "modadd", "reverse", "sort", "add", "words"] {
        assert!(names.contains(n), "{n}");
    }
    for t in TASKS {
        t.model().validate().unwrap();
        t.train_config().validate().unwrap();
        assert!(!t.skill.is_empty() && !t.skill.contains('\n'), "{}: one line of skill", t.name);
        let (p, a) = t.example();
        assert!(!p.is_empty() && !a.is_empty(), "{}", t.name);
    }
    let e = tasks::task("nope").unwrap_err().to_string();
    assert!(e.contains("induction") && e.contains("'nope'"), "{e}");
}

/// Each generator is a function of its seed; the held-out examples are distinct prompts that
/// training never draws; every example fits the task's context and ends its answer with the
/// newline.
#[test]
fn generators_are_seeded_and_the_held_out_set_never_trains() {
    for t in TASKS {
        let d = data(t.name);
        let (b, ctx) = (8, t.model().block_size);
        let batch = |seed| d.batch(b, ctx, &mut Rng::new(seed)).unwrap();
        assert_eq!(batch(5), batch(5), "{}: same seed, same batch", t.name);
        assert_ne!(batch(5), batch(6), "{}: another seed, another batch", t.name);
        let prompt = |e: &Encoded| e.ids[..e.prompt].to_vec();
        let held: HashSet<Vec<u32>> = d.heldout.iter().map(prompt).collect();
        assert_eq!(held.len(), d.heldout.len(), "{}: held-out prompts are distinct", t.name);
        assert!(d.heldout.len() >= 100, "{}: {} held out", t.name, d.heldout.len());
        let mut r = Rng::new(11);
        for _ in 0..3000 {
            let e = d.draw(&mut r).unwrap();
            assert!(!held.contains(&prompt(&e)), "{}: a training example is held out", t.name);
            assert!(e.ids.len() - 1 <= t.block_size(), "{}: {} tokens do not fit a context of {}", t.name, e.ids.len(), t.block_size());
            assert!(e.prompt >= 1 && e.prompt < e.ids.len() - 1, "{}: a prompt and an answer", t.name);
            if t.ends_with_newline() {
                assert_eq!(*e.ids.last().unwrap(), d.newline, "{}: the answer ends with the newline", t.name);
            }
        }
        for e in d.heldout.iter().chain(&d.train_sample) {
            assert!(e.ids.len() - 1 <= t.block_size());
        }
    }
    // modadd: every pair once, split between training and held out
    let d = data("modadd");
    let p = tasks::MODADD_P as usize;
    let train = d.train_sample.len();
    assert_eq!(train + d.heldout.len(), p * p);
    let prompts = |v: &[Encoded]| v.iter().map(|e| e.ids[..e.prompt].to_vec()).collect::<HashSet<_>>();
    assert!(prompts(&d.train_sample).is_disjoint(&prompts(&d.heldout)));
    assert_eq!(prompts(&d.train_sample).len(), train, "the training pairs, each once");
}

/// A task batch puts weight 1 exactly on the targets that are answer tokens (and the newline
/// after them), one example per row from position 0.
#[test]
fn rows_weigh_the_answers_only() {
    let d = data("add");
    let tok = &d.tok;
    let e = Encoded { ids: tok.encode("12+30=42\n").unwrap(), prompt: 6 };
    let t = 9;
    let rows = d.rows(&[&e], 2, t);
    let w = rows.w.as_ref().unwrap();
    // targets: 2+30=42\n; the answer "42\n" is targets 5..8
    assert_eq!(&rows.x[..8], &tok.encode("12+30=42").unwrap()[..]);
    assert_eq!(&rows.y[..8], &tok.encode("2+30=42\n").unwrap()[..]);
    assert_eq!(&w[..t], &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    assert!(w[t..].iter().all(|&x| x == 0.0), "a padding row weighs nothing");
    assert_eq!(rows.positions(), 3.0);
}

/// The answer-only loss of a training step equals the weighted cross-entropy computed here
/// from the model's own logits; the targets of weight 0 change neither the loss nor the
/// gradients; the GPU backend gives the CPU's loss and gradients within 1e-5.
#[test]
fn answer_only_loss_equals_a_reference_by_hand_on_both_backends() {
    let d = data("add");
    let cfg = ModelConfig { vocab_size: d.tok.vocab_size(), n_layer: 2, n_head: 2, n_embd: 16, block_size: 9, pos: PosEncoding::Learned };
    let batch = d.batch(3, 9, &mut Rng::new(3)).unwrap();
    let w = batch.w.clone().unwrap();
    let tc = TrainConfig { grad_clip: 0.0, ..TrainConfig::default() };
    let v = cfg.vocab_size;

    // by hand: -log softmax at the target, weighted, over the weights' sum
    let mut m = Gpt::new(cfg.clone(), CpuBackend::new(), 5).unwrap();
    block_on(m.forward(&batch.x, None, 3, 9)).unwrap();
    let logits = block_on(m.read_logits());
    let (mut sum, mut n) = (0.0f64, 0.0f64);
    for (i, row) in logits.chunks(v).enumerate() {
        let max = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let lse = max + row.iter().map(|&z| (z as f64 - max).exp()).sum::<f64>().ln();
        sum += w[i] as f64 * (lse - row[batch.y[i] as usize] as f64);
        n += w[i] as f64;
    }
    let want = (sum / n) as f32;

    // a training step's loss (read back before its update) and gradients, on each backend
    fn step<B: Backend>(m: &mut Gpt<B>, x: &[u32], y: &[u32], w: &[f32], tc: &TrainConfig) -> (f32, Vec<f32>) {
        block_on(m.train_step_lagged(x, y, Some(w), 3, 9, 1e-3, tc)).unwrap();
        let s = block_on(m.finish_lagged()).unwrap().unwrap();
        (s.loss, block_on(m.read_flat(Slot::Grad)))
    }
    let (loss, grads) = step(&mut m, &batch.x, &batch.y, &w, &tc);
    assert!((loss - want).abs() <= 1e-5 * want.abs().max(1.0), "answer-only loss {loss}, by hand {want}");

    // the targets of weight 0 do not matter
    let mut y2 = batch.y.clone();
    for (i, t) in y2.iter_mut().enumerate() {
        if w[i] == 0.0 {
            *t = (*t + 1) % v as u32;
        }
    }
    let mut m2 = Gpt::new(cfg.clone(), CpuBackend::new(), 5).unwrap();
    let (loss2, grads2) = step(&mut m2, &batch.x, &y2, &w, &tc);
    assert_eq!(loss2, loss);
    assert_eq!(grads2, grads, "the prompt's targets give no gradient");

    // the GPU backend
    let Ok(gpu) = block_on(GpuBackend::new()) else {
        eprintln!("no GPU adapter: the GPU half of this test is skipped");
        return;
    };
    let mut g = Gpt::new(cfg, gpu, 5).unwrap();
    let (gl, gg) = step(&mut g, &batch.x, &batch.y, &w, &tc);
    assert!((gl - loss).abs() <= 1e-5 * loss.abs().max(1.0), "GPU loss {gl}, CPU {loss}");
    let worst = gg.iter().zip(&grads).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "GPU gradients differ from the CPU's by up to {worst}");
}

/// Exact match (one teacher-forced pass) is greedy decoding's verdict, example by example, on a
/// model half way through learning a task; a trained model solves it and a fresh one does not.
#[test]
fn exact_match_is_greedy_decoding_and_tells_solved_from_unsolved() {
    let t = tasks::task("max").unwrap();
    let mut s = Session::new();
    let tc = TrainConfig { steps: 600, eval_interval: 0, ..t.train_config() };
    block_on(s.new_task_model(t, &t.model(), tc)).unwrap();
    let fresh = block_on(s.score_task(t)).unwrap();
    assert!(fresh.exact < 0.2, "an untrained model: {}", fresh.exact);

    // part way: some right, some wrong; each verdict is greedy decoding's
    let mut partly = None;
    for _ in 0..12 {
        block_on(s.train_chunk(50, |_| {})).unwrap();
        let sc = block_on(s.score_task(t)).unwrap();
        if sc.exact > 0.1 && sc.exact < 0.9 {
            partly = Some(sc);
            break;
        }
    }
    let partly = partly.expect("a model part way through learning `max`");
    let samples = block_on(s.task_samples(10_000)).unwrap();
    let right = samples.iter().filter(|x| x.right).count();
    assert_eq!(right, (partly.exact * samples.len() as f32).round() as usize, "greedy decoding agrees with the teacher-forced verdict");
    assert!(samples.iter().all(|x| x.right == (x.got == x.answer)));

    to_the_end(&mut s, &mut |_| {});
    let solved = block_on(s.score_task(t)).unwrap();
    assert!(solved.exact >= 0.95, "max after {} steps: {}", s.step(), solved.exact);
}

/// Trains the prepared run to its last step (a chunk ends at each sample or save the page's
/// policy asks for).
fn to_the_end(s: &mut Session, on: &mut dyn FnMut(&Event)) {
    while !block_on(s.train_chunk(usize::MAX, &mut *on)).unwrap().done {}
}

/// Trains a task with its default recipe: every event, and the session.
fn train(name: &str) -> (Session, Vec<Event>) {
    let t = tasks::task(name).unwrap();
    let mut s = Session::new();
    block_on(s.new_task_model(t, &t.model(), t.train_config())).unwrap();
    let mut ev = Vec::new();
    to_the_end(&mut s, &mut |e| ev.push(e.clone()));
    (s, ev)
}

/// (step, train_exact, val_exact) of every evaluation.
fn exact(ev: &[Event]) -> Vec<(usize, f32, f32)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Eval { step, train_exact: Some(t), val_exact: Some(v), .. } => Some((*step, *t, *v)),
            _ => None,
        })
        .collect()
}

/// `induction` with its default recipe solves the task and forms an induction head (scored as
/// `tinygpt heads` scores it, on a letter string longer than any the task makes, so never
/// generated by it) reading a previous-token head in an earlier layer.
#[test]
fn induction_forms_an_induction_head() {
    let (mut s, ev) = train("induction");
    let curve = exact(&ev);
    let (_, _, val) = *curve.last().unwrap();
    assert!(val >= 0.9, "held-out exact match {val}: {curve:?}");
    let probe = "qzjxwvkmbfyhtcrn"; // 16 distinct letters
    let h = block_on(s.head_scores(probe)).unwrap();
    let best = |sc: &Vec<Vec<f32>>, layers: std::ops::Range<usize>| {
        layers.flat_map(|l| sc[l].iter().enumerate().map(move |(h, &v)| (v, l, h))).fold((0.0, 0, 0), |a, b| if b.0 > a.0 { b } else { a })
    };
    let n_layer = h.induction.len();
    let (ind, l, hd) = best(&h.induction, 1..n_layer);
    assert!(ind >= 0.5, "best induction head {l}.{hd} scores {ind}: {:?}", h.induction);
    let (prev, pl, ph) = best(&h.previous_token, 0..l);
    assert!(prev >= 0.5, "its previous-token partner below layer {l}: {pl}.{ph} scores {prev}: {:?}", h.previous_token);
}

/// `modadd` groks: training exact match reaches 99% no later than half the step at which
/// held-out exact match first reaches 95%, and held-out ends at 95% or more.
#[test]
fn modadd_groks() {
    let (_, ev) = train("modadd");
    let curve = exact(&ev);
    let first = |f: &dyn Fn(&(usize, f32, f32)) -> bool| curve.iter().find(|x| f(x)).map(|x| x.0);
    let memorised = first(&|x| x.1 >= 0.99).unwrap_or_else(|| panic!("training never reached 99%: {curve:?}"));
    let grokked = first(&|x| x.2 >= 0.95).unwrap_or_else(|| panic!("held-out never reached 95%: {curve:?}"));
    assert!(2 * memorised <= grokked, "memorised at step {memorised}, generalised at {grokked}: {curve:?}");
    assert!(curve.last().unwrap().2 >= 0.95, "{curve:?}");
}
