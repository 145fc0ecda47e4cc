//! Every GPU op, forward and backward, against the CPU reference ops on random inputs with
//! awkward sizes (nothing a multiple of a tile) and non-zero view offsets. Each buffer has
//! random padding on both sides of its view, and the whole buffer is compared, so a kernel
//! that writes outside its view (or ignores an offset) fails too. Both matmul variants.

#[macro_use]
mod common;
use common::{assert_close, assert_close_nan, gpu_or_skip, ids, put_at, put_ids_at, rand, whole};
use pollster::block_on;
use tinygpt::backend::{AdamWStep, Backend, DropoutMask, Tensor};
use tinygpt::cpu::{dropout, CpuBackend};
use tinygpt::gpu::{GpuBackend, MatmulVariant};

const B: usize = 3;
const T: usize = 13;
const C: usize = 48;
const NH: usize = 4;
const V: usize = 65;
const N: usize = B * T;

/// Padding before a view: odd, so views are not 16-byte aligned either.
const PAD: usize = 5;

/// `data` in a fresh buffer, PAD random values before it and 3 after; returns the view.
fn put<Be: Backend>(be: &mut Be, data: &[f32], seed: u64) -> Tensor {
    put_at(be, data, seed, PAD)
}

fn put_ids<Be: Backend>(be: &mut Be, data: &[u32]) -> Tensor {
    put_ids_at(be, data, PAD)
}

#[test]
fn encoder_forward_and_backward() {
    let Some(mut g) = gpu_or_skip() else { return };
    for pos0 in [0, 4] {
        compare!(&mut g, 1e-6, 1e-6, |be| {
            let inp = put_ids(be, &ids(N, V, 1));
            let wte = put(be, &rand(V * C, 2), 3);
            let pe = put(be, &rand((T + pos0) * C, 4), 5);
            let out = put(be, &rand(N * C, 6), 7);
            be.encoder_forward(out, inp, wte, pe, B, T, C, pos0);
            vec![("encoder out", whole(be, out))]
        });
    }
    // dwte is accumulated by vocabulary row ranges: one range on CPU adapters (Blocked), many
    // on GPUs (Tiled), with a partial last range at V = 1000
    for variant in [MatmulVariant::Blocked, MatmulVariant::Tiled] {
        g.set_matmul_variant(variant);
        for (learned, v) in [(true, V), (false, V), (true, 1000)] {
            compare!(&mut g, 1e-5, 1e-5, |be| {
                let inp = put_ids(be, &ids(N, v, 8));
                let dout = put(be, &rand(N * C, 9), 10);
                let dwte = put(be, &rand(v * C, 11), 12);
                let dwpe = put(be, &rand((T + 2) * C, 13), 14);
                be.encoder_backward(dwte, learned.then_some(dwpe), dout, inp, B, T, C);
                vec![("dwte", whole(be, dwte)), ("dwpe", whole(be, dwpe))]
            });
        }
    }
}

#[test]
fn layernorm_forward_and_backward() {
    let Some(mut g) = gpu_or_skip() else { return };
    compare!(&mut g, 1e-5, 1e-4, |be| {
        let x: Vec<f32> = rand(N * C, 1).iter().map(|v| v * 3.0 + 0.5).collect();
        let inp = put(be, &x, 2);
        let w = put(be, &rand(C, 3), 4);
        let bias = put(be, &rand(C, 5), 6);
        let out = put(be, &rand(N * C, 7), 8);
        let mean = put(be, &rand(N, 9), 10);
        let rstd = put(be, &rand(N, 11), 12);
        be.layernorm_forward(out, mean, rstd, inp, w, bias, N, C);
        let dout = put(be, &rand(N * C, 13), 14);
        let dinp = put(be, &rand(N * C, 15), 16);
        let dw = put(be, &rand(C, 17), 18);
        let db = put(be, &rand(C, 19), 20);
        be.layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
        vec![
            ("ln out", whole(be, out)),
            ("ln mean", whole(be, mean)),
            ("ln rstd", whole(be, rstd)),
            ("ln dinp (accumulated)", whole(be, dinp)),
            ("ln dw", whole(be, dw)),
            ("ln dbias", whole(be, db)),
        ]
    });
}

fn matmul_case(g: &mut GpuBackend, n: usize, c: usize, oc: usize, bias: bool, pad: usize) {
    compare!(g, 1e-4, 1e-4, |be| {
        let inp = put_at(be, &rand(n * c, 1), 2, pad);
        let w = put_at(be, &rand(oc * c, 3), 4, pad);
        let b = put_at(be, &rand(oc, 5), 6, pad);
        let out = put_at(be, &rand(n * oc, 7), 8, pad);
        be.matmul_forward(out, inp, w, bias.then_some(b), n, c, oc);
        let dout = put_at(be, &rand(n * oc, 9), 10, pad);
        let dinp = put_at(be, &rand(n * c, 11), 12, pad);
        let dw = put_at(be, &rand(oc * c, 13), 14, pad);
        let db = put_at(be, &rand(oc, 15), 16, pad);
        be.matmul_backward(dinp, dw, bias.then_some(db), dout, inp, w, n, c, oc);
        vec![("matmul out", whole(be, out)), ("matmul dinp", whole(be, dinp)), ("matmul dw", whole(be, dw)), ("matmul dbias", whole(be, db))]
    });
}

