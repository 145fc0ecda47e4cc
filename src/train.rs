//! The training loop: seeded batches, the lr schedule, AdamW steps, validation estimates,
//! and full-split evaluation. Timing is the caller's (native Instant, or performance.now()).

use crate::backend::Backend;
use crate::config::TrainConfig;
use crate::data::{eval_windows, Dataset, Split};
use crate::error::Result;
use crate::model::{Gpt, Shard, StepStats};
use crate::rng::Rng;

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

/// What a model trains on and how: the corpus split and the recipe. It owns both (no
/// lifetime), so a `Session` can hold it next to its model; the model is passed to each call.
#[derive(Clone, Debug)]
pub struct Trainer {
    pub data: Dataset,
    pub tc: TrainConfig,
}

impl Trainer {
    pub fn new(data: Dataset, tc: TrainConfig) -> Result<Self> {
        tc.validate()?;
        Ok(Trainer { data, tc })
    }

    /// One optimizer step on a fresh training batch.
    pub async fn step<B: Backend>(&self, model: &mut Gpt<B>) -> Result<StepStats> {
        train_step(model, &self.data, &self.tc).await
    }

    /// `step`, pipelined (`Gpt::train_step_lagged`): runs the next step and returns the
    /// statistics of the one before (None at first); `Gpt::finish_lagged` returns the last one's.
    pub async fn step_lagged<B: Backend>(&self, model: &mut Gpt<B>) -> Result<Option<StepStats>> {
        train_step_lagged(model, &self.data, &self.tc).await
    }

    /// Data parallel: worker `k` of `of`'s part of the next step (its rows of the step's batch,
    /// `shard_rows`), the gradients not yet applied. See `Gpt::shard_grads`.
    pub async fn shard<B: Backend>(&self, model: &mut Gpt<B>, k: usize, of: usize) -> Result<Shard> {
        let s = model.step as usize;
        let (b, t) = (self.tc.batch_size, model.cfg.block_size);
        let (x, y) = self.data.batch(Split::Train, b, t, &mut batch_rng(self.tc.seed, s as u64));
        let rows = shard_rows(b, k, of);
        let (x, y) = (&x[rows.start * t..rows.end * t], &y[rows.start * t..rows.end * t]);
        model.shard_grads(x, y, rows.len(), t, rows.start, b * t, &self.tc).await
    }

    /// Data parallel: the step's update with every worker's parts summed. See `Gpt::apply_grads`.
    pub async fn apply<B: Backend>(&self, model: &mut Gpt<B>, total: &Shard, lr: Option<f32>) -> Result<StepStats> {
        let s = model.step as usize;
        let n = self.tc.batch_size * model.cfg.block_size;
        model.apply_grads(total, n, lr.unwrap_or_else(|| self.tc.lr_at(s)), &self.tc).await
    }

    /// See [`estimate_val`].
    pub async fn estimate_val<B: Backend>(&self, model: &mut Gpt<B>) -> Result<(f32, f32)> {
        estimate_val(model, &self.data, &self.tc).await
    }
}

/// `train_step`, pipelined (`Gpt::train_step_lagged`): returns the step before's statistics.
pub async fn train_step_lagged<B: Backend>(model: &mut Gpt<B>, data: &Dataset, tc: &TrainConfig) -> Result<Option<StepStats>> {
    let s = model.step as usize;
    let (b, t) = (tc.batch_size, model.cfg.block_size);
    let (x, y) = data.batch(Split::Train, b, t, &mut batch_rng(tc.seed, s as u64));
    model.train_step_lagged(&x, &y, b, t, tc.lr_at(s), tc).await
}

/// One optimizer step of `model` on the training batch of its current step.
pub async fn train_step<B: Backend>(model: &mut Gpt<B>, data: &Dataset, tc: &TrainConfig) -> Result<StepStats> {
    let s = model.step as usize;
    let (b, t) = (tc.batch_size, model.cfg.block_size);
    let (x, y) = data.batch(Split::Train, b, t, &mut batch_rng(tc.seed, s as u64));
    model.train_step(&x, &y, b, t, tc.lr_at(s), tc).await
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
