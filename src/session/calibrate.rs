//! Which backend is faster for this model, measured: a training step and a decoded token timed
//! on the CPU and on a GPU device, and the choice per job.

use super::training::now_ms;
use super::Session;
use crate::backend::Backend;
use crate::config::{ModelConfig, TrainConfig};
use crate::cpu::CpuBackend;
use crate::error::Result;
use crate::gpu::GpuBackend;
use crate::model::Gpt;
use serde::Serialize;

/// One backend's time for a training step and for one KV-cached decoded token of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Timing {
    pub train_step_ms: f64,
    pub decode_token_ms: f64,
}

/// Both backends timed on the same workload, and which one each job should use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// The workload: "L layers x H heads, C wide, context T, batch B".
    pub workload: String,
    pub cpu: Timing,
    /// None when there is no GPU adapter (`gpu_error` says why) or it was cut short.
    pub gpu: Option<Timing>,
    pub gpu_error: Option<String>,
    /// "gpu" or "cpu", for training and for generation.
    pub train: &'static str,
    pub generate: &'static str,
    /// One line saying why.
    pub why: String,
}

/// The faster backend for each job, by the measured times (ties go to the CPU, which needs no
/// device). Pure, so the choice itself is testable with made-up timings.
pub fn choose_backends(cpu: Timing, gpu: Option<Timing>) -> (&'static str, &'static str, String) {
    let Some(g) = gpu else { return ("cpu", "cpu", "no GPU timing: the CPU".into()) };
    let pick = |c: f64, g: f64| if g < c { "gpu" } else { "cpu" };
    let (train, generate) = (pick(cpu.train_step_ms, g.train_step_ms), pick(cpu.decode_token_ms, g.decode_token_ms));
    let why = format!(
        "training step: CPU {:.1} ms, GPU {:.1} ms -> {train}; a generated token: CPU {:.2} ms, GPU {:.2} ms -> {generate}",
        cpu.train_step_ms, g.train_step_ms, cpu.decode_token_ms, g.decode_token_ms
    );
    (train, generate, why)
}

/// Times `cfg` on `backend`: two warm-up steps (pipeline compiles, buffers), then training
/// steps on a fixed batch pipelined as training runs them (at least `steps` and 300 ms, at most
/// 24 or 1.5 s), and `tokens` decoded one by one after an 8-token prompt. `give_up_ms`: stop
/// after the second warm-up step when it is slower than this, or after the first when that is
/// 10x slower (and over 15 s): no need to time a backend that has already lost.
async fn time_backend<B: Backend>(cfg: &ModelConfig, backend: B, b: usize, steps: usize, tokens: usize, give_up_ms: f64) -> Result<Option<Timing>> {
    let mut m = Gpt::new(cfg.clone(), backend, 1)?;
    let t = cfg.block_size;
    let mut rng = crate::rng::Rng::new(7);
    let x: Vec<u32> = (0..b * t).map(|_| rng.below(cfg.vocab_size) as u32).collect();
    let y: Vec<u32> = x.iter().map(|&i| (i + 1) % cfg.vocab_size as u32).collect();
    let tc = TrainConfig { batch_size: b, ..TrainConfig::default() };
    let t0 = now_ms();
    m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
    // the warm-up step holds the pipeline compiles: a GPU already 10x past the limit (and 15 s)
    // is not timed further
    if now_ms() - t0 > (10.0 * give_up_ms).max(15_000.0) {
        return Ok(None);
    }
    // a second warm-up step, whole (submitted and read back): what is left of first-use costs
    let t0 = now_ms();
    m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
    if now_ms() - t0 > give_up_ms {
        return Ok(None);
    }
    // Timed as training runs: pipelined (each step submitted before the one before it is read
    // back, so a GPU never idles waiting for the host), until the rate settles: at least
    // `steps` steps and 300 ms, at most 24 steps or 1.5 s (the page waits for this).
    let t0 = now_ms();
    let mut timed = 0;
    loop {
        m.train_step_lagged(&x, &y, None, b, t, 1e-4, &tc).await?;
        timed += 1;
        let spent = now_ms() - t0;
        if (timed >= steps && spent >= 300.0) || timed >= 24 || spent > 1500.0 {
            break;
        }
    }
    m.finish_lagged().await?;
    let train = (now_ms() - t0) / timed as f64;
    let prompt = &x[..8.min(t)];
    m.decode(prompt, 0).await?;
    let n = tokens.min(t - prompt.len());
    let t0 = now_ms();
    for k in 0..n {
        m.decode(&x[prompt.len() + k..][..1], prompt.len() + k).await?;
    }
    let decode = (now_ms() - t0) / n.max(1) as f64;
    Ok(Some(Timing { train_step_ms: train, decode_token_ms: decode }))
}