#[test]
fn matmul_forward_and_backward_both_variants() {
    let Some(mut g) = gpu_or_skip() else { return };
    for v in [MatmulVariant::Blocked, MatmulVariant::Tiled] {
        g.set_matmul_variant(v);
        eprintln!("matmul variant {v:?}");
        for (n, c, oc, bias) in [(N, C, 3 * C, true), (N, C, 4 * C, true), (N, 4 * C, C, true), (N, C, V, false), (1, C, V, false), (70, 67, 33, true), (130, 5, 3, true)] {
            eprintln!("  N={n} C={c} OC={oc} bias={bias}");
            matmul_case(&mut g, n, c, oc, bias, PAD);
        }
    }
}

#[test]
fn gelu_and_residual() {
    let Some(mut g) = gpu_or_skip() else { return };
    let n = N * 4 * C + 3;
    compare!(&mut g, 1e-5, 1e-4, |be| {
        let mut x = rand(n, 1);
        x[0] = 30.0; // tanh saturates: must stay finite
        x[1] = -30.0;
        let inp = put(be, &x, 2);
        let out = put(be, &rand(n, 3), 4);
        be.gelu_forward(out, inp, n);
        let dout = put(be, &rand(n, 5), 6);
        let dinp = put(be, &rand(n, 7), 8);
        be.gelu_backward(dinp, inp, dout, n);
        let a = put(be, &rand(n, 9), 10);
        let r = put(be, &rand(n, 11), 12);
        be.residual_forward(r, a, inp, n);
        vec![("gelu out", whole(be, out)), ("gelu dinp", whole(be, dinp)), ("residual out", whole(be, r))]
    });
}

#[test]
fn crossentropy_forward_and_backward() {
    let Some(mut g) = gpu_or_skip() else { return };
    compare!(&mut g, 1e-5, 1e-4, |be| {
        let logits: Vec<f32> = rand(N * V, 1).iter().map(|x| x * 4.0).collect();
        let lg = put(be, &logits, 2);
        let tg = put_ids(be, &ids(N, V, 3));
        let losses = put(be, &rand(N, 4), 5);
        let hits = put(be, &rand(N, 6), 7);
        // a task's weights: answers 1, prompts 0 (skipped), and a fraction
        let w: Vec<f32> = (0..N).map(|i| [1.0, 0.0, 1.0, 0.25][i % 4]).collect();
        let weights = put(be, &w, 10);
        be.crossentropy_forward(losses, hits, lg, tg, weights, N, V);
        let dl = put(be, &rand(N * V, 8), 9);
        be.crossentropy_backward(dl, lg, tg, weights, N, V, 1.0 / N as f32);
        vec![("ce losses", whole(be, losses)), ("ce hits", whole(be, hits)), ("ce dlogits", whole(be, dl))]
    });
}

#[test]
fn sum_and_norm_sq() {
    let Some(mut g) = gpu_or_skip() else { return };
    for n in [1, 255, 257, 65_536, 65_537, 70_001] {
        compare!(&mut g, 1e-4, 1e-5, |be| {
            let x = put(be, &rand(n, n as u64), 2);
            let out = put(be, &rand(4, 3), 4);
            be.sum(out.view(1, 1), x);
            be.norm_sq(out.view(3, 1), x);
            vec![("sum / norm_sq", whole(be, out))]
        });
    }
}

#[test]
fn adamw_clips_updates_and_skips_non_finite() {
    let Some(mut g) = gpu_or_skip() else { return };
    let n = 1000;
    for (max_norm, gn) in [(1.0, 25.0), (1.0, 0.01), (0.0, 25.0), (1.0, f32::NAN), (1.0, f32::INFINITY)] {
        compare!(&mut g, 1e-6, 1e-5, |be| {
            let p = put(be, &rand(n, 1), 2);
            let gr = put(be, &rand(n, 3), 4);
            let m = put(be, &rand(n, 5).iter().map(|x| x * 0.1).collect::<Vec<_>>(), 6);
            let v = put(be, &rand(n, 7).iter().map(|x| x * x * 0.01).collect::<Vec<_>>(), 8);
            let norm = put(be, &[gn], 9);
            let h = AdamWStep { lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1, t: 3, max_norm };
            be.adamw(p, gr, m, v, norm, &[(0, 100), (250, 50), (999, 1)], &h);
            vec![("adamw p", whole(be, p)), ("adamw m", whole(be, m)), ("adamw v", whole(be, v))]
        });
    }
}

