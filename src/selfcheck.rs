//! A device self-check: every op run on two backends with the same random inputs, reporting
//! the largest relative difference per op: WebGPU (or lavapipe) against the CPU backend, since
//! adapters differ and a wrong kernel would otherwise only show as odd text. `Engine::self_check`
//! exposes it to the page; tests/gpu_model.rs runs it natively.

use crate::backend::{AdamWStep, Backend, Tensor};
use crate::rng::Rng;

/// The sizes one round of the check runs at: B sequences of T positions, width C, NH heads,
/// vocabulary V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub b: usize,
    pub t: usize,
    pub c: usize,
    pub nh: usize,
    pub v: usize,
}

impl Shape {
    /// Small and odd: every kernel's edges, one partial block or tile of each.
    pub const SMALL: Shape = Shape { b: 2, t: 7, c: 24, nh: 3, v: 11 };

    /// A model's training shape: its batch, context (attention at T = the context), width and
    /// heads, as a training step runs them (attention's many query blocks, multi-tile grids),
    /// with B cut so B·T stays within 4,096 rows and V within 4,096 columns, which keeps the
    /// CPU's half of the check to a second or so for any model the page trains.
    pub fn training(b: usize, t: usize, c: usize, nh: usize, v: usize) -> Shape {
        Shape { b: b.clamp(1, (4096 / t.max(1)).max(1)), t, c, nh, v: v.min(4096) }
    }

    /// "B,T,C,NH", as the page labels a check's rows.
    pub fn label(&self) -> String {
        format!("{},{},{},{}", self.b, self.t, self.c, self.nh)
    }
}

/// Buffers of one backend for the check.
struct Bufs {
    f: Vec<Tensor>,
}

fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.normal()).collect()
}

impl Bufs {
    fn put<X: Backend>(&mut self, be: &mut X, data: &[f32]) -> Tensor {
        let t = be.alloc(data.len(), "selfcheck").expect("small buffer");
        be.write(t, data);
        self.f.push(t);
        t
    }
    fn zeros<X: Backend>(&mut self, be: &mut X, n: usize) -> Tensor {
        let t = be.alloc(n, "selfcheck").expect("small buffer");
        self.f.push(t);
        t
    }
}

