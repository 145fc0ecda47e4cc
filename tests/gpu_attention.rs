//! Fused (flash) attention on the GPU against the CPU's unfused attention: forward (out, lse,
//! and the probabilities when asked for) and backward, at T not a multiple of any block, head
//! sizes 5, 8, 32 and 64, B > 1, and KV-cached decoding shapes (a few queries over many keys).
//! Both paths: the fused kernels (`MatmulVariant::Tiled`, real GPUs) and the batched products
//! with row kernels (`Blocked`, CPU adapters).
//! Every buffer has random padding around its view and the whole buffer is compared, so a
//! kernel writing outside its view (or ignoring an offset) fails too.

#[macro_use]
mod common;
use common::{assert_close, gpu_or_skip, put_at, whole};
use pollster::block_on;
use tinygpt::backend::{Backend, Tensor};
use tinygpt::cpu::CpuBackend;
use tinygpt::gpu::{GpuBackend, MatmulVariant};

/// Padding before a view: odd, so views are not 16-byte aligned either.
const PAD: usize = 5;

fn rand(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    common::rand(n, seed).into_iter().map(|x| scale * x).collect()
}

/// `data` in a fresh buffer, PAD random values before it and 3 after; returns the view.
fn put<Be: Backend>(be: &mut Be, data: &[f32], seed: u64) -> Tensor {
    put_at(be, data, seed, PAD)
}

/// Forward with and without the probabilities, then backward from the forward's own out and
/// lse: every output buffer whole, on the backend `be`.
fn train_case<Be: Backend>(be: &mut Be, b: usize, t: usize, c: usize, nh: usize) -> Vec<(&'static str, Vec<f32>)> {
    let n = b * t;
    // scale 2: peaked rows, so the online softmax's rescaling matters
    let qkv = put(be, &rand(n * 3 * c, 1, 2.0), 2);
    let out = put(be, &rand(n * c, 3, 1.0), 4);
    let lse = put(be, &rand(b * nh * t, 5, 1.0), 6);
    let att = put(be, &rand(b * nh * t * t, 7, 1.0), 8);
    be.attention_forward(out, lse, Some(att), qkv, b, t, t, c, nh);
    let (out2, lse2) = (put(be, &rand(n * c, 9, 1.0), 10), put(be, &rand(b * nh * t, 11, 1.0), 12));
    be.attention_forward(out2, lse2, None, qkv, b, t, t, c, nh);
    let dout = put(be, &rand(n * c, 13, 1.0), 14);
    let dqkv = put(be, &rand(n * 3 * c, 15, 1.0), 16);
    be.attention_backward(dqkv, dout, qkv, out, lse, b, t, c, nh);
    vec![
        ("out", whole(be, out)),
        ("lse", whole(be, lse)),
        ("att", whole(be, att)),
        ("out without att", whole(be, out2)),
        ("lse without att", whole(be, lse2)),
        ("dqkv", whole(be, dqkv)),
    ]
}

#[test]
fn attention_training_shapes() {
    let Some(mut g) = gpu_or_skip() else { return };
    // (head size, heads): hs 5 is not a multiple of 4
    for variant in [MatmulVariant::Tiled, MatmulVariant::Blocked] {
        g.set_matmul_variant(variant);
        for (hs, nh) in [(8, 3), (32, 2), (64, 2), (5, 3)] {
            let c = hs * nh;
            for t in [1, 7, 33, 65, 100] {
                if hs == 5 && t > 33 {
                    continue;
                }
                let b = if t > 65 { 2 } else { 3 };
                println!("attention ({variant:?}) B={b} T={t} C={c} NH={nh} (hs {hs})");
                compare!(&mut g, 1e-4, 1e-3, |be| { train_case(be, b, t, c, nh) });
            }
        }
    }
}

