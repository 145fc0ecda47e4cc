//! Toy tasks, defined once for the CLI and the page (defs.rs holds them): each is a seeded
//! generator of (prompt, answer) examples, a held-out set that never trains, its tokenizer and
//! its default recipe. An example is a line: the prompt, the answer, a newline; a batch row holds
//! one example from position 0, padded with newlines. The loss is taken on the answer tokens
//! and the newline after them only (a per-position weight of 1 there and 0 elsewhere reaches
//! the cross-entropy), its mean over those tokens.
//!
//! The metric is exact match: an example counts when greedy decoding of its prompt yields
//! exactly its answer and newline. Greedy decoding follows the answer for as long as every
//! next token's argmax is the answer's token, so that is measured in one teacher-forced forward
//! pass: every answer position's argmax must hit (`score`). `answer` decodes for display.

mod defs;

pub use defs::{MODADD_P, TASKS};

use crate::backend::Backend;
use crate::config::{ModelConfig, PosEncoding, TrainConfig};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::model::Gpt;
use crate::rng::Rng;
use crate::tokenizer::{CharTokenizer, SymbolTokenizer, Tokenizer};
use serde::Serialize;
use std::collections::HashSet;

/// Examples as text: (prompt, answer), the answer without its newline.
type Pairs = Vec<(String, String)>;

/// How a task's text is cut into tokens (the newline that ends each example is always in).
#[derive(Clone, Copy, Debug)]
pub enum Vocab {
    /// One token per character of this alphabet.
    Chars(&'static str),
    /// The numbers 0..n, each one token, then these characters.
    Numbers(u32, &'static str),
}

/// A task's default recipe: the model's shape (the context is the longest example's) and
/// its training settings.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    /// The context; 0: the longest example's (its inputs: every token but the last).
    pub context: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub batch_size: usize,
    pub steps: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup: usize,
    pub weight_decay: f32,
    pub beta2: f32,
    pub eval_interval: usize,
}

pub struct Task {
    pub name: &'static str,
    /// For a picker: what the task asks.
    pub label: &'static str,
    /// In one line, the circuit or skill it exercises.
    pub skill: &'static str,
    vocab: Vocab,
    /// The longest example in tokens (prompt, answer and newline); the context is one less.
    max_tokens: usize,
    /// An example drawn from `r`: (prompt, answer), the answer without its newline.
    make: fn(&mut Rng) -> (String, String),
    /// A task with few possible examples: all of them and the fraction that trains (the rest
    /// is the held-out set), split once by a fixed shuffle.
    every: Option<(fn() -> Pairs, f32)>,
    /// Otherwise, how many examples are held out (distinct prompts; training never draws them).
    heldout: usize,
    /// The Lab's probe, when one held-out example is not the right one.
    probe: Option<fn(&mut Rng) -> String>,
    /// Whether an answer ends with the newline (false: the answer's length is fixed by the
    /// prompt, and the model need not find its end).
    ends: bool,
    recipe: Recipe,
}

/// The examples the held-out set, the training-exact sample and the probe are drawn with:
/// fixed, so every run and `tinygpt eval --task` see the same held-out set.
const FIXED_SEED: u64 = 0x7461_736b_7365_6564;
/// Training examples scored for `train_exact` (all of them, for a task with fewer).
const TRAIN_SAMPLE: usize = 256;

/// The task named `name`; an unknown name is an error listing the tasks.
pub fn task(name: &str) -> Result<&'static Task> {
    TASKS.iter().find(|t| t.name == name).ok_or_else(|| Error::Config(format!("task: expected one of {}, got '{name}'", names().join(", "))))
}

pub fn names() -> Vec<&'static str> {
    TASKS.iter().map(|t| t.name).collect()
}

