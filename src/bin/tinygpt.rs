//! The tinygpt command line: train, generate, eval, bench.
//! Bad input gets a one-line message and exit code 2, never a panic.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pollster::block_on;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tinygpt::checkpoint::{self, Checkpoint};
use tinygpt::config::{preset, PosEncoding};
use tinygpt::data::{read_corpus, Dataset};
use tinygpt::error::{Error, Result};
use tinygpt::hf;
use tinygpt::sample::SampleConfig;
use tinygpt::session::{BackendChoice, Event, NewModel, Policy, Session, StepReport};
use tinygpt::tokenizer::TokenizerKind;

#[derive(Parser)]
#[command(name = "tinygpt", version, about = "Train, run and look inside a small GPT")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model on a UTF-8 text file (character-level or byte-level BPE tokens).
    Train(TrainArgs),
    /// Continue a prompt with a trained model, streaming the text to stdout.
    Generate(GenerateArgs),
    /// Loss and next-token accuracy over the validation split of a text file.
    ///
    /// The validation split is the last 10% of the file's tokens (the same split training
    /// uses). It is read in consecutive non-overlapping windows of block_size tokens; in each
    /// window every position predicts the token after it, so every validation token after the
    /// first is predicted exactly once (a partial last window is dropped). val_loss is the mean
    /// cross-entropy in nats, val_acc the fraction of positions whose most likely token is the
    /// true one, tokens the number of predictions.
    Eval(EvalArgs),
    /// Per-token surprisal, -ln p(token | the tokens before it in its window), in nats.
    ///
    /// The windows are eval's: consecutive non-overlapping windows of the context length, plus
    /// a last, shorter window where the text does not fill one; the first token has none. The
    /// mean over the same windows is eval's loss.
    Surprisal(SurprisalArgs),
    /// Each attention head's previous-token, first-token and induction scores on a text.
    ///
    /// previous-token = mean over t >= 1 of att[t][t-1]; first-token = mean over t >= 1 of
    /// att[t][0] (the text cut to the context); induction: the text cut to at most half the
    /// context (n tokens) is fed twice and the score is the mean over t in [n, 2n) of
    /// att[t][t-n+1].
    Heads(HeadsArgs),
    /// The logit lens: at each residual stream (0 = embeddings .. L = the output) and position,
    /// the top tokens of softmax(ln_f(h_l[t]) · wteᵀ), with the model's own final LayerNorm.
    Lens(LensArgs),
    /// Measure speed: matmul GFLOP/s and training ms/step.
    Bench(BenchArgs),
    /// Write a checkpoint as a Hugging Face GPT-2 folder (config.json, model.safetensors,
    /// tokenizer files) that transformers' GPT2LMHeadModel.from_pretrained loads.
    ExportHf(ExportArgs),
    /// Convert a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json or
    /// vocab.json + merges.txt) into a tinygpt checkpoint (weights only).
    ImportHf(ImportArgs),
    /// Serve the web page (a directory, default www/) at http://127.0.0.1:8080.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// A tinygpt checkpoint (or a Hugging Face folder).
    checkpoint: PathBuf,
    /// Folder to write (created if missing; files in it are overwritten).
    dir: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    /// A Hugging Face GPT-2 folder.
    dir: PathBuf,
    /// The tinygpt checkpoint to write.
    out: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, default_value = "www")]
    dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
}

/// Where the maths runs.
#[derive(Clone, Copy, ValueEnum)]
enum BackendKind {
    /// The GPU through wgpu when a hardware adapter exists, else the CPU backend (a software
    /// GPU adapter such as lavapipe is slower than the CPU backend, so auto skips it).
    Auto,
    /// The GPU through wgpu (any adapter, software ones included).
    Gpu,
    /// The CPU reference backend (multithreaded, SIMD).
    Cpu,
}

