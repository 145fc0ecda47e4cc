//! `tinygpt bench`: the speed figures docs/benchmarks.md records (native only).
//! Each result is one JSON object; the CLI prints them as lines or as a table.

use crate::backend::Backend;
use crate::config::{preset, ModelConfig, PosEncoding};
use crate::cpu::CpuBackend;
use crate::error::Result;
use crate::gpu::{GpuBackend, MatmulVariant};
use crate::model::Gpt;
use crate::rng::Rng;
use crate::sample::{generate, SampleConfig};
use pollster::block_on;
use serde_json::{json, Value};
use std::time::Instant;

pub struct BenchOptions {
    pub cpu: bool,
    pub gpu: bool,
    /// Also time the `small` preset.
    pub small: bool,
    /// Also time the `page` preset.
    pub page: bool,
    /// Timed training steps per preset.
    pub steps: usize,
    /// Also time generation with GPT-2 124M's shapes.
    pub gpt2: bool,
    /// Also time Start to a circuit: `induction` to an induction head, `modadd` to grokking.
    pub tasks: bool,
    /// Only the GPU's dispatch and pass counts (`gpu_counts`), nothing timed.
    pub counts_only: bool,
}

/// Matmul shapes: the baby model's (N = B·T = 768) and two squares.
const SHAPES: [(usize, usize, usize); 5] = [(768, 128, 384), (768, 128, 512), (768, 512, 128), (1024, 1024, 1024), (2048, 2048, 2048)];

/// Runs `f` once to warm up, then repeatedly until ~0.5 s have passed (at least twice);
/// returns seconds per run.
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    let mut n = 0;
    while n < 2 || t0.elapsed().as_secs_f64() < 0.5 {
        f();
        n += 1;
    }
    t0.elapsed().as_secs_f64() / n as f64
}

fn rand_ids(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.below(v) as u32).collect()
}

/// Matmul forward GFLOP/s on a backend at every shape; `sync` waits for queued work.
fn matmuls<B: Backend>(be: &mut B, label: &str, mut sync: impl FnMut(&mut B), out: &mut Vec<Value>) -> Result<()> {
    let mut r = Rng::new(1);
    for (n, c, oc) in SHAPES {
        let (x, w, y) = (be.alloc(n * c, "bench inp")?, be.alloc(oc * c, "bench w")?, be.alloc(n * oc, "bench out")?);
        be.write(x, &(0..n * c).map(|_| r.normal()).collect::<Vec<_>>());
        be.write(w, &(0..oc * c).map(|_| r.normal()).collect::<Vec<_>>());
        let secs = time(|| {
            be.matmul_forward(y, x, w, None, n, c, oc);
            sync(be);
        });
        out.push(json!({"backend": label, "kernel": "matmul_forward", "n": n, "c": c, "oc": oc,
            "ms": secs * 1e3, "gflops": 2.0 * (n * c * oc) as f64 / secs / 1e9}));
        for t in [x, w, y] {
            be.free(t);
        }
    }
    Ok(())
}