#[test]
fn attention_decoding_shapes() {
    let Some(mut g) = gpu_or_skip() else { return };
    // tq new queries after pos0 cached positions, two sequences, the cache at an offset in its
    // buffer; tq <= 4 take the per-query kernel, more the 16-row blocks with the diagonal shifted
    for (variant, (hs, nh)) in [(MatmulVariant::Tiled, (8, 3)), (MatmulVariant::Tiled, (32, 2)), (MatmulVariant::Tiled, (64, 2)), (MatmulVariant::Blocked, (32, 2))] {
        g.set_matmul_variant(variant);
        let c = hs * nh;
        for (tq, pos0s) in [(1, &[0, 1, 15, 16, 63, 64, 90][..]), (3, &[0, 5, 62, 90][..]), (7, &[50][..]), (20, &[45][..])] {
            for &pos0 in pos0s {
                let tk = pos0 + tq;
                println!("decoding ({variant:?}) B=2 Tq={tq} Tk={tk} C={c} NH={nh}");
                compare!(&mut g, 1e-4, 1e-3, |be| {
                    let qkv = put(be, &rand(3 * tk * 3 * c, 21, 2.0), 22).view(tk * 3 * c, 2 * tk * 3 * c);
                    let out = put(be, &rand(2 * tq * c, 23, 1.0), 24);
                    let lse = put(be, &rand(2 * nh * tq, 25, 1.0), 26);
                    let att = put(be, &rand(2 * nh * tq * tk, 27, 1.0), 28);
                    be.attention_forward(out, lse, Some(att), qkv, 2, tq, tk, c, nh);
                    let (out2, lse2) = (put(be, &rand(2 * tq * c, 29, 1.0), 30), put(be, &rand(2 * nh * tq, 31, 1.0), 32));
                    be.attention_forward(out2, lse2, None, qkv, 2, tq, tk, c, nh);
                    vec![
                        ("decode out", whole(be, out)),
                        ("decode lse", whole(be, lse)),
                        ("decode att", whole(be, att)),
                        ("decode out without att", whole(be, out2)),
                        ("decode lse without att", whole(be, lse2)),
                    ]
                });
            }
        }
    }
}

/// The same inputs give the same bits, run to run (no atomics; fixed summation orders).
#[test]
fn attention_backward_is_deterministic() {
    let Some(mut g) = gpu_or_skip() else { return };
    for variant in [MatmulVariant::Tiled, MatmulVariant::Blocked] {
        g.set_matmul_variant(variant);
        let first = train_case(&mut g, 2, 50, 64, 2);
        let second = train_case(&mut g, 2, 50, 64, 2);
        assert!(g.fault().is_none());
        for ((name, a), (_, b)) in first.iter().zip(&second) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs between runs ({variant:?})");
        }
    }
}

/// Times a `baby`-shaped attention (B=12, T=64, C=128, NH=4) forward and backward, for
/// docs/benchmarks.md: `cargo test --release --test gpu_attention -- --ignored --nocapture`.
#[test]
#[ignore]
fn attention_baby_timing() {
    let Some(mut g) = gpu_or_skip() else { return };
    let (b, t, c, nh) = (12, 64, 128, 4);
    let n = b * t;
    let qkv = put(&mut g, &rand(n * 3 * c, 1, 1.0), 2);
    let (out, lse) = (g.alloc(n * c, "out").unwrap(), g.alloc(b * nh * t, "lse").unwrap());
    let (dout, dqkv) = (put(&mut g, &rand(n * c, 3, 1.0), 4), g.alloc(n * 3 * c, "dqkv").unwrap());
    let fwd = |g: &mut GpuBackend| g.attention_forward(out, lse, None, qkv, b, t, t, c, nh);
    let bwd = |g: &mut GpuBackend| g.attention_backward(dqkv, dout, qkv, out, lse, b, t, c, nh);
    let time = |g: &mut GpuBackend, f: &dyn Fn(&mut GpuBackend)| {
        let reps = 10;
        f(g);
        block_on(g.read(lse.view(0, 1)));
        let t0 = std::time::Instant::now();
        for _ in 0..reps {
            f(g);
        }
        block_on(g.read(lse.view(0, 1)));
        t0.elapsed().as_secs_f64() * 1e3 / reps as f64
    };
    for variant in [MatmulVariant::Tiled, MatmulVariant::Blocked] {
        g.set_matmul_variant(variant);
        fwd(&mut g);
        let (f, bk) = (time(&mut g, &fwd), time(&mut g, &bwd));
        println!("baby attention ({variant:?}) on {}: forward {f:.2} ms, backward {bk:.2} ms, both {:.2} ms", g.adapter_info().name, f + bk);
    }
    assert!(g.fault().is_none());
}