/// A session on the backend --backend asks for, and the line saying which it is, printed only
/// once the command's inputs have been checked: a bad-input error is then the only line on
/// stderr.
fn session(kind: BackendKind, quiet: bool) -> Result<(Session, Note)> {
    let mut s = Session::new();
    let choice = match kind {
        BackendKind::Auto => BackendChoice::Auto,
        BackendKind::Gpu => BackendChoice::Gpu,
        BackendKind::Cpu => BackendChoice::Cpu,
    };
    let r = block_on(s.use_backend(choice))?;
    let line = match (kind, r.backend, r.reason) {
        (BackendKind::Cpu, ..) => String::new(),
        (BackendKind::Gpu, ..) => format!("backend gpu: {}", r.adapter),
        (_, "cpu", Some(why)) => format!("backend cpu (auto): {why}"),
        _ => format!("backend gpu (auto): {}", r.adapter),
    };
    Ok((s, Note { line, quiet }))
}

/// Says which backend was chosen (on stderr, unless quiet): called once inputs are checked.
struct Note {
    line: String,
    quiet: bool,
}

impl Note {
    fn say(&self) {
        if !self.quiet && !self.line.is_empty() {
            eprintln!("tinygpt: {}", self.line);
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PosArg {
    Sinusoidal,
    Learned,
}

#[derive(Args)]
struct TrainArgs {
    /// UTF-8 text to train on (90% train, 10% validation).
    #[arg(long)]
    data: PathBuf,
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
}

#[derive(Args)]
struct GenerateArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value = "\n")]
    prompt: String,
    #[arg(long, default_value_t = 500)]
    max_tokens: usize,
    /// 0 picks the most likely token every time.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Sample only among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample only among the most likely tokens whose probabilities add up to p.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Re-run the whole window for every token instead of using the KV cache.
    #[arg(long)]
    no_cache: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct EvalArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// Print {"val_loss","val_acc","tokens"} as JSON.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct SurprisalArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    /// The text (or --text-file).
    #[arg(long, conflicts_with = "text_file", required_unless_present = "text_file")]
    text: Option<String>,
    /// A UTF-8 file holding the text.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// {"tokens": [str], "surprisal": [null, float, ...], "mean": float}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct LensArgs {
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    /// Tokens per position.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// {"tokens": [str], "ids": [int], "layers": [[[{"id", "token", "prob"} x K] per position] per stream 0..L]}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct HeadsArgs {
    /// Heads to zero-ablate, layer.head from 0, comma-separated (e.g. 0.1,2.3).
    #[arg(long, default_value = "")]
    ablate: String,
    /// A checkpoint written by `tinygpt train`, or a Hugging Face GPT-2 folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    text: String,
    /// {"previous_token": [[float; NH]; L], "first_token": [...], "induction": [...]}
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct BenchArgs {
    /// Training steps timed per preset (after 2 warm-up steps).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Also time the `small` preset (slow on a CPU).
    #[arg(long)]
    small: bool,
    /// Also time generation with GPT-2 124M's shapes (random weights; ~500 MB per backend).
    #[arg(long)]
    gpt2: bool,
    /// Which backends to measure: cpu, gpu or both (all).
    #[arg(long, default_value = "all", value_parser = ["all", "cpu", "gpu"])]
    backend: String,
    #[arg(long)]
    json: bool,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayHelpOnMissingArgumentOrSubcommand, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand) {
                e.exit();
            }
            // one line, like every other bad input: clap's message and its hint, no usage block
            let text = e.render().to_string();
            let keep = |l: &&str| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information");
            let line = text.lines().map(str::trim).filter(keep).collect::<Vec<_>>().join(" ");
            eprintln!("tinygpt: {}", line.trim_start_matches("error: "));
            std::process::exit(2);
        }
    };
    let r = (|| match cli.cmd {
        Cmd::Train(a) => train(a),
        Cmd::Generate(a) => gen(a),
        Cmd::Eval(a) => eval(a),
        Cmd::Surprisal(a) => surprisal(a),
        Cmd::Heads(a) => heads(a),
        Cmd::Lens(a) => lens(a),
        Cmd::Bench(a) => bench(a),
        Cmd::ExportHf(a) => export_hf(a),
        Cmd::ImportHf(a) => import_hf(a),
        Cmd::Serve(a) => tinygpt::serve::serve(&a.dir, &a.addr),
    })();
    if let Err(e) = r {
        eprintln!("tinygpt: {e}");
        std::process::exit(2);
    }
}

