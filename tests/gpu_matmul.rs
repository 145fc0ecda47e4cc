//! The matmul kernels' epilogues (GELU, residual add, GELU's gradient) and the dbias folded into
//! the dW kernel, on both variants, against the CPU ops on odd sizes (M, N, K no multiple of any
//! tile), with views at odd and at 16-byte-aligned offsets, alone in their buffers or several in
//! one (as parameters and gradients are). The CPU's fused ops are checked bit for bit against
//! the unfused ones they replace.

#[macro_use]
mod common;
use common::{assert_close, gpu_or_skip, put_at, rand, whole};
use pollster::block_on;
use tinygpt::backend::{Backend, Tensor};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::{GpuBackend, MatmulVariant};

/// Several views in one buffer (as parameters or gradients share theirs): each `pad` random
/// values after the one before.
fn put_many<Be: Backend, const K: usize>(be: &mut Be, parts: [&[f32]; K], seed: u64, pad: usize) -> [Tensor; K] {
    let len: usize = parts.iter().map(|p| p.len() + pad).sum::<usize>() + 3;
    let whole = be.alloc(len, "test shared").unwrap();
    let mut all = rand(len, seed ^ 0x5EED);
    let mut off = pad;
    let views = parts.map(|p| {
        all[off..off + p.len()].copy_from_slice(p);
        let v = whole.view(off, p.len());
        off += p.len() + pad;
        v
    });
    be.write(whole, &all);
    views
}

const VARIANTS: [MatmulVariant; 2] = [MatmulVariant::Blocked, MatmulVariant::Tiled];

/// (N, C, OC): nothing a multiple of 4, 16 or 64 but the last, which is (vec4 paths whole).
const SHAPES: [(usize, usize, usize); 6] = [(1, 24, 3), (7, 129, 100), (65, 24, 387), (130, 129, 3), (33, 67, 65), (64, 128, 192)];

/// Every fused op and matmul_backward's dw + dbias, views alone in their buffers at `pad`.
fn fused_case(g: &mut GpuBackend, n: usize, c: usize, oc: usize, bias: bool, pad: usize) {
    compare!(g, 1e-4, 1e-4, |be| {
        let inp = put_at(be, &rand(n * c, 1), 2, pad);
        let w = put_at(be, &rand(oc * c, 3), 4, pad);
        let b = put_at(be, &rand(oc, 5), 6, pad);
        let bias = bias.then_some(b);
        // c_fc: pre and gelu(pre)
        let pre = put_at(be, &rand(n * oc, 7), 8, pad);
        let out = put_at(be, &rand(n * oc, 9), 10, pad);
        be.matmul_forward_gelu(out, pre, inp, w, bias, n, c, oc);
        // a projection into the residual stream
        let res = put_at(be, &rand(n * oc, 11), 12, pad);
        let sum = put_at(be, &rand(n * oc, 13), 14, pad);
        be.matmul_forward_residual(sum, res, inp, w, bias, n, c, oc);
        // mlp.c_proj's backward: C here is 4C there, pre [N,C] what GELU read
        let dout = put_at(be, &rand(n * oc, 15), 16, pad);
        let hpre = put_at(be, &rand(n * c, 17), 18, pad);
        let dinp = put_at(be, &rand(n * c, 19), 20, pad);
        let dw = put_at(be, &rand(oc * c, 21), 22, pad);
        let db = put_at(be, &rand(oc, 23), 24, pad);
        be.matmul_backward_gelu(dinp, dw, bias.map(|_| db), dout, inp, w, hpre, n, c, oc);
        // and the plain backward, whose dbias now comes from the dW kernel, into the same
        // gradients (they accumulate)
        let dinp2 = put_at(be, &rand(n * c, 25), 26, pad);
        be.matmul_backward(dinp2, dw, bias.map(|_| db), dout, inp, w, n, c, oc);
        vec![
            ("gelu pre", whole(be, pre)),
            ("gelu out", whole(be, out)),
            ("residual out", whole(be, sum)),
            ("gelu dinp", whole(be, dinp)),
            ("dw", whole(be, dw)),
            ("dbias", whole(be, db)),
            ("dinp", whole(be, dinp2)),
        ]
    });
}

