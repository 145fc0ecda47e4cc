//! Finite-difference gradient checks for every CPU op, and the fast matmul against the plain
//! loops. For an op y = f(x) and a random upstream gradient g, the analytic backward must match
//! d(Σ g·f(x))/dx by central differences. Ops without a gradient: what they mean.

mod common;
use common::assert_close;
use tinygpt::cpu::{attention, crossentropy, encoder, gelu, guard, head_mask, layernorm, matmul, residual, sgemm};
use tinygpt::rng::Rng;

fn randn(r: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n).map(|_| r.normal() * std).collect()
}

/// Numerical gradient of x ↦ Σ g·f(x) (central differences, in f64 accumulation).
fn numgrad(x: &[f32], g: &[f32], f: impl Fn(&[f32]) -> Vec<f32>) -> Vec<f32> {
    let h = 1e-2f32;
    let mut x = x.to_vec();
    let mut out = vec![0.0; x.len()];
    let dotg = |y: Vec<f32>| y.iter().zip(g).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
    for i in 0..x.len() {
        let keep = x[i];
        x[i] = keep + h;
        let up = dotg(f(&x));
        x[i] = keep - h;
        let down = dotg(f(&x));
        x[i] = keep;
        out[i] = ((up - down) / (2.0 * h as f64)) as f32;
    }
    out
}

#[test]
fn encoder_gradients() {
    let (b, t, c, v) = (2, 5, 6, 7);
    let mut r = Rng::new(1);
    let ids: Vec<u32> = (0..b * t).map(|_| r.below(v) as u32).collect();
    let (wte, wpe) = (randn(&mut r, v * c, 1.0), randn(&mut r, t * c, 1.0));
    let g = randn(&mut r, b * t * c, 1.0);
    let fwd = |wte: &[f32], wpe: &[f32]| {
        let mut o = vec![0.0; b * t * c];
        encoder::encoder_forward(&mut o, &ids, wte, wpe, b, t, c, 0);
        o
    };
    let (mut dwte, mut dwpe) = (vec![0.0; v * c], vec![0.0; t * c]);
    encoder::encoder_backward(&mut dwte, Some(&mut dwpe), &g, &ids, b, t, c);
    assert_close("dwte", &dwte, &numgrad(&wte, &g, |x| fwd(x, &wpe)), 1e-3, 1e-2);
    assert_close("dwpe", &dwpe, &numgrad(&wpe, &g, |x| fwd(&wte, x)), 1e-3, 1e-2);
    // pos0 offsets the table rows
    let mut o = vec![0.0; c];
    encoder::encoder_forward(&mut o, &ids[..1], &wte, &wpe, 1, 1, c, 3);
    let want: Vec<f32> = (0..c).map(|i| wte[ids[0] as usize * c + i] + wpe[3 * c + i]).collect();
    assert_eq!(o, want);
}

#[test]
fn sinusoidal_table_is_the_vaswani_form() {
    let (t, c) = (50, 16);
    let pe = encoder::sinusoidal_table(t, c);
    for pos in [0usize, 1, 7, 49] {
        for i in 0..c / 2 {
            let w = 1.0 / 10000f64.powf(2.0 * i as f64 / c as f64);
            assert!((pe[pos * c + 2 * i] as f64 - (pos as f64 * w).sin()).abs() < 1e-6);
            assert!((pe[pos * c + 2 * i + 1] as f64 - (pos as f64 * w).cos()).abs() < 1e-6);
        }
    }
}

