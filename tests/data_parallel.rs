//! Data-parallel training (the page's two workers): two Sessions, each with half of every
//! batch, exchanging gradients, train as one Session alone does, within float rounding of the
//! gradient sums, and keep identical weights.

use pollster::block_on;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use tinygpt::checkpoint::{self, Store};
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::error::Result;
use tinygpt::model::Shard;
use tinygpt::session::{DataParallel, Event, Exchange, NewModel, Session};
use tinygpt::tokenizer::TokenizerKind;

const TEXT: &str = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n";

fn recipe(dropout: f32) -> TrainConfig {
    // an odd batch: the workers' halves are 3 and 2 rows
    TrainConfig { batch_size: 5, steps: 12, lr: 3e-3, min_lr: 3e-4, warmup: 2, eval_batches: 2, seed: 9, dropout, ..TrainConfig::default() }
}

/// A new model prepared on the text, or on a task (`add`: the loss on the answers only).
fn session(dropout: f32, task: Option<&str>) -> Session {
    let mut s = Session::new();
    match task {
        None => {
            let shape = NewModel { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, pos: PosEncoding::Learned, tokenizer: TokenizerKind::Char };
            block_on(s.new_model(&TEXT.repeat(20), &shape, recipe(dropout))).unwrap();
        }
        Some(name) => {
            let t = tinygpt::tasks::task(name).unwrap();
            let shape = ModelConfig { n_layer: 2, n_head: 2, n_embd: 16, ..t.model() };
            block_on(s.new_task_model(t, &shape, recipe(dropout))).unwrap();
        }
    }
    s
}

/// Two mailboxes: what each worker posted for the other, in step order.
type Mail = Rc<RefCell<[VecDeque<(u32, Shard)>; 2]>>;

struct Link {
    k: usize,
    mail: Mail,
}

impl Exchange for Link {
    fn exchange<'a>(&'a mut self, step: u32, mine: Shard) -> Pin<Box<dyn Future<Output = Result<Shard>> + 'a>> {
        self.mail.borrow_mut()[self.k].push_back((step, mine.clone()));
        let other = 1 - self.k;
        Box::pin(std::future::poll_fn(move |_| {
            let theirs = self.mail.borrow_mut()[other].pop_front();
            assert!(theirs.as_ref().is_none_or(|(s, _)| *s == step), "the workers are at the same step");
            match theirs {
                None => Poll::Pending,
                Some((_, t)) => {
                    let parts = if self.k == 0 { vec![mine.clone(), t] } else { vec![t, mine.clone()] };
                    Poll::Ready(Ok(Shard::sum(parts)))
                }
            }
        }))
    }
}

/// Polls two futures in turn until both are done (the two workers, in one thread).
fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if ra.is_none() {
            if let Poll::Ready(x) = a.as_mut().poll(&mut cx) {
                ra = Some(x);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(x) = b.as_mut().poll(&mut cx) {
                rb = Some(x);
            }
        }
        if let (Some(_), Some(_)) = (&ra, &rb) {
            return (ra.unwrap(), rb.unwrap());
        }
    }
    panic!("the two workers did not finish: a deadlock in the exchange");
}

fn losses(ev: &[Event]) -> Vec<f32> {
    ev.iter().filter_map(|e| if let Event::Step(r) = e { Some(r.loss) } else { None }).collect()
}

#[test]
fn two_workers_train_as_one_session_does() {
    two_workers_case(0.0, None);
}

/// A task's batches split as a text's do; each worker's rows carry their own share of the
/// answer tokens, and the loss is the mean over the whole batch's.
#[test]
fn two_workers_train_a_task_as_one_session_does() {
    two_workers_case(0.0, Some("add"));
}

/// With dropout each worker draws its rows of the whole batch's masks (by its first row), so
/// the two still train as one session does.
#[test]
fn two_workers_with_dropout_train_as_one_session_does() {
    let (plain, dropped) = (two_workers_case(0.0, None), two_workers_case(0.2, None));
    assert!(plain.iter().zip(&dropped).all(|(a, b)| a != b), "dropout changes every loss: {plain:?} {dropped:?}");
}

