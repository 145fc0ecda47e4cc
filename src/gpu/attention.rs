//! Launchers for shaders/attention.wgsl: fused (flash) causal multi-head self-attention.
//! Forward is one dispatch (the row-block kernel, or the per-query kernel for a few queries
//! against a KV cache); backward is two (dq with D, then dk and dv). On CPU adapters
//! (`MatmulVariant::Blocked`) the products run as batched register-blocked matmuls with row
//! kernels between instead, the scores in a scratch buffer: there the fused kernels' per-lane
//! workgroup loads and barriers made the baby step's attention ~30x slower.

use super::matmul::{batched, Causal, Strided};
use super::runtime::u;
use super::{kernels, GpuBackend, MatmulVariant};
use crate::backend::Tensor;
use crate::config::MAX_HEAD_SIZE;
use bytemuck::{Pod, Zeroable};

/// Query rows per workgroup in attention_forward and attention_backward_*.
const ROWS: usize = 16;
/// Up to this many queries per sequence, a workgroup per query (attention_decode) keeps more
/// invocations busy than a 16-row block.
const DECODE_MAX_TQ: usize = 4;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    b: u32,
    tq: u32,
    tk: u32,
    c: u32,
    nh: u32,
    out_off: u32,
    lse_off: u32,
    att_off: u32,
    qkv_off: u32,
    dout_off: u32,
    y_off: u32,
    dsum_off: u32,
    write_att: u32,
    _pad: [u32; 3],
}

fn check(tq: usize, tk: usize, c: usize, nh: usize) {
    assert!(tq <= tk && tq > 0 && c.is_multiple_of(nh), "attention: 0 < Tq {tq} <= Tk {tk}, C {c} divisible by NH {nh}");
    assert!(c / nh <= MAX_HEAD_SIZE, "attention: head size {} > {MAX_HEAD_SIZE} (refused by ModelConfig::validate)", c / nh);
}

/// out[B,Tq,C], lse[B,NH,Tq] and, when given, att[B,NH,Tq,Tk] from qkv[B,Tk,3C]; the queries
/// are the last Tq positions.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, lse: Tensor, att: Option<Tensor>, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    check(tq, tk, c, nh);
    let a = att.unwrap_or_else(|| g.unused());
    let p = Params {
        b: u(b), tq: u(tq), tk: u(tk), c: u(c), nh: u(nh),
        out_off: g.off(out), lse_off: g.off(lse), att_off: g.off(a), qkv_off: g.off(qkv),
        dout_off: 0, y_off: 0, dsum_off: 0, write_att: u32::from(att.is_some()), _pad: [0; 3],
    };
    let bind = [(1, out), (2, lse), (3, a), (4, qkv)];
    if g.matmul == MatmulVariant::Blocked && tq > DECODE_MAX_TQ {
        // att = q·kᵀ/sqrt(hs) (blocks above the diagonal skipped), softmax rows (and lse), out = att·v
        let a = match att {
            Some(a) => a,
            None => g.scratch("attention scores", b * nh * tq * tk).view(0, b * nh * tq * tk),
        };
        let p = Params { att_off: g.off(a), ..p };
        let (hs, shift) = (c / nh, tk - tq);
        let scale = 1.0 / (hs as f32).sqrt();
        let q = Strided { t: qkv.view(shift * 3 * c, qkv.len - shift * 3 * c), sr: 3 * c, sc: 1, sb: tk * 3 * c, sh: hs };
        let kt = Strided { t: qkv.view(c, qkv.len - c), sr: 1, sc: 3 * c, sb: tk * 3 * c, sh: hs };
        let v = Strided { t: qkv.view(2 * c, qkv.len - 2 * c), sr: 3 * c, sc: 1, sb: tk * 3 * c, sh: hs };
        let sa = Strided { t: a, sr: tk, sc: 1, sb: nh * tq * tk, sh: tq * tk };
        let o = Strided { t: out, sr: c, sc: 1, sb: tq * c, sh: hs };
        batched(g, sa, q, kt, b, nh, tq, tk, hs, scale, Causal::Out, shift);
        g.dispatch(kernels::attention::SOFTMAX_FORWARD, &p, &[(2, lse), (3, a)], g.grid_1d(b * nh * tq, 64));
        batched(g, o, sa, v, b, nh, tq, hs, tk, 1.0, Causal::KUpTo, shift);
    } else if tq <= DECODE_MAX_TQ {
        g.dispatch(kernels::attention::DECODE, &p, &bind, [u(tq), u(nh), u(b)]);
    } else {
        g.dispatch(kernels::attention::FORWARD, &p, &bind, [u(tq.div_ceil(ROWS)), u(nh), u(b)]);
    }
}