/// The one-dispatch AdamW over a whole buffer (decay only inside its table's ranges) against
/// the per-tensor CPU AdamW, one call per tensor with that tensor's decay, over five steps.
#[test]
fn fused_adamw_matches_per_tensor_adamw_over_five_steps() {
    let Some(mut g) = gpu_or_skip() else { return };
    // (len, decay) per tensor, as a model's: matrices decayed, biases and LayerNorm not
    let tensors = [(37, true), (5, false), (5, false), (130, true), (7, false), (64, true), (64, true), (3, false)];
    let n: usize = tensors.iter().map(|t| t.0).sum();
    let mut decayed: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    for &(len, d) in &tensors {
        if d {
            match decayed.last_mut() {
                Some(last) if last.0 + last.1 == at => last.1 += len,
                _ => decayed.push((at, len)),
            }
        }
        at += len;
    }
    let (mut p, mut m, mut v) = (rand(n, 1), vec![0.0f32; n], vec![0.0f32; n]);
    let (gp, gm, gv) = (put(&mut g, &p, 2), put(&mut g, &m, 3), put(&mut g, &v, 4));
    let norm = put(&mut g, &[0.0], 5);
    for t in 1..=5u32 {
        let grads = rand(n, 10 + t as u64);
        let gn = grads.iter().map(|x| x * x).sum::<f32>();
        let gg = put(&mut g, &grads, 6);
        g.write(norm, &[gn]);
        let h = AdamWStep { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, t, max_norm: 1.0 };
        g.adamw(gp, gg, gm, gv, norm, &decayed, &h);
        let mut at = 0;
        for &(len, d) in &tensors {
            let r = at..at + len;
            let ht = AdamWStep { weight_decay: if d { h.weight_decay } else { 0.0 }, ..h };
            tinygpt::cpu::adamw::adamw(&mut p[r.clone()], &grads[r.clone()], &mut m[r.clone()], &mut v[r], gn, &ht);
            at += len;
        }
        g.free(gg);
    }
    assert!(g.fault().is_none(), "{:?}", g.fault());
    for (name, t, want) in [("p", gp, &p), ("m", gm, &m), ("v", gv, &v)] {
        assert_close(&format!("fused adamw {name} after 5 steps"), &block_on(g.read(t)), want, 1e-6, 1e-5);
    }
}

/// head_mask on y [n, c] holding NaN and Inf at both ends: the whole buffers of y and keep.
fn head_mask_case<Be: Backend>(be: &mut Be, n: usize, c: usize, nh: usize, keep: &[f32]) -> Vec<f32> {
    let mut x = rand(n * c, 1);
    x[0] = f32::NAN;
    x[n * c - 1] = f32::INFINITY;
    let y = put(be, &x, 2);
    let k = put(be, keep, 3);
    be.head_mask(y, k, n, c, nh);
    [whole(be, y), whole(be, k)].concat()
}

#[test]
fn head_mask_matches_the_cpu() {
    let Some(mut g) = gpu_or_skip() else { return };
    // odd rows and widths, heads of 12, 15, 1 and 3 columns, one head or all ablated, views at
    // an odd offset; the NaN lands in a kept head once and an ablated one once, the Inf too
    let cases = [(N, C, NH, vec![1.0, 0.0, 1.0, 0.0]), (7, 45, 3, vec![0.0, 1.0, 1.0]), (1, 5, 5, vec![0.0; 5]), (130, 27, 9, vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])];
    for (n, c, nh, keep) in cases {
        let want = head_mask_case(&mut CpuBackend::new(), n, c, nh, &keep);
        let got = head_mask_case(&mut g, n, c, nh, &keep);
        if let Some(f) = g.fault() {
            panic!("the GPU reported: {f}");
        }
        assert_close_nan(&format!("head_mask N={n} C={c} NH={nh} keep={keep:?}"), &got, &want, 0.0, 0.0);
    }
}

/// dropout on y [n] holding NaN and Inf at both ends: the whole buffer.
fn dropout_case<Be: Backend>(be: &mut Be, n: usize, m: &DropoutMask) -> Vec<f32> {
    let mut x = rand(n, 4);
    x[0] = f32::NAN;
    x[n - 1] = f32::INFINITY;
    let y = put(be, &x, 5);
    be.dropout(y, m, n);
    whole(be, y)
}

