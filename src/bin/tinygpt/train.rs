//! `tinygpt train`: a Session's training chunks, printed as JSON lines or a progress bar.

use super::{json_line, session, BackendKind};
use clap::{Args, ValueEnum};
use pollster::block_on;
use std::path::PathBuf;
use std::time::Instant;
use tinygpt::checkpoint::{self, Store};
use tinygpt::config::{preset, ModelConfig, PosEncoding, TrainConfig};
use tinygpt::data::read_corpus;
use tinygpt::error::{Error, Result};
use tinygpt::sample::SampleConfig;
use tinygpt::session::{Cadence, Event, NewModel, Session, StepReport};
use tinygpt::tasks;
use tinygpt::train::TrainData;
use tinygpt::tokenizer::TokenizerKind;

#[derive(Clone, Copy, ValueEnum)]
enum PosArg {
    Sinusoidal,
    Learned,
}

#[derive(Args)]
pub struct TrainArgs {
    /// UTF-8 text to train on (90% train, 10% validation).
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    data: Option<PathBuf>,
    /// A toy task (`tinygpt tasks` lists them) instead of a text: its examples, its vocabulary
    /// and its recipe; the loss is on the answers, and evaluations report exact match on
    /// training and held-out examples.
    #[arg(long)]
    task: Option<String>,
    /// More UTF-8 text that only trains (all of it): the validation split stays --data's last
    /// 10%, so the loss stays comparable. The page's default model adds the other plays of the
    /// package its corpus comes from (`./build.sh data` writes them).
    #[arg(long, conflicts_with = "task")]
    more_train: Option<PathBuf>,
    /// Model size and recipe (default baby; a task has its own).
    #[arg(long, value_parser = tinygpt::config::PRESET_NAMES, conflicts_with = "task")]
    preset: Option<String>,
    /// Transformer blocks, over the preset's or task's (as nanoGPT's configurator does).
    #[arg(long)]
    n_layer: Option<usize>,
    /// Attention heads per block, over the preset's or task's.
    #[arg(long)]
    n_head: Option<usize>,
    /// Width of the residual stream, over the preset's or task's.
    #[arg(long)]
    n_embd: Option<usize>,
    /// Context length, over the preset's or task's.
    #[arg(long)]
    block_size: Option<usize>,
    /// Decoupled weight decay of the 2-D weights, over the recipe's.
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Optimizer steps (also where the cosine schedule ends).
    #[arg(long)]
    steps: Option<usize>,
    /// Train for this many minutes instead of a number of steps: the run times its first steps
    /// (5% of the budget, at least 1.5 s), then fixes its step count (and the cosine schedule's
    /// end) to fit, allowing for its evaluations, and ends within the budget plus about one
    /// evaluation. The plan is said on stderr (with --json: the first line, {"plan": {...}}).
    #[arg(long, conflicts_with = "steps", allow_negative_numbers = true, value_parser = parse_minutes)]
    minutes: Option<f64>,
    /// Sequences per batch.
    #[arg(long)]
    batch: Option<usize>,
    /// Peak learning rate (min lr stays at a tenth of it).
    #[arg(long)]
    lr: Option<f32>,
    /// Dropout probability in training (embeddings and both projections of every block), [0, 0.95).
    #[arg(long)]
    dropout: Option<f32>,
    /// Positional encoding.
    #[arg(long, value_enum)]
    pos: Option<PosArg>,
    /// Tokenizer learned from the corpus: `char` (default), or `bpe:N` (byte-level BPE of N
    /// tokens, 256..=8192). Ignored with --resume (the checkpoint's tokenizer is kept); a task
    /// has its own.
    #[arg(long, conflicts_with = "task")]
    tokenizer: Option<TokenizerKind>,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
    /// Seeds the initial weights and the batches.
    #[arg(long)]
    seed: Option<u64>,
    /// Checkpoint to write (at every evaluation and at the end; atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Checkpoint to continue from (weights, optimizer moments, step, recipe).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Steps between validation estimates (0 = only at the end).
    #[arg(long)]
    eval_interval: Option<usize>,
    /// One JSON object per step on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
    /// Save weights only, without the AdamW moments (a third of the size; for shipping).
    #[arg(long)]
    weights_only: bool,
    /// Save weights only, rounded to f16 (a sixth of the size; widened to f32 at load). The
    /// page's default model is shipped this way.
    #[arg(long, conflicts_with = "weights_only")]
    f16: bool,
}

/// `--minutes`: a positive, finite number.
fn parse_minutes(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(m),
        _ => Err("expected a number of minutes > 0".into()),
    }
}