#[test]
fn layernorm_gradients() {
    let (n, c) = (3, 8);
    let mut r = Rng::new(2);
    let (x, w, bias) = (randn(&mut r, n * c, 1.0), randn(&mut r, c, 1.0), randn(&mut r, c, 1.0));
    let g = randn(&mut r, n * c, 1.0);
    let fwd = |x: &[f32], w: &[f32], bias: &[f32]| {
        let (mut o, mut m, mut s) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
        layernorm::layernorm_forward(&mut o, &mut m, &mut s, x, w, bias, n, c);
        o
    };
    let (mut o, mut m, mut s) = (vec![0.0; n * c], vec![0.0; n], vec![0.0; n]);
    layernorm::layernorm_forward(&mut o, &mut m, &mut s, &x, &w, &bias, n, c);
    let (mut dx, mut dw, mut db) = (vec![0.5; n * c], vec![0.0; c], vec![0.0; c]);
    layernorm::layernorm_backward(&mut dx, &mut dw, &mut db, &g, &x, &w, &m, &s, n, c);
    // dinp accumulates: it started at 0.5
    let want: Vec<f32> = numgrad(&x, &g, |x| fwd(x, &w, &bias)).iter().map(|v| v + 0.5).collect();
    assert_close("dinp", &dx, &want, 2e-3, 1e-2);
    assert_close("dw", &dw, &numgrad(&w, &g, |w| fwd(&x, w, &bias)), 2e-3, 1e-2);
    assert_close("dbias", &db, &numgrad(&bias, &g, |b| fwd(&x, &w, b)), 2e-3, 1e-2);
}

/// The page's packed matmul (`cpu/sgemm.rs`; natively its vector type is four plain floats, so
/// this checks the packing, the blocks and the edges that the WebAssembly build runs with v128):
/// every stride layout the model uses, sizes across each block (MC 64 rows, NC 256 columns, KC
/// 256 deep) and below one tile, storing and accumulating, one scratch reused across shapes.
#[test]
fn packed_sgemm_equals_plain_loops() {
    let mut r = Rng::new(17);
    let mut scratch = sgemm::Scratch::default();
    for (m, n, k) in [(70, 270, 300), (1, 1, 1), (3, 5, 2), (4, 8, 256), (65, 9, 257), (130, 257, 7), (5, 300, 513)] {
        let (a, b) = (randn(&mut r, m * k, 1.0), randn(&mut r, k * n, 1.0));
        // lhs as stored (row-major) or transposed (as dW's doutᵀ), rhs likewise (as forward's wᵀ)
        for (lt, rt) in [(false, false), (false, true), (true, false), (true, true)] {
            let (lrs, lcs) = if lt { (1, m) } else { (k, 1) };
            let (rrs, rcs) = if rt { (1, k) } else { (n, 1) };
            for acc in [false, true] {
                let start = randn(&mut r, m * n, 1.0);
                let mut want = start.clone();
                for i in 0..m {
                    for j in 0..n {
                        let dot: f32 = (0..k).map(|p| a[i * lrs + p * lcs] * b[p * rrs + j * rcs]).sum();
                        want[i * n + j] = if acc { want[i * n + j] + dot } else { dot };
                    }
                }
                let mut got = start.clone();
                sgemm::sgemm(&mut scratch, m, n, k, &mut got, acc, &a, lrs, lcs, &b, rrs, rcs);
                assert_close(&format!("sgemm {m}x{n}x{k} lhsᵀ {lt} rhsᵀ {rt} acc {acc}"), &got, &want, 1e-4, 1e-4);
            }
        }
    }
}

/// The native GEMM libraries the matmul and attention call (`matmul::Kernel`: gemm's, with its
/// AVX-512 kernels where the CPU has them, and matrixmultiply's) against the plain loops: every
/// stride layout the model uses, odd sizes on each side of the SIMD tiles, one product large
/// enough to be split across threads, storing and accumulating.
#[test]
fn native_gemms_equal_plain_loops() {
    use matmul::Kernel;
    let mut r = Rng::new(18);
    for kernel in [Kernel::Gemm, Kernel::Matrixmultiply] {
        for (m, n, k) in [(1, 1, 1), (3, 5, 2), (17, 33, 9), (64, 19, 37), (70, 65, 129), (203, 129, 97)] {
            let (a, b) = (randn(&mut r, m * k, 1.0), randn(&mut r, k * n, 1.0));
            for (lt, rt) in [(false, false), (false, true), (true, false), (true, true)] {
                let (lrs, lcs) = if lt { (1, m) } else { (k, 1) };
                let (rrs, rcs) = if rt { (1, k) } else { (n, 1) };
                for acc in [false, true] {
                    let start = randn(&mut r, m * n, 1.0);
                    let mut want = start.clone();
                    for i in 0..m {
                        for j in 0..n {
                            let dot: f32 = (0..k).map(|p| a[i * lrs + p * lcs] * b[p * rrs + j * rcs]).sum();
                            want[i * n + j] = if acc { want[i * n + j] + dot } else { dot };
                        }
                    }
                    let mut got = start.clone();
                    matmul::gemm_with(kernel, m, n, k, &mut got, acc, &a, lrs, lcs, &b, rrs, rcs);
                    assert_close(&format!("{kernel:?} {m}x{n}x{k} lhsᵀ {lt} rhsᵀ {rt} acc {acc}"), &got, &want, 1e-4, 1e-4);
                }
            }
        }
    }
}

