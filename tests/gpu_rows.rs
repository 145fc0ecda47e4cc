//! The row and column kernels (LayerNorm with its two-stage dw/dbias, cross-entropy forward,
//! backward and fused, the encoder's backward, the reductions) against the CPU on odd sizes:
//! rows 1, 7, 33, 130 (and enough for several rows per LayerNorm block), C 24, 129, 384, 769,
//! V 3, 65, 50257. Views sit at odd offsets with random padding, and the whole buffer is
//! compared, so a kernel that writes outside its view fails too. Every GPU kernel runs twice on
//! the same inputs and must give the same bits (fixed-order reductions, no atomics). Both
//! kernel sets run: a workgroup per row (GPUs: `MatmulVariant::Tiled`) and an invocation per
//! row (CPU adapters: `Blocked`).

#[macro_use]
mod common;
use common::{assert_close, gpu_or_skip, ids, put_at, put_ids_at, rand, whole};
use pollster::block_on;
use tinygpt::backend::Backend;
use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
use tinygpt::cpu::{crossentropy, CpuBackend};
use tinygpt::gpu::{GpuBackend, MatmulVariant};
use tinygpt::model::{Gpt, Slot};

type Named = Vec<(&'static str, Vec<f32>)>;

/// The GPUs' kernels and the CPU adapters'.
const VARIANTS: [MatmulVariant; 2] = [MatmulVariant::Tiled, MatmulVariant::Blocked];

/// Runs `$body` (returning Named) on the CPU and twice on the GPU: the two GPU runs must
/// give the same bits, and match the CPU within atol + rtol·|cpu|.
macro_rules! compare_twice {
    ($gpu:expr, $what:expr, $atol:expr, $rtol:expr, |$be:ident| $body:block) => {{
        let want: Named = {
            let $be = &mut CpuBackend::new();
            $body
        };
        let gpu: &mut GpuBackend = $gpu;
        let mut runs: Vec<Named> = Vec::new();
        for _ in 0..2 {
            let $be: &mut GpuBackend = &mut *gpu;
            runs.push($body);
        }
        if let Some(f) = gpu.fault() {
            panic!("the GPU reported: {f}");
        }
        for (((name, a), (_, b)), (_, w)) in runs[0].iter().zip(&runs[1]).zip(&want) {
            let what = format!("{} {name}", $what);
            let differ = a.iter().zip(b).position(|(x, y)| x.to_bits() != y.to_bits());
            assert!(differ.is_none(), "{what}: two GPU runs differ at {}: {} vs {}", differ.unwrap(), a[differ.unwrap()], b[differ.unwrap()]);
            assert_close(&what, a, w, $atol, $rtol);
        }
    }};
}

/// LayerNorm forward, then backward into dinp/dw/dbias holding earlier values (accumulated).
fn layernorm_case<Be: Backend>(be: &mut Be, n: usize, c: usize, pad: usize) -> Named {
    let x: Vec<f32> = rand(n * c, 1).iter().map(|v| v * 3.0 + 0.5).collect();
    let inp = put_at(be, &x, 2, pad);
    let w = put_at(be, &rand(c, 3), 4, pad + 2);
    let bias = put_at(be, &rand(c, 5), 6, pad);
    let out = put_at(be, &rand(n * c, 7), 8, pad + 4);
    let mean = put_at(be, &rand(n, 9), 10, pad);
    let rstd = put_at(be, &rand(n, 11), 12, pad + 6);
    be.layernorm_forward(out, mean, rstd, inp, w, bias, n, c);
    let dout = put_at(be, &rand(n * c, 13), 14, pad);
    let dinp = put_at(be, &rand(n * c, 15), 16, pad + 2);
    let dw = put_at(be, &rand(c, 17), 18, pad);
    let db = put_at(be, &rand(c, 19), 20, pad + 8);
    be.layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, n, c);
    vec![
        ("ln out", whole(be, out)),
        ("ln mean", whole(be, mean)),
        ("ln rstd", whole(be, rstd)),
        ("ln dinp (accumulated)", whole(be, dinp)),
        ("ln dw (accumulated)", whole(be, dw)),
        ("ln dbias (accumulated)", whole(be, db)),
    ]
}