/// dqkv[B,T,3C] (overwritten) from dout[B,T,C] and the forward's qkv[B,T,3C], out[B,T,C] and
/// lse[B,NH,T]: dq per query block (saving D = dout·out per row in a scratch buffer), then dk
/// and dv per key block.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, b: usize, t: usize, c: usize, nh: usize) {
    check(t, t, c, nh);
    let dsum = g.scratch("attention D", b * nh * t);
    let p = Params {
        b: u(b), tq: u(t), tk: u(t), c: u(c), nh: u(nh),
        out_off: g.off(dqkv), lse_off: g.off(lse), att_off: 0, qkv_off: g.off(qkv),
        dout_off: g.off(dout), y_off: g.off(out), dsum_off: g.off(dsum), write_att: 0, _pad: [0; 3],
    };
    if g.matmul == MatmulVariant::Blocked {
        return backward_batched(g, dqkv, dout, qkv, out, lse, p, b, t, c, nh);
    }
    let groups = [u(t.div_ceil(ROWS)), u(nh), u(b)];
    g.dispatch(kernels::attention::BACKWARD_DQ, &p, &[(1, dqkv), (2, lse), (4, qkv), (5, dout), (6, out), (7, dsum)], groups);
    g.dispatch(kernels::attention::BACKWARD_DKV, &p, &[(1, dqkv), (2, lse), (4, qkv), (5, dout), (7, dsum)], groups);
}

/// `backward` on CPU adapters: the probabilities again (scores = q·kᵀ/sqrt(hs), then exp(s -
/// lse) in place), datt = dout·vᵀ, the scores' gradient in place (softmax backward), then
/// dq = dpre·k, dk = dpreᵀ·q, dv = attᵀ·dout, each skipping what the mask zeroes.
#[allow(clippy::too_many_arguments)]
fn backward_batched(g: &mut GpuBackend, dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, p: Params, b: usize, t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let scale = 1.0 / (hs as f32).sqrt();
    let len = b * nh * t * t;
    let att = g.scratch("attention scores", len).view(0, len);
    let datt = g.scratch("attention datt", len).view(0, len);
    let groups = g.grid_1d(b * nh * t, 64);
    let part = |x: Tensor, i: usize| x.view(i * c, x.len - i * c);
    let s3 = t * 3 * c;
    let rows = |x: Tensor, i: usize| Strided { t: part(x, i), sr: 3 * c, sc: 1, sb: s3, sh: hs };
    let sa = Strided { t: att, sr: t, sc: 1, sb: nh * t * t, sh: t * t };
    let kt = Strided { t: part(qkv, 1), sr: 1, sc: 3 * c, sb: s3, sh: hs };
    batched(g, sa, rows(qkv, 0), kt, b, nh, t, t, hs, scale, Causal::Out, 0);
    let pp = Params { att_off: g.off(att), ..p };
    g.dispatch(kernels::attention::PROBS, &pp, &[(2, lse), (3, att)], groups);
    let d = Strided { t: datt, sr: t, sc: 1, sb: nh * t * t, sh: t * t };
    let dt = Strided { sr: 1, sc: t, ..d };
    let at = Strided { sr: 1, sc: t, ..sa };
    let dout_rows = Strided { t: dout, sr: c, sc: 1, sb: t * c, sh: hs };
    let vt = Strided { t: part(qkv, 2), sr: 1, sc: 3 * c, sb: s3, sh: hs };
    batched(g, d, dout_rows, vt, b, nh, t, t, hs, 1.0, Causal::Out, 0);
    let sp = Params { out_off: g.off(datt), att_off: g.off(att), ..p };
    g.dispatch(kernels::attention::SOFTMAX_BACKWARD, &sp, &[(1, datt), (3, att), (5, dout), (6, out)], groups);
    batched(g, rows(dqkv, 0), d, rows(qkv, 1), b, nh, t, hs, t, 1.0, Causal::KUpTo, 0);
    batched(g, rows(dqkv, 1), dt, rows(qkv, 0), b, nh, t, hs, t, 1.0, Causal::KFrom, 0);
    batched(g, rows(dqkv, 2), at, dout_rows, b, nh, t, hs, t, 1.0, Causal::KFrom, 0);
}