/// The whole model with the fused kernels (the `Tiled` variant, what real GPUs run; lavapipe
/// defaults to `Blocked`): 8 training steps give the CPU's losses within 1e-3, and greedy
/// generation with the KV cache (attention_decode) the CPU's tokens.
#[test]
fn fused_attention_model_trains_and_generates_like_the_cpu() {
    use tinygpt::config::{ModelConfig, PosEncoding, TrainConfig};
    use tinygpt::data::{Dataset, Split};
    use tinygpt::model::Gpt;
    use tinygpt::sample::{generate, SampleConfig};
    use tinygpt::train::batch_rng;
    async fn run<Be: Backend>(be: Be) -> (Vec<f32>, Vec<u32>) {
        // 3 heads of 16, context 19: one full and one partial 16-row block
        let cfg = ModelConfig { vocab_size: 65, n_layer: 2, n_head: 3, n_embd: 48, block_size: 19, pos: PosEncoding::Learned };
        let tc = TrainConfig { batch_size: 3, lr: 1e-2, warmup: 0, steps: 8, ..TrainConfig::default() };
        let phrase: Vec<u32> = "to be or not to be, that is the question. ".bytes().map(|b| (b % 65) as u32).collect();
        let data = Dataset::new((0..4000).map(|i| phrase[(i + i / 97) % phrase.len()]).collect(), 19).unwrap();
        let mut model = Gpt::new(cfg.clone(), be, 42).unwrap();
        let mut losses = Vec::new();
        for step in 0..8 {
            let (x, y) = data.batch(Split::Train, tc.batch_size, cfg.block_size, &mut batch_rng(tc.seed, step));
            losses.push(model.train_step(&x, &y, tc.batch_size, cfg.block_size, tc.lr_at(step as usize), &tc).await.unwrap().loss);
        }
        let sc = SampleConfig { max_tokens: 30, temperature: 0.0, ..SampleConfig::default() };
        let tokens = generate(&mut model, &data.split(Split::Val)[..5], &sc, |_| true).await.unwrap();
        (losses, tokens)
    }
    let Some(mut g) = gpu_or_skip() else { return };
    g.set_matmul_variant(MatmulVariant::Tiled);
    let (gl, gt) = block_on(run(g));
    let (cl, ct) = block_on(run(CpuBackend::new()));
    eprintln!("cpu losses {cl:?}\ngpu losses {gl:?}");
    assert!(cl[7] < cl[0] - 0.5, "the model learns: {cl:?}");
    assert_close("losses", &gl, &cl, 1e-3, 0.0);
    assert_eq!(gt, ct, "greedy tokens");
}

/// The page's device self-check on the fused path (what a real GPU runs; lavapipe defaults to
/// the batched one, which tests/gpu_model.rs checks): every op within 1e-3 of the CPU.
#[test]
fn selfcheck_agrees_with_the_cpu_on_the_fused_path() {
    let Some(mut g) = gpu_or_skip() else { return };
    g.set_matmul_variant(MatmulVariant::Tiled);
    use tinygpt::selfcheck::Shape;
    let rows = block_on(tinygpt::selfcheck::compare(&mut CpuBackend::new(), &mut g, &[Shape::SMALL, Shape::training(2, 64, 128, 4, 65)]));
    for (op, shape, err) in rows {
        assert!(err < 1e-3, "{op} at {shape}: relative error {err}");
    }
}
