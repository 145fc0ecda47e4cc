//! Training steps: the update (global-norm clipping and AdamW, guarded), `train_step`, and
//! the pipelined `train_step_lagged` with the step in flight.

use super::layout::Views;
use super::{Gpt, StepDropout};
use crate::backend::{AdamWStep, Backend, Pending, Tensor};
use crate::config::{PosEncoding, TrainConfig};
use crate::data::positions;
use crate::error::{Error, Result};

/// What one optimizer step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// The step's number: 1 for the first optimizer step.
    pub step: u32,
    pub loss: f32,
    /// Fraction of positions whose argmax prediction was the target.
    pub acc: f32,
    pub grad_norm: f32,
    pub lr: f32,
}

/// One worker's part of a data-parallel step: its loss and hit sums, the positions they are
/// over (the weights' sum of its rows), its gradients (every parameter, flattened in buffer
/// order) and the learning rate it would apply (its recipe's at this step).
#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    pub loss_sum: f32,
    pub hit_sum: f32,
    pub positions: f32,
    pub grads: Vec<f32>,
    pub lr: f32,
}

impl Shard {
    /// The parts of all workers, summed in worker order (so every worker gets the same bits);
    /// the first part is the sum's storage, so nothing is copied. The sum's `lr` is the first
    /// part's: worker 0 owns the schedule (its run may be replanned for a time budget), so
    /// every worker applies its learning rate.
    pub fn sum(parts: Vec<Shard>) -> Shard {
        let mut parts = parts.into_iter();
        let mut out = parts.next().expect("at least one part");
        for p in parts {
            out.loss_sum += p.loss_sum;
            out.hit_sum += p.hit_sum;
            out.positions += p.positions;
            for (o, g) in out.grads.iter_mut().zip(&p.grads) {
                *o += g;
            }
        }
        out
    }
}

/// What training adds to a model: gradients and the two AdamW moments, cut as the params.
pub(super) struct TrainBufs {
    pub grads: Vec<Tensor>,
    pub adam_m: Vec<Tensor>,
    pub adam_v: Vec<Tensor>,
    pub gv: Views,
    /// Per-buffer sums of squared gradients, when there are several buffers.
    pub norms: Option<Tensor>,
    /// Per buffer, the ranges AdamW decays (`Layout::decay_ranges`).
    pub decayed: Vec<Vec<(usize, usize)>>,
    /// [1] the failure guard: 0, or NaN once a step's gradient norm was non-finite on the
    /// device, until that failure is reported (see `Backend::failure_guard`).
    pub guard: Tensor,
}

/// A training step recorded and submitted, its (loss sum, hit sum, norm²) on the way back.
pub(super) struct InFlight {
    stats: Pending,
    /// Positions the batch's loss is averaged over (the weights' sum).
    n: f32,
    lr: f32,
    /// The step's number (1-based).
    step: u32,
}

impl<B: Backend> Gpt<B> {
    /// Allocates the gradients and (zeroed) AdamW moments, once.
    pub(super) fn ensure_train(&mut self) -> Result<()> {
        if self.train.is_some() {
            return Ok(());
        }
        let (be, layout) = (&mut self.backend, &self.layout);
        let mut got: Vec<Vec<Tensor>> = Vec::new();
        for label in ["grads", "adam_m", "adam_v"] {
            match layout.alloc(be, label) {
                Ok(b) => got.push(b),
                Err(e) => {
                    // give back what was allocated before reporting the one that failed
                    got.into_iter().flatten().for_each(|t| be.free(t));
                    return Err(e);
                }
            }
        }
        let nb = layout.buffers();
        let norms = if nb > 1 { Some(be.alloc(nb, "gradient norms")?) } else { None };
        let guard = be.alloc(1, "failure guard")?;
        be.zero(guard);
        let adam_v = got.pop().expect("three");
        let adam_m = got.pop().expect("three");
        let grads = got.pop().expect("three");
        for t in adam_m.iter().chain(&adam_v) {
            be.zero(*t);
        }
        let gv = layout.views(&grads, &self.specs, self.cfg.n_embd, self.cfg.pos == PosEncoding::Learned);
        let decayed = layout.decay_ranges(&self.specs);
        self.train = Some(TrainBufs { grads, adam_m, adam_v, gv, norms, decayed, guard });
        Ok(())
    }

