//! The training loop's policy, once for every backend and both drivers: pipelined steps, the
//! step in flight settled before every evaluation and at a chunk's end, the cadence of
//! evaluations, samples and saves, and each step's time.

use crate::backend::Backend;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use super::{no_model, AnyModel, Session};
use crate::model::{Gpt, Shard, StepStats};
use std::future::Future;
use std::pin::Pin;
use crate::train::Trainer;
use serde::Serialize;
pub(super) use crate::clock::now_ms;

/// When training pauses for the driver or evaluates, in optimizer steps (0 = never; every
/// kind also happens at the last step of the run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub eval_every: usize,
    pub sample_every: usize,
    pub save_every: usize,
}

impl Policy {
    /// The page's: about ten evaluations (every 10..=250 steps) and eight samples (every
    /// 50..=500) per run, an autosave every 50 steps.
    pub fn page(steps: usize) -> Policy {
        Policy { eval_every: (steps / 10).clamp(10, 250), sample_every: (steps / 8).clamp(50, 500), save_every: 50 }
    }

    /// The page's on a task: evaluations at the recipe's interval (exact match over the steps
    /// is the chart that shows a circuit forming or grokking), the page's samples and saves.
    pub fn task(tc: &TrainConfig) -> Policy {
        Policy { eval_every: tc.eval_interval, ..Policy::page(tc.steps) }
    }

    /// The CLI's: evaluations at the recipe's interval, a checkpoint at each; one sample, at
    /// the end.
    pub fn cli(tc: &TrainConfig) -> Policy {
        Policy { eval_every: tc.eval_interval, sample_every: 0, save_every: tc.eval_interval }
    }

    fn due(every: usize, step: usize, total: usize) -> bool {
        step == total || (every > 0 && step % every == 0)
    }
}

/// One optimizer step's figures. `ms` is the time of the call that ran the step (on the CPU
/// backend the work happens there; on a GPU that call waits for the step before, the same
/// time in steady state); a step settled on its own takes the longer of that call and the
/// settling (on a GPU the settling is where it ran).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub loss: f32,
    pub acc: f32,
    pub lr: f32,
    pub grad_norm: f32,
    pub ms: f64,
    pub tokens_per_s: f64,
}

/// What a training chunk reports, in order. `Sample` and `Save` say that one is due: the
/// chunk ends right after them, so the driver can sample or save with the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    Step(StepReport),
    /// `val_loss` and `val_acc` on a task are over the held-out answers' tokens; `train_exact`
    /// and `val_exact` (a task's only, else null) are exact match on training and held-out
    /// examples.
    Eval { step: usize, val_loss: f32, val_acc: f32, train_exact: Option<f32>, val_exact: Option<f32> },
    Sample { step: usize },
    Save { step: usize },
}

/// Where a chunk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkEnd {
    pub step: usize,
    pub total: usize,
    pub done: bool,
}

/// Data-parallel training's link to the other workers (each a Session with its own model and
/// the same data and recipe, so all hold the same weights): see `Session::set_data_parallel`.
pub trait Exchange {
    /// Sends this worker's part of step `step` and returns every worker's, summed in worker
    /// order (`Shard::sum`), so that every worker applies the same numbers.
    fn exchange<'a>(&'a mut self, step: u32, mine: Shard) -> Pin<Box<dyn Future<Output = Result<Shard>> + 'a>>;
}

/// This worker's place among `of` and its link to the others.
pub struct DataParallel {
    pub k: usize,
    pub of: usize,
    pub link: Box<dyn Exchange>,
    /// Wall time (ms) of the three parts of the steps since the last `Session::set_profiling`:
    /// this worker's rows (forward, backward, gradients read), the exchange (sending, waiting
    /// for the other parts, summing), the update.
    pub times: [f64; 3],
    pub steps: u32,
}

impl DataParallel {
    pub fn new(k: usize, of: usize, link: Box<dyn Exchange>) -> DataParallel {
        DataParallel { k, of, link, times: [0.0; 3], steps: 0 }
    }
}

/// One data-parallel step: this worker's part, the exchange, the update with the sum (`lr`:
/// the recipe's at this step unless given).
pub(super) async fn dp_step<B: Backend>(m: &mut Gpt<B>, tr: &Trainer, dp: &mut DataParallel, lr: Option<f32>) -> Result<StepStats> {
    let t0 = now_ms();
    let mine = tr.shard(m, dp.k, dp.of).await?;
    let t1 = now_ms();
    let total = dp.link.exchange(m.step + 1, mine).await?;
    let t2 = now_ms();
    let s = tr.apply(m, &total, lr).await?;
    for (acc, d) in dp.times.iter_mut().zip([t1 - t0, t2 - t1, now_ms() - t2]) {
        *acc += d;
    }
    dp.steps += 1;
    Ok(s)
}

