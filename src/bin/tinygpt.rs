//! The tinygpt command line: train, generate, eval, bench.
//! Bad input gets a one-line message and exit code 2, never a panic.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pollster::block_on;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tinygpt::backend::Backend;
use tinygpt::checkpoint::{self, Checkpoint};
use tinygpt::config::{preset, PosEncoding};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::GpuBackend;
use tinygpt::data::{read_corpus, Dataset};
use tinygpt::error::{Error, Result};
use tinygpt::model::Gpt;
use tinygpt::sample::{generate, SampleConfig};
use tinygpt::hf;
use tinygpt::tokenizer::{Tokenizer, TokenizerKind, Utf8Stream};
use tinygpt::train::{evaluate, Trainer};

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

/// The backend a command runs on, chosen from --backend.
enum Chosen {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// The chosen backend and a line saying why, printed only once the command's inputs have been
/// checked: a bad-input error is then the only line on stderr.
fn choose(kind: BackendKind) -> Result<(Chosen, String)> {
    match kind {
        BackendKind::Cpu => Ok((Chosen::Cpu(CpuBackend::new()), String::new())),
        BackendKind::Gpu => {
            let g = GpuBackend::new_blocking()?;
            let m = format!("backend gpu: {}", g.describe());
            Ok((Chosen::Gpu(g), m))
        }
        BackendKind::Auto => match GpuBackend::new_blocking() {
            Ok(g) if g.adapter_info().device_type != wgpu::DeviceType::Cpu => {
                let m = format!("backend gpu (auto): {}", g.describe());
                Ok((Chosen::Gpu(g), m))
            }
            Ok(g) => Ok((
                Chosen::Cpu(CpuBackend::new()),
                format!("backend cpu (auto): the only GPU adapter is a software one ({}), slower than the CPU backend; --backend gpu forces it", g.describe()),
            )),
            Err(e) => Ok((Chosen::Cpu(CpuBackend::new()), format!("backend cpu (auto): {e}"))),
        },
    }
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

/// Runs `$f(args, backend, note)` on the chosen backend.
macro_rules! on_backend {
    ($kind:expr, $quiet:expr, $f:ident($a:expr)) => {{
        let (chosen, line) = choose($kind)?;
        let note = Note { line, quiet: $quiet };
        match chosen {
            Chosen::Cpu(b) => $f($a, b, note),
            Chosen::Gpu(b) => $f($a, b, note),
        }
    }};
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
    #[arg(long, default_value = "baby", value_parser = ["baby", "small"])]
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
    let cli = Cli::parse();
    let r = (|| match cli.cmd {
        Cmd::Train(a) => on_backend!(a.backend, a.json, train(a)),
        Cmd::Generate(a) => on_backend!(a.backend, false, gen(a)),
        Cmd::Eval(a) => on_backend!(a.backend, a.json, eval(a)),
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

fn train<B: Backend>(a: TrainArgs, backend: B, note: Note) -> Result<()> {
    let text = read_corpus(&a.data)?;
    let p = preset(&a.preset)?;
    let (model, tok, mut tc) = match &a.resume {
        Some(path) => {
            let (m, tok, tc) = checkpoint::load(path)?.into_model(backend)?;
            (m, tok, tc.unwrap_or(p.train.clone()))
        }
        None => {
            let t0 = Instant::now();
            let tok = Tokenizer::train(a.tokenizer, &text)?;
            if let (Tokenizer::Bpe(_), false) = (&tok, a.json) {
                eprintln!("tinygpt: learned a byte-level BPE of {} tokens in {:.1} s", tok.vocab_size(), t0.elapsed().as_secs_f64());
            }
            let mut cfg = p.model.clone();
            cfg.vocab_size = tok.vocab_size();
            if let Some(pos) = a.pos {
                cfg.pos = match pos {
                    PosArg::Sinusoidal => PosEncoding::Sinusoidal,
                    PosArg::Learned => PosEncoding::Learned,
                };
            }
            let seed = a.seed.unwrap_or(p.train.seed);
            (Gpt::new(cfg, backend, seed)?, tok, p.train.clone())
        }
    };
    // Flags override the recipe (on resume, too: e.g. --steps to train further).
    if let Some(s) = a.steps {
        tc.steps = s;
    }
    if let Some(b) = a.batch {
        tc.batch_size = b;
    }
    if let Some(lr) = a.lr {
        tc.lr = lr;
        tc.min_lr = lr / 10.0;
    }
    if let Some(s) = a.seed {
        tc.seed = s;
    }
    if let Some(e) = a.eval_interval {
        tc.eval_interval = e;
    }
    tc.validate()?;
    let ids = tok.encode(&text).map_err(|e| Error::Data(format!("{}: {e}", a.data.display())))?;
    let data = Dataset::new(ids, model.cfg.block_size)?;
    note.say();
    if !a.json {
        eprintln!(
            "tinygpt: {} parameters ({} layers, {} heads, {} wide, context {}, {} positions), vocab {}, backend {}",
            model.num_params(), model.cfg.n_layer, model.cfg.n_head, model.cfg.n_embd, model.cfg.block_size,
            model.cfg.pos, model.cfg.vocab_size, model.backend.describe()
        );
        eprintln!("tinygpt: {} train / {} val tokens; steps {}..{}", data.train.len(), data.val.len(), model.step, tc.steps);
    }
    let tokens_per_step = (tc.batch_size * model.cfg.block_size) as f64;
    let mut trainer = Trainer::new(model, &data, tc.clone())?;
    let bar = (!a.json).then(|| {
        let b = indicatif::ProgressBar::new(tc.steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .expect("valid template"),
        );
        b.set_position(trainer.steps_done() as u64);
        b
    });
    let save = |tr: &mut Trainer<B>| -> Result<()> {
        if let Some(out) = &a.out {
            block_on(checkpoint::save_with(out, &mut tr.model, &tok, Some(&tr.tc), !a.weights_only))?;
        }
        Ok(())
    };
    let start = Instant::now();
    let mut last_val = None;
    // Steps are pipelined: each call records and submits a step and returns the statistics of
    // the one before, so a GPU never idles while the host looks at a loss. Before evaluating
    // (and at the end) the step in flight is settled. A step's time is that of the call that
    // recorded it (on the CPU backend the work happens there; on a GPU that call waits for the
    // step before, the same time in steady state); a step settled on its own takes the longer
    // of its recording call and the settling (on a GPU the settling is where it runs).
    let mut in_flight_ms = 0.0;
    let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    loop {
        let more = !trainer.is_done();
        let next = trainer.steps_done() + 1;
        let eval_after = more && (next == tc.steps || (tc.eval_interval > 0 && next % tc.eval_interval == 0));
        let mut settled = Vec::new();
        let mut failed = None;
        let t0 = Instant::now();
        if more {
            let r = block_on(trainer.step_lagged());
            let d = ms_since(t0);
            match r {
                Ok(s) => settled.extend(s.map(|s| (s, in_flight_ms))),
                Err(e) => failed = Some(e),
            }
            in_flight_ms = d;
        }
        if failed.is_none() && (eval_after || !more) {
            let t1 = Instant::now();
            match block_on(trainer.finish()) {
                Ok(s) => settled.extend(s.map(|s| (s, in_flight_ms.max(ms_since(t1))))),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            // The failed step did not touch the weights: keep them.
            save(&mut trainer)?;
            if let Some(b) = &bar {
                b.abandon();
            }
            return Err(e);
        }
        for (s, ms) in settled {
            let step = s.step as usize;
            let eval_now = step == tc.steps || (tc.eval_interval > 0 && step % tc.eval_interval == 0);
            let val = if eval_now { Some(block_on(trainer.estimate_val())?) } else { None };
            let mut j = serde_json::json!({
                "step": step, "loss": s.loss, "acc": s.acc, "lr": s.lr, "grad_norm": s.grad_norm,
                "ms_per_step": ms, "tokens_per_s": tokens_per_step / (ms / 1e3),
            });
            if let Some((vl, va)) = val {
                j["val_loss"] = vl.into();
                j["val_acc"] = va.into();
                last_val = Some((vl, va));
                save(&mut trainer)?;
            }
            match &bar {
                None => json_line(j),
                Some(b) => {
                    b.set_position(step as u64);
                    let v = last_val.map_or(String::new(), |(vl, va)| format!(" val {vl:.4} acc {:.1}%", va * 100.0));
                    b.set_message(format!("loss {:.4} {:.0} ms/step{v}", s.loss, ms));
                    if let Some((vl, va)) = val {
                        b.println(format!("step {step}: train loss {:.4}, val loss {vl:.4}, val acc {:.1}%", s.loss, va * 100.0));
                    }
                }
            }
        }
        if !more {
            break;
        }
    }
    save(&mut trainer)?;
    if let Some(b) = bar {
        b.finish();
        let secs = start.elapsed().as_secs_f64();
        eprintln!("tinygpt: done in {secs:.1} s{}", a.out.as_ref().map_or(String::new(), |o| format!("; saved {}", o.display())));
        let prompt = tok.encode("\n").or_else(|_| tok.encode(&text.chars().next().expect("corpus is non-empty").to_string()))?;
        let cfg = SampleConfig { max_tokens: 300, ..SampleConfig::default() };
        let ids = block_on(generate(&mut trainer.model, &prompt, &cfg, |_| true))?;
        println!("--- sample ---\n{}", tok.decode(&ids)?);
    }
    Ok(())
}

fn gen<B: Backend>(a: GenerateArgs, backend: B, note: Note) -> Result<()> {
    let (mut model, tok, _) = load_model(&a.model)?.into_model(backend)?;
    let prompt = tok.encode(&a.prompt)?;
    let cfg = SampleConfig {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        seed: a.seed,
        use_cache: !a.no_cache,
        ..SampleConfig::default()
    };
    cfg.validate()?;
    note.say();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", a.prompt);
    let mut bad = None;
    // A BPE token may end inside a character: print only whole characters.
    let mut text = Utf8Stream::new();
    block_on(generate(&mut model, &prompt, &cfg, |ev| match tok.decode_bytes(&[ev.id]) {
        Ok(b) => {
            let _ = write!(out, "{}", text.push(&b));
            let _ = out.flush();
            true
        }
        Err(e) => {
            bad = Some(e);
            false
        }
    }))?;
    let _ = writeln!(out, "{}", text.finish());
    bad.map_or(Ok(()), Err)
}

fn eval<B: Backend>(a: EvalArgs, backend: B, note: Note) -> Result<()> {
    let (mut model, tok, tc) = load_model(&a.model)?.into_model(backend)?;
    let text = read_corpus(&a.data)?;
    let ids = tok.encode(&text).map_err(|e| Error::Data(format!("{}: {e}", a.data.display())))?;
    let data = Dataset::new(ids, model.cfg.block_size)?;
    // The training batch; an imported model (no recipe) goes one window at a time, since
    // its context and vocabulary may be GPT-2's (1024 x 50257 logits per window).
    let batch = tc.map_or(1, |t| t.batch_size);
    note.say();
    let (loss, acc, n) = block_on(evaluate(&mut model, &data.val, batch))?;
    if a.json {
        json_line(serde_json::json!({"val_loss": loss, "val_acc": acc, "tokens": n}));
    } else {
        println!("val loss {loss:.4}, val acc {:.2}% over {n} tokens", acc * 100.0);
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