/// Runs every op on `be` at shape `s` and returns (op, outputs) in a fixed order.
#[allow(non_snake_case)] // the sizes keep their usual capitals
async fn run_all<X: Backend>(be: &mut X, s: Shape) -> Vec<(&'static str, Vec<f32>)> {
    let Shape { b: B, t: T, c: C, nh: NH, v: V } = s;
    let N = B * T;
    let mut b = Bufs { f: Vec::new() };
    let mut out = Vec::new();
    let mut r = Rng::new(9);
    let ids: Vec<u32> = (0..N).map(|_| r.below(V) as u32).collect();
    let inp = be.alloc_u32(N, "selfcheck ids").expect("small buffer");
    be.write_u32(inp, &ids);

    let (wte, pe) = (b.put(be, &rand(V * C, 1)), b.put(be, &rand(T * C, 2)));
    let enc = b.zeros(be, N * C);
    be.encoder_forward(enc, inp, wte, pe, B, T, C, 0);
    out.push(("encoder_forward", be.read(enc).await));
    let (dwte, dwpe) = (b.zeros(be, V * C), b.zeros(be, T * C));
    let dout = b.put(be, &rand(N * C, 3));
    be.encoder_backward(dwte, Some(dwpe), dout, inp, B, T, C);
    out.push(("encoder_backward", [be.read(dwte).await, be.read(dwpe).await].concat()));

    let (x, w, bias) = (b.put(be, &rand(N * C, 4)), b.put(be, &rand(C, 5)), b.put(be, &rand(C, 6)));
    let (y, mean, rstd) = (b.zeros(be, N * C), b.zeros(be, N), b.zeros(be, N));
    be.layernorm_forward(y, mean, rstd, x, w, bias, N, C);
    out.push(("layernorm_forward", be.read(y).await));
    let (dx, dw, db) = (b.zeros(be, N * C), b.zeros(be, C), b.zeros(be, C));
    be.layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
    out.push(("layernorm_backward", [be.read(dx).await, be.read(dw).await, be.read(db).await].concat()));

    let oc = 3 * C;
    // weights at 1/sqrt(C), as a trained model's: q·k stays near 1 at any width, so the
    // softmax is not saturated into ties that rounding alone would flip
    let wscale = 1.0 / (C as f32).sqrt();
    let (mw, mb) = (b.put(be, &rand(oc * C, 7).iter().map(|x| x * wscale).collect::<Vec<_>>()), b.put(be, &rand(oc, 8)));
    let qkv = b.zeros(be, N * oc);
    be.matmul_forward(qkv, x, mw, Some(mb), N, C, oc);
    out.push(("matmul_forward", be.read(qkv).await));
    let dq = b.put(be, &rand(N * oc, 10));
    let (mdx, mdw, mdb) = (b.zeros(be, N * C), b.zeros(be, oc * C), b.zeros(be, oc));
    be.matmul_backward(mdx, mdw, Some(mdb), dq, x, mw, N, C, oc);
    out.push(("matmul_backward dinp", be.read(mdx).await));
    out.push(("matmul_backward dw", be.read(mdw).await));
    out.push(("matmul_backward dbias", be.read(mdb).await));
    // the epilogues a block's matmuls run with: c_fc's GELU, the projections' residual add,
    // mlp.c_proj's backward through GELU's derivative
    let (fo, fpre) = (b.zeros(be, N * oc), b.zeros(be, N * oc));
    be.matmul_forward_gelu(fo, fpre, x, mw, Some(mb), N, C, oc);
    out.push(("matmul_forward_gelu", [be.read(fo).await, be.read(fpre).await].concat()));
    let (ro, rres) = (b.zeros(be, N * oc), b.put(be, &rand(N * oc, 16)));
    be.matmul_forward_residual(ro, rres, x, mw, Some(mb), N, C, oc);
    out.push(("matmul_forward_residual", be.read(ro).await));
    let (gdx, gdw, gdb) = (b.zeros(be, N * C), b.zeros(be, oc * C), b.zeros(be, oc));
    be.matmul_backward_gelu(gdx, gdw, Some(gdb), dq, x, mw, dout, N, C, oc);
    out.push(("matmul_backward_gelu", [be.read(gdx).await, be.read(gdw).await, be.read(gdb).await].concat()));

    // attention's own q, k, v ~ N(0,1): the matmul's output (std ~5) gives scores of std ~24,
    // one-hot rows whose backward cancels to values near 1e-5 that f32 rounding alone moves by
    // 1e-3 of this check's measure, on the CPU too (against f64)
    let qkv = b.put(be, &rand(N * oc, 15));
    let (ay, lse, att) = (b.zeros(be, N * C), b.zeros(be, B * NH * T), b.zeros(be, B * NH * T * T));
    be.attention_forward(ay, lse, Some(att), qkv, B, T, T, C, NH);
    out.push(("attention_forward", [be.read(ay).await, be.read(lse).await, be.read(att).await].concat()));
    let dqkv = b.zeros(be, N * oc);
    be.attention_backward(dqkv, dout, qkv, ay, lse, B, T, C, NH);
    out.push(("attention_backward", be.read(dqkv).await));

    let (g, dg) = (b.zeros(be, N * C), b.zeros(be, N * C));
    be.gelu_forward(g, x, N * C);
    out.push(("gelu_forward", be.read(g).await));
    be.gelu_backward(dg, x, dout, N * C);
    out.push(("gelu_backward", be.read(dg).await));
    let res = b.zeros(be, N * C);
    be.residual_forward(res, x, dout, N * C);
    out.push(("residual_forward", be.read(res).await));
    let hm = b.put(be, &rand(N * C, 13));
    // every other head ablated
    let keep = b.put(be, &(0..NH).map(|h| ((h + 1) % 2) as f32).collect::<Vec<_>>());
    be.head_mask(hm, keep, N, C, NH);
    out.push(("head_mask", be.read(hm).await));
    // a worker's base and a seed of all bits: the mask's hash in u32 on both
    let dr = b.put(be, &rand(N * C, 14));
    be.dropout(dr, &crate::cpu::dropout::mask(0.2, 0x9e37_79b9, 77), N * C);
    out.push(("dropout", be.read(dr).await));

    let logits = b.put(be, &rand(N * V, 11));
    let tg: Vec<u32> = (0..N).map(|_| r.below(V) as u32).collect();
    let targets = be.alloc_u32(N, "selfcheck targets").expect("small buffer");
    be.write_u32(targets, &tg);
    let (losses, hits, dl) = (b.zeros(be, N), b.zeros(be, N), b.zeros(be, N * V));
    // a task's weights (answers 1, prompts 0) and a fractional one
    let weights = b.put(be, &(0..N).map(|i| [1.0, 0.0, 0.5][i % 3]).collect::<Vec<f32>>());
    be.crossentropy_forward(losses, hits, logits, targets, weights, N, V);
    out.push(("crossentropy_forward", [be.read(losses).await, be.read(hits).await].concat()));
    be.crossentropy_backward(dl, logits, targets, weights, N, V, 0.1);
    out.push(("crossentropy_backward", be.read(dl).await));
    // a training step's loss and gradient in one pass
    let (fl, fh, fd) = (b.zeros(be, N), b.zeros(be, N), b.zeros(be, N * V));
    be.crossentropy_fused(fl, fh, fd, logits, targets, weights, N, V, 0.1);
    out.push(("crossentropy_fused", [be.read(fl).await, be.read(fh).await, be.read(fd).await].concat()));

    let (s, nsq) = (b.zeros(be, 1), b.zeros(be, 1));
    be.sum(s, x);
    be.norm_sq(nsq, x);
    out.push(("reduce", [be.read(s).await, be.read(nsq).await].concat()));
    let (p, m, v) = (b.put(be, &rand(C, 12)), b.zeros(be, C), b.zeros(be, C));
    let h = AdamWStep { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1, t: 1, max_norm: 1.0 };
    // decay on the first half only: the table's in-range and out-of-range elements both checked
    be.adamw(p, w, m, v, nsq, &[(0, C / 2)], &h);
    out.push(("adamw", [be.read(p).await, be.read(m).await, be.read(v).await].concat()));

    for t in b.f.into_iter().chain([inp, targets]) {
        be.free(t);
    }
    out
}

