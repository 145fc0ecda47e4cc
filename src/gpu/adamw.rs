//! Launcher for shaders/adamw.wgsl: one AdamW update of a whole parameter buffer with
//! global-norm clipping folded in, one dispatch.

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
    /// Ranges in the decay table.
    nr: u32,
    _pad: u32,
}

/// p, m, v updated in place from g, clipped by the norm whose square is at grad_norm_sq[0];
/// skipped when that is not finite. Bias corrections are computed here exactly as the CPU does.
/// Weight decay applies inside the `decayed` (start, len) ranges.
#[allow(clippy::too_many_arguments)]
pub(super) fn update(g: &mut GpuBackend, p: Tensor, gr: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, decayed: &[(usize, usize)], h: &AdamWStep) {
    assert!(p.len == gr.len && p.len == m.len && p.len == v.len, "adamw: p, g, m, v of one length");
    let table = decay_table(g, decayed);
    let prm = Params {
        n: u(p.len), p_off: g.off(p), g_off: g.off(gr), m_off: g.off(m), v_off: g.off(v), gn_off: g.off(grad_norm_sq),
        lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps,
        decay: 1.0 - h.lr * h.weight_decay,
        max_norm: h.max_norm,
        bc1: 1.0 - h.beta1.powi(h.t as i32),
        bc2: 1.0 - h.beta2.powi(h.t as i32),
        nr: u(decayed.len()),
        _pad: 0,
    };
    let groups = g.grid_1d(p.len, 256);
    g.dispatch(kernels::adamw::UPDATE, &prm, &[(1, p), (2, gr), (3, m), (4, v), (5, grad_norm_sq), (6, table)], groups);
}

/// The decay table on the device, as (start, end) pairs: written once per distinct table (a
/// model's is the same every step, so no step writes it, which would split its submit).
fn decay_table(g: &mut GpuBackend, decayed: &[(usize, usize)]) -> Tensor {
    let mut at = 0;
    let mut key = Vec::with_capacity(2 * decayed.len().max(1));
    for &(s, l) in decayed {
        assert!(s >= at, "adamw: decay ranges sorted and disjoint");
        key.extend([u(s), u(s + l)]);
        at = s + l;
    }
    if key.is_empty() {
        key.extend([0, 0]); // bindings are never empty; nr = 0 reads nothing
    }
    if let Some(&t) = g.decay_tables.get(&key) {
        return t;
    }
    let t = g.create(key.len(), "adamw decay table", true).expect("a small table");
    g.write_bytes(t, bytemuck::cast_slice(&key));
    g.decay_tables.insert(key, t);
    t
}
