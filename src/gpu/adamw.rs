//! Launcher for shaders/adamw.wgsl: one AdamW update with global-norm clipping folded in.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::{AdamWStep, Tensor};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    p_off: u32,
    g_off: u32,
    m_off: u32,
    v_off: u32,
    gn_off: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    /// 1 - lr * weight_decay
    decay: f32,
    max_norm: f32,
    bc1: f32,
    bc2: f32,
    _pad: [u32; 2],
}

/// p, m, v updated in place from g, clipped by the norm whose square is at grad_norm_sq[0];
/// skipped when that is not finite. Bias corrections are computed here exactly as the CPU does.
pub(super) fn update(g: &mut GpuBackend, p: Tensor, gr: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, h: &AdamWStep) {
    let prm = Params {
        n: u(p.len), p_off: g.off(p), g_off: g.off(gr), m_off: g.off(m), v_off: g.off(v), gn_off: g.off(grad_norm_sq),
        lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps,
        decay: 1.0 - h.lr * h.weight_decay,
        max_norm: h.max_norm,
        bc1: 1.0 - h.beta1.powi(h.t as i32),
        bc2: 1.0 - h.beta2.powi(h.t as i32),
        _pad: [0; 2],
    };
    let groups = g.grid_1d(p.len, 256);
    g.dispatch(kernels::adamw::UPDATE, &prm, &[(1, p), (2, gr), (3, m), (4, v), (5, grad_norm_sq)], groups);
}