/// A budget run's length before its plan: open (the plan, a few seconds in, replaces it), so
/// the cosine schedule is at its warm-up and peak while the first steps are timed and no fast
/// model reaches the end before it is planned.
const OPEN_STEPS: usize = 1_000_000_000;

/// What a run trains on: a text (and more text that only trains), or a task.
enum Source {
    Text { text: String, more: String },
    Task(&'static tasks::Task),
}

pub fn train(a: TrainArgs) -> Result<()> {
    let source = match (&a.task, &a.data) {
        (Some(name), _) => Source::Task(tasks::task(name)?),
        (None, Some(data)) => Source::Text { text: read_corpus(data)?, more: a.more_train.as_deref().map(read_corpus).transpose()?.unwrap_or_default() },
        (None, None) => unreachable!("clap requires --data or --task"),
    };
    // the base recipe: the task's or the preset's, then the flags over it
    let (base_model, base_train) = match &source {
        Source::Task(t) => (t.model(), t.train_config()),
        Source::Text { .. } => {
            let p = preset(a.preset.as_deref().unwrap_or("baby"))?;
            (p.model, p.train)
        }
    };
    let (mut s, note) = session(a.backend, a.json)?;
    let mut tc = match &a.resume {
        Some(path) => {
            if a.n_layer.is_some() || a.n_head.is_some() || a.n_embd.is_some() || a.block_size.is_some() {
                return Err(Error::Config("--n-layer, --n-head, --n-embd and --block-size shape a new model; a resumed model keeps its shape".into()));
            }
            block_on(s.load(checkpoint::load(path)?))?;
            s.recipe().cloned().unwrap_or(base_train)
        }
        None => base_train,
    };
    overrides(&a, &mut tc);
    if a.minutes.is_some() {
        tc.steps = s.step() as usize + OPEN_STEPS;
    }
    tc.validate()?;
    let shape = ModelConfig {
        n_layer: a.n_layer.unwrap_or(base_model.n_layer),
        n_head: a.n_head.unwrap_or(base_model.n_head),
        n_embd: a.n_embd.unwrap_or(base_model.n_embd),
        block_size: a.block_size.unwrap_or(base_model.block_size),
        pos: a.pos.map_or(base_model.pos, |x| match x {
            PosArg::Sinusoidal => PosEncoding::Sinusoidal,
            PosArg::Learned => PosEncoding::Learned,
        }),
        ..base_model
    };
    match &source {
        Source::Task(t) if a.resume.is_some() => s.prepare_task(t, tc.clone())?,
        Source::Task(t) => block_on(s.new_task_model(t, &shape, tc.clone()))?,
        Source::Text { text, more } => prepare_text(&a, &mut s, text, more, &shape, &tc)?,
    }
    s.set_cadence(Cadence::Cli);
    // after preparing, which clears it
    s.set_budget(a.minutes.map(|m| m * 60_000.0));
    note.say();
    let until = match a.minutes {
        Some(m) => format!("{}.. (for {m} min)", s.step()),
        None => format!("{}..{}", s.step(), tc.steps),
    };
    let cfg = s.config()?;
    if !a.json {
        eprintln!(
            "tinygpt: {} parameters ({} layers, {} heads, {} wide, context {}, {} positions), vocab {}, backend {}",
            s.num_params(), cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.pos, cfg.vocab_size, s.describe_backend()
        );
        match s.data().expect("training is prepared") {
            TrainData::Text(data) => {
                let extra = if a.more_train.is_some() { " (with --more-train)" } else { "" };
                eprintln!("tinygpt: {} train{extra} / {} val tokens; steps {until}", data.train.len(), data.val.len());
            }
            TrainData::Task(d) => {
                let ex = d.task.example();
                eprintln!(
                    "tinygpt: task {} ({:?} -> {:?}): {} held-out examples, loss on the answers; steps {until}",
                    d.task.name, ex.0, ex.1, d.heldout.len()
                );
            }
        }
    }
    let first = match &source {
        Source::Task(_) => String::new(),
        Source::Text { text, .. } => text.chars().next().expect("corpus is non-empty").to_string(),
    };
    run(&mut s, &a, tc.steps, &first)
}

/// The flags that change the recipe (on resume, too: e.g. --steps to train further).
fn overrides(a: &TrainArgs, tc: &mut TrainConfig) {
    if let Some(st) = a.steps {
        tc.steps = st;
    }
    if let Some(b) = a.batch {
        tc.batch_size = b;
    }
    if let Some(lr) = a.lr {
        tc.lr = lr;
        tc.min_lr = lr / 10.0;
    }
    if let Some(d) = a.dropout {
        tc.dropout = d;
    }
    if let Some(w) = a.weight_decay {
        tc.weight_decay = w;
    }
    if let Some(seed) = a.seed {
        tc.seed = seed;
    }
    if let Some(e) = a.eval_interval {
        tc.eval_interval = e;
    }
}

/// A new model (its tokenizer learned from the text) or the resumed one, prepared on a text.
fn prepare_text(a: &TrainArgs, s: &mut Session, text: &str, more: &str, shape: &ModelConfig, tc: &TrainConfig) -> Result<()> {
    // a character the model never saw is the corpus file's fault (or the extra text's)
    let data = a.data.as_ref().expect("a text run has --data");
    let files = match &a.more_train {
        Some(m) => format!("{} or {}", data.display(), m.display()),
        None => data.display().to_string(),
    };
    let in_file = |e: Error| match e {
        Error::UnknownChar { .. } => Error::Data(format!("{files}: {e}")),
        e => e,
    };
    if a.resume.is_some() {
        return s.prepare_training_more(text, more, tc.clone()).map_err(in_file);
    }
    let tokenizer = a.tokenizer.unwrap_or(TokenizerKind::Char);
    let m = NewModel { n_layer: shape.n_layer, n_head: shape.n_head, n_embd: shape.n_embd, block_size: shape.block_size, pos: shape.pos, tokenizer };
    let t0 = Instant::now();
    block_on(s.new_model_more(text, more, &m, tc.clone())).map_err(in_file)?;
    if let (TokenizerKind::Bpe(_), false) = (tokenizer, a.json) {
        eprintln!("tinygpt: learned a byte-level BPE of {} tokens in {:.1} s", s.tokenizer()?.vocab_size(), t0.elapsed().as_secs_f64());
    }
    Ok(())
}

/// An evaluation's figures: validation loss and accuracy, and a task's exact match.
#[derive(Clone, Copy)]
struct Val {
    loss: f32,
    acc: f32,
    train_exact: Option<f32>,
    val_exact: Option<f32>,
}

/// Trains the prepared session to its last step, printing each step, saving at each `Save`
/// event (and after a failure: the weights of the last good step), then a sample (a task's
/// greedy answers to held-out prompts). `first`: a text's first character, the sample's prompt
/// when the vocabulary has no newline. A budget run (--minutes) says its plan when it comes:
/// on stderr, or with --json as the first line (the step lines before it are held back).
fn run(s: &mut Session, a: &TrainArgs, steps: usize, first: &str) -> Result<()> {
    let bar = (!a.json).then(|| {
        let b = indicatif::ProgressBar::new(steps as u64);
        let style = match a.minutes {
            // the length comes with the plan
            Some(_) => "{spinner} {pos} steps [{elapsed_precise}] {msg}",
            None => BAR,
        };
        b.set_style(indicatif::ProgressStyle::with_template(style).expect("valid template"));
        b.set_position(s.step() as u64);
        b
    });
    let mut out = Out { bar, held: (a.json && a.minutes.is_some()).then(Vec::new), last_val: None };
    let store = match (a.f16, a.weights_only) {
        (true, _) => Store::WeightsF16,
        (_, true) => Store::Weights,
        _ => Store::Full,
    };
    let save = |s: &mut Session| -> Result<()> {
        match &a.out {
            Some(out) => block_on(s.save(out, store)),
            None => Ok(()),
        }
    };
    let start = Instant::now();
    let step0 = s.step() as usize;
    let mut saved_at = None;
    loop {
        // a step's line waits for its evaluation, which comes as the next event
        let mut pending: Option<(StepReport, Option<Val>)> = None;
        let mut save_due = false;
        let r = block_on(s.train_chunk(usize::MAX, |ev| match ev {
            Event::Step(st) => {
                out.flush(&mut pending);
                pending = Some((*st, None));
            }
            Event::Eval { val_loss, val_acc, train_exact, val_exact, .. } => {
                let v = Val { loss: *val_loss, acc: *val_acc, train_exact: *train_exact, val_exact: *val_exact };
                out.last_val = Some(v);
                if let Some(p) = &mut pending {
                    p.1 = Some(v);
                }
                out.flush(&mut pending);
            }
            Event::Plan { step, steps, ms_per_step, budget_ms } => out.plan(a.minutes.unwrap_or_default(), *step - step0, *steps, *ms_per_step, *budget_ms),
            Event::Save { .. } => save_due = true,
            Event::Sample { .. } => {}
        }));
        out.flush(&mut pending);
        match r {
            Ok(end) => {
                if save_due {
                    save(s)?;
                    saved_at = Some(end.step);
                }
                if end.done {
                    break;
                }
            }
            Err(e) => {
                out.release();
                // The failed step did not touch the weights: keep them.
                save(s)?;
                if let Some(b) = &out.bar {
                    b.abandon();
                }
                return Err(e);
            }
        }
    }
    // a run that ended before its plan (it never does with the open length) prints what it held
    out.release();
    if saved_at != Some(s.step() as usize) {
        save(s)?;
    }
    if let Some(b) = out.bar {
        b.finish();
        let secs = start.elapsed().as_secs_f64();
        eprintln!("tinygpt: done in {secs:.1} s{}", a.out.as_ref().map_or(String::new(), |o| format!("; saved {}", o.display())));
        if s.task().is_some() {
            println!("--- held-out prompts, greedy answers ---");
            for x in block_on(s.task_samples(5))? {
                let mark = if x.right { "right".to_string() } else { format!("wrong, want {:?}", x.answer) };
                println!("{:?} -> {:?} ({mark})", x.prompt, x.got);
            }
            return Ok(());
        }
        let prompt = if s.encode("\n").is_ok() { "\n".to_string() } else { first.to_string() };
        s.start_generation(&prompt, &SampleConfig { max_tokens: 300, ..SampleConfig::default() })?;
        let mut text = String::new();
        while let Some(t) = block_on(s.next_token())? {
            text.push_str(&t.text);
        }
        text.push_str(&s.finish_generation());
        println!("--- sample ---\n{text}");
    }
    Ok(())
}

/// The progress bar of a run of known length.
const BAR: &str = "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}";

/// Where a run's lines go: the progress bar, or JSON lines on stdout (held back, in a budget
/// run, until its plan has been printed first).
struct Out {
    bar: Option<indicatif::ProgressBar>,
    held: Option<Vec<serde_json::Value>>,
    last_val: Option<Val>,
}

impl Out {
    /// A budget's plan: `timed` steps took `ms` each; the run ends at step `steps`.
    fn plan(&mut self, minutes: f64, timed: usize, steps: usize, ms: f64, budget_ms: f64) {
        match &self.bar {
            None => {
                json_line(serde_json::json!({"plan": {"steps": steps, "ms_per_step": ms, "timed_steps": timed, "budget_ms": budget_ms}}));
                self.release();
            }
            Some(b) => {
                b.set_length(steps as u64);
                b.set_style(indicatif::ProgressStyle::with_template(BAR).expect("valid template"));
                let line = format!("tinygpt: --minutes {minutes}: {} steps ({ms:.1} ms a step over the first {})", thousands(steps), thousands(timed));
                // a hidden bar (stderr is not a terminal) prints nothing
                if b.is_hidden() {
                    eprintln!("{line}");
                } else {
                    b.println(line);
                }
            }
        }
    }