#[test]
fn layernorm_rows_against_the_cpu() {
    let Some(mut g) = gpu_or_skip() else { return };
    for variant in VARIANTS {
        g.set_matmul_variant(variant);
        for n in [1, 7, 33, 130] {
            for c in [24, 129, 384, 769] {
                let pad = 1 + (n + c) % 7;
                compare_twice!(&mut g, format!("{variant:?} N={n} C={c}"), 2e-5, 1e-4, |be| { layernorm_case(be, n, c, pad) });
            }
        }
    }
}

#[test]
fn layernorm_backward_with_many_rows_per_block() {
    // more than 4096 rows: blocks of 5 rows, the last one short (5001 = 1000·5 + 1); above
    // 8192 rows CPU adapters take the workgroup kernels too (blocks of 17, the last one 6)
    let Some(mut g) = gpu_or_skip() else { return };
    for variant in VARIANTS {
        g.set_matmul_variant(variant);
        for n in [5001, 16411] {
            compare_twice!(&mut g, format!("{variant:?} N={n} C=24"), 1e-4, 1e-4, |be| { layernorm_case(be, n, 24, 3) });
        }
    }
}

/// Logits with each row's maximum at two places (the first must win the argmax) and
/// targets on it, on the tie after it, or elsewhere; weights 1, 0 (skipped), 0.25.
fn ce_inputs(n: usize, v: usize) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
    let mut logits: Vec<f32> = rand(n * v, 1).iter().map(|x| x * 4.0).collect();
    let mut targets = ids(n, v, 3);
    for r in 0..n {
        let (a, b) = ((r * 7) % v, (r * 7 + v / 2 + 1) % v);
        if a != b {
            let (first, second) = (a.min(b), a.max(b));
            logits[r * v + first] = 30.0;
            logits[r * v + second] = 30.0;
            match r % 3 {
                0 => targets[r] = first as u32,
                1 => targets[r] = second as u32,
                _ => {}
            }
        }
    }
    let w = (0..n).map(|i| [1.0, 0.0, 1.0, 0.25][i % 4]).collect();
    (logits, targets, w)
}

/// Forward, backward and fused, each into its own buffers.
fn crossentropy_case<Be: Backend>(be: &mut Be, n: usize, v: usize, pad: usize) -> Named {
    let (logits, targets, w) = ce_inputs(n, v);
    let lg = put_at(be, &logits, 2, pad);
    let tg = put_ids_at(be, &targets, pad + 2);
    let weights = put_at(be, &w, 10, pad + 4);
    let scale = 1.0 / (3 * n) as f32;
    let losses = put_at(be, &rand(n, 4), 5, pad);
    let hits = put_at(be, &rand(n, 6), 7, pad + 1);
    be.crossentropy_forward(losses, hits, lg, tg, weights, n, v);
    let dl = put_at(be, &rand(n * v, 8), 9, pad + 2);
    be.crossentropy_backward(dl, lg, tg, weights, n, v, scale);
    let flosses = put_at(be, &rand(n, 14), 15, pad + 3);
    let fhits = put_at(be, &rand(n, 16), 17, pad);
    let fdl = put_at(be, &rand(n * v, 18), 19, pad + 6);
    be.crossentropy_fused(flosses, fhits, fdl, lg, tg, weights, n, v, scale);
    vec![
        ("ce losses", whole(be, losses)),
        ("ce hits", whole(be, hits)),
        ("ce dlogits", whole(be, dl)),
        ("fused losses", whole(be, flosses)),
        ("fused hits", whole(be, fhits)),
        ("fused dlogits", whole(be, fdl)),
    ]
}

#[test]
fn crossentropy_rows_against_the_cpu() {
    let Some(mut g) = gpu_or_skip() else { return };
    let mut cases: Vec<(usize, usize)> = [1, 7, 33, 130].iter().flat_map(|&n| [(n, 3), (n, 65)]).collect();
    // GPT-2's vocabulary: a few rows
    cases.extend([(1, 50257), (5, 50257)]);
    for variant in VARIANTS {
        g.set_matmul_variant(variant);
        for &(n, v) in &cases {
            let pad = 1 + (n + v) % 7;
            compare_twice!(&mut g, format!("{variant:?} N={n} V={v}"), 1e-5, 1e-4, |be| { crossentropy_case(be, n, v, pad) });
        }
    }
}