#[test]
fn dropout_matches_the_cpu_bit_for_bit() {
    let Some(mut g) = gpu_or_skip() else { return };
    // odd lengths past one workgroup, a base offset (a data-parallel worker's rows) and one
    // that wraps past 2³², p from none to most
    let cases = [(N * C, dropout::mask(0.2, 17, 0)), (1, dropout::mask(0.5, 3, 9)), (70_001, dropout::mask(0.9, 0xdead_beef, 1_000_003)), (300, dropout::mask(0.1, 5, u32::MAX - 100)), (257, dropout::mask(0.0, 1, 0))];
    for (n, m) in cases {
        let want = dropout_case(&mut CpuBackend::new(), n, &m);
        let got = dropout_case(&mut g, n, &m);
        if let Some(f) = g.fault() {
            panic!("the GPU reported: {f}");
        }
        // the same mask and one multiply: equal bits
        assert_close_nan(&format!("dropout n={n} {m:?}"), &got, &want, 0.0, 0.0);
    }
}

/// The failure guard through a run of steps as the model calls it (the guard carried from one
/// to the next, zeroed once as a reported failure does): (norm², guard) after each, with the
/// padding around both views, on each backend.
fn guard_steps<Be: Backend>(be: &mut Be, norms: &[f32]) -> Vec<f32> {
    let guard = put(be, &[0.0], 1);
    let mut out = Vec::new();
    for (k, &x) in norms.iter().enumerate() {
        let n = put(be, &[x], 2 + k as u64);
        be.failure_guard(n, guard);
        out.extend(whole(be, n));
        out.extend(whole(be, guard));
        if k == 4 {
            be.zero(guard);
        }
    }
    out
}

#[test]
fn failure_guard_is_nan_from_a_failure_until_zeroed() {
    let Some(mut g) = gpu_or_skip() else { return };
    // finite, then Inf (poisons the two after it), zeroed after the fifth, then NaN, finite
    let norms = [2.5, 0.0, f32::INFINITY, 3.0, 1e30, 7.0, f32::NAN, 4.0];
    let want = guard_steps(&mut CpuBackend::new(), &norms);
    let got = guard_steps(&mut g, &norms);
    if let Some(f) = g.fault() {
        panic!("the GPU reported: {f}");
    }
    assert_close_nan("failure guard (norm², guard) per step", &got, &want, 0.0, 0.0);
    // the CPU's own values: where each norm went NaN
    let at = |k: usize| want.len() / norms.len() * k + PAD;
    let nan: Vec<bool> = (0..norms.len()).map(|k| want[at(k)].is_nan()).collect();
    assert_eq!(nan, [false, false, false, true, true, false, true, true]);
}

#[test]
fn buffers_write_read_zero_and_limits() {
    let Some(mut g) = gpu_or_skip() else { return };
    eprintln!("adapter: {}", g.describe());
    let t = g.alloc(10, "x").unwrap();
    g.write(t, &(0..10).map(|i| i as f32).collect::<Vec<_>>());
    g.zero(t.view(2, 3));
    // a write after recorded work that touches the same buffer must land after it
    g.write(t.view(3, 1), &[42.0]);
    assert_eq!(block_on(g.read(t)), vec![0.0, 1.0, 0.0, 42.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    assert_eq!(block_on(g.read(t.view(8, 2))), vec![8.0, 9.0]);
    let huge = g.limits().max_storage_buffer_binding_size as usize; // elements: 4x too many bytes
    let e = g.alloc(huge, "too big").unwrap_err().to_string();
    assert!(e.contains("too big") && e.contains(&huge.to_string()), "{e}");
    g.free(t);
}

/// Warming up creates every pipeline the adapter's variant dispatches, so a training step and a
/// generated token after it compile none.
#[test]
fn warm_up_compiles_every_pipeline_ahead() {
    use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
    // each kernel set: a CPU adapter's (blocked) and a real GPU's (tiled), which skip each
    // other's attention and row kernels
    for v in [MatmulVariant::Blocked, MatmulVariant::Tiled] {
        let Ok(mut g) = GpuBackend::new_blocking() else {
            eprintln!("no GPU adapter: skipped");
            return;
        };
        g.set_matmul_variant(v);
        let n = g.warm_up();
        assert!(n > 20, "{v:?}: {n} pipelines");
        assert_eq!(g.warm_up(), 0, "a second warm-up creates none");
        let cfg = ModelConfig { vocab_size: 11, n_layer: 1, n_head: 2, n_embd: 8, block_size: 20, pos: PosEncoding::Learned };
        let mut m = tinygpt::model::Gpt::new(cfg, g, 1).unwrap();
        let x: Vec<u32> = (0..40).map(|i| i % 11).collect();
        block_on(m.train_step(&x, &x, 2, 20, 1e-3, &TrainConfig::default())).unwrap();
        block_on(m.decode(&x[..3], 0)).unwrap();
        block_on(m.decode(&x[3..4], 3)).unwrap();
        assert_eq!(m.backend.pipelines_created(), n, "{v:?}: training and decoding used only warmed pipelines");
    }
}