#[test]
fn fused_matmuls_match_the_cpu_on_odd_sizes_both_variants() {
    let Some(mut g) = gpu_or_skip() else { return };
    for v in VARIANTS {
        g.set_matmul_variant(v);
        for (n, c, oc) in SHAPES {
            for (bias, pad) in [(true, 5), (false, 3), (true, 4)] {
                eprintln!("{v:?} N={n} C={c} OC={oc} bias={bias} pad={pad}");
                fused_case(&mut g, n, c, oc, bias, pad);
            }
        }
    }
}

/// As a model holds them: weights and biases in one buffer, their gradients in another (dw and
/// dbias written by one dispatch), activations side by side, all at odd offsets.
#[test]
fn fused_matmuls_on_views_of_shared_buffers() {
    let Some(mut g) = gpu_or_skip() else { return };
    for v in VARIANTS {
        g.set_matmul_variant(v);
        for (n, c, oc, pad) in [(13, 24, 100, 7), (70, 129, 65, 1), (64, 64, 64, 4)] {
            eprintln!("{v:?} N={n} C={c} OC={oc} pad={pad}");
            compare!(&mut g, 1e-4, 1e-4, |be| {
                let [w, b] = put_many(be, [&rand(oc * c, 1), &rand(oc, 2)], 3, pad);
                let [dw, db] = put_many(be, [&rand(oc * c, 4), &rand(oc, 5)], 6, pad);
                let [inp, res, hpre] = put_many(be, [&rand(n * c, 7), &rand(n * oc, 8), &rand(n * c, 9)], 10, pad);
                let [pre, out, sum] = put_many(be, [&rand(n * oc, 11), &rand(n * oc, 12), &rand(n * oc, 13)], 14, pad);
                let [dout] = put_many(be, [&rand(n * oc, 15)], 16, pad);
                let [dinp, dinp2] = put_many(be, [&rand(n * c, 17), &rand(n * c, 18)], 19, pad);
                be.matmul_forward_gelu(out, pre, inp, w, Some(b), n, c, oc);
                be.matmul_forward_residual(sum, res, inp, w, Some(b), n, c, oc);
                be.matmul_backward_gelu(dinp, dw, Some(db), dout, inp, w, hpre, n, c, oc);
                be.matmul_backward(dinp2, dw, Some(db), dout, inp, w, n, c, oc);
                vec![("activations", whole(be, sum)), ("dinp", whole(be, dinp2)), ("gradients", whole(be, db))]
            });
        }
    }
}

/// dbias summed inside the dW kernel: the same bits on every run (a fixed order), and
/// matmul_backward is two dispatches.
#[test]
fn dbias_in_the_dw_kernel_is_deterministic_and_backward_is_two_dispatches() {
    let Some(mut g) = gpu_or_skip() else { return };
    let (n, c, oc) = (200, 40, 72);
    for v in VARIANTS {
        g.set_matmul_variant(v);
        let inp = put_at(&mut g, &rand(n * c, 1), 2, 1);
        let w = put_at(&mut g, &rand(oc * c, 3), 4, 1);
        let dout = put_at(&mut g, &rand(n * oc, 5), 6, 1);
        let mut runs = Vec::new();
        for _ in 0..2 {
            let dinp = put_at(&mut g, &rand(n * c, 7), 8, 1);
            let dw = put_at(&mut g, &rand(oc * c, 9), 10, 1);
            let db = put_at(&mut g, &rand(oc, 11), 12, 1);
            g.set_profiling(true);
            g.matmul_backward(dinp, dw, Some(db), dout, inp, w, n, c, oc);
            let dispatches: usize = g.profile().iter().map(|e| e.1).sum();
            g.set_profiling(false);
            assert_eq!(dispatches, 2, "{v:?}: matmul_backward with a bias");
            runs.push((block_on(g.read(dw)), block_on(g.read(db))));
        }
        assert!(runs[0].0.iter().zip(&runs[1].0).all(|(a, b)| a.to_bits() == b.to_bits()), "{v:?}: dw differs between runs");
        assert!(runs[0].1.iter().zip(&runs[1].1).all(|(a, b)| a.to_bits() == b.to_bits()), "{v:?}: dbias differs between runs");
        // and it is right: dbias = its start + column sums of dout
        let (d, start) = (rand(n * oc, 5), rand(oc, 11));
        let want: Vec<f32> = (0..oc).map(|o| start[o] + (0..n).map(|r| d[r * oc + o]).sum::<f32>()).collect();
        assert_close(&format!("{v:?} dbias"), &runs[0].1, &want, 1e-4, 1e-4);
    }
}

