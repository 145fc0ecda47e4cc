//! Launchers for shaders/attention.wgsl: causal multi-head self-attention.

use super::{u, GpuBackend};
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
    g.dispatch("attention", "attention_forward", &p, &[(1, out), (2, att), (3, qkv)], groups);
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
    g.dispatch("attention", "attention_backward_dq", &p, &bind, groups);
    g.dispatch("attention", "attention_backward_dkv", &p, &bind, groups);
}
