//! Launcher for shaders/residual.wgsl: out = a + b.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    out_off: u32,
    a_off: u32,
    b_off: u32,
}

pub(super) fn forward(g: &mut GpuBackend, out: Tensor, a: Tensor, b: Tensor, n: usize) {
    let p = Params { n: u(n), out_off: g.off(out), a_off: g.off(a), b_off: g.off(b) };
    let groups = g.grid_1d(n, 256);
    g.dispatch(kernels::residual::FORWARD, &p, &[(1, out), (2, a), (3, b)], groups);
}