/// ms per training step of a preset, and generation tokens/s with and without the KV cache.
fn model_speed<B: Backend>(mk: &mut dyn FnMut() -> Result<B>, label: &str, name: &str, steps: usize, out: &mut Vec<Value>) -> Result<Gpt<B>> {
    let p = preset(name)?;
    let mut model = Gpt::new(p.model.clone(), mk()?, 1)?;
    let (b, t) = (p.train.batch_size, p.model.block_size);
    let (x, y) = (rand_ids(b * t, p.model.vocab_size, 2), rand_ids(b * t, p.model.vocab_size, 3));
    for _ in 0..2 {
        block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
    out.push(json!({"backend": label, "preset": name, "ms_per_step": ms, "tokens_per_s": (b * t) as f64 / (ms / 1e3)}));
    // pipelined (train_step_lagged, as `train` runs): each step is submitted before the one
    // before it is read back
    let t0 = Instant::now();
    for _ in 0..steps {
        block_on(model.train_step_lagged(&x, &y, None, b, t, 1e-4, &p.train))?;
    }
    block_on(model.finish_lagged())?;
    let ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
    out.push(json!({"backend": label, "preset": name, "pipelined": true, "ms_per_step": ms, "tokens_per_s": (b * t) as f64 / (ms / 1e3)}));
    for cache in [true, false] {
        let n = p.model.block_size * 2; // long enough that the window slides
        let sc = SampleConfig { max_tokens: n, temperature: 0.0, use_cache: cache, ..SampleConfig::default() };
        // untimed: the pipelines generation needs are compiled on first use (seconds on a CPU adapter)
        block_on(generate(&mut model, &[0], &SampleConfig { max_tokens: p.model.block_size + 2, ..sc.clone() }, |_| true))?;
        let t0 = Instant::now();
        block_on(generate(&mut model, &[0], &sc, |_| true))?;
        let s = t0.elapsed().as_secs_f64();
        out.push(json!({"backend": label, "preset": name, "generate_tokens": n, "kv_cache": cache, "tokens_per_s": n as f64 / s}));
    }
    Ok(model)
}

/// Dispatches and compute passes of one training step (the second: the first allocates) and of
/// one KV-cached decoded token, per preset, on the adapter's own matmul variant. Counting
/// needs no timing, so `page` is counted even where it would be slow to time.
fn gpu_counts(name: &str, out: &mut Vec<Value>) -> Result<()> {
    let p = preset(name)?;
    let mut model = Gpt::new(p.model.clone(), GpuBackend::new_blocking()?, 1)?;
    let (b, t) = (p.train.batch_size, p.model.block_size);
    let (x, y) = (rand_ids(b * t, p.model.vocab_size, 2), rand_ids(b * t, p.model.vocab_size, 3));
    block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
    let (d0, p0) = model.backend.counts();
    block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
    let (d1, p1) = model.backend.counts();
    block_on(model.decode_with(&x[..4], 0, false))?;
    let (d2, p2) = model.backend.counts();
    block_on(model.decode_with(&x[4..5], 4, false))?;
    let (d3, p3) = model.backend.counts();
    let variant = format!("{:?}", model.backend.matmul_variant()).to_lowercase();
    out.push(json!({"backend": "gpu", "preset": name, "n_layer": p.model.n_layer, "matmul": variant,
        "dispatches_per_step": d1 - d0, "passes_per_step": p1 - p0,
        "dispatches_per_token": d3 - d2, "passes_per_token": p3 - p2}));
    Ok(())
}

/// Generation tokens/s (KV cache, greedy) with GPT-2 124M's shapes and random weights: the
/// cost per token does not depend on the weights, and no real GPT-2 is needed to measure it.
fn gpt2_speed<B: Backend>(backend: B, label: &str, out: &mut Vec<Value>) -> Result<()> {
    let cfg = ModelConfig { vocab_size: 50257, n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024, pos: PosEncoding::Learned };
    let mut model = Gpt::new(cfg, backend, 1)?;
    let prompt = rand_ids(16, 50257, 4);
    let warm = SampleConfig { max_tokens: 2, temperature: 0.0, ..SampleConfig::default() };
    block_on(generate(&mut model, &prompt, &warm, |_| true))?;
    let n = 32;
    let sc = SampleConfig { max_tokens: n, ..warm };
    let t0 = Instant::now();
    block_on(generate(&mut model, &prompt, &sc, |_| true))?;
    let s = t0.elapsed().as_secs_f64();
    out.push(json!({"backend": label, "preset": "gpt2-124M", "prompt_tokens": prompt.len(), "generate_tokens": n, "kv_cache": true, "tokens_per_s": n as f64 / s}));
    Ok(())
}

pub fn run(o: &BenchOptions) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut counted = vec!["tiny", "baby", "page"];
    if o.small {
        counted.push("small");
    }
    if o.counts_only {
        out.push(json!({"backend": "gpu", "adapter": GpuBackend::new_blocking()?.describe()}));
        for name in counted {
            gpu_counts(name, &mut out)?;
        }
        return Ok(out);
    }
    let mut presets = vec!["baby"];
    if o.page {
        presets.push("page");
    }
    if o.small {
        presets.push("small");
    }
    if o.cpu {
        matmuls(&mut CpuBackend::new(), "cpu", |_| {}, &mut out)?;
        for name in &presets {
            let mut model = model_speed(&mut || Ok(CpuBackend::new()), "cpu", name, o.steps, &mut out)?;
            // per-op wall time of a training step, the mean of a few
            let p = preset(name)?;
            let (b, t) = (p.train.batch_size, p.model.block_size);
            let (x, y) = (rand_ids(b * t, p.model.vocab_size, 2), rand_ids(b * t, p.model.vocab_size, 3));
            let k = o.steps.clamp(1, 5);
            model.backend.set_profiling(true);
            for _ in 0..k {
                block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
            }
            for (op, n, s) in model.backend.profile() {
                out.push(json!({"backend": "cpu", "preset": name, "kernel": op, "dispatches": n as usize / k, "ms": s * 1e3 / k as f64, "timing": "wall time per op"}));
            }
        }
        if o.gpt2 {
            gpt2_speed(CpuBackend::new(), "cpu", &mut out)?;
        }
        if o.tasks {
            circuits(&mut out)?;
        }
    }
    if o.gpu {
        let mut g = GpuBackend::new_blocking()?;
        out.push(json!({"backend": "gpu", "adapter": g.describe()}));
        let default = g.matmul_variant();
        for v in [MatmulVariant::Blocked, MatmulVariant::Tiled] {
            g.set_matmul_variant(v);
            let label = format!("gpu/{v:?}").to_lowercase();
            matmuls(&mut g, &label, |g| g.sync(), &mut out)?;
        }
        g.set_matmul_variant(default);
        for name in counted {
            gpu_counts(name, &mut out)?;
        }
        for name in &presets {
            // every pipeline compiled before anything is timed (seconds each on a CPU adapter)
            let mut warmed = || {
                let mut g = GpuBackend::new_blocking()?;
                g.warm_up();
                Ok(g)
            };
            let mut model = model_speed(&mut warmed, "gpu", name, o.steps, &mut out)?;
            // per-kernel times for one training step: each dispatch waited for on its own
            let p = preset(name)?;
            let (b, t) = (p.train.batch_size, p.model.block_size);
            let (x, y) = (rand_ids(b * t, p.model.vocab_size, 2), rand_ids(b * t, p.model.vocab_size, 3));
            model.backend.set_profiling(true);
            block_on(model.train_step(&x, &y, b, t, 1e-4, &p.train))?;
            let source = model.backend.profile_source();
            for (entry, n, s) in model.backend.profile() {
                out.push(json!({"backend": "gpu", "preset": name, "kernel": entry, "dispatches": n, "ms": s * 1e3, "timing": source}));
            }
        }
        if o.gpt2 {
            gpt2_speed(GpuBackend::new_blocking()?, "gpu", &mut out)?;
        }
    }
    Ok(out)
}