/// Trains alone and as two workers with `dropout` (on the text, or a task); checks they agree
/// and returns the losses.
fn two_workers_case(dropout: f32, task: Option<&str>) -> Vec<f32> {
    // alone
    let mut alone = session(dropout, task);
    let mut ev = Vec::new();
    block_on(alone.train_chunk(100, |e| ev.push(e.clone()))).unwrap();
    let want = losses(&ev);
    assert_eq!(want.len(), 12);

    // two workers: the same model (worker 1 loads worker 0's checkpoint, as the page's peer does)
    let mut w0 = session(dropout, task);
    let mut w1 = Session::new();
    block_on(w1.load(checkpoint::from_bytes(&block_on(w0.checkpoint_bytes(Store::Full)).unwrap(), "w0").unwrap())).unwrap();
    match task {
        None => w1.prepare_training(&TEXT.repeat(20), recipe(dropout)).unwrap(),
        Some(name) => w1.prepare_task(tinygpt::tasks::task(name).unwrap(), recipe(dropout)).unwrap(),
    }
    let mail: Mail = Rc::new(RefCell::new([VecDeque::new(), VecDeque::new()]));
    w0.set_data_parallel(Some(DataParallel::new(0, 2, Box::new(Link { k: 0, mail: mail.clone() })))).unwrap();
    w1.set_data_parallel(Some(DataParallel::new(1, 2, Box::new(Link { k: 1, mail })))).unwrap();
    let mut ev0 = Vec::new();
    let (chunks, peer) = both(
        async {
            // in chunks, as the page runs it: a chunk boundary changes nothing
            let mut ends = Vec::new();
            for n in [1, 4, 100] {
                ends.push(w0.train_chunk(n, |e| ev0.push(e.clone())).await.unwrap());
            }
            ends
        },
        async {
            let mut steps = Vec::new();
            for _ in 0..12 {
                steps.push(w1.peer_step().await.unwrap());
            }
            steps
        },
    );
    assert!(chunks.last().unwrap().done);
    let got = losses(&ev0);
    let peer_losses: Vec<f32> = peer.iter().map(|r| r.loss).collect();
    assert_eq!(got, peer_losses, "both workers report the same loss (the sum of both halves)");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "step {}: two workers {g}, alone {w}", i + 1);
    }
    assert!(ev0.iter().any(|e| matches!(e, Event::Eval { .. })), "worker 0 runs the policy: evaluations too");

    // the same weights on both workers, bit for bit; the lone session's within 1e-5
    let weights = |s: &mut Session| checkpoint::from_bytes(&block_on(s.checkpoint_bytes(Store::Weights)).unwrap(), "x").unwrap().tensors;
    let (a, b, c) = (weights(&mut w0), weights(&mut w1), weights(&mut alone));
    let mut worst = 0f32;
    for (n, x) in &a {
        assert!(x == &b[n], "{n} differs between the workers");
        for (p, q) in x.iter().zip(&c[n]) {
            worst = worst.max((p - q).abs());
        }
    }
    assert!(worst <= 1e-5, "largest weight difference from training alone: {worst}");
    assert_eq!((w0.step(), w1.step()), (12, 12));
    want
}

#[test]
fn a_batch_smaller_than_the_workers_is_refused() {
    let mut s = Session::new();
    let shape = NewModel { n_layer: 1, n_head: 1, n_embd: 8, block_size: 4, pos: PosEncoding::Learned, tokenizer: TokenizerKind::Char };
    block_on(s.new_model(&TEXT.repeat(5), &shape, TrainConfig { batch_size: 1, ..recipe(0.0) })).unwrap();
    let mail: Mail = Rc::new(RefCell::new([VecDeque::new(), VecDeque::new()]));
    let e = s.set_data_parallel(Some(DataParallel::new(0, 2, Box::new(Link { k: 0, mail })))).unwrap_err();
    assert_eq!(e.kind(), "config");
    assert!(e.to_string().contains("at least 2 sequences"), "{e}");
    assert_eq!(tinygpt::train::shard_rows(5, 0, 2), 0..3);
    assert_eq!(tinygpt::train::shard_rows(5, 1, 2), 3..5);
    assert_eq!(tinygpt::train::shard_rows(4, 1, 2), 2..4);
}

