//! The training loop's policy, once for every backend and both drivers: pipelined steps, the
//! step in flight settled before every evaluation and at a chunk's end, the cadence of
//! evaluations, samples and saves, each step's time, and a time budget's plan.

use crate::backend::Backend;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use super::{no_model, AnyModel, Session};
use crate::model::{Gpt, Shard, StepStats};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use crate::train::{TrainData, Trainer};
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

    /// Whether anything (an evaluation, a sample or a save) is due at `step` of `total`.
    fn any_due(&self, step: usize, total: usize) -> bool {
        [self.eval_every, self.sample_every, self.save_every].iter().any(|&e| Policy::due(e, step, total))
    }
}

/// Which cadence a session trains with. The derived ones are computed from the current
/// recipe, so a run whose step count changes (a time budget's plan) gets the cadence of its
/// new length; `Fixed` is a given `Policy` (`Session::set_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// `Policy::page(steps)`: what `new_model*` and `prepare_training*` set.
    Page,
    /// `Policy::task(tc)`: what `new_task_model` and `prepare_task` set.
    Task,
    /// `Policy::cli(tc)`: the CLI's `train`.
    Cli,
    Fixed(Policy),
}

impl Cadence {
    /// The policy for a run of recipe `tc`.
    pub fn policy(self, tc: &TrainConfig) -> Policy {
        match self {
            Cadence::Page => Policy::page(tc.steps),
            Cadence::Task => Policy::task(tc),
            Cadence::Cli => Policy::cli(tc),
            Cadence::Fixed(p) => p,
        }
    }
}

/// Batches of a text's validation estimate at a run's last step, at least.
pub const FINAL_EVAL_BATCHES: usize = 20;

/// The share of a time budget a plan fills with steps and evaluations; the rest is margin (the
/// driver's own work between chunks, timing noise).
pub const PLAN_SHARE: f64 = 0.97;
/// A budget is planned once at least this many steps are done...
pub const PLAN_MIN_STEPS: usize = 5;
/// ...and at least the larger of this share of the budget and `PLAN_MIN_MS` has passed.
pub const PLAN_MIN_SHARE: f64 = 0.05;
pub const PLAN_MIN_MS: f64 = 1500.0;

/// A time budget (`Session::set_budget`): its length, when its timing started (the first
/// `train_chunk` after it was set) and at which step, and whether the run is planned yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    pub ms: f64,
    pub start: Option<(f64, usize)>,
    pub planned: bool,
}

