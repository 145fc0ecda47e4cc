//! The training loop: seeded batches, the lr schedule, AdamW steps, validation estimates,
//! and full-split evaluation. Timing is the caller's (native Instant, or performance.now()).

use crate::backend::Backend;
use crate::config::TrainConfig;
use crate::data::{eval_windows, Batch, Dataset, Split};
use crate::error::Result;
use crate::model::{Gpt, Shard, StepStats};
use crate::rng::Rng;
use crate::tasks::{self, TaskData};

/// The batch of step `step` is a pure function of (seed, step), so a resumed run draws exactly
/// the batches the uninterrupted run would have.
pub fn batch_rng(seed: u64, step: u64) -> Rng {
    Rng::new(seed ^ step.wrapping_add(1).wrapping_mul(0xA24B_AED4_963E_E407))
}

/// Worker `k` of `of`'s rows of a batch of `b`: contiguous, the first `b % of` workers one more.
pub fn shard_rows(b: usize, k: usize, of: usize) -> std::ops::Range<usize> {
    let (q, r) = (b / of, b % of);
    let start = k * q + k.min(r);
    start..start + q + usize::from(k < r)
}

/// What a model trains on: a text's token split, or a task's examples (the loss on the answers).
#[derive(Clone, Debug)]
pub enum TrainData {
    Text(Dataset),
    Task(Box<TaskData>),
}

impl From<Dataset> for TrainData {
    fn from(d: Dataset) -> Self {
        TrainData::Text(d)
    }
}

impl TrainData {
    /// `b` training rows of context `t` drawn from `r`.
    pub fn batch(&self, b: usize, t: usize, r: &mut Rng) -> Result<Batch> {
        match self {
            TrainData::Text(d) => {
                let (x, y) = d.batch(Split::Train, b, t, r);
                Ok(Batch { x, y, w: None, b, t })
            }
            TrainData::Task(d) => d.batch(b, t, r),
        }
    }

    /// The task's examples, for a task.
    pub fn task(&self) -> Option<&TaskData> {
        match self {
            TrainData::Task(d) => Some(d),
            TrainData::Text(_) => None,
        }
    }
}

/// A validation estimate: loss and accuracy (per answer token, for a task) and a task's exact
/// match on its held-out examples and on training examples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValReport {
    pub loss: f32,
    pub acc: f32,
    pub train_exact: Option<f32>,
    pub val_exact: Option<f32>,
}

/// What a model trains on and how: the corpus split (or task) and the recipe. It owns both (no
/// lifetime), so a `Session` can hold it next to its model; the model is passed to each call.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub data: TrainData,
    pub tc: TrainConfig,
}

impl Trainer {
    pub fn new(data: impl Into<TrainData>, tc: TrainConfig) -> Result<Self> {
        tc.validate()?;
        Ok(Trainer { data: data.into(), tc })
    }

    /// The batch of the model's next step.
    fn next_batch<B: Backend>(&self, model: &Gpt<B>) -> Result<Batch> {
        self.data.batch(self.tc.batch_size, model.cfg.block_size, &mut batch_rng(self.tc.seed, model.step as u64))
    }

    /// One optimizer step on a fresh training batch, settled (its statistics read back).
    pub async fn step<B: Backend>(&self, model: &mut Gpt<B>) -> Result<StepStats> {
        model.finish_lagged().await?;
        self.step_lagged(model).await?;
        Ok(model.finish_lagged().await?.expect("a step was just taken"))
    }

    /// `step`, pipelined (`Gpt::train_step_lagged`): runs the next step and returns the
    /// statistics of the one before (None at first); `Gpt::finish_lagged` returns the last one's.
    pub async fn step_lagged<B: Backend>(&self, model: &mut Gpt<B>) -> Result<Option<StepStats>> {
        self.step_lagged_with(model, &self.tc).await
    }

    /// `step_lagged` with another recipe's learning rate (the page's NaN test hook); the
    /// batch is still this recipe's.
    pub async fn step_lagged_with<B: Backend>(&self, model: &mut Gpt<B>, tc: &TrainConfig) -> Result<Option<StepStats>> {
        let b = self.next_batch(model)?;
        let lr = tc.lr_at(model.step as usize);
        model.train_step_lagged(&b.x, &b.y, b.w.as_deref(), b.b, b.t, lr, tc).await
    }