#[test]
fn matmul_gradients_and_fast_equals_naive() {
    let mut r = Rng::new(3);
    // awkward sizes: none a multiple of a SIMD tile, and one large enough to be split over threads
    for (n, c, oc) in [(5, 7, 3), (39, 48, 65), (203, 96, 129)] {
        let (x, w, bias) = (randn(&mut r, n * c, 1.0), randn(&mut r, oc * c, 1.0), randn(&mut r, oc, 1.0));
        let g = randn(&mut r, n * oc, 1.0);
        let (mut fast, mut naive) = (vec![0.0; n * oc], vec![0.0; n * oc]);
        matmul::matmul_forward(&mut fast, &x, &w, Some(&bias), n, c, oc);
        matmul::matmul_forward_naive(&mut naive, &x, &w, Some(&bias), n, c, oc);
        assert_close("matmul forward", &fast, &naive, 1e-4, 1e-4);
        let (mut dx, mut dw, mut db) = (vec![9.0; n * c], vec![1.0; oc * c], vec![1.0; oc]);
        let (mut dx2, mut dw2, mut db2) = (vec![0.0; n * c], vec![1.0; oc * c], vec![1.0; oc]);
        matmul::matmul_backward(&mut dx, &mut dw, Some(&mut db), &g, &x, &w, n, c, oc);
        matmul::matmul_backward_naive(&mut dx2, &mut dw2, Some(&mut db2), &g, &x, &w, n, c, oc);
        assert_close("matmul dinp (overwritten)", &dx, &dx2, 1e-4, 1e-4);
        assert_close("matmul dw (accumulated)", &dw, &dw2, 1e-3, 1e-4);
        assert_close("matmul dbias (accumulated)", &db, &db2, 1e-3, 1e-4);
        if n < 10 {
            let fwd = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut o = vec![0.0; n * oc];
                matmul::matmul_forward_naive(&mut o, x, w, Some(b), n, c, oc);
                o
            };
            assert_close("numeric dinp", &dx2, &numgrad(&x, &g, |x| fwd(x, &w, &bias)), 2e-3, 1e-2);
            let dw0: Vec<f32> = dw2.iter().map(|v| v - 1.0).collect();
            assert_close("numeric dw", &dw0, &numgrad(&w, &g, |w| fwd(&x, w, &bias)), 2e-3, 1e-2);
            let db0: Vec<f32> = db2.iter().map(|v| v - 1.0).collect();
            assert_close("numeric dbias", &db0, &numgrad(&bias, &g, |b| fwd(&x, &w, b)), 2e-3, 1e-2);
        }
    }
}

