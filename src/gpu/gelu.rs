//! Launchers for shaders/gelu.wgsl: GELU, tanh approximation.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    out_off: u32,
    inp_off: u32,
    dout_off: u32,
}

pub(super) fn forward(g: &mut GpuBackend, out: Tensor, inp: Tensor, n: usize) {
    let p = Params { n: u(n), out_off: g.off(out), inp_off: g.off(inp), dout_off: 0 };
    let groups = g.grid_1d(n, 256);
    g.dispatch(kernels::gelu::FORWARD, &p, &[(1, out), (2, inp)], groups);
}

/// dinp[N] = gelu'(inp) * dout (overwritten).
pub(super) fn backward(g: &mut GpuBackend, dinp: Tensor, inp: Tensor, dout: Tensor, n: usize) {
    let p = Params { n: u(n), out_off: g.off(dinp), inp_off: g.off(inp), dout_off: g.off(dout) };
    let groups = g.grid_1d(n, 256);
    g.dispatch(kernels::gelu::BACKWARD, &p, &[(1, dinp), (2, inp), (3, dout)], groups);
}
