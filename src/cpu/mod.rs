//! The CPU reference backend: plain loops over slices (one file per op family, forward and
//! backward side by side). It is the oracle every GPU kernel is tested against, and the
//! fallback in a browser without WebGPU, so it builds for wasm32 too.

/// Defines a function whose body is compiled twice: as built (baseline x86-64 has only SSE2)
/// and with AVX2+FMA enabled, picked at run time by CPU detection. The plain loops stay plain;
/// the compiler vectorises them 8 wide where it may. No float contraction is enabled, so both
/// copies compute the same values.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) {
                    inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: this CPU has the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}

pub mod adamw;
pub mod attention;
pub mod crossentropy;
pub mod encoder;
pub mod gelu;
pub mod guard;
pub mod dropout;
pub mod head_mask;
pub mod layernorm;
pub mod matmul;
pub mod residual;
pub mod sgemm;

use crate::backend::{AdamWStep, Backend, DropoutMask, Pending, Tensor};
use crate::error::{Error, Result};

enum Store {
    F32(Vec<f32>),
    U32(Vec<u32>),
}

/// Owns every buffer; ops name buffers through `Tensor` views.
#[derive(Default)]
pub struct CpuBackend {
    bufs: Vec<Store>,
    /// A binding limit to emulate (tests of models cut as on a small GPU); None = MAX_BYTES.
    max_elems: Option<usize>,
    /// Per-op wall time while profiling (`bench` and the page's `Engine::profile` show it): op -> (calls, seconds).
    profile: Option<std::collections::BTreeMap<String, (u32, f64)>>,
}

/// Largest single buffer we agree to allocate (bytes): beyond this a model is certainly a
/// mistake on a CPU (or past wasm32's 4 GiB memory), and we say so instead of aborting on OOM.
#[cfg(not(target_arch = "wasm32"))]
const MAX_BYTES: u64 = 8 << 30;
#[cfg(target_arch = "wasm32")]
const MAX_BYTES: u64 = 1 << 30;

