//! Launchers for the matmul kernels: shaders/matmul_tiled.wgsl (real GPUs) and
//! shaders/matmul_blocked.wgsl (CPU adapters), which share bindings and parameters.

use super::{u, GpuBackend, MatmulVariant};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    c: u32,
    oc: u32,
    /// 1: add bias (forward).
    flags: u32,
    out_off: u32,
    a_off: u32,
    b_off: u32,
    bias_off: u32,
}

/// (shader, workgroups) covering an `rows` x `cols` output with the current variant.
fn launch(g: &GpuBackend, rows: usize, cols: usize) -> (&'static str, [u32; 3]) {
    match g.matmul {
        // 8x1 invocations of 16x16 outputs = 16 rows x 128 columns per workgroup
        MatmulVariant::Blocked => ("matmul_blocked", [u(cols.div_ceil(128)), u(rows.div_ceil(16)), 1]),
        // 16x16 invocations of 4x4 outputs = 64x64 per workgroup
        MatmulVariant::Tiled => ("matmul_tiled", [u(cols.div_ceil(64)), u(rows.div_ceil(64)), 1]),
    }
}

/// out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
    let p = Params {
        n: u(n), c: u(c), oc: u(oc), flags: bias.is_some() as u32,
        out_off: g.off(out), a_off: g.off(inp), b_off: g.off(w), bias_off: bias.map_or(0, |b| g.off(b)),
    };
    let (shader, groups) = launch(g, n, oc);
    // Every entry point declares the bias binding; without a bias a tiny unused buffer fills it
    // (binding `w` twice would alias two writable bindings, which WebGPU rejects).
    let bias_or_unused = bias.unwrap_or_else(|| g.unused());
    g.dispatch(shader, "matmul_forward", &p, &[(1, out), (2, inp), (3, w), (4, bias_or_unused)], groups);
}

/// dinp[N,C] = dout · w (overwritten); dw[OC,C] += doutᵀ · inp; dbias[OC] += column sums of dout.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, n: usize, c: usize, oc: usize) {
    let base = Params { n: u(n), c: u(c), oc: u(oc), flags: 0, out_off: 0, a_off: g.off(dout), b_off: 0, bias_off: 0 };
    let (shader, groups) = launch(g, n, c);
    let p = Params { out_off: g.off(dinp), b_off: g.off(w), ..base };
    let unused = g.unused();
    g.dispatch(shader, "matmul_backward_dinp", &p, &[(1, dinp), (2, dout), (3, w), (4, unused)], groups);
    let (shader, groups) = launch(g, oc, c);
    let p = Params { out_off: g.off(dw), b_off: g.off(inp), ..base };
    g.dispatch(shader, "matmul_backward_dw", &p, &[(1, dw), (2, dout), (3, inp), (4, unused)], groups);
    if let Some(db) = dbias {
        let p = Params { out_off: g.off(db), ..base };
        let groups = g.grid_1d(oc, 64);
        g.dispatch("matmul_blocked", "matmul_backward_dbias", &p, &[(1, db), (2, dout)], groups);
    }
}