    /// Data parallel: worker `k` of `of`'s part of the next step (its rows of the step's batch,
    /// `shard_rows`), the gradients not yet applied, with the learning rate this worker would
    /// apply: `lr` when given (the page's NaN test hook), else the recipe's at this step. See
    /// `Gpt::shard_grads`.
    pub async fn shard<B: Backend>(&self, model: &mut Gpt<B>, k: usize, of: usize, lr: Option<f32>) -> Result<Shard> {
        let batch = self.next_batch(model)?;
        let rows = shard_rows(batch.b, k, of);
        let mine = batch.rows(rows.clone());
        let mut s = model.shard_grads(&mine.x, &mine.y, mine.w.as_deref(), mine.b, mine.t, rows.start, batch.positions(), &self.tc).await?;
        if let Some(lr) = lr {
            s.lr = lr;
        }
        Ok(s)
    }

    /// Data parallel: the step's update with every worker's parts summed, at the sum's
    /// learning rate (worker 0's: `Shard::sum`). See `Gpt::apply_grads`.
    pub async fn apply<B: Backend>(&self, model: &mut Gpt<B>, total: &Shard) -> Result<StepStats> {
        model.apply_grads(total, total.lr, &self.tc).await
    }

    /// A validation estimate: on text, `estimate_val`'s; on a task, the held-out examples
    /// scored whole (exact match, and the answer tokens' loss and accuracy) and the training
    /// sample's exact match.
    pub async fn estimate_val<B: Backend>(&self, model: &mut Gpt<B>) -> Result<ValReport> {
        self.estimate_val_over(model, self.tc.eval_batches).await
    }

    /// `estimate_val` over `batches` batches of a text (a task's is always whole).
    pub async fn estimate_val_over<B: Backend>(&self, model: &mut Gpt<B>, batches: usize) -> Result<ValReport> {
        match &self.data {
            TrainData::Text(d) => {
                let tc = TrainConfig { eval_batches: batches, ..self.tc.clone() };
                let (loss, acc) = estimate_val(model, d, &tc).await?;
                Ok(ValReport { loss, acc, train_exact: None, val_exact: None })
            }
            TrainData::Task(d) => {
                let (b, t) = (self.tc.batch_size, model.cfg.block_size);
                let val = tasks::score(model, d, &d.heldout, b, t).await?;
                let train = tasks::score(model, d, &d.train_sample, b, t).await?;
                Ok(ValReport { loss: val.loss, acc: val.acc, train_exact: Some(train.exact), val_exact: Some(val.exact) })
            }
        }
    }
}

/// Mean validation loss and accuracy over `eval_batches` random batches. The batches are the
/// same at every call (fixed seed), so the curve shows the model, not sampling noise.
pub async fn estimate_val<B: Backend>(model: &mut Gpt<B>, data: &Dataset, tc: &TrainConfig) -> Result<(f32, f32)> {
    let (b, t) = (tc.batch_size, model.cfg.block_size);
    let mut rng = Rng::new(tc.seed ^ 0x5641_4C5F_4556_414C);
    let (mut loss, mut acc) = (0.0, 0.0);
    let n = tc.eval_batches.max(1);
    for _ in 0..n {
        let (x, y) = data.batch(Split::Val, b, t, &mut rng);
        let (l, a) = model.forward(&x, Some(&y), b, t).await?.expect("targets given");
        loss += l;
        acc += a;
    }
    Ok((loss / n as f32, acc / n as f32))
}

/// Loss and accuracy over a whole token stream, in consecutive non-overlapping windows of
/// block_size, every position predicted; `batch` windows per forward pass.
/// Returns (mean loss, accuracy, number of predicted tokens).
pub async fn evaluate<B: Backend>(model: &mut Gpt<B>, tokens: &[u32], batch: usize) -> Result<(f32, f32, usize)> {
    let t = model.cfg.block_size;
    let windows: Vec<_> = eval_windows(tokens, t).collect();
    let (mut loss_sum, mut hit_sum, mut n) = (0.0f64, 0.0f64, 0usize);
    for chunk in windows.chunks(batch.max(1)) {
        let x: Vec<u32> = chunk.iter().flat_map(|w| w.0.iter().copied()).collect();
        let y: Vec<u32> = chunk.iter().flat_map(|w| w.1.iter().copied()).collect();
        let (l, a) = model.forward(&x, Some(&y), chunk.len(), t).await?.expect("targets given");
        let k = chunk.len() * t;
        loss_sum += l as f64 * k as f64;
        hit_sum += a as f64 * k as f64;
        n += k;
    }
    if n == 0 {
        return Err(crate::error::Error::Data(format!(
            "nothing to evaluate: the split has {} tokens and a window needs block_size + 1 = {}",
            tokens.len(),
            t + 1
        )));
    }
    Ok(((loss_sum / n as f64) as f32, (hit_sum / n as f64) as f32, n))
}
