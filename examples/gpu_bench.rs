//! Quick GPU timings (a development aid; the `tinygpt bench` CLI is the user-facing one):
//! matmul GFLOP/s per variant at out[768,512] = inp[768,128] · w[512,128]ᵀ, and the `baby`
//! preset's train step.
//!
//!     cargo run --release --example gpu_bench

use std::time::Instant;
use tinygpt::backend::Backend;
use tinygpt::config::preset;
use tinygpt::gpu::{GpuBackend, MatmulVariant};
use tinygpt::model::Gpt;
use tinygpt::rng::Rng;

fn main() {
    let mut g = GpuBackend::new_blocking().unwrap_or_else(|e| panic!("{e}"));
    println!("adapter: {}", g.describe());
    let (n, c, oc) = (768, 128, 512);
    let mut r = Rng::new(1);
    let mut rand = |len: usize| (0..len).map(|_| r.normal()).collect::<Vec<f32>>();
    let inp = g.alloc(n * c, "inp").unwrap();
    let w = g.alloc(oc * c, "w").unwrap();
    let out = g.alloc(n * oc, "out").unwrap();
    let dinp = g.alloc(n * c, "dinp").unwrap();
    let dw = g.alloc(oc * c, "dw").unwrap();
    g.write(inp, &rand(n * c));
    g.write(w, &rand(oc * c));
    g.write(out, &rand(n * oc));
    let flops = 2.0 * (n * c * oc) as f64;
    for v in [MatmulVariant::Blocked, MatmulVariant::Tiled] {
        g.set_matmul_variant(v);
        let iters = 20;
        g.matmul_forward(out, inp, w, None, n, c, oc); // warm up: pipeline creation
        g.sync();
        let t0 = Instant::now();
        for _ in 0..iters {
            g.matmul_forward(out, inp, w, None, n, c, oc);
        }
        g.sync();
        let fwd = t0.elapsed().as_secs_f64() / iters as f64;
        g.matmul_backward(dinp, dw, None, out, inp, w, n, c, oc);
        g.sync();
        let t0 = Instant::now();
        for _ in 0..iters {
            g.matmul_backward(dinp, dw, None, out, inp, w, n, c, oc);
        }
        g.sync();
        let bwd = t0.elapsed().as_secs_f64() / iters as f64;
        println!(
            "matmul {v:?}: forward {:.2} ms = {:.1} GFLOP/s; backward (dinp + dw) {:.2} ms = {:.1} GFLOP/s",
            fwd * 1e3,
            flops / fwd / 1e9,
            bwd * 1e3,
            2.0 * flops / bwd / 1e9
        );
    }

    let p = preset("baby").unwrap();
    let (b, t) = (p.train.batch_size, p.model.block_size);
    let g = GpuBackend::new_blocking().unwrap();
    let mut model = Gpt::new(p.model.clone(), g, 1337).unwrap();
    let mut r = Rng::new(2);
    let x: Vec<u32> = (0..b * t).map(|_| r.below(65) as u32).collect();
    let y: Vec<u32> = (0..b * t).map(|_| r.below(65) as u32).collect();
    let steps = 10;
    pollster::block_on(model.train_step(&x, &y, b, t, 1e-3, &p.train)).unwrap();
    let t0 = Instant::now();
    for _ in 0..steps {
        pollster::block_on(model.train_step(&x, &y, b, t, 1e-3, &p.train)).unwrap();
    }
    println!("baby train step (B={b}, T={t}): {:.1} ms", t0.elapsed().as_secs_f64() * 1e3 / steps as f64);
    model.backend.set_profiling(true);
    pollster::block_on(model.train_step(&x, &y, b, t, 1e-3, &p.train)).unwrap();
    println!("one profiled step, by entry point (each dispatch waited for on its own):");
    for (entry, n, s) in model.backend.profile() {
        println!("  {entry:<24} {n:>4} dispatches {:>8.2} ms", s * 1e3);
    }
}