fn json_line(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn train(a: TrainArgs) -> Result<()> {
    let text = read_corpus(&a.data)?;
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
    if let Some(seed) = a.seed {
        tc.seed = seed;
    }
    if let Some(e) = a.eval_interval {
        tc.eval_interval = e;
    }
    tc.validate()?;
    // a character the model never saw is the corpus file's fault
    let in_file = |e: Error| match e {
        Error::UnknownChar { .. } => Error::Data(format!("{}: {e}", a.data.display())),
        e => e,
    };
    if a.resume.is_some() {
        s.prepare_training(&text, tc.clone()).map_err(in_file)?;
    } else {
        let pos = a.pos.map_or(p.model.pos, |x| match x {
            PosArg::Sinusoidal => PosEncoding::Sinusoidal,
            PosArg::Learned => PosEncoding::Learned,
        });
        let m = &p.model;
        let shape = NewModel { n_layer: m.n_layer, n_head: m.n_head, n_embd: m.n_embd, block_size: m.block_size, pos, tokenizer: a.tokenizer };
        let t0 = Instant::now();
        block_on(s.new_model(&text, &shape, tc.clone())).map_err(in_file)?;
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
        eprintln!("tinygpt: {} train / {} val tokens; steps {}..{}", data.train.len(), data.val.len(), s.step(), tc.steps);
    }
    let bar = (!a.json).then(|| {
        let b = indicatif::ProgressBar::new(tc.steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .expect("valid template"),
        );
        b.set_position(s.step() as u64);
        b
    });
    let save = |s: &mut Session| -> Result<()> {
        match &a.out {
            Some(out) => block_on(s.save(out, a.weights_only)),
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
                    save(&mut s)?;
                    saved_at = Some(end.step);
                }
                if end.done {
                    break;
                }
            }
            Err(e) => {
                // The failed step did not touch the weights: keep them.
                save(&mut s)?;
                if let Some(b) = &bar {
                    b.abandon();
                }
                return Err(e);
            }
        }
    }
    if saved_at != Some(s.step() as usize) {
        save(&mut s)?;
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

fn gen(a: GenerateArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, false, &a.ablate)?;
    let cfg = SampleConfig {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        seed: a.seed,
        use_cache: !a.no_cache,
        ..SampleConfig::default()
    };
    s.start_generation(&a.prompt, &cfg)?;
    note.say();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", a.prompt);
    // A BPE token may end inside a character: the session streams only whole characters.
    while let Some(t) = block_on(s.next_token())? {
        let _ = write!(out, "{}", t.text);
        let _ = out.flush();
    }
    let _ = writeln!(out, "{}", s.finish_generation());
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    let text = read_corpus(&a.data)?;
    let ids = s.encode(&text).map_err(|e| Error::Data(format!("{}: {e}", a.data.display())))?;
    let data = Dataset::new(ids, s.config()?.block_size)?;
    note.say();
    // The training batch; an imported model (no recipe) goes one window at a time, since
    // its context and vocabulary may be GPT-2's (1024 x 50257 logits per window).
    let (loss, acc, n) = block_on(s.evaluate(&data.val, None))?;
    if a.json {
        json_line(serde_json::json!({"val_loss": loss, "val_acc": acc, "tokens": n}));
    } else {
        println!("val loss {loss:.4}, val acc {:.2}% over {n} tokens", acc * 100.0);
    }
    Ok(())
}

/// A session with the model at `path` loaded (its notes on stderr).
/// A session with the model at `path` loaded (its notes on stderr) and `ablate` ablated.
fn loaded(path: &std::path::Path, backend: BackendKind, quiet: bool, ablate: &str) -> Result<(Session, Note)> {
    let heads = tinygpt::lab::parse_heads(ablate)?;
    let (mut s, note) = session(backend, quiet)?;
    for n in block_on(s.load_path(path))? {
        eprintln!("tinygpt: {n}");
    }
    s.set_ablation(&heads)?;
    Ok((s, note))
}