/// Each fused op counts one dispatch on the GPU (the backward two).
#[test]
fn fused_ops_are_one_dispatch() {
    let Some(mut g) = gpu_or_skip() else { return };
    let (n, c, oc) = (9, 16, 20);
    for v in VARIANTS {
        g.set_matmul_variant(v);
        let inp = put_at(&mut g, &rand(n * c, 1), 2, 0);
        let w = put_at(&mut g, &rand(oc * c, 3), 4, 0);
        let b = put_at(&mut g, &rand(oc, 5), 6, 0);
        let x = put_at(&mut g, &rand(n * oc, 7), 8, 0);
        let y = put_at(&mut g, &rand(n * oc, 9), 10, 0);
        let z = put_at(&mut g, &rand(n * oc, 11), 12, 0);
        let di = put_at(&mut g, &rand(n * c, 13), 14, 0);
        let dw = put_at(&mut g, &rand(oc * c, 15), 16, 0);
        let db = put_at(&mut g, &rand(oc, 17), 18, 0);
        let count = |g: &mut GpuBackend, f: &dyn Fn(&mut GpuBackend)| {
            g.set_profiling(true);
            f(g);
            let k: usize = g.profile().iter().map(|e| e.1).sum();
            g.set_profiling(false);
            k
        };
        assert_eq!(count(&mut g, &|g| g.matmul_forward_gelu(x, y, inp, w, Some(b), n, c, oc)), 1, "{v:?} forward_gelu");
        assert_eq!(count(&mut g, &|g| g.matmul_forward_residual(x, z, inp, w, Some(b), n, c, oc)), 1, "{v:?} forward_residual");
        assert_eq!(count(&mut g, &|g| g.matmul_backward_gelu(di, dw, Some(db), z, inp, w, inp, n, c, oc)), 2, "{v:?} backward_gelu");
    }
}