impl Session {
    /// Times a training step of `shape` with `batch` sequences on the CPU backend: the page's
    /// basis for every size preset's time per step (`budget::plan`) when no GPU trains. The
    /// current model is not touched.
    pub async fn time_cpu_step(&self, shape: &ModelConfig, batch: usize) -> Result<f64> {
        shape.validate()?;
        let b = batch.max(1);
        let mut m = Gpt::new(shape.clone(), CpuBackend::new(), 1)?;
        let t = shape.block_size;
        let mut rng = crate::rng::Rng::new(7);
        let x: Vec<u32> = (0..b * t).map(|_| rng.below(shape.vocab_size) as u32).collect();
        let y: Vec<u32> = x.iter().map(|&i| (i + 1) % shape.vocab_size as u32).collect();
        let tc = TrainConfig { batch_size: b, ..TrainConfig::default() };
        // two warm-up steps (the buffers' first touch), then the median of up to 9 steps or
        // of those in 300 ms: a page still starting up shares the cores for a moment, and
        // one slow step must not make every estimate slow
        for _ in 0..2 {
            m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
        }
        let (mut times, t0) = (Vec::new(), now_ms());
        while times.len() < 9 && (times.len() < 3 || now_ms() - t0 < 300.0) {
            let s = now_ms();
            m.train_step(&x, &y, b, t, 1e-4, &tc).await?;
            times.push(now_ms() - s);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }

    /// Times a training step and a decoded token on the CPU backend and on a GPU device, for
    /// the current model's shape (without one, `shape`), and says which backend each job
    /// should use. A GPU whose first timed step is already over 3x the CPU's is not timed
    /// further. The current model is not touched.
    pub async fn calibrate(&mut self, shape: Option<ModelConfig>, batch: usize) -> Result<Calibration> {
        let cfg = match (self.config(), shape) {
            (Ok(c), _) => c,
            (Err(_), Some(c)) => c,
            (Err(e), None) => return Err(e),
        };
        cfg.validate()?;
        let b = batch.max(1);
        let workload = format!("{} layers x {} heads, {} wide, context {}, batch {b}", cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size);
        let cpu = time_backend(&cfg, CpuBackend::new(), b, 4, 16, f64::INFINITY).await?.expect("no limit on the CPU");
        let (gpu, gpu_error) = match GpuBackend::new().await {
            Err(e) => (None, Some(e.message())),
            Ok(g) => match time_backend(&cfg, g, b, 4, 16, 3.0 * cpu.train_step_ms).await {
                Ok(Some(t)) => (Some(t), None),
                Ok(None) => (None, Some(format!("its first training step (or the warm-up before it) took over 3x the CPU's {:.0} ms; not timed further", cpu.train_step_ms))),
                Err(e) => (None, Some(e.message())),
            },
        };
        let (train, generate, mut why) = choose_backends(cpu, gpu);
        if let Some(e) = &gpu_error {
            why = format!("GPU: {e}; the CPU for both");
        }
        Ok(Calibration { workload, cpu, gpu, gpu_error, train, generate, why })
    }

}