/// The step count that fits a time budget: the largest total `n > step` such that the steps
/// left, `(n - step) * ms_per_step`, and the evaluations the run will still make in them
/// (`eval_steps` steps' time each; at the steps of (step, n] that are multiples of
/// `eval_every(n)`, the interval of a run of n steps, 0 = none, and always at n) take at most
/// `PLAN_SHARE * budget_ms - elapsed_ms`. At least `step + 1`, at most `u32::MAX`.
pub fn plan_steps(budget_ms: f64, elapsed_ms: f64, step: usize, ms_per_step: f64, eval_steps: f64, eval_every: impl Fn(usize) -> usize) -> usize {
    let ms = if ms_per_step.is_finite() && ms_per_step > 0.0 { ms_per_step } else { f64::MIN_POSITIVE };
    let eval_ms = eval_steps.max(0.0) * ms;
    let left = PLAN_SHARE * budget_ms - elapsed_ms;
    let evals = |n: usize| match eval_every(n) {
        0 => 1,
        e => n / e - step / e + usize::from(!n.is_multiple_of(e)),
    };
    let fits = |n: usize| (n - step) as f64 * ms + evals(n) as f64 * eval_ms <= left;
    let most = u32::MAX as usize;
    let mut lo = (step + 1).min(most);
    if lo >= most || !fits(lo) {
        return lo;
    }
    // steps alone past this bound already overrun the budget
    let mut hi = (step as f64 + (left / ms).floor() + 1.0).min(most as f64) as usize;
    if fits(hi) {
        return hi;
    }
    // fits(lo), !fits(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Forward passes of one validation estimate (`Trainer::estimate_val`): a text's
/// `eval_batches`, a task's held-out and training samples in batches.
fn eval_passes(tr: &Trainer) -> usize {
    match &tr.data {
        TrainData::Text(_) => tr.tc.eval_batches.max(1),
        TrainData::Task(d) => (d.heldout.len() + d.train_sample.len()).div_ceil(tr.tc.batch_size.max(1)),
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
    /// A time budget's plan (`Session::set_budget`), right after the step event of `step`,
    /// whose timing it used: the run now ends at `steps` (the new `ChunkEnd::total`; the
    /// cosine schedule ends there too), at `ms_per_step` measured over the steps since the
    /// budget's first chunk, to fit `budget_ms`.
    Plan { step: usize, steps: usize, ms_per_step: f64, budget_ms: f64 },
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

/// One data-parallel step: this worker's part, the exchange, the update with the sum at worker
/// 0's learning rate (`lr`: this worker's when not its recipe's at this step).
pub(super) async fn dp_step<B: Backend>(m: &mut Gpt<B>, tr: &Trainer, dp: &mut DataParallel, lr: Option<f32>) -> Result<StepStats> {
    let t0 = now_ms();
    let mine = tr.shard(m, dp.k, dp.of, lr).await?;
    let t1 = now_ms();
    let total = dp.link.exchange(m.step + 1, mine).await?;
    let t2 = now_ms();
    let s = tr.apply(m, &total).await?;
    for (acc, d) in dp.times.iter_mut().zip([t1 - t0, t2 - t1, now_ms() - t2]) {
        *acc += d;
    }
    dp.steps += 1;
    Ok(s)
}

/// The training loop, once, for every backend: see `Session::train_chunk`. With a budget not
/// yet planned, the first step that finds enough of it timed plans the run (`plan_steps`):
/// `tr.tc.steps` becomes the plan's and the cadence is re-derived for it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn chunk<B: Backend>(
    m: &mut Gpt<B>,
    tr: &mut Trainer,
    poisoned: Option<TrainConfig>,
    mut dp: Option<&mut DataParallel>,
    cadence: Cadence,
    mut budget: Option<&mut Budget>,
    n: usize,
    in_flight_ms: &mut f64,
    on_event: &mut impl FnMut(&Event),
) -> Result<ChunkEnd> {
    let mut total = tr.tc.steps;
    let mut pol = cadence.policy(&tr.tc);
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
        let settle = taken + 1 >= n || pol.any_due(next, total);
        let t0 = now_ms();
        let settled: Vec<(StepStats, f64)> = match (poisoned.take(), dp.as_deref_mut()) {
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
        let mut settled = VecDeque::from(settled);
        taken += 1;
        if settle {
            let t1 = now_ms();
            let s = m.finish_lagged().await?;
            settled.extend(s.map(|s| (s, in_flight_ms.max(now_ms() - t1))));
        }
        while let Some((s, ms)) = settled.pop_front() {
            let step = s.step as usize;
            on_event(&Event::Step(StepReport { step, loss: s.loss, acc: s.acc, lr: s.lr, grad_norm: s.grad_norm, ms, tokens_per_s: tokens / (ms / 1e3) }));
            // what this step is due for: under the cadence it was recorded (and settled) with,
            // so a plan made at it changes only the steps after it
            let (eval, sample, save) = (Policy::due(pol.eval_every, step, total), Policy::due(pol.sample_every, step, total), Policy::due(pol.save_every, step, total));
            if let Some(b) = budget.as_deref_mut().filter(|b| !b.planned && step < total) {
                let (start, step0) = b.start.expect("the session starts the budget's timing");
                let (elapsed, done) = (now_ms() - start, step.saturating_sub(step0));
                if done >= PLAN_MIN_STEPS && elapsed >= (PLAN_MIN_SHARE * b.ms).max(PLAN_MIN_MS) {
                    b.planned = true;
                    let ms_per_step = elapsed / done as f64;
                    // an evaluation's forward passes cost about a third of a step each
                    let eval_steps = eval_passes(tr) as f64 / 3.0;
                    let eval_every = |steps: usize| cadence.policy(&TrainConfig { steps, ..tr.tc.clone() }).eval_every;
                    let steps = plan_steps(b.ms, elapsed, step, ms_per_step, eval_steps, eval_every);
                    tr.tc.steps = steps;
                    total = steps;
                    pol = cadence.policy(&tr.tc);
                    on_event(&Event::Plan { step, steps, ms_per_step, budget_ms: b.ms });
                    // the step recorded after this one (in flight, on its old cadence) settles
                    // now if the new cadence wants anything at it
                    if m.step as usize > step && pol.any_due(m.step as usize, total) {
                        let t1 = now_ms();
                        let s = m.finish_lagged().await?;
                        settled.extend(s.map(|s| (s, in_flight_ms.max(now_ms() - t1))));
                    }
                }
            }
            if eval {
                // the run's last figure is the one people read and compare: at least the
                // CLI's 20 batches (the page takes 4 along the way, each cheap)
                let v = if step >= total { tr.estimate_val_over(m, tr.tc.eval_batches.max(FINAL_EVAL_BATCHES)).await? } else { tr.estimate_val(m).await? };
                on_event(&Event::Eval { step, val_loss: v.loss, val_acc: v.acc, train_exact: v.train_exact, val_exact: v.val_exact });
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_fills_the_budget_with_steps_and_the_evaluations_in_them() {
        // 10 s budget, 995 ms gone over 100 steps (10 ms each): 0.97 * 10 s - 995 ms leaves
        // 870.5 steps' time; with no evaluation cost, 870 more steps fit
        assert_eq!(plan_steps(10_000.0, 995.0, 100, 10.0, 0.0, |_| 0), 970);
        // no evaluations but the last, of 0.75 steps' time: one step fewer
        assert_eq!(plan_steps(10_000.0, 995.0, 100, 10.0, 0.75, |_| 0), 969);
        // an evaluation every 100 steps, of 10 steps' time: n = 890 takes 790 steps and
        // evaluations at 200..=800 and 890 (8): 870; n = 891 would take 871
        assert_eq!(plan_steps(10_000.0, 995.0, 100, 10.0, 10.0, |_| 100), 890);
        // the interval may depend on the length (the page's): the result still fits
        let every = |n: usize| (n / 10).clamp(10, 250);
        let n = plan_steps(60_000.0, 3000.0, 50, 20.0, 7.0, every);
        let evals = |n: usize| n / every(n) - 50 / every(n) + usize::from(!n.is_multiple_of(every(n)));
        assert!(((n - 50) as f64 + evals(n) as f64 * 7.0) * 20.0 <= 0.97 * 60_000.0 - 3000.0, "{n}");
        assert!(((n + 1 - 50) as f64 + evals(n + 1) as f64 * 7.0) * 20.0 > 0.97 * 60_000.0 - 3000.0, "{n}: one more would overrun");
    }

    #[test]
    fn an_overrun_budget_still_takes_one_step_and_a_huge_one_stays_in_u32() {
        assert_eq!(plan_steps(1000.0, 2000.0, 40, 50.0, 1.0, |_| 10), 41);
        assert_eq!(plan_steps(1000.0, 960.0, 40, 50.0, 1.0, |_| 10), 41);
        assert_eq!(plan_steps(1e300, 1.0, 7, 1e-6, 0.0, |_| 0), u32::MAX as usize);
        // a zero or broken step time counts as (nearly) free steps, not a panic
        assert_eq!(plan_steps(1000.0, 10.0, 7, 0.0, 0.0, |_| 0), u32::MAX as usize);
        assert_eq!(plan_steps(1000.0, 10.0, 7, f64::NAN, 0.0, |_| 0), u32::MAX as usize);
    }

    #[test]
    fn a_cadence_follows_the_recipe_unless_fixed() {
        let tc = TrainConfig { steps: 4000, eval_interval: 77, ..TrainConfig::default() };
        assert_eq!(Cadence::Page.policy(&tc), Policy::page(4000));
        assert_eq!(Cadence::Page.policy(&TrainConfig { steps: 300, ..tc.clone() }), Policy::page(300));
        assert_eq!(Cadence::Task.policy(&tc), Policy::task(&tc));
        assert_eq!(Cadence::Cli.policy(&tc), Policy::cli(&tc));
        let p = Policy { eval_every: 3, sample_every: 0, save_every: 9 };
        assert_eq!(Cadence::Fixed(p).policy(&tc), p);
    }
}