/// Largest |got - want| / (floor + |want|), infinite for a NaN or a length mismatch.
fn largest_err(want: &[f32], got: &[f32], floor: f32) -> f32 {
    if want.len() != got.len() {
        return f32::INFINITY;
    }
    want.iter().zip(got).map(|(w, g)| (g - w).abs() / (floor + w.abs())).fold(0.0f32, |m, e| if e.is_nan() { f32::INFINITY } else { m.max(e) })
}

/// Largest |a-b| / (floor + |a|) per op between backend `a` (the reference) and `b`, at each
/// shape in turn: (op, shape's label, error) rows. The floor is a tenth of the output's rms (at
/// least 1e-3): at training widths an output is a sum of hundreds of products, and where those
/// cancel to near zero rounding alone would look like a large relative error; a wrong kernel
/// is still off by about 1.
pub async fn compare<A: Backend, X: Backend>(a: &mut A, b: &mut X, shapes: &[Shape]) -> Vec<(&'static str, String, f32)> {
    let mut out = Vec::new();
    for &s in shapes {
        let ra = run_all(a, s).await;
        let rb = run_all(b, s).await;
        out.extend(ra.iter().zip(&rb).map(|((name, x), (_, y))| {
            let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt();
            (*name, s.label(), largest_err(x, y, (0.1 * rms).max(1e-3)))
        }));
    }
    out
}

/// The CPU backend's fast matmul against its plain loops (`matmul_*_naive`), on sizes that are
/// no multiple of any tile and cross the packed blocks: in a browser that is the WebAssembly
/// SIMD kernel (`cpu/sgemm.rs`) on the user's CPU, natively matrixmultiply's. Largest
/// |fast - plain| / (1 + |plain|) per product: relative for large values, absolute near zero,
/// where sums of a few hundred products cancel (rounding alone stays near 1e-5; a wrong
/// kernel is off by about 1).
pub fn cpu_kernels() -> Vec<(&'static str, f32)> {
    use crate::cpu::matmul;
    let worst = |fast: &[f32], plain: &[f32]| largest_err(plain, fast, 1.0);
    let mut out = vec![("matmul_forward", 0.0f32), ("matmul_backward dinp", 0.0), ("matmul_backward dw", 0.0)];
    for (n, c, oc) in [(37, 70, 67), (130, 261, 9)] {
        let (x, w, bias, g) = (rand(n * c, 21), rand(oc * c, 22), rand(oc, 23), rand(n * oc, 24));
        let (mut fast, mut plain) = (vec![0.0; n * oc], vec![0.0; n * oc]);
        matmul::matmul_forward(&mut fast, &x, &w, Some(&bias), n, c, oc);
        matmul::matmul_forward_naive(&mut plain, &x, &w, Some(&bias), n, c, oc);
        out[0].1 = out[0].1.max(worst(&fast, &plain));
        let (mut dx, mut dw) = (vec![0.0; n * c], vec![0.5; oc * c]);
        let (mut dx2, mut dw2) = (vec![0.0; n * c], vec![0.5; oc * c]);
        matmul::matmul_backward(&mut dx, &mut dw, None, &g, &x, &w, n, c, oc);
        matmul::matmul_backward_naive(&mut dx2, &mut dw2, None, &g, &x, &w, n, c, oc);
        out[1].1 = out[1].1.max(worst(&dx, &dx2));
        out[2].1 = out[2].1.max(worst(&dw, &dw2));
    }
    out
}
