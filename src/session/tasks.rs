//! The session's calls on toy tasks (src/tasks/): a new model for a task, the current model
//! continuing on one, its held-out score and its greedy answers.

use super::{no_model, AnyModel, Cadence, Session, Source};
use crate::config::{ModelConfig, TrainConfig};
use crate::error::{Error, Result};
use crate::tasks::{self, Score, Task, TaskData};
use crate::train::{TrainData, Trainer};
use serde::Serialize;

/// A held-out prompt, its answer and the model's greedy answer.
#[derive(Clone, Debug, Serialize)]
pub struct TaskSample {
    pub prompt: String,
    pub answer: String,
    pub got: String,
    pub right: bool,
}

impl Session {
    /// A fresh model of `shape` (its vocabulary the task's) prepared to train on `task` with
    /// `tc`. Nothing changes on error.
    pub async fn new_task_model(&mut self, task: &'static Task, shape: &ModelConfig, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        let tok = task.tokenizer();
        let cfg = ModelConfig { vocab_size: tok.vocab_size(), ..shape.clone() };
        cfg.validate()?;
        let data = TaskData::new(task, &tok, cfg.block_size)?;
        let model = self.new_gpt(cfg, tc.seed).await?;
        let trainer = Trainer::new(TrainData::Task(Box::new(data)), tc.clone())?;
        self.prepared(Cadence::Task);
        self.install(model, tok, Some(tc), Some(trainer), Source::New);
        Ok(())
    }

    /// Prepares the current model to go on training on `task` (its vocabulary must be the
    /// task's: a model trained on it, e.g. an autosave). Nothing changes on error.
    pub fn prepare_task(&mut self, task: &'static Task, tc: TrainConfig) -> Result<()> {
        tc.validate()?;
        let data = TaskData::new(task, self.tokenizer()?, self.config()?.block_size)?;
        self.trainer = Some(Trainer::new(TrainData::Task(Box::new(data)), tc.clone())?);
        self.prepared(Cadence::Task);
        self.recipe = Some(tc);
        Ok(())
    }

    /// The task training is prepared on, if it is one.
    pub fn task(&self) -> Option<&'static Task> {
        self.trainer.as_ref().and_then(|t| t.data.task()).map(|d| d.task)
    }

    /// The current model on `task`'s held-out examples: exact match and the answers' loss.
    /// A model whose vocabulary is not the task's is an error saying so.
    pub async fn score_task(&mut self, task: &'static Task) -> Result<Score> {
        let bs = self.config()?.block_size;
        let b = self.recipe.as_ref().map_or(task.train_config().batch_size, |t| t.batch_size);
        // the prepared task's examples, or the task's own for another model
        let fresh;
        let data = match self.trainer.as_ref().and_then(|t| t.data.task()) {
            Some(d) if d.task.name == task.name => d,
            _ => {
                fresh = TaskData::new(task, self.tok.as_ref().ok_or_else(no_model)?, bs)?;
                &fresh
            }
        };
        let model = self.model.as_mut().ok_or_else(no_model)?;
        with_model!(model, m => tasks::score(m, data, &data.heldout, b, bs).await)
    }

    /// The greedy answers to the first `n` held-out prompts of the task training is prepared on.
    pub async fn task_samples(&mut self, n: usize) -> Result<Vec<TaskSample>> {
        let data = self.trainer.as_ref().and_then(|t| t.data.task()).ok_or_else(|| Error::State("no task is prepared".into()))?;
        let tok = self.tok.as_ref().ok_or_else(no_model)?;
        let model = self.model.as_mut().ok_or_else(no_model)?;
        let mut out = Vec::new();
        for e in data.heldout.iter().take(n) {
            let (p, a) = e.ids.split_at(e.prompt);
            let got = with_model!(model, m => tasks::answer(m, p, a.len() + 2, data.newline).await)?;
            let text = |ids: &[u32]| tok.decode(ids.strip_suffix(&[data.newline]).unwrap_or(ids));
            out.push(TaskSample { prompt: tok.decode(p)?, answer: text(a)?, got: text(&got)?, right: got == a });
        }
        Ok(out)
    }
}
