//! Launchers for shaders/attention.wgsl: causal multi-head self-attention.

use super::matmul::{batched, Causal, Strided};
use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    b: u32,
    tq: u32,
    tk: u32,
    c: u32,
    nh: u32,
    out_off: u32,
    att_off: u32,
    qkv_off: u32,
    dout_off: u32,
    dots_off: u32,
    _pad: [u32; 2],
}

/// out[B,Tq,C] and att[B,NH,Tq,Tk] from qkv[B,Tk,3C]; the queries are the last Tq positions.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, att: Tensor, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    assert!(tq <= tk && c.is_multiple_of(nh), "attention: Tq {tq} <= Tk {tk}, C {c} divisible by NH {nh}");
    let p = Params {
        b: u(b), tq: u(tq), tk: u(tk), c: u(c), nh: u(nh),
        out_off: g.off(out), att_off: g.off(att), qkv_off: g.off(qkv), dout_off: 0, dots_off: 0, _pad: [0; 2],
    };
    let groups = g.grid_1d(b * nh * tq, 64);
    // A few new queries (KV-cached decoding) are too few rows for 16-row blocks: fused kernel.
    if tq >= 16 {
        // att = q·kᵀ/sqrt(hs) (blocks above the diagonal skipped), softmax rows, out = att·v
        let (hs, shift) = (c / nh, tk - tq);
        let scale = 1.0 / (hs as f32).sqrt();
        let q = Strided { t: qkv.view(shift * 3 * c, qkv.len - shift * 3 * c), sr: 3 * c, sc: 1, sb: tk * 3 * c, sh: hs };
        let kt = Strided { t: qkv.view(c, qkv.len - c), sr: 1, sc: 3 * c, sb: tk * 3 * c, sh: hs };
        let v = Strided { t: qkv.view(2 * c, qkv.len - 2 * c), sr: 3 * c, sc: 1, sb: tk * 3 * c, sh: hs };
        let a = Strided { t: att, sr: tk, sc: 1, sb: nh * tq * tk, sh: tq * tk };
        let o = Strided { t: out, sr: c, sc: 1, sb: tq * c, sh: hs };
        batched(g, a, q, kt, b, nh, tq, tk, hs, scale, Causal::Out, shift);
        g.dispatch(kernels::attention::SOFTMAX_FORWARD, &p, &[(2, att)], groups);
        batched(g, o, a, v, b, nh, tq, hs, tk, 1.0, Causal::KUpTo, shift);
        return;
    }
    g.dispatch(kernels::attention::FORWARD, &p, &[(1, out), (2, att), (3, qkv)], groups);
}

/// dqkv[B,T,3C] (overwritten): a pass per query row for dq (saving Σ att·datt per row in a
/// scratch buffer), then a pass per key row for dk and dv.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dqkv: Tensor, dout: Tensor, qkv: Tensor, att: Tensor, b: usize, t: usize, c: usize, nh: usize) {
    let dots = g.scratch("attention row dots", b * nh * t);
    let p = Params {
        b: u(b), tq: u(t), tk: u(t), c: u(c), nh: u(nh),
        out_off: g.off(dqkv), att_off: g.off(att), qkv_off: g.off(qkv), dout_off: g.off(dout), dots_off: g.off(dots), _pad: [0; 2],
    };
    let bind = [(1, dqkv), (2, att), (3, qkv), (4, dout), (5, dots)];
    let groups = g.grid_1d(b * nh * t, 64);
    if t >= 16 {
        // datt = dout·vᵀ, then the scores' gradient in place (softmax backward), then
        // dq = dpre·k, dk = dpreᵀ·q, dv = attᵀ·dout, each skipping what the mask zeroes.
        let hs = c / nh;
        let datt = g.scratch("attention datt", b * nh * t * t);
        let datt = datt.view(0, b * nh * t * t);
        let part = |x: Tensor, i: usize| x.view(i * c, x.len - i * c);
        let s3 = t * 3 * c;
        let d = Strided { t: datt, sr: t, sc: 1, sb: nh * t * t, sh: t * t };
        let dt = Strided { sr: 1, sc: t, ..d };
        let at = Strided { t: att, sr: 1, sc: t, sb: nh * t * t, sh: t * t };
        let dout_rows = Strided { t: dout, sr: c, sc: 1, sb: t * c, sh: hs };
        let vt = Strided { t: part(qkv, 2), sr: 1, sc: 3 * c, sb: s3, sh: hs };
        batched(g, d, dout_rows, vt, b, nh, t, t, hs, 1.0, Causal::Out, 0);
        let sp = Params { out_off: g.off(datt), ..p };
        g.dispatch(kernels::attention::SOFTMAX_BACKWARD, &sp, &[(1, datt), (2, att)], groups);
        let rows = |x: Tensor, i: usize| Strided { t: part(x, i), sr: 3 * c, sc: 1, sb: s3, sh: hs };
        batched(g, rows(dqkv, 0), d, rows(qkv, 1), b, nh, t, hs, t, 1.0, Causal::KUpTo, 0);
        batched(g, rows(dqkv, 1), dt, rows(qkv, 0), b, nh, t, hs, t, 1.0, Causal::KFrom, 0);
        batched(g, rows(dqkv, 2), at, dout_rows, b, nh, t, hs, t, 1.0, Causal::KFrom, 0);
        return;
    }
    g.dispatch(kernels::attention::BACKWARD_DQ, &p, &bind, groups);
    g.dispatch(kernels::attention::BACKWARD_DKV, &p, &bind, groups);
}