/// Worker 0 owns the schedule: a time budget replans its run (steps, and so every learning rate
/// after the plan), and the peer, whose own recipe still has the prepared length, applies
/// worker 0's learning rate (it comes with worker 0's part of each step), so the two stay
/// identical to the last bit.
#[test]
fn a_replanned_worker_0_keeps_the_peer_identical() {
    let open = 1_000_000;
    let tc = TrainConfig { steps: open, ..recipe(0.0) };
    let mut w0 = Session::new();
    let shape = NewModel { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, pos: PosEncoding::Learned, tokenizer: TokenizerKind::Char };
    block_on(w0.new_model(&TEXT.repeat(20), &shape, tc.clone())).unwrap();
    let mut w1 = Session::new();
    block_on(w1.load(checkpoint::from_bytes(&block_on(w0.checkpoint_bytes(Store::Full)).unwrap(), "w0").unwrap())).unwrap();
    w1.prepare_training(&TEXT.repeat(20), tc.clone()).unwrap();
    let mail: Mail = Rc::new(RefCell::new([VecDeque::new(), VecDeque::new()]));
    w0.set_data_parallel(Some(DataParallel::new(0, 2, Box::new(Link { k: 0, mail: mail.clone() })))).unwrap();
    w1.set_data_parallel(Some(DataParallel::new(1, 2, Box::new(Link { k: 1, mail })))).unwrap();
    w0.set_budget(Some(1500.0));
    // the plan's step count, once worker 0 has made it: the peer steps until it gets there
    let planned: Rc<std::cell::Cell<Option<usize>>> = Rc::default();
    let mut ev0 = Vec::new();
    let (_, peer) = both(
        async {
            loop {
                let end = w0
                    .train_chunk(25, |e| {
                        if let Event::Plan { steps, .. } = e {
                            planned.set(Some(*steps));
                        }
                        ev0.push(e.clone());
                    })
                    .await
                    .unwrap();
                if end.done {
                    return end;
                }
            }
        },
        async {
            // worker 0 plans at least one step past the one it planned at, so a peer that has
            // not heard of the plan yet may always take one more step
            let mut steps = Vec::new();
            while planned.get().is_none_or(|t| steps.len() < t) {
                steps.push(w1.peer_step().await.unwrap());
            }
            steps
        },
    );
    let total = planned.get().expect("worker 0 planned its run");
    assert!(total < open);
    let mine: Vec<(usize, f32, f32)> = ev0.iter().filter_map(|e| if let Event::Step(r) = e { Some((r.step, r.loss, r.lr)) } else { None }).collect();
    let theirs: Vec<(usize, f32, f32)> = peer.iter().map(|r| (r.step, r.loss, r.lr)).collect();
    assert_eq!(mine.len(), total);
    assert_eq!(mine, theirs, "both workers apply the same learning rate and report the same loss at every step");
    // the peer's own recipe would have given another learning rate after the plan
    assert_ne!(tc.lr_at(total - 1), theirs[total - 1].2, "the plan changed the schedule");
    assert_eq!(theirs[total - 1].2, TrainConfig { steps: total, ..tc.clone() }.lr_at(total - 1));
    assert_eq!((w0.step() as usize, w1.step() as usize), (total, total));
    let weights = |s: &mut Session| checkpoint::from_bytes(&block_on(s.checkpoint_bytes(Store::Full)).unwrap(), "x").unwrap().tensors;
    let (a, b) = (weights(&mut w0), weights(&mut w1));
    for (n, x) in &a {
        assert!(x == &b[n], "{n} differs between the workers");
    }
}
