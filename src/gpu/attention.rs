//! Launchers for shaders/attention.wgsl: fused (flash) causal multi-head self-attention.
//! Forward is one dispatch (the row-block kernel, or the per-query kernel for a few queries
//! against a KV cache); backward is two (dq with D, then dk and dv).

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

use crate::config::MAX_HEAD_SIZE;
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
    if tq <= DECODE_MAX_TQ {
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
    let groups = [u(t.div_ceil(ROWS)), u(nh), u(b)];
    g.dispatch(kernels::attention::BACKWARD_DQ, &p, &[(1, dqkv), (2, lse), (4, qkv), (5, dout), (6, out), (7, dsum)], groups);
    g.dispatch(kernels::attention::BACKWARD_DKV, &p, &[(1, dqkv), (2, lse), (4, qkv), (5, dout), (7, dsum)], groups);
}
