//! Launchers for shaders/encoder.wgsl: token embedding + positional encoding.

use super::runtime::u;
use super::{kernels, GpuBackend, MatmulVariant};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    b: u32,
    t: u32,
    c: u32,
    v: u32,
    pos0: u32,
    out_off: u32,
    inp_off: u32,
    wte_off: u32,
    pe_off: u32,
    dout_off: u32,
    /// encoder_backward: vocabulary rows per invocation's range.
    rows: u32,
    _pad: u32,
}

/// out[B,T,C] = wte[inp[b,t]] + pe[pos0 + t]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, inp: Tensor, wte: Tensor, pe: Tensor, b: usize, t: usize, c: usize, pos0: usize) {
    let p = Params { b: u(b), t: u(t), c: u(c), v: 0, pos0: u(pos0), out_off: g.off(out), inp_off: g.off(inp), wte_off: g.off(wte), pe_off: g.off(pe), dout_off: 0, rows: 0, _pad: 0 };
    let groups = g.grid_1d(b * t * c, 256);
    g.dispatch(kernels::encoder::FORWARD, &p, &[(1, out), (2, inp), (3, wte), (4, pe)], groups);
}

/// dwte[V,C] += dout rows scattered by token; dwpe[T,C] += dout summed over the batch.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dwte: Tensor, dwpe: Option<Tensor>, dout: Tensor, inp: Tensor, b: usize, t: usize, c: usize) {
    let v = dwte.len / c;
    // Vocabulary rows per invocation: all of them on a CPU adapter, whose few
    // threads are busy with C invocations; on a GPU enough ranges for ~16k invocations.
    let rows = match g.matmul {
        MatmulVariant::Blocked => v,
        MatmulVariant::Tiled => v.div_ceil(16384usize.div_ceil(c).min(v)),
    }
    .max(1);
    let mut p = Params { b: u(b), t: u(t), c: u(c), v: u(v), pos0: 0, out_off: 0, inp_off: g.off(inp), wte_off: g.off(dwte), pe_off: 0, dout_off: g.off(dout), rows: u(rows), _pad: 0 };
    let groups = g.grid_1d(v.div_ceil(rows) * c, 256);
    g.dispatch(kernels::encoder::BACKWARD, &p, &[(2, inp), (5, dout), (6, dwte)], groups);
    if let Some(dwpe) = dwpe {
        p.pe_off = g.off(dwpe);
        let groups = g.grid_1d(t * c, 256);
        g.dispatch(kernels::encoder::BACKWARD_DWPE, &p, &[(5, dout), (7, dwpe)], groups);
    }
}