/// Start to a circuit on the CPU backend, the page's default recipe for each task (default
/// seed): `induction` until an induction head in layer 1 or later scores 0.5 on the task's probe
/// (scored at each evaluation, as the page's Heads view is between chunks), `modadd` until
/// held-out exact match reaches 0.95 (grokking), with the step training reached 0.99.
fn circuits(out: &mut Vec<Value>) -> Result<()> {
    use crate::session::{BackendChoice, Event, Policy, Session};
    for name in ["induction", "modadd"] {
        let task = crate::tasks::task(name)?;
        let mut s = Session::new();
        block_on(s.use_backend(BackendChoice::Cpu))?;
        let tc = task.train_config();
        block_on(s.new_task_model(task, &task.model(), tc.clone()))?;
        // each chunk ends at an evaluation, so the heads are scored between chunks
        s.set_policy(Policy { eval_every: tc.eval_interval, sample_every: 0, save_every: tc.eval_interval });
        let probe = task.probe();
        let t0 = Instant::now();
        let mut memorised = None;
        loop {
            let mut val = None;
            let end = block_on(s.train_chunk(usize::MAX, |e| {
                if let Event::Eval { step, train_exact: Some(t), val_exact: Some(v), .. } = e {
                    val = Some((*step, *t, *v));
                }
            }))?;
            let secs = t0.elapsed().as_secs_f64();
            let row = |what: &str, step: usize, score: f32| json!({"backend": "cpu", "task": name, "circuit": what, "step": step, "seconds": secs, "score": score});
            if let Some((step, t, v)) = val {
                memorised = memorised.or((t >= 0.99).then_some(step));
                if name == "modadd" && v >= 0.95 {
                    let mut r = row("held-out exact match >= 0.95 (grokked)", step, v);
                    r["memorised_step"] = json!(memorised);
                    out.push(r);
                    break;
                }
                if name == "induction" {
                    let h = block_on(s.head_scores(&probe))?;
                    let best = h.induction.iter().skip(1).flatten().fold(0.0f32, |a, &b| a.max(b));
                    if best >= 0.5 {
                        out.push(row("an induction head >= 0.5 (layer 1 or later)", step, best));
                        break;
                    }
                }
            }
            if end.done {
                out.push(row("not reached by the end of the recipe", end.step, 0.0));
                break;
            }
        }
    }
    Ok(())
}

/// One result as a line of text.
pub fn describe(r: &Value) -> String {
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let be = r["backend"].as_str().unwrap_or("?");
    if let Some(c) = r["circuit"].as_str() {
        return format!("{be:<12} task {}: {c} at step {}, {:.1} s after Start", r["task"].as_str().unwrap_or(""), r["step"], f("seconds"));
    }
    if let Some(a) = r["adapter"].as_str() {
        format!("{be}: adapter {a}")
    } else if r.get("gflops").is_some() {
        format!("{be:<12} matmul {}x{}x{}: {:.2} ms, {:.1} GFLOP/s", r["n"], r["c"], r["oc"], f("ms"), f("gflops"))
    } else if r.get("dispatches_per_step").is_some() {
        format!(
            "{be:<12} {} ({} layers): {} dispatches in {} passes a training step, {} dispatches in {} passes a decoded token",
            r["preset"].as_str().unwrap_or(""), r["n_layer"], r["dispatches_per_step"], r["passes_per_step"], r["dispatches_per_token"], r["passes_per_token"]
        )
    } else if r.get("dispatches").is_some() {
        format!("{be:<12} {} step, {:<28} {:>4} dispatches {:>9.3} ms ({})", r["preset"].as_str().unwrap_or(""), r["kernel"].as_str().unwrap_or(""), r["dispatches"], f("ms"), r["timing"].as_str().unwrap_or(""))
    } else if r.get("generate_tokens").is_some() {
        let cache = if r["kv_cache"] == true { "with" } else { "without" };
        format!("{be:<12} {} generation {cache} KV cache: {:.0} tokens/s", r["preset"].as_str().unwrap_or(""), f("tokens_per_s"))
    } else {
        let how = if r["pipelined"] == true { " (pipelined)" } else { "" };
        format!("{be:<12} {} training{how}: {:.1} ms/step, {:.0} tokens/s", r["preset"].as_str().unwrap_or(""), f("ms_per_step"), f("tokens_per_s"))
    }
}