#[test]
fn attention_gradients_causality_and_cached_rows() {
    let (b, t, c, nh) = (2, 5, 8, 2);
    let mut r = Rng::new(4);
    let qkv = randn(&mut r, b * t * 3 * c, 1.0);
    let g = randn(&mut r, b * t * c, 1.0);
    let fwd = |qkv: &[f32]| {
        let (mut o, mut l, mut a) = (vec![0.0; b * t * c], vec![0.0; b * nh * t], vec![0.0; b * nh * t * t]);
        attention::attention_forward(&mut o, &mut l, Some(&mut a), qkv, b, t, t, c, nh);
        (o, l, a)
    };
    let (out, lse, att) = fwd(&qkv);
    for row in att.chunks(t).enumerate() {
        let i = row.0 % t;
        assert!((row.1.iter().sum::<f32>() - 1.0).abs() < 1e-5, "probabilities sum to 1");
        assert!(row.1[i + 1..].iter().all(|&p| p == 0.0), "nothing above the diagonal");
    }
    let mut dqkv = vec![7.0; b * t * 3 * c];
    attention::attention_backward(&mut dqkv, &g, &qkv, &out, &lse, b, t, c, nh);
    assert_close("dqkv", &dqkv, &numgrad(&qkv, &g, |x| fwd(x).0), 2e-3, 1e-2);
    // Tq < Tk: the last 2 query rows over all 5 keys equal the last 2 rows of the full pass.
    let one = &qkv[..t * 3 * c];
    let (mut o2, mut l2, mut a2) = (vec![0.0; 2 * c], vec![0.0; nh * 2], vec![0.0; nh * 2 * t]);
    attention::attention_forward(&mut o2, &mut l2, Some(&mut a2), one, 1, 2, t, c, nh);
    assert_close("cached rows out", &o2, &out[(t - 2) * c..t * c], 1e-6, 1e-6);
    // without the probabilities: the same out and lse
    let (mut o3, mut l3) = (vec![0.0; 2 * c], vec![0.0; nh * 2]);
    attention::attention_forward(&mut o3, &mut l3, None, one, 1, 2, t, c, nh);
    assert_eq!((&o3, &l3), (&o2, &l2));
    for h in 0..nh {
        assert_close("cached rows lse", &l2[h * 2..(h + 1) * 2], &lse[h * t + t - 2..(h + 1) * t], 1e-6, 1e-6);
        assert_close("cached rows att", &a2[h * 2 * t..(h + 1) * 2 * t], &att[(h * t + t - 2) * t..(h * t + t) * t], 1e-6, 1e-6);
    }
}

/// Natively attention's products go through the GEMM; the plain loops are the oracle: T not a
/// multiple of any SIMD tile, head sizes 8, 32 and 64, with and without the probabilities,
/// fewer queries than keys (the KV cache). The backward recomputes the probabilities from lse.
#[test]
fn attention_gemm_path_equals_plain_loops() {
    let mut r = Rng::new(19);
    for (b, t, c, nh) in [(2, 19, 24, 3), (3, 37, 64, 2), (1, 70, 128, 2), (2, 9, 32, 4)] {
        let qkv = randn(&mut r, b * t * 3 * c, 1.5);
        let g = randn(&mut r, b * t * c, 1.0);
        let shape = format!("B {b} T {t} C {c} NH {nh}");
        let (mut o1, mut l1, mut a1) = (vec![0.0; b * t * c], vec![0.0; b * nh * t], vec![0.0; b * nh * t * t]);
        let (mut o2, mut l2, mut a2) = (vec![1.0; b * t * c], vec![1.0; b * nh * t], vec![1.0; b * nh * t * t]);
        attention::attention_forward(&mut o1, &mut l1, Some(&mut a1), &qkv, b, t, t, c, nh);
        attention::attention_forward_loops(&mut o2, &mut l2, Some(&mut a2), &qkv, b, t, t, c, nh);
        assert_close(&format!("attention out {shape}"), &o1, &o2, 1e-5, 1e-4);
        assert_close(&format!("attention lse {shape}"), &l1, &l2, 1e-5, 1e-5);
        assert_close(&format!("attention att {shape}"), &a1, &a2, 1e-6, 1e-4);
        // without att (training): the same out and lse as with it
        let (mut o3, mut l3) = (vec![2.0; b * t * c], vec![2.0; b * nh * t]);
        attention::attention_forward(&mut o3, &mut l3, None, &qkv, b, t, t, c, nh);
        assert_eq!((&o3, &l3), (&o1, &l1), "attention without att {shape}");
        let (mut d1, mut d2) = (vec![3.0; b * t * 3 * c], vec![5.0; b * t * 3 * c]);
        attention::attention_backward(&mut d1, &g, &qkv, &o2, &l2, b, t, c, nh);
        attention::attention_backward_loops(&mut d2, &g, &qkv, &o2, &l2, b, t, c, nh);
        assert_close(&format!("attention dqkv {shape}"), &d1, &d2, 1e-5, 1e-4);
        // the last 3 queries over all T keys, as decoding with a cache runs them
        let (tq, one) = (3, &qkv[..t * 3 * c]);
        let (mut o1, mut l1, mut a1) = (vec![0.0; tq * c], vec![0.0; nh * tq], vec![0.0; nh * tq * t]);
        let (mut o2, mut l2, mut a2) = (vec![1.0; tq * c], vec![1.0; nh * tq], vec![1.0; nh * tq * t]);
        attention::attention_forward(&mut o1, &mut l1, Some(&mut a1), one, 1, tq, t, c, nh);
        attention::attention_forward_loops(&mut o2, &mut l2, Some(&mut a2), one, 1, tq, t, c, nh);
        assert_close(&format!("attention cached out {shape}"), &o1, &o2, 1e-5, 1e-4);
        assert_close(&format!("attention cached lse {shape}"), &l1, &l2, 1e-5, 1e-5);
        assert_close(&format!("attention cached att {shape}"), &a1, &a2, 1e-6, 1e-4);
        let (mut o3, mut l3) = (vec![2.0; tq * c], vec![2.0; nh * tq]);
        attention::attention_forward(&mut o3, &mut l3, None, one, 1, tq, t, c, nh);
        assert_eq!((&o3, &l3), (&o1, &l1), "attention cached without att {shape}");
    }
}