/// The CPU's fused ops are the unfused ops they replace, to the bit.
#[test]
fn cpu_fused_ops_equal_the_unfused_ones_bit_for_bit() {
    let (n, c, oc) = (37, 52, 90);
    let be = &mut CpuBackend::new();
    let t = |be: &mut CpuBackend, len: usize, seed: u64| put_at(be, &rand(len, seed), seed + 1, 0);
    let (inp, w, b, res, pre_c, dout) = (t(be, n * c, 1), t(be, oc * c, 3), t(be, oc, 5), t(be, n * oc, 7), t(be, n * c, 9), t(be, n * oc, 11));
    let read = |be: &mut CpuBackend, x: Tensor| block_on(be.read(x));
    let same = |what: &str, a: &[f32], b: &[f32]| assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{what} differs");

    let (pre, out) = (t(be, n * oc, 0), t(be, n * oc, 0));
    be.matmul_forward_gelu(out, pre, inp, w, Some(b), n, c, oc);
    let (pre2, out2) = (t(be, n * oc, 0), t(be, n * oc, 0));
    be.matmul_forward(pre2, inp, w, Some(b), n, c, oc);
    be.gelu_forward(out2, pre2, n * oc);
    same("forward_gelu pre", &read(be, pre), &read(be, pre2));
    same("forward_gelu out", &read(be, out), &read(be, out2));

    let sum = t(be, n * oc, 0);
    be.matmul_forward_residual(sum, res, inp, w, Some(b), n, c, oc);
    let (proj, sum2) = (t(be, n * oc, 0), t(be, n * oc, 0));
    be.matmul_forward(proj, inp, w, Some(b), n, c, oc);
    be.residual_forward(sum2, res, proj, n * oc);
    same("forward_residual", &read(be, sum), &read(be, sum2));

    let (di, dw, db) = (t(be, n * c, 13), t(be, oc * c, 15), t(be, oc, 17));
    be.matmul_backward_gelu(di, dw, Some(db), dout, inp, w, pre_c, n, c, oc);
    let (dg, di2, dw2, db2) = (t(be, n * c, 0), t(be, n * c, 13), t(be, oc * c, 15), t(be, oc, 17));
    be.matmul_backward(dg, dw2, Some(db2), dout, inp, w, n, c, oc);
    be.gelu_backward(di2, pre_c, dg, n * c);
    same("backward_gelu dinp", &read(be, di), &read(be, di2));
    same("backward_gelu dw", &read(be, dw), &read(be, dw2));
    same("backward_gelu dbias", &read(be, db), &read(be, db2));
}

/// The fused block (c_fc with GELU, both projections adding into the stream, mlp.c_proj's
/// backward through GELU) trains like the CPU with the Tiled kernels forced (gpu_model.rs runs
/// the adapter's own variant): 10 AdamW steps within 1e-3, with and without dropout, at a
/// context where attention runs batched products.
#[test]
fn the_fused_block_trains_like_the_cpu_on_the_tiled_variant() {
    use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
    use tinygpt::data::{Dataset, Split};
    use tinygpt::model::Gpt;
    use tinygpt::train::batch_rng;
    async fn losses<B: Backend>(be: B, t: usize, dropout: f32) -> Vec<f32> {
        let cfg = ModelConfig { vocab_size: 65, n_layer: 2, n_head: 3, n_embd: 48, block_size: t, pos: PosEncoding::Learned };
        let tc = TrainConfig { batch_size: 3, lr: 1e-2, warmup: 0, steps: 10, dropout, ..TrainConfig::default() };
        let phrase: Vec<u32> = "to be or not to be, that is the question. ".bytes().map(|b| (b % 65) as u32).collect();
        let data = Dataset::new((0..4000).map(|i| phrase[(i + i / 97) % phrase.len()]).collect(), t).unwrap();
        let mut model = Gpt::new(cfg.clone(), be, 42).unwrap();
        let mut out = Vec::new();
        for step in 0..10 {
            let (x, y) = data.batch(Split::Train, tc.batch_size, t, &mut batch_rng(tc.seed, step));
            out.push(model.train_step(&x, &y, tc.batch_size, t, tc.lr_at(step as usize), &tc).await.unwrap().loss);
        }
        out
    }
    for (t, dropout) in [(19, 0.0), (13, 0.2)] {
        let Some(mut g) = gpu_or_skip() else { return };
        g.set_matmul_variant(MatmulVariant::Tiled);
        let got = block_on(losses(g, t, dropout));
        let want = block_on(losses(CpuBackend::new(), t, dropout));
        eprintln!("T={t} dropout {dropout}: cpu {want:?}\n gpu {got:?}");
        assert!(want[9] < want[0] - 0.5, "the model learns: {want:?}");
        assert_close(&format!("T={t} dropout {dropout} losses"), &got, &want, 1e-3, 0.0);
    }
}
