//! The tinygpt command line: train, generate, eval, bench.
//! Bad input gets a one-line message and exit code 2, never a panic.

mod lab;
mod train;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pollster::block_on;
use std::io::Write;
use std::path::PathBuf;

use tinygpt::checkpoint::{self, Checkpoint};

use tinygpt::data::{read_corpus, Dataset};
use tinygpt::error::{Error, Result};
use tinygpt::hf;
use tinygpt::sample::SampleConfig;
use tinygpt::session::{BackendChoice, Session};

#[derive(Parser)]
#[command(name = "tinygpt", version, about = "Train, run and look inside a small GPT")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a model on a UTF-8 text file (character-level or byte-level BPE tokens), or on a
    /// toy task (--task).
    Train(train::TrainArgs),
    /// The toy tasks: each one's name, an example, the skill or circuit it exercises, its
    /// metric and its recipe (`train --task NAME` trains one).
    Tasks(TasksArgs),
    /// Continue a prompt with a trained model, streaming the text to stdout.
    Generate(GenerateArgs),
    /// Loss and next-token accuracy over the validation split of a text file, or a toy task's
    /// exact match and answer loss on its held-out examples (--task).
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
    Surprisal(lab::SurprisalArgs),
    /// Each attention head's previous-token, first-token and induction scores on a text.
    ///
    /// previous-token = mean over t >= 1 of att[t][t-1]; first-token = mean over t >= 1 of
    /// att[t][0] (the text cut to the context); induction: the text cut to at most half the
    /// context (n tokens) is fed twice and the score is the mean over t in [n, 2n) of
    /// att[t][t-n+1].
    Heads(lab::HeadsArgs),
    /// The logit lens: at each residual stream (0 = embeddings .. L = the output) and position,
    /// the top tokens of softmax(ln_f(h_l[t]) · wteᵀ), with the model's own final LayerNorm.
    Lens(lab::LensArgs),
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
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    data: Option<PathBuf>,
    /// A toy task: its held-out examples, scored by exact match (greedy decoding of the prompt
    /// gives exactly the answer) and the answers' loss.
    #[arg(long)]
    task: Option<String>,
    /// Print {"val_loss","val_acc","tokens"} as JSON ({"exact","val_loss","val_acc","examples"}
    /// with --task).
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendKind,
}

#[derive(Args)]
struct TasksArgs {
    /// A JSON list of objects: name, label, skill, example {prompt, answer}, metric,
    /// tokenizer, heldout, train_examples, probe, model (the shape), train (the recipe).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Training steps timed per preset (after 2 warm-up steps).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Also time the `small` preset (slow on a CPU).
    #[arg(long)]
    small: bool,
    /// Also time the `page` preset (the page's default model).
    #[arg(long)]
    page: bool,
    /// Also time generation with GPT-2 124M's shapes (random weights; ~500 MB per backend).
    #[arg(long)]
    gpt2: bool,
    /// Also time Start to a circuit on the CPU: `induction` to an induction head, `modadd` to
    /// grokking (each task's default recipe).
    #[arg(long)]
    tasks: bool,
    /// Which backends to measure: cpu, gpu or both (all).
    #[arg(long, default_value = "all", value_parser = ["all", "cpu", "gpu"])]
    backend: String,
    /// Only count the GPU's dispatches and compute passes per training step and per decoded
    /// token (tiny, baby, page; small with --small): seconds, nothing timed.
    #[arg(long)]
    counts: bool,
    #[arg(long)]
    json: bool,
}

/// Mesa's Vulkan drivers (lavapipe among them) print "error: XDG_RUNTIME_DIR is invalid or not
/// set in the environment." on every adapter probe when that variable is unset, which would
/// break "bad input gets one line". When it is unset or empty, it is pointed at a private
/// directory of ours: `tinygpt-xdg-<uid>` in the temporary directory, created with mode 0700,
/// or reused when it is already a directory (not a link) of ours with mode 0700; otherwise the
/// variable is left alone.
#[cfg(unix)]
fn ensure_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty()) {
        return;
    }
    // our uid: the owner of our own /proc entry (Linux); elsewhere a directory of this process
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let name = match uid {
        Some(u) => format!("tinygpt-xdg-{u}"),
        None => format!("tinygpt-xdg-pid-{}", std::process::id()),
    };
    let dir = std::env::temp_dir().join(name);
    let usable = match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        // the umask may have taken bits off 0700; never added any
        Ok(()) => std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok(),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && uid == Some(m.uid()) && m.mode() & 0o777 == 0o700),
        Err(_) => false,
    };
    if usable {
        // Sound: this runs first thing in main, before any thread is started (no adapter has
        // been probed, rayon's pool does not exist yet), so nothing reads the environment
        // concurrently. (`set_var` is safe to call in this crate's edition, 2021.)
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

#[cfg(not(unix))]
fn ensure_runtime_dir() {}

fn main() {
    ensure_runtime_dir();
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
        Cmd::Train(a) => train::train(a),
        Cmd::Tasks(a) => list_tasks(a),
        Cmd::Generate(a) => gen(a),
        Cmd::Eval(a) => eval(a),
        Cmd::Surprisal(a) => lab::surprisal(a),
        Cmd::Heads(a) => lab::heads(a),
        Cmd::Lens(a) => lab::lens(a),
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

fn list_tasks(a: TasksArgs) -> Result<()> {
    let all: Vec<_> = tinygpt::tasks::TASKS.iter().map(|t| t.describe()).collect();
    if a.json {
        json_line(serde_json::to_value(&all).expect("tasks serialise"));
        return Ok(());
    }
    for t in all {
        let (m, r) = (&t.model, &t.train);
        println!("{:<10} {:?} -> {:?}", t.name, t.example.prompt, t.example.answer);
        println!("           {}", t.skill);
        println!(
            "           {} layers x {} heads, {} wide, context {}; {} steps, batch {}, lr {}, weight decay {}; {} held out",
            m.n_layer, m.n_head, m.n_embd, m.block_size, r.steps, r.batch_size, r.lr, r.weight_decay, t.heldout
        );
    }
    println!("metric: exact match (greedy decoding of the prompt gives exactly the answer); train one with `tinygpt train --task NAME`");
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let task = a.task.as_deref().map(tinygpt::tasks::task).transpose()?;
    let (mut s, note) = loaded(&a.model, a.backend, a.json, &a.ablate)?;
    if let Some(t) = task {
        let sc = block_on(s.score_task(t))?;
        note.say();
        if a.json {
            json_line(serde_json::json!({"exact": sc.exact, "val_loss": sc.loss, "val_acc": sc.acc, "examples": sc.examples}));
        } else {
            println!("task {}: exact match {:.1}% of {} held-out examples, answer loss {:.4}, answer-token acc {:.1}%", t.name, sc.exact * 100.0, sc.examples, sc.loss, sc.acc * 100.0);
        }
        return Ok(());
    }
    let data_path = a.data.as_ref().expect("clap requires --data or --task");
    let text = read_corpus(data_path)?;
    let ids = s.encode(&text).map_err(|e| Error::Data(format!("{}: {e}", data_path.display())))?;
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
    let o = tinygpt::bench::BenchOptions { cpu: a.backend != "gpu", gpu: a.backend != "cpu", small: a.small, page: a.page, steps: a.steps.max(1), gpt2: a.gpt2, tasks: a.tasks, counts_only: a.counts };
    for r in tinygpt::bench::run(&o)? {
        if a.json {
            json_line(r);
        } else {
            println!("{}", tinygpt::bench::describe(&r));
        }
    }
    Ok(())
}