#[test]
fn gelu_residual_crossentropy_gradients() {
    let mut r = Rng::new(5);
    let n = 40;
    let x = randn(&mut r, n, 2.0);
    let g = randn(&mut r, n, 1.0);
    let fwd = |x: &[f32]| {
        let mut o = vec![0.0; n];
        gelu::gelu_forward(&mut o, x, n);
        o
    };
    let mut dx = vec![0.0; n];
    gelu::gelu_backward(&mut dx, &x, &g, n);
    assert_close("gelu", &dx, &numgrad(&x, &g, fwd), 1e-3, 1e-2);
    // GELU(x) ≈ x for large x, ≈ 0 for very negative x, GELU(0) = 0
    let mut o = vec![0.0; 3];
    gelu::gelu_forward(&mut o, &[10.0, -10.0, 0.0], 3);
    assert!((o[0] - 10.0).abs() < 1e-5 && o[1].abs() < 1e-5 && o[2] == 0.0);

    let (a, b2) = (randn(&mut r, n, 1.0), randn(&mut r, n, 1.0));
    let mut o = vec![0.0; n];
    residual::residual_forward(&mut o, &a, &b2, n);
    let (mut da, mut db) = (vec![0.0; n], vec![0.0; n]);
    residual::residual_backward(&mut da, &mut db, &g, n);
    assert_close("residual da", &da, &numgrad(&a, &g, |a| a.iter().zip(&b2).map(|(x, y)| x + y).collect()), 1e-3, 1e-2);
    assert_eq!(da, db);

    let (rows, v) = (4, 9);
    let logits = randn(&mut r, rows * v, 2.0);
    let tg: Vec<u32> = (0..rows).map(|_| r.below(v) as u32).collect();
    let ones = vec![1.0; rows];
    let mean_loss = |l: &[f32]| {
        let (mut ls, mut h) = (vec![0.0; rows], vec![0.0; rows]);
        crossentropy::crossentropy_forward(&mut ls, &mut h, l, &tg, &ones, rows, v);
        vec![ls.iter().sum::<f32>() / rows as f32]
    };
    let mut dl = vec![0.0; rows * v];
    crossentropy::crossentropy_backward(&mut dl, &logits, &tg, &ones, rows, v, 1.0 / rows as f32);
    assert_close("crossentropy", &dl, &numgrad(&logits, &[1.0], mean_loss), 1e-3, 1e-2);
    // weighted (a task: the answers 1, the prompt 0): the gradient of the weighted mean
    let w = [0.0, 1.0, 0.0, 1.0];
    let weighted = |l: &[f32]| {
        let (mut ls, mut h) = (vec![0.0; rows], vec![0.0; rows]);
        crossentropy::crossentropy_forward(&mut ls, &mut h, l, &tg, &w, rows, v);
        vec![ls.iter().sum::<f32>() / 2.0]
    };
    crossentropy::crossentropy_backward(&mut dl, &logits, &tg, &w, rows, v, 0.5);
    assert_close("weighted crossentropy", &dl, &numgrad(&logits, &[1.0], weighted), 1e-3, 1e-2);
    assert!(dl[..v].iter().chain(&dl[2 * v..3 * v]).all(|&g| g == 0.0), "weight 0: no gradient");
    // hits: argmax == target
    let (mut ls, mut h) = (vec![0.0; 1], vec![0.0; 1]);
    crossentropy::crossentropy_forward(&mut ls, &mut h, &[0.0, 5.0, 1.0], &[1], &[1.0], 1, 3);
    assert_eq!(h, vec![1.0]);
    crossentropy::crossentropy_forward(&mut ls, &mut h, &[0.0, 5.0, 1.0], &[2], &[1.0], 1, 3);
    assert_eq!(h, vec![0.0]);
    assert!((ls[0] - (5.0 - 1.0 + (1.0f32 + (-5.0f32).exp() + (-4.0f32).exp()).ln())).abs() < 1e-5);
    crossentropy::crossentropy_forward(&mut ls, &mut h, &[0.0, 5.0, 1.0], &[1], &[0.0], 1, 3);
    assert_eq!((ls[0], h[0]), (0.0, 0.0), "weight 0: no loss, no hit");
}