    /// Prints the lines held back.
    fn release(&mut self) {
        for j in self.held.take().unwrap_or_default() {
            json_line(j);
        }
    }

    /// Prints a step (with its evaluation, if any) as a JSON line, or on the progress bar.
    fn flush(&mut self, p: &mut Option<(StepReport, Option<Val>)>) {
        let Some((st, val)) = p.take() else { return };
        match &self.bar {
            None => {
                let mut j = serde_json::json!({
                    "step": st.step, "loss": st.loss, "acc": st.acc, "lr": st.lr, "grad_norm": st.grad_norm,
                    "ms_per_step": st.ms, "tokens_per_s": st.tokens_per_s,
                });
                if let Some(v) = val {
                    j["val_loss"] = v.loss.into();
                    j["val_acc"] = v.acc.into();
                    if let (Some(t), Some(h)) = (v.train_exact, v.val_exact) {
                        j["train_exact"] = t.into();
                        j["val_exact"] = h.into();
                    }
                }
                match &mut self.held {
                    Some(h) => h.push(j),
                    None => json_line(j),
                }
            }
            Some(b) => {
                b.set_position(st.step as u64);
                let v = self.last_val.map_or(String::new(), |v| format!(" val {:.4} acc {:.1}%{}", v.loss, v.acc * 100.0, exact(&v)));
                b.set_message(format!("loss {:.4} {:.0} ms/step{v}", st.loss, st.ms));
                if let Some(v) = val {
                    b.println(format!("step {}: train loss {:.4}, val loss {:.4}, val acc {:.1}%{}", st.step, st.loss, v.loss, v.acc * 100.0, exact(&v)));
                }
            }
        }
    }
}

/// 2145 -> "2,145".
fn thousands(n: usize) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// " exact: train 45.3%, held-out 12.1%" for a task's evaluation, else "".
fn exact(v: &Val) -> String {
    match (v.train_exact, v.val_exact) {
        (Some(t), Some(h)) => format!(", exact match: train {:.1}%, held-out {:.1}%", t * 100.0, h * 100.0),
        _ => String::new(),
    }
}