/// The training loop, once, for every backend: see `Session::train_chunk`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn chunk<B: Backend>(
    m: &mut Gpt<B>,
    tr: &Trainer,
    poisoned: Option<TrainConfig>,
    mut dp: Option<&mut DataParallel>,
    pol: Policy,
    n: usize,
    in_flight_ms: &mut f64,
    on_event: &mut impl FnMut(&Event),
) -> Result<ChunkEnd> {
    let total = tr.tc.steps;
    let tokens = (tr.tc.batch_size * m.cfg.block_size) as f64;
    // nothing is in flight between chunks (each settles before it returns); a step left in
    // flight by a direct Gpt caller is settled, and its failure reported, first
    m.finish_lagged().await?;
    let mut poisoned = poisoned;
    let mut taken = 0;
    loop {
        let step = m.step as usize;
        if step >= total || taken >= n {
            return Ok(ChunkEnd { step, total, done: step >= total });
        }
        let next = step + 1;
        // the step settles at once when the chunk ends with it or an evaluation follows it
        let settle = taken + 1 >= n || next >= total || [pol.eval_every, pol.sample_every, pol.save_every].iter().any(|&e| Policy::due(e, next, total));
        let t0 = now_ms();
        let mut settled: Vec<(StepStats, f64)> = match (poisoned.take(), dp.as_deref_mut()) {
            // data parallel: each step is settled by its exchange
            (p, Some(dp)) => {
                let s = dp_step(m, tr, dp, p.map(|tc| tc.lr)).await?;
                vec![(s, now_ms() - t0)]
            }
            (p, None) => {
                let r = match p {
                    Some(tc) => tr.step_lagged_with(m, &tc).await,
                    None => tr.step_lagged(m).await,
                };
                let d = now_ms() - t0;
                let s = r?.map(|s| (s, *in_flight_ms)).into_iter().collect();
                *in_flight_ms = d;
                s
            }
        };
        taken += 1;
        if settle {
            let t1 = now_ms();
            let s = m.finish_lagged().await?;
            settled.extend(s.map(|s| (s, in_flight_ms.max(now_ms() - t1))));
        }
        for (s, ms) in settled {
            let step = s.step as usize;
            on_event(&Event::Step(StepReport { step, loss: s.loss, acc: s.acc, lr: s.lr, grad_norm: s.grad_norm, ms, tokens_per_s: tokens / (ms / 1e3) }));
            if Policy::due(pol.eval_every, step, total) {
                let v = tr.estimate_val(m).await?;
                on_event(&Event::Eval { step, val_loss: v.loss, val_acc: v.acc, train_exact: v.train_exact, val_exact: v.val_exact });
            }
            let sample = Policy::due(pol.sample_every, step, total);
            let save = Policy::due(pol.save_every, step, total);
            if sample {
                on_event(&Event::Sample { step });
            }
            if save {
                on_event(&Event::Save { step });
            }
            if sample || save {
                return Ok(ChunkEnd { step, total, done: step >= total });
            }
        }
    }
}

impl Session {
    /// Trains as worker `k` of `of` (data parallel, `None`: alone again). Every worker is a
    /// Session holding the same model (its checkpoint, moments and step) prepared on the same
    /// corpus and recipe; each takes its rows of every step's batch (`train::shard_rows`), the
    /// parts are summed through `link` and every worker applies the same update, so the
    /// weights stay identical and equal a lone session's within float rounding of the
    /// gradient sums. Worker 0 runs `train_chunk` (the policy: evaluations, samples, saves);
    /// the others call `peer_step` in a loop.
    pub fn set_data_parallel(&mut self, dp: Option<DataParallel>) -> Result<()> {
        if let Some(d) = &dp {
            let b = self.recipe.as_ref().map_or(0, |t| t.batch_size);
            if d.of < 2 || d.k >= d.of || b < d.of {
                return Err(Error::Config(format!("data parallel: worker {} of {} needs at least {} sequences per batch (the recipe has {b})", d.k, d.of, d.of)));
            }
        }
        self.dp = dp;
        Ok(())
    }

    /// Turns the per-op profile on (clearing it) or off: the CPU backend's op times
    /// (`CpuBackend::set_profiling`) and, in data-parallel training, the step's three parts.
    pub fn set_profiling(&mut self, on: bool) -> Result<()> {
        match self.model.as_mut().ok_or_else(no_model)? {
            AnyModel::Cpu(m) => m.backend.set_profiling(on),
            AnyModel::Gpu(_) => return Err(Error::State("the per-op profile is the CPU backend's; this model is on a GPU".into())),
        }
        if let Some(dp) = self.dp.as_mut() {
            dp.times = [0.0; 3];
            dp.steps = 0;
        }
        Ok(())
    }

    /// (what, calls, seconds) since `set_profiling(true)`, slowest first: each CPU op, and in
    /// data-parallel training the step's parts, named `data parallel: ...`.
    pub fn profile(&self) -> Result<Vec<(String, u32, f64)>> {
        let mut v = match self.model.as_ref().ok_or_else(no_model)? {
            AnyModel::Cpu(m) => m.backend.profile(),
            AnyModel::Gpu(_) => Vec::new(),
        };
        if let Some(dp) = self.dp.as_ref().filter(|d| d.steps > 0) {
            for (name, ms) in ["own rows: forward, backward, gradients read", "exchange: send, wait, sum", "update"].iter().zip(dp.times) {
                v.push((format!("data parallel: {name}"), dp.steps, ms / 1e3));
            }
        }
        Ok(v)
    }

    /// One data-parallel step as a worker other than 0 (see `set_data_parallel`).
    pub async fn peer_step(&mut self) -> Result<StepReport> {
        let trainer = self.trainer.as_ref().ok_or_else(|| Error::State("prepare training first".into()))?;
        let dp = self.dp.as_mut().ok_or_else(|| Error::State("peer_step: not a data-parallel worker".into()))?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let t0 = now_ms();
        let s = with_model!(model, m => dp_step(m, trainer, dp, None).await)?;
        let ms = now_ms() - t0;
        let tokens = (trainer.tc.batch_size * self.config()?.block_size) as f64;
        Ok(StepReport { step: s.step as usize, loss: s.loss, acc: s.acc, lr: s.lr, grad_norm: s.grad_norm, ms, tokens_per_s: tokens / (ms / 1e3) })
    }
}