#[test]
fn failure_guard_passes_finite_norms_and_poisons_the_ones_after_a_failure() {
    let (mut n, mut g) = ([2.5f32], [0.0f32]);
    guard::failure_guard(&mut n, &mut g);
    assert_eq!((n[0], g[0]), (2.5, 0.0), "a finite norm passes unchanged, the guard stays 0");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (mut n, mut g) = ([bad], [0.0f32]);
        guard::failure_guard(&mut n, &mut g);
        assert!(n[0].to_bits() == bad.to_bits() && g[0].is_nan(), "{bad}: the norm as it was, the guard NaN");
        for _ in 0..2 {
            let mut next = [1.0f32];
            guard::failure_guard(&mut next, &mut g);
            assert!(next[0].is_nan() && g[0].is_nan(), "{bad}: every finite norm behind a failure is NaN");
        }
        g[0] = 0.0; // the failure reported
        let mut next = [1.0f32];
        guard::failure_guard(&mut next, &mut g);
        assert_eq!((next[0], g[0]), (1.0, 0.0), "{bad}: zeroed, the guard lets norms through again");
    }
}

#[test]
fn head_mask_zeroes_exactly_the_ablated_heads_columns() {
    let (n, c, nh) = (5, 12, 4); // hs = 3
    let mut r = Rng::new(9);
    let mut y = randn(&mut r, n * c, 1.0);
    y[1] = f32::NAN; // head 0 of row 0
    y[c + 4] = f32::INFINITY; // head 1 of row 1: kept as it is
    let before = y.clone();
    head_mask::head_mask(&mut y, &[0.0, 1.0, 1.0, 0.0], n, c, nh);
    for row in 0..n {
        for col in 0..c {
            let (got, was) = (y[row * c + col], before[row * c + col]);
            if col / 3 == 0 || col / 3 == 3 {
                assert_eq!(got.to_bits(), 0.0f32.to_bits(), "[{row},{col}] of an ablated head is set to 0 (was {was})");
            } else {
                assert_eq!(got.to_bits(), was.to_bits(), "[{row},{col}] of a kept head is untouched");
            }
        }
    }
    // all kept: nothing changes; the op is its own gradient, so applying it twice is applying it once
    let mut z = before.clone();
    head_mask::head_mask(&mut z, &[1.0; 4], n, c, nh);
    assert!(z.iter().zip(&before).all(|(a, b)| a.to_bits() == b.to_bits()));
    let mut twice = y.clone();
    head_mask::head_mask(&mut twice, &[0.0, 1.0, 1.0, 0.0], n, c, nh);
    assert!(twice.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn dropout_keeps_about_one_minus_p_scaled_and_is_its_own_backward() {
    use tinygpt::backend::DropoutMask;
    use tinygpt::cpu::dropout::{self, kept, mask};
    let n = 100_000;
    for p in [0.1f32, 0.2, 0.5] {
        let m = mask(p, 42, 0);
        let mut y = vec![1.5f32; n];
        dropout::dropout(&mut y, &m, n);
        let k = y.iter().filter(|&&v| v != 0.0).count();
        // binomial: 5 standard deviations of n·p·(1-p)
        let (want, sd) = (n as f64 * (1.0 - p as f64), (n as f64 * p as f64 * (1.0 - p as f64)).sqrt());
        assert!((k as f64 - want).abs() < 5.0 * sd, "p {p}: kept {k} of {n}, expected about {want}");
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.5 * (1.0 / (1.0 - p))), "kept elements are scaled by 1/(1-p) exactly");
        // the mean is kept in expectation
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mean - 1.5).abs() < 5.0 * sd / n as f64 * 1.5 / (1.0 - p as f64), "p {p}: mean {mean}");
        // as its own backward: applying it to a gradient zeroes the same elements
        let mut g = vec![2.0f32; n];
        dropout::dropout(&mut g, &m, n);
        assert!(y.iter().zip(&g).all(|(a, b)| (*a == 0.0) == (*b == 0.0)));
    }
    // a worker's rows from `base` on draw the tail of the whole batch's mask
    let whole = mask(0.3, 9, 0);
    let tail = DropoutMask { base: 1234, ..whole };
    let (mut a, mut b) = (vec![1.0f32; 5000], vec![1.0f32; 5000 - 1234]);
    dropout::dropout(&mut a, &whole, 5000);
    dropout::dropout(&mut b, &tail, 5000 - 1234);
    assert_eq!(&a[1234..], &b[..]);
    // other seeds give other masks, neighbouring indices are not correlated
    let other = mask(0.3, 10, 0);
    let same = (0..10_000u32).filter(|&i| kept(&whole, i) == kept(&other, i)).count();
    assert!((same as f64 - 5800.0).abs() < 250.0, "two seeds agree on {same} of 10000 (independent: 0.7²+0.3² = 58%)");
    let pairs = (0..9_999u32).filter(|&i| kept(&whole, i) && kept(&whole, i + 1)).count();
    assert!((pairs as f64 - 4899.0).abs() < 250.0, "neighbours both kept {pairs} times (independent: 49%)");
    // a dropped NaN becomes 0, a kept one stays NaN; p = 0 keeps everything unchanged
    let mut z = vec![f32::NAN; 64];
    dropout::dropout(&mut z, &mask(0.5, 1, 0), 64);
    assert!(z.iter().any(|v| *v == 0.0) && z.iter().any(|v| v.is_nan()));
    let mut same = vec![0.7f32; 64];
    dropout::dropout(&mut same, &mask(0.0, 1, 0), 64);
    assert!(same.iter().all(|&v| v == 0.7));
}

/// The page's CPU kernel check (`Engine::cpu_check`, shown in the Device panel) natively: the
/// fast matmul against the plain loops, every product named and within float rounding.
#[test]
fn cpu_kernel_check_names_each_product_within_rounding() {
    let rows = tinygpt::selfcheck::cpu_kernels();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), ["matmul_forward", "matmul_backward dinp", "matmul_backward dw"]);
    for (op, e) in rows {
        assert!(e.is_finite() && e < 1e-4, "{op}: {e}");
    }
}