    /// Records the update: clipping by global norm (the squared norm into stats[2]) and one
    /// AdamW step with learning rate `lr`; a NaN/Inf norm leaves the weights unchanged. Reads
    /// nothing back; false (nothing recorded) for a non-finite lr.
    pub(super) fn record_update(&mut self, lr: f32, tc: &TrainConfig) -> bool {
        self.step += 1;
        if !lr.is_finite() {
            // never apply a non-finite update: the caller reports it, the weights stay
            return false;
        }
        let gn = self.stats.view(2, 1);
        let tb = self.train.as_ref().expect("backward() first");
        match tb.norms {
            None => self.backend.norm_sq(gn, tb.grads[0]),
            Some(norms) => {
                for (k, &gb) in tb.grads.iter().enumerate() {
                    self.backend.norm_sq(norms.view(k, 1), gb);
                }
                self.backend.sum(gn, norms);
            }
        }
        // A step whose norm was non-finite on the device makes every later step skip its update
        // too (norm² += guard, then guard = norm²·0: NaN from a failure on) until the failure
        // is reported, so that a pipelined step submitted behind a failed one fails with it, as
        // an unpipelined step would never have run.
        self.backend.failure_guard(gn, tb.guard);
        // one update per parameter buffer (one buffer for every model trained here)
        let h = AdamWStep { lr, beta1: tc.beta1, beta2: tc.beta2, eps: tc.eps, weight_decay: tc.weight_decay, t: self.step, max_norm: tc.grad_clip };
        for (k, decayed) in tb.decayed.iter().enumerate() {
            self.backend.adamw(self.params[k], tb.grads[k], tb.adam_m[k], tb.adam_v[k], gn, decayed, &h);
        }
        true
    }

    /// forward + backward + update on one batch, recorded as one piece of work with one
    /// readback at its end (loss, hits and gradient norm together: on a GPU, one submit per
    /// step). The loss is checked after the update: a non-finite loss gives an error and (its
    /// gradient norm being non-finite too) leaves the weights as they were.
    pub async fn train_step(&mut self, inputs: &[u32], targets: &[u32], b: usize, t: usize, lr: f32, tc: &TrainConfig) -> Result<StepStats> {
        // a lagged step still unread is settled first (its statistics are dropped)
        self.finish_lagged().await?;
        // the scale backward() uses: the loss and dlogits in one fused pass
        let scale = 1.0 / (b * t) as f32;
        self.record_forward(inputs, Some(targets), None, b, t, self.step_dropout(tc, 0), Some(scale))?;
        self.backward();
        let updated = self.record_update(lr, tc);
        let s = self.backend.read(self.stats.view(0, 3)).await;
        self.check_step(&s, (b * t) as f32, lr, updated, self.step)
    }

    /// Positions a batch's loss is averaged over (`data::positions`); a batch with nothing to
    /// learn (every weight 0: its mean would be 0/0) is refused.
    fn positions(n: f32) -> Result<f32> {
        if n > 0.0 {
            Ok(n)
        } else {
            Err(Error::Config("loss weights: every weight of the batch is 0, so it has nothing to learn".into()))
        }
    }

    /// `train_step`, pipelined: records and submits this step, then returns the statistics of
    /// the step before it (None for the first), so the device never waits for the host to look
    /// at a loss: on a GPU the next step is recorded while this one runs. `finish_lagged`
    /// returns the last step's. A step that fails on the device is reported one call late; it
    /// changed no weights (a non-finite gradient norm skips the update), and the failure guard
    /// made the step already submitted behind it skip its update too, so the weights are the
    /// last good step's, as with `train_step`. A non-finite lr fails at once.
    /// `weights` (a task's: 1 on answer tokens) weighs each target's loss; the mean is over
    /// their sum.
    #[allow(clippy::too_many_arguments)]
    pub async fn train_step_lagged(&mut self, inputs: &[u32], targets: &[u32], weights: Option<&[f32]>, b: usize, t: usize, lr: f32, tc: &TrainConfig) -> Result<Option<StepStats>> {
        let n = Self::positions(positions(weights, b * t))?;
        self.record_forward(inputs, Some(targets), weights, b, t, self.step_dropout(tc, 0), Some(1.0 / n))?;
        self.backward_over(n);
        if !self.record_update(lr, tc) {
            // a failure known now (non-finite lr): settle the step before, then report this one
            let prev = self.finish_lagged().await;
            let s = self.backend.read(self.stats.view(0, 3)).await;
            let this = self.check_step(&s, n, lr, false, self.step);
            prev?;
            return this.map(Some);
        }
        let stats = self.backend.read_start(self.stats.view(0, 3));
        let now = InFlight { stats, n, lr, step: self.step };
        match self.in_flight.replace(now) {
            None => Ok(None),
            Some(prev) => match self.settle(prev).await {
                Ok(s) => Ok(Some(s)),
                Err(e) => {
                    // the step after the failed one is settled too (a failure of its own is
                    // the same story: the first one is reported)
                    let _ = self.finish_lagged().await;
                    Err(e)
                }
            },
        }
    }