#[test]
fn fused_crossentropy_is_forward_then_backward_bit_for_bit_on_the_cpu() {
    for (n, v) in [(1, 3), (7, 65), (33, 65), (5, 50257)] {
        let (logits, targets, w) = ce_inputs(n, v);
        let scale = 1.0 / 77.0;
        let (mut l1, mut h1, mut d1) = (vec![9.0; n], vec![9.0; n], vec![9.0; n * v]);
        crossentropy::crossentropy_forward(&mut l1, &mut h1, &logits, &targets, &w, n, v);
        crossentropy::crossentropy_backward(&mut d1, &logits, &targets, &w, n, v, scale);
        let (mut l2, mut h2, mut d2) = (vec![7.0; n], vec![7.0; n], vec![7.0; n * v]);
        crossentropy::crossentropy_fused(&mut l2, &mut h2, &mut d2, &logits, &targets, &w, n, v, scale);
        let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&l1), bits(&l2), "losses N={n} V={v}");
        assert_eq!(bits(&h1), bits(&h2), "hits N={n} V={v}");
        assert_eq!(bits(&d1), bits(&d2), "dlogits N={n} V={v}");
        // the ties: the first maximum wins, so rows whose target is the second one miss
        assert!(h1.iter().any(|&h| h > 0.0), "some rows hit (N={n} V={v})");
    }
}

#[test]
fn encoder_backward_and_reductions_are_deterministic() {
    let Some(mut g) = gpu_or_skip() else { return };
    let (b, t, c, v) = (3, 11, 129, 65);
    compare_twice!(&mut g, "encoder", 1e-5, 1e-5, |be| {
        let inp = put_ids_at(be, &ids(b * t, v, 8), 3);
        let dout = put_at(be, &rand(b * t * c, 9), 10, 5);
        let dwte = put_at(be, &rand(v * c, 11), 12, 1);
        let dwpe = put_at(be, &rand(t * c, 13), 14, 7);
        be.encoder_backward(dwte, Some(dwpe), dout, inp, b, t, c);
        vec![("dwte", whole(be, dwte)), ("dwpe", whole(be, dwpe))]
    });
    for n in [1, 769, 70_001] {
        compare_twice!(&mut g, format!("n={n}"), 1e-4, 1e-5, |be| {
            let x = put_at(be, &rand(n, n as u64), 2, 3);
            let out = put_at(be, &rand(4, 3), 4, 1);
            be.sum(out.view(1, 1), x);
            be.norm_sq(out.view(3, 1), x);
            vec![("sum / norm_sq", whole(be, out))]
        });
    }
}

/// A small model and one batch of it (B=3, T=13, V=65, 2 layers of 3 heads, C=48).
fn small_model<Be: Backend>(be: Be) -> (Gpt<Be>, Vec<u32>, Vec<u32>) {
    let cfg = ModelConfig { vocab_size: 65, n_layer: 2, n_head: 3, n_embd: 48, block_size: 13, pos: PosEncoding::Learned };
    let model = Gpt::new(cfg, be, 42).unwrap();
    (model, ids(3 * 13, 65, 5), ids(3 * 13, 65, 6))
}

/// The gradients of a training step's forward and backward (`shard_grads`: the loss and its
/// gradient in one fused pass), and of `forward` (evaluation: the loss alone) then `backward`;
/// the two models.
#[allow(clippy::type_complexity)]
fn fused_and_unfused_grads<Be: Backend>(be1: Be, be2: Be) -> (Vec<f32>, Vec<f32>, f32, f32, Gpt<Be>, Gpt<Be>) {
    let tc = TrainConfig::default();
    let (mut a, x, y) = small_model(be1);
    let shard = block_on(a.shard_grads(&x, &y, None, 3, 13, 0, 39.0, &tc)).unwrap();
    let (mut b, _, _) = small_model(be2);
    let (loss, _) = block_on(b.forward(&x, Some(&y), 3, 13)).unwrap().unwrap();
    b.backward();
    let unfused = block_on(b.read_flat(Slot::Grad));
    (shard.grads, unfused, shard.loss_sum / 39.0, loss, a, b)
}