/// The seed of the task's fixed draws (each task its own).
fn fixed_rng(name: &str, what: u64) -> Rng {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    Rng::new(FIXED_SEED ^ h ^ what.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Task {
    /// An answer's tokens as text: the answer and, for most tasks, the newline after it.
    fn answer_text(&self, a: &str) -> String {
        if self.ends {
            format!("{a}\n")
        } else {
            a.to_string()
        }
    }

    /// Whether each answer ends with the newline.
    pub fn ends_with_newline(&self) -> bool {
        self.ends
    }

    /// The task's tokenizer: its alphabet (or numbers and symbols) and the newline.
    pub fn tokenizer(&self) -> Tokenizer {
        match self.vocab {
            Vocab::Chars(a) => {
                let mut c: Vec<char> = a.chars().chain(['\n']).collect();
                c.sort_unstable();
                c.dedup();
                Tokenizer::Char(CharTokenizer::from_chars(c).expect("a task's alphabet is a valid vocabulary"))
            }
            Vocab::Numbers(n, extra) => {
                let s = (0..n).map(|i| i.to_string()).chain(extra.chars().chain(['\n']).map(String::from)).collect();
                Tokenizer::Symbols(SymbolTokenizer::new(s).expect("a task's symbols are a valid vocabulary"))
            }
        }
    }

    /// The least context the task's examples need: the longest example's inputs (every token
    /// but the last).
    pub fn block_size(&self) -> usize {
        self.max_tokens - 1
    }

    /// The default model: the recipe's shape and context (at least the longest example's),
    /// learned positions.
    pub fn model(&self) -> ModelConfig {
        let r = &self.recipe;
        let block_size = r.context.max(self.block_size());
        ModelConfig { vocab_size: self.tokenizer().vocab_size(), n_layer: r.n_layer, n_head: r.n_head, n_embd: r.n_embd, block_size, pos: PosEncoding::Learned }
    }

    /// The default training settings.
    pub fn train_config(&self) -> TrainConfig {
        let r = &self.recipe;
        TrainConfig {
            batch_size: r.batch_size,
            steps: r.steps,
            lr: r.lr,
            min_lr: r.min_lr,
            warmup: r.warmup,
            weight_decay: r.weight_decay,
            beta2: r.beta2,
            eval_interval: r.eval_interval,
            ..TrainConfig::default()
        }
    }

    /// One example, to show what the task asks: (prompt, answer).
    pub fn example(&self) -> (String, String) {
        (self.make)(&mut fixed_rng(self.name, 3))
    }

    /// The Lab's default probe for a model of this task: one held-out example, whole (or the
    /// task's own probe: `induction`'s is a letter string it never generates, since the
    /// induction score feeds its text twice).
    pub fn probe(&self) -> String {
        match self.probe {
            Some(p) => p(&mut fixed_rng(self.name, 2)),
            None => {
                let (p, a) = self.held_out_pairs().into_iter().next().expect("every task holds examples out");
                format!("{p}{}", self.answer_text(&a))
            }
        }
    }

    /// The held-out examples as (prompt, answer), and the training pool of a task with few
    /// examples (None: training draws fresh examples, never a held-out prompt).
    fn split(&self) -> (Pairs, Option<Pairs>) {
        if let Some((every, frac)) = self.every {
            let mut all = every();
            let mut r = fixed_rng(self.name, 1);
            for i in (1..all.len()).rev() {
                all.swap(i, r.below(i + 1));
            }
            let n_train = ((all.len() as f32 * frac).round() as usize).clamp(1, all.len() - 1);
            let held = all.split_off(n_train);
            return (held, Some(all));
        }
        (self.held_out_pairs(), None)
    }

    /// `heldout` examples of distinct prompts, from the fixed seed.
    fn held_out_pairs(&self) -> Pairs {
        if self.every.is_some() {
            return self.split().0;
        }
        let mut r = fixed_rng(self.name, 1);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        // a bound on draws, for a space smaller than asked (the tests check every task fills its set)
        for _ in 0..self.heldout * 100 {
            if out.len() == self.heldout {
                break;
            }
            let (p, a) = (self.make)(&mut r);
            if seen.insert(p.clone()) {
                out.push((p, a));
            }
        }
        out
    }

    /// What `tinygpt tasks` and the page list: name, label, skill, an example, the metric and
    /// the recipe.
    pub fn describe(&self) -> TaskInfo {
        let (prompt, answer) = self.example();
        let (n_train, n_heldout) = match self.split() {
            (held, Some(pool)) => (Some(pool.len()), held.len()),
            (held, None) => (None, held.len()),
        };
        TaskInfo {
            name: self.name,
            label: self.label,
            skill: self.skill,
            example: Example { prompt, answer },
            metric: "exact match: greedy decoding of the prompt gives exactly the answer",
            tokenizer: match self.vocab {
                Vocab::Chars(_) => "characters",
                Vocab::Numbers(..) => "symbols (each number one token)",
            },
            heldout: n_heldout,
            train_examples: n_train,
            probe: self.probe(),
            model: self.model(),
            train: self.train_config(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub prompt: String,
    pub answer: String,
}

/// A task as `tinygpt tasks --json` and the page's `defaults().tasks` give it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    pub name: &'static str,
    pub label: &'static str,
    pub skill: &'static str,
    pub example: Example,
    pub metric: &'static str,
    pub tokenizer: &'static str,
    /// Held-out examples (never trained on).
    pub heldout: usize,
    /// Training examples, for a task with few (None: fresh examples every batch).
    pub train_examples: Option<usize>,
    pub probe: String,
    pub model: ModelConfig,
    pub train: TrainConfig,
}

/// An example as token ids: the prompt's `prompt` tokens, then the answer and its newline.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub prompt: usize,
}

/// A task ready to train on with a tokenizer: its held-out examples, the training examples
/// scored for `train_exact`, and (for a task with few examples) the training pool.
#[derive(Clone, Debug)]
pub struct TaskData {
    pub task: &'static Task,
    pub tok: Tokenizer,
    pub heldout: Vec<Encoded>,
    held_prompts: HashSet<String>,
    pool: Option<Vec<Encoded>>,
    pub train_sample: Vec<Encoded>,
    /// The newline's id: the end of every answer, and the padding.
    pub newline: u32,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl TaskData {
    /// `task`'s examples encoded with `tok`, which must be the task's own tokenizer (a model
    /// trained on another corpus cannot read them), for a model of context `block_size`.
    pub fn new(task: &'static Task, tok: &Tokenizer, block_size: usize) -> Result<TaskData> {
        if *tok != task.tokenizer() {
            return Err(Error::Config(format!(
                "task {}: this model's vocabulary ({} tokens) is not the task's ({} tokens); train a new model on the task",
                task.name,
                tok.vocab_size(),
                task.tokenizer().vocab_size()
            )));
        }
        if block_size < task.block_size() {
            return Err(Error::Config(format!(
                "task {}: its longest example is {} tokens, so the context must be at least {}; got {block_size}",
                task.name,
                task.max_tokens,
                task.block_size()
            )));
        }
        let enc = |(p, a): &(String, String)| -> Result<Encoded> {
            let mut ids = tok.encode(p)?;
            let prompt = ids.len();
            ids.extend(tok.encode(&task.answer_text(a))?);
            Ok(Encoded { ids, prompt })
        };
        let (held, pool) = task.split();
        let heldout = held.iter().map(enc).collect::<Result<Vec<_>>>()?;
        let pool = pool.map(|p| p.iter().map(enc).collect::<Result<Vec<_>>>()).transpose()?;
        let newline = tok.encode("\n")?[0];
        let mut d = TaskData { task, tok: tok.clone(), heldout, held_prompts: held.into_iter().map(|(p, _)| p).collect(), pool, train_sample: Vec::new(), newline };
        d.train_sample = match &d.pool {
            Some(p) if p.len() <= TRAIN_SAMPLE * 8 => p.clone(),
            _ => {
                let mut r = fixed_rng(task.name, 4);
                (0..TRAIN_SAMPLE).map(|_| d.draw(&mut r)).collect::<Result<Vec<_>>>()?
            }
        };
        Ok(d)
    }

    /// A training example drawn from `r`: from the pool, or fresh with a prompt never held out.
    pub fn draw(&self, r: &mut Rng) -> Result<Encoded> {
        if let Some(p) = &self.pool {
            return Ok(p[r.below(p.len())].clone());
        }
        loop {
            let (p, a) = (self.task.make)(r);
            if self.held_prompts.contains(&p) {
                continue;
            }
            let mut ids = self.tok.encode(&p)?;
            let prompt = ids.len();
            ids.extend(self.tok.encode(&self.task.answer_text(&a))?);
            return Ok(Encoded { ids, prompt });
        }
    }

    /// A training batch of `b` rows of context `t`, one fresh example per row.
    pub fn batch(&self, b: usize, t: usize, r: &mut Rng) -> Result<Batch> {
        let ex = (0..b).map(|_| self.draw(r)).collect::<Result<Vec<_>>>()?;
        Ok(self.rows(&ex.iter().collect::<Vec<_>>(), b, t))
    }

    /// Rows of context `t` from `examples` (at most `b`; the rest of the `b` rows are padding of
    /// weight 0): row r holds example r from position 0, inputs its tokens but the last, targets
    /// shifted by one, weight 1 on the targets that are answer tokens.
    pub fn rows(&self, examples: &[&Encoded], b: usize, t: usize) -> Batch {
        let pad = self.newline;
        let (mut x, mut y, mut w) = (vec![pad; b * t], vec![pad; b * t], vec![0.0f32; b * t]);
        for (r, e) in examples.iter().take(b).enumerate() {
            let n = (e.ids.len() - 1).min(t);
            for j in 0..n {
                x[r * t + j] = e.ids[j];
                y[r * t + j] = e.ids[j + 1];
                if j + 1 >= e.prompt {
                    w[r * t + j] = 1.0;
                }
            }
        }
        Batch { x, y, w: Some(w), b, t }
    }
}

/// Exact match and loss over a set of examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Score {
    /// Fraction of examples whose every answer token is the argmax.
    pub exact: f32,
    /// Mean cross-entropy over the answer tokens, in nats.
    pub loss: f32,
    /// Fraction of answer tokens that are the argmax.
    pub acc: f32,
    pub examples: usize,
}

/// `examples` scored by `m` in teacher-forced forward passes of `b` rows of context `t`.
pub async fn score<B: Backend>(m: &mut Gpt<B>, data: &TaskData, examples: &[Encoded], b: usize, t: usize) -> Result<Score> {
    let (mut right, mut loss, mut hits, mut tokens) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    for chunk in examples.chunks(b.max(1)) {
        let rows = data.rows(&chunk.iter().collect::<Vec<_>>(), b, t);
        let w = rows.w.as_deref().expect("task rows are weighted");
        let (l, h) = m.forward_rows(&rows.x, &rows.y, w, b, t).await?;
        for r in 0..chunk.len() {
            let row = r * t..(r + 1) * t;
            let answer = |i: &usize| w[*i] > 0.0;
            right += usize::from(row.clone().filter(answer).all(|i| h[i] > 0.0));
            loss += row.clone().map(|i| l[i] as f64).sum::<f64>();
            hits += row.clone().map(|i| h[i] as f64).sum::<f64>();
            tokens += row.clone().map(|i| w[i] as f64).sum::<f64>();
        }
    }
    if examples.is_empty() || tokens == 0.0 {
        return Err(Error::Data("no examples to score".into()));
    }
    Ok(Score { exact: right as f32 / examples.len() as f32, loss: (loss / tokens) as f32, acc: (hits / tokens) as f32, examples: examples.len() })
}

/// Greedy decoding after `prompt`, up to `max` tokens or the newline (kept), with the KV cache.
pub async fn answer<B: Backend>(m: &mut Gpt<B>, prompt: &[u32], max: usize, newline: u32) -> Result<Vec<u32>> {
    let bs = m.cfg.block_size;
    if prompt.is_empty() || prompt.len() >= bs {
        return Err(Error::Config(format!("the prompt is {} tokens; the model's context of {bs} leaves no room for an answer", prompt.len())));
    }
    let mut out = Vec::new();
    let mut logits = m.decode(prompt, 0).await?;
    loop {
        let next = crate::sample::argmax(&logits) as u32;
        out.push(next);
        // where `next` goes: past the context, nothing more can be read
        let pos = prompt.len() + out.len() - 1;
        if next == newline || out.len() >= max || pos >= bs {
            return Ok(out);
        }
        logits = m.decode(&[next], pos).await?;
    }
}