impl CpuBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// A CPU backend that reports a GPU-like limit of `n` elements per buffer, so a model is
    /// cut into buffers as it would be on such a GPU (the results must not change).
    pub fn with_max_elems(n: usize) -> Self {
        CpuBackend { max_elems: Some(n), ..Self::default() }
    }

    /// Profiling: when on, each op's wall time is added to its name's total (matmuls by shape
    /// too). Turning it on clears the totals. In a browser the clock is performance.now(),
    /// which a page that is not cross-origin isolated coarsens (to 0.1 ms in Chromium, with
    /// jitter): totals over many calls still hold, single short ops do not.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(Default::default);
    }

    /// (op, calls, seconds) since profiling was turned on, slowest first.
    pub fn profile(&self) -> Vec<(String, u32, f64)> {
        let mut v: Vec<_> = self.profile.iter().flatten().map(|(k, &(n, s))| (k.clone(), n, s)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    /// The start of an op (ms), when profiling.
    fn clock(&self) -> Option<f64> {
        self.profile.as_ref().map(|_| crate::clock::now_ms())
    }

    /// The end of an op started at `t0`: its time added under `name()`.
    fn lap(&mut self, t0: Option<f64>, name: impl FnOnce() -> String) {
        if let (Some(t0), Some(p)) = (t0, self.profile.as_mut()) {
            let e = p.entry(name()).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += (crate::clock::now_ms() - t0) / 1e3;
        }
    }

    fn f32_ptr(&mut self, t: Tensor) -> *mut f32 {
        match &mut self.bufs[t.buf] {
            Store::F32(v) => {
                assert!(t.off + t.len <= v.len(), "tensor {t:?} outside its buffer of {}", v.len());
                // SAFETY: in bounds, checked above.
                unsafe { v.as_mut_ptr().add(t.off) }
            }
            Store::U32(_) => panic!("tensor {t:?} is a u32 buffer, an f32 one was expected"),
        }
    }

    fn ids(&self, t: Tensor) -> &[u32] {
        match &self.bufs[t.buf] {
            Store::U32(v) => &v[t.off..t.off + t.len],
            Store::F32(_) => panic!("tensor {t:?} is an f32 buffer, a u32 one was expected"),
        }
    }

    /// Resolves `outs` as disjoint mutable slices and `ins` as shared ones. Panics (a bug in the
    /// caller, never user input) if an output overlaps any other view.
    fn views<const NO: usize, const NI: usize>(&mut self, outs: [Tensor; NO], ins: [Tensor; NI]) -> ([&mut [f32]; NO], [&[f32]; NI]) {
        for (i, o) in outs.iter().enumerate() {
            for o2 in &outs[i + 1..] {
                assert!(!o.overlaps(o2), "output views overlap: {o:?} {o2:?}");
            }
            for x in &ins {
                assert!(!o.overlaps(x), "output {o:?} overlaps input {x:?}");
            }
        }
        let op: [(*mut f32, usize); NO] = outs.map(|t| (self.f32_ptr(t), t.len));
        let ip: [(*mut f32, usize); NI] = ins.map(|t| (self.f32_ptr(t), t.len));
        // SAFETY: every pointer is in bounds of a live Vec owned by self (checked in f32_ptr),
        // outputs are pairwise disjoint and disjoint from inputs (checked above), and the
        // returned borrows keep `self` mutably borrowed, so no buffer can be reallocated.
        unsafe {
            (
                op.map(|(p, n)| std::slice::from_raw_parts_mut(p, n)),
                ip.map(|(p, n)| std::slice::from_raw_parts(p as *const f32, n)),
            )
        }
    }

    fn push(&mut self, len: usize, label: &str, s: impl FnOnce() -> Store) -> Result<Tensor> {
        let bytes = len as u64 * 4;
        if bytes > MAX_BYTES {
            return Err(Error::Config(format!(
                "buffer '{label}' needs {} MiB; the CPU backend allows at most {} MiB per buffer",
                bytes >> 20,
                MAX_BYTES >> 20
            )));
        }
        self.bufs.push(s());
        Ok(Tensor { buf: self.bufs.len() - 1, off: 0, len })
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        "cpu".to_string()
    }

    fn alloc(&mut self, len: usize, label: &str) -> Result<Tensor> {
        self.push(len, label, || Store::F32(vec![0.0; len]))
    }

    fn alloc_u32(&mut self, len: usize, label: &str) -> Result<Tensor> {
        self.push(len, label, || Store::U32(vec![0; len]))
    }

    fn write(&mut self, dst: Tensor, data: &[f32]) {
        assert_eq!(dst.len, data.len(), "write of {} values into {dst:?}", data.len());
        let ([d], []) = self.views([dst], []);
        d.copy_from_slice(data);
    }

    fn write_u32(&mut self, dst: Tensor, data: &[u32]) {
        assert_eq!(dst.len, data.len(), "write of {} ids into {dst:?}", data.len());
        match &mut self.bufs[dst.buf] {
            Store::U32(v) => v[dst.off..dst.off + dst.len].copy_from_slice(data),
            Store::F32(_) => panic!("write_u32 into f32 buffer {dst:?}"),
        }
    }

    async fn read(&mut self, src: Tensor) -> Vec<f32> {
        let ([], [s]) = self.views([], [src]);
        s.to_vec()
    }

    fn read_start(&mut self, src: Tensor) -> Pending {
        let ([], [s]) = self.views([], [src]);
        Pending { ready: Some(s.to_vec()), id: 0 }
    }

    async fn read_done(&mut self, p: Pending) -> Vec<f32> {
        p.ready.expect("the CPU backend reads at once")
    }

    fn zero(&mut self, t: Tensor) {
        let ([d], []) = self.views([t], []);
        d.fill(0.0);
    }

    fn free(&mut self, t: Tensor) {
        self.bufs[t.buf] = Store::F32(Vec::new());
    }

    fn max_elems(&self) -> usize {
        self.max_elems.unwrap_or((MAX_BYTES / 4) as usize)
    }

    fn copy(&mut self, dst: Tensor, src: Tensor) {
        let ([d], [x]) = self.views([dst], [src]);
        d.copy_from_slice(x);
    }

    fn encoder_forward(&mut self, out: Tensor, inp: Tensor, wte: Tensor, pe: Tensor, b: usize, t: usize, c: usize, pos0: usize) {
        let t0 = self.clock();
        let ids = self.ids(inp).to_vec();
        let ([o], [w, p]) = self.views([out], [wte, pe]);
        encoder::encoder_forward(o, &ids, w, p, b, t, c, pos0);
        self.lap(t0, || "encoder_forward".to_string());
    }

    fn encoder_backward(&mut self, dwte: Tensor, dwpe: Option<Tensor>, dout: Tensor, inp: Tensor, b: usize, t: usize, c: usize) {
        let t0 = self.clock();
        let ids = self.ids(inp).to_vec();
        match dwpe {
            Some(dwpe) => {
                let ([dw, dp], [d]) = self.views([dwte, dwpe], [dout]);
                encoder::encoder_backward(dw, Some(dp), d, &ids, b, t, c);
            }
            None => {
                let ([dw], [d]) = self.views([dwte], [dout]);
                encoder::encoder_backward(dw, None, d, &ids, b, t, c);
            }
        }
        self.lap(t0, || "encoder_backward".to_string());
    }

    fn layernorm_forward(&mut self, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, bias: Tensor, n: usize, c: usize) {
        let t0 = self.clock();
        let ([o, m, r], [x, w, b]) = self.views([out, mean, rstd], [inp, w, bias]);
        layernorm::layernorm_forward(o, m, r, x, w, b, n, c);
        self.lap(t0, || "layernorm_forward".to_string());
    }

    fn layernorm_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, n: usize, c: usize) {
        let t0 = self.clock();
        let ([di, dw, db], [d, x, w, m, r]) = self.views([dinp, dw, dbias], [dout, inp, w, mean, rstd]);
        layernorm::layernorm_backward(di, dw, db, d, x, w, m, r, n, c);
        self.lap(t0, || "layernorm_backward".to_string());
    }

    fn matmul_forward(&mut self, out: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        let t0 = self.clock();
        match bias {
            Some(bias) => {
                let ([o], [x, w, b]) = self.views([out], [inp, w, bias]);
                matmul::matmul_forward(o, x, w, Some(b), n, c, oc);
            }
            None => {
                let ([o], [x, w]) = self.views([out], [inp, w]);
                matmul::matmul_forward(o, x, w, None, n, c, oc);
            }
        }
        self.lap(t0, || format!("matmul_forward {n}x{c}->{oc}"));
    }

    fn matmul_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, n: usize, c: usize, oc: usize) {
        let t0 = self.clock();
        match dbias {
            Some(dbias) => {
                let ([di, dw, db], [d, x, w]) = self.views([dinp, dw, dbias], [dout, inp, w]);
                matmul::matmul_backward(di, dw, Some(db), d, x, w, n, c, oc);
            }
            None => {
                let ([di, dw], [d, x, w]) = self.views([dinp, dw], [dout, inp, w]);
                matmul::matmul_backward(di, dw, None, d, x, w, n, c, oc);
            }
        }
        self.lap(t0, || format!("matmul_backward {n}x{c}->{oc}"));
    }

    fn matmul_forward_gelu(&mut self, out: Tensor, pre: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        let t0 = self.clock();
        match bias {
            Some(bias) => {
                let ([o, h], [x, w, b]) = self.views([out, pre], [inp, w, bias]);
                matmul::matmul_forward_gelu(o, h, x, w, Some(b), n, c, oc);
            }
            None => {
                let ([o, h], [x, w]) = self.views([out, pre], [inp, w]);
                matmul::matmul_forward_gelu(o, h, x, w, None, n, c, oc);
            }
        }
        self.lap(t0, || format!("matmul_forward_gelu {n}x{c}->{oc}"));
    }

    fn matmul_forward_residual(&mut self, out: Tensor, res: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        let t0 = self.clock();
        match bias {
            Some(bias) => {
                let ([o], [r, x, w, b]) = self.views([out], [res, inp, w, bias]);
                matmul::matmul_forward_residual(o, r, x, w, Some(b), n, c, oc);
            }
            None => {
                let ([o], [r, x, w]) = self.views([out], [res, inp, w]);
                matmul::matmul_forward_residual(o, r, x, w, None, n, c, oc);
            }
        }
        self.lap(t0, || format!("matmul_forward_residual {n}x{c}->{oc}"));
    }

    fn matmul_backward_gelu(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, pre: Tensor, n: usize, c: usize, oc: usize) {
        let t0 = self.clock();
        match dbias {
            Some(dbias) => {
                let ([di, dw, db], [d, x, w, h]) = self.views([dinp, dw, dbias], [dout, inp, w, pre]);
                matmul::matmul_backward_gelu(di, dw, Some(db), d, x, w, h, n, c, oc);
            }
            None => {
                let ([di, dw], [d, x, w, h]) = self.views([dinp, dw], [dout, inp, w, pre]);
                matmul::matmul_backward_gelu(di, dw, None, d, x, w, h, n, c, oc);
            }
        }
        self.lap(t0, || format!("matmul_backward_gelu {n}x{c}->{oc}"));
    }

    fn attention_forward(&mut self, out: Tensor, lse: Tensor, att: Option<Tensor>, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
        let t0 = self.clock();
        match att {
            Some(att) => {
                let ([o, l, a], [q]) = self.views([out, lse, att], [qkv]);
                attention::attention_forward(o, l, Some(a), q, b, tq, tk, c, nh);
            }
            None => {
                let ([o, l], [q]) = self.views([out, lse], [qkv]);
                attention::attention_forward(o, l, None, q, b, tq, tk, c, nh);
            }
        }
        self.lap(t0, || "attention_forward".to_string());
    }

    fn attention_backward(&mut self, dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, b: usize, t: usize, c: usize, nh: usize) {
        let t0 = self.clock();
        let ([dq], [d, q, o, l]) = self.views([dqkv], [dout, qkv, out, lse]);
        attention::attention_backward(dq, d, q, o, l, b, t, c, nh);
        self.lap(t0, || "attention_backward".to_string());
    }

    fn gelu_forward(&mut self, out: Tensor, inp: Tensor, n: usize) {
        let t0 = self.clock();
        let ([o], [x]) = self.views([out], [inp]);
        gelu::gelu_forward(o, x, n);
        self.lap(t0, || "gelu_forward".to_string());
    }

    fn gelu_backward(&mut self, dinp: Tensor, inp: Tensor, dout: Tensor, n: usize) {
        let t0 = self.clock();
        let ([di], [x, d]) = self.views([dinp], [inp, dout]);
        gelu::gelu_backward(di, x, d, n);
        self.lap(t0, || "gelu_backward".to_string());
    }

    fn head_mask(&mut self, y: Tensor, keep: Tensor, n: usize, c: usize, nh: usize) {
        let t0 = self.clock();
        let ([y], [k]) = self.views([y], [keep]);
        head_mask::head_mask(y, k, n, c, nh);
        self.lap(t0, || "head_mask".to_string());
    }

    fn dropout(&mut self, y: Tensor, m: &DropoutMask, n: usize) {
        let t0 = self.clock();
        let ([y], []) = self.views([y], []);
        dropout::dropout(y, m, n);
        self.lap(t0, || "dropout".to_string());
    }

    fn residual_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, n: usize) {
        let t0 = self.clock();
        let ([o], [a, b]) = self.views([out], [a, b]);
        residual::residual_forward(o, a, b, n);
        self.lap(t0, || "residual_forward".to_string());
    }

    fn crossentropy_forward(&mut self, losses: Tensor, hits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize) {
        let t0 = self.clock();
        let tg = self.ids(targets).to_vec();
        let ([l, h], [x, w]) = self.views([losses, hits], [logits, weights]);
        crossentropy::crossentropy_forward(l, h, x, &tg, w, n, v);
        self.lap(t0, || "crossentropy_forward".to_string());
    }

    fn crossentropy_backward(&mut self, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
        let t0 = self.clock();
        let tg = self.ids(targets).to_vec();
        let ([d], [x, w]) = self.views([dlogits], [logits, weights]);
        crossentropy::crossentropy_backward(d, x, &tg, w, n, v, scale);
        self.lap(t0, || "crossentropy_backward".to_string());
    }

    fn crossentropy_fused(&mut self, losses: Tensor, hits: Tensor, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
        let t0 = self.clock();
        let tg = self.ids(targets).to_vec();
        let ([l, h, d], [x, w]) = self.views([losses, hits, dlogits], [logits, weights]);
        crossentropy::crossentropy_fused(l, h, d, x, &tg, w, n, v, scale);
        self.lap(t0, || "crossentropy_fused".to_string());
    }

    fn sum(&mut self, out: Tensor, x: Tensor) {
        let t0 = self.clock();
        let ([o], [x]) = self.views([out], [x]);
        o[0] = adamw::sum(x);
        self.lap(t0, || "sum".to_string());
    }

    fn norm_sq(&mut self, out: Tensor, x: Tensor) {
        let t0 = self.clock();
        let ([o], [x]) = self.views([out], [x]);
        o[0] = adamw::norm_sq(x);
        self.lap(t0, || "norm_sq".to_string());
    }

    fn adamw(&mut self, p: Tensor, g: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, decayed: &[(usize, usize)], h: &AdamWStep) {
        let t0 = self.clock();
        let ([p, m, v], [g, n]) = self.views([p, m, v], [g, grad_norm_sq]);
        adamw::adamw_ranges(p, g, m, v, n[0], decayed, h);
        self.lap(t0, || "adamw".to_string());
    }

    fn failure_guard(&mut self, norm_sq: Tensor, guard: Tensor) {
        let t0 = self.clock();
        let ([n, g], []) = self.views([norm_sq, guard], []);
        guard::failure_guard(n, g);
        self.lap(t0, || "failure_guard".to_string());
    }
}