#[test]
fn training_fuses_the_loss_and_its_gradient() {
    // CPU: the fused path gives the unfused one's bits
    let (fused, unfused, l1, l2, _, _) = fused_and_unfused_grads(CpuBackend::new(), CpuBackend::new());
    assert_eq!(l1.to_bits(), l2.to_bits(), "loss");
    assert!(fused.iter().zip(&unfused).all(|(a, b)| a.to_bits() == b.to_bits()), "CPU gradients");
    if gpu_or_skip().is_none() {
        return;
    }
    for variant in VARIANTS {
        let gpu = || {
            let mut g = GpuBackend::new_blocking().unwrap();
            g.set_matmul_variant(variant);
            g
        };
        let (gf, gu, _, _, mut a, mut b) = fused_and_unfused_grads(gpu(), gpu());
        assert_close(&format!("{variant:?} fused gradients"), &gf, &fused, 1e-5, 1e-3);
        assert_close(&format!("{variant:?} unfused gradients"), &gu, &fused, 1e-5, 1e-3);
        // a training step dispatches the fused kernel alone; evaluation the forward alone
        let ce = |rows: Vec<(&'static str, usize, f64)>| rows.into_iter().filter(|r| r.0.starts_with("crossentropy")).map(|r| (r.0.trim_end_matches("_serial"), r.1)).collect::<Vec<_>>();
        let (x, y) = (ids(3 * 13, 65, 5), ids(3 * 13, 65, 6));
        let tc = TrainConfig { batch_size: 3, ..TrainConfig::default() };
        a.backend.set_profiling(true);
        block_on(a.train_step(&x, &y, 3, 13, 1e-3, &tc)).unwrap();
        assert_eq!(ce(a.backend.profile()), [("crossentropy_fused", 1)], "{variant:?} training step");
        b.backend.set_profiling(true);
        block_on(b.forward(&x, Some(&y), 3, 13)).unwrap();
        assert_eq!(ce(b.backend.profile()), [("crossentropy_forward", 1)], "{variant:?} evaluation");
    }
}

/// Each row kernel's time at the `baby` (N=768, C=128, V=65) and `page` (N=1024, C=192) shapes,
/// from the GPU profiler (on lavapipe, a CPU: for information). `cargo test --release --test
/// gpu_rows -- --ignored --nocapture row_kernel_times`.
#[test]
#[ignore]
fn row_kernel_times() {
    let Some(mut g) = gpu_or_skip() else { return };
    for (variant, (name, n, c, v)) in VARIANTS.into_iter().flat_map(|x| [(x, ("baby", 768, 128, 65)), (x, ("page", 1024, 192, 65))]) {
        g.set_matmul_variant(variant);
        let (logits, targets, w) = ce_inputs(n, v);
        let be = &mut g;
        let x = put_at(be, &rand(n * c, 1), 2, 0);
        let (wt, bias) = (put_at(be, &rand(c, 3), 4, 0), put_at(be, &rand(c, 5), 6, 0));
        let (out, mean, rstd) = (put_at(be, &rand(n * c, 7), 8, 0), put_at(be, &rand(n, 9), 10, 0), put_at(be, &rand(n, 11), 12, 0));
        let (dout, dinp) = (put_at(be, &rand(n * c, 13), 14, 0), put_at(be, &rand(n * c, 15), 16, 0));
        let (dw, db) = (put_at(be, &rand(c, 17), 18, 0), put_at(be, &rand(c, 19), 20, 0));
        let lg = put_at(be, &logits, 2, 0);
        let tg = put_ids_at(be, &targets, 0);
        let weights = put_at(be, &vec![1.0; w.len()], 10, 0);
        let (losses, hits, dl) = (put_at(be, &rand(n, 4), 5, 0), put_at(be, &rand(n, 6), 7, 0), put_at(be, &rand(n * v, 8), 9, 0));
        let run = |be: &mut GpuBackend| {
            be.layernorm_forward(out, mean, rstd, x, wt, bias, n, c);
            be.layernorm_backward(dinp, dw, db, dout, x, wt, mean, rstd, n, c);
            be.crossentropy_forward(losses, hits, lg, tg, weights, n, v);
            be.crossentropy_backward(dl, lg, tg, weights, n, v, 0.5);
            be.crossentropy_fused(losses, hits, dl, lg, tg, weights, n, v, 0.5);
            block_on(be.read(hits.view(0, 1)));
        };
        run(be); // compiles the pipelines
        be.set_profiling(true);
        for _ in 0..20 {
            run(be);
        }
        for (entry, count, secs) in be.profile() {
            println!("{variant:?} {name} N={n} C={c} V={v}: {entry:<30} {:8.3} ms ({count} dispatches)", secs * 1e3 / count as f64);
        }
        be.set_profiling(false);
    }
}