fn lens(a: LensArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    if a.top_k == 0 {
        return Err(Error::Config("top-k: expected at least 1".into()));
    }
    let (ids, streams, cut) = block_on(s.lens(&a.prompt, a.top_k))?;
    note.say();
    let tokens = s.labels(&ids);
    if cut {
        eprintln!("tinygpt: the prompt is longer than the context: the lens reads its last {} tokens", ids.len());
    }
    if a.json {
        let layers: Vec<Vec<Vec<serde_json::Value>>> = streams
            .iter()
            .map(|st| st.iter().map(|p| p.iter().map(|(id, t, pr)| serde_json::json!({"id": id, "token": t, "prob": pr})).collect()).collect())
            .collect();
        json_line(serde_json::json!({"tokens": tokens, "ids": ids, "layers": layers}));
    } else {
        // one row per stream, the top token at each position (its probability in %)
        print!("{:>8}", "stream");
        for t in &tokens {
            print!(" {:>12}", format!("{t:?}"));
        }
        println!();
        for (l, st) in streams.iter().enumerate() {
            print!("{:>8}", if l == 0 { "embed".to_string() } else { l.to_string() });
            for p in st {
                let (_, t, pr) = &p[0];
                print!(" {:>12}", format!("{t:?} {:.0}%", pr * 100.0));
            }
            println!();
        }
    }
    Ok(())
}

fn surprisal(a: SurprisalArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    let text = match (&a.text, &a.text_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_corpus(f)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let (tokens, sur, mean) = block_on(s.surprisal(&text))?;
    note.say();
    if a.json {
        json_line(serde_json::json!({"tokens": tokens, "surprisal": sur, "mean": mean}));
    } else {
        println!("{:>6}  {:>10}  token", "pos", "surprisal");
        for (i, (t, v)) in tokens.iter().zip(&sur).enumerate() {
            let v = v.map_or("-".to_string(), |v| format!("{v:.3}"));
            println!("{i:>6}  {v:>10}  {t:?}");
        }
        println!("mean surprisal {mean:.4} nats over {} tokens", tokens.len().saturating_sub(1));
    }
    Ok(())
}

fn heads(a: HeadsArgs) -> Result<()> {
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    let h = block_on(s.head_scores(&a.text))?;
    note.say();
    if a.json {
        json_line(serde_json::to_value(&h).expect("scores serialise"));
    } else {
        println!("{:>5}  {:>8}  {:>8}  {:>9}", "head", "previous", "first", "induction");
        for (l, row) in h.previous_token.iter().enumerate() {
            for hd in 0..row.len() {
                println!("{:>5}  {:>8.3}  {:>8.3}  {:>9.3}", format!("{l}.{hd}"), row[hd], h.first_token[l][hd], h.induction[l][hd]);
            }
        }
    }
    Ok(())
}

/// A tinygpt checkpoint file, or a Hugging Face GPT-2 folder (notes go to stderr).
fn load_model(path: &std::path::Path) -> Result<Checkpoint> {
    if path.is_dir() {
        let m = hf::load_dir(path)?;
        for n in &m.notes {
            eprintln!("tinygpt: {n}");
        }
        Ok(m.checkpoint)
    } else {
        checkpoint::load(path)
    }
}

fn export_hf(a: ExportArgs) -> Result<()> {
    let ck = load_model(&a.checkpoint)?;
    let files = hf::export(&ck, &a.dir)?;
    eprintln!("tinygpt: wrote {} in {}", files.join(", "), a.dir.display());
    Ok(())
}

fn import_hf(a: ImportArgs) -> Result<()> {
    let m = hf::load_dir(&a.dir)?;
    for n in &m.notes {
        eprintln!("tinygpt: {n}");
    }
    let c = &m.checkpoint.cfg;
    checkpoint::write_atomic(&a.out, &m.checkpoint.to_bytes()?)?;
    eprintln!(
        "tinygpt: wrote {} ({} layers, {} heads, {} wide, context {}, vocab {})",
        a.out.display(), c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size
    );
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let o = tinygpt::bench::BenchOptions { cpu: a.backend != "gpu", gpu: a.backend != "cpu", small: a.small, steps: a.steps.max(1), gpt2: a.gpt2 };
    for r in tinygpt::bench::run(&o)? {
        if a.json {
            json_line(r);
        } else {
            println!("{}", tinygpt::bench::describe(&r));
        }
    }
    Ok(())
}