    /// The dropout of the step about to be taken (tc.dropout, seeded by tc.seed and the step's
    /// number), for a batch whose first row is row `row0` of the step's; None without dropout.
    fn step_dropout(&self, tc: &TrainConfig, row0: usize) -> Option<StepDropout> {
        StepDropout::for_step(tc.dropout, tc.seed, self.step + 1, row0)
    }

    /// Data parallel, a worker's half of a step: forward and backward of its `b` rows of the
    /// step's batch, starting at row `row0` (which places its part of the dropout masks), the
    /// loss (weighted by `weights`, if any) averaged over `n_total` positions (every worker's
    /// rows: the whole batch's weights' sum), so the workers' gradients sum to the whole
    /// batch's. Returns this worker's part: loss and hit sums, its positions, the gradients,
    /// flattened in buffer order, and `tc`'s learning rate at this step. Changes no weight.
    #[allow(clippy::too_many_arguments)]
    pub async fn shard_grads(&mut self, inputs: &[u32], targets: &[u32], weights: Option<&[f32]>, b: usize, t: usize, row0: usize, n_total: f32, tc: &TrainConfig) -> Result<Shard> {
        self.finish_lagged().await?;
        let n_total = Self::positions(n_total)?;
        self.record_forward(inputs, Some(targets), weights, b, t, self.step_dropout(tc, row0), Some(1.0 / n_total))?;
        self.backward_over(n_total);
        let s = self.backend.read(self.stats.view(0, 2)).await;
        let tb = self.train.as_ref().expect("record_forward with targets allocates it");
        let parts = tb.grads.clone();
        // one buffer (every model trained here) is read as it is; several are joined
        let mut grads = self.backend.read(parts[0]).await;
        for &g in &parts[1..] {
            grads.extend(self.backend.read(g).await);
        }
        Ok(Shard { loss_sum: s[0], hit_sum: s[1], positions: positions(weights, b * t), grads, lr: tc.lr_at(self.step as usize) })
    }

    /// Data parallel, the other half: the workers' parts summed (`Shard::sum`, in worker order,
    /// so every worker applies the same numbers) go in as the gradients, then the update of
    /// `train_step` (global-norm clipping and AdamW with `lr`). Every worker calling it with the
    /// same sum keeps the same weights.
    pub async fn apply_grads(&mut self, total: &Shard, lr: f32, tc: &TrainConfig) -> Result<StepStats> {
        self.ensure_train()?;
        let tb = self.train.as_ref().expect("allocated above");
        if total.grads.len() != tb.grads.iter().map(|g| g.len).sum::<usize>() {
            return Err(Error::State(format!("{} gradients given for a model of {} parameters", total.grads.len(), self.num_params())));
        }
        let mut at = 0;
        for g in tb.grads.clone() {
            self.backend.write(g, &total.grads[at..at + g.len]);
            at += g.len;
        }
        let updated = self.record_update(lr, tc);
        let gn = self.backend.read(self.stats.view(2, 1)).await;
        self.check_step(&[total.loss_sum, total.hit_sum, gn[0]], total.positions, lr, updated, self.step)
    }

    /// The statistics of the last `train_step_lagged`, if any is unread.
    pub async fn finish_lagged(&mut self) -> Result<Option<StepStats>> {
        match self.in_flight.take() {
            None => Ok(None),
            Some(f) => self.settle(f).await.map(Some),
        }
    }

    async fn settle(&mut self, f: InFlight) -> Result<StepStats> {
        let s = self.backend.read_done(f.stats).await;
        self.check_step(&s, f.n, f.lr, true, f.step)
    }

    /// StepStats from (loss sum, hit sum, norm²) of step number `k`, or the error of a step
    /// that met a device fault or non-finite numbers (it is then not counted).
    fn check_step(&mut self, s: &[f32], n: f32, lr: f32, updated: bool, k: u32) -> Result<StepStats> {
        let (loss, acc) = (s[0] / n, s[1] / n);
        let grad_norm = if updated { s[2].sqrt() } else { f32::NAN };
        if let Some(f) = self.backend.fault() {
            self.step -= 1;
            return Err(Error::Gpu(format!("{f}; step {k} did not complete")));
        }
        if !loss.is_finite() || !grad_norm.is_finite() {
            self.step -= 1;
            // reported: steps recorded from now on may update again
            if let Some(tb) = &self.train {
                self.backend.zero(tb.guard);
            }
            let what = if loss.is_finite() { format!("the update became NaN (loss {loss}, gradient norm {grad_norm})") } else { format!("loss became {}", if loss.is_nan() { "NaN".to_string() } else { loss.to_string() }) };
            return Err(Error::Numeric { step: k, lr, what });
        }
        Ok(StepStats { step: k, loss, acc, grad_norm, lr })
    }
}
