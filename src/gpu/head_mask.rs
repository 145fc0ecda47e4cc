//! Launcher for shaders/head_mask.wgsl: head ablation.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    c: u32,
    nh: u32,
    y_off: u32,
    keep_off: u32,
    _pad: [u32; 3],
}

/// y[N,C] with the columns of each head h whose keep[h] is 0 set to 0, in place.
pub(super) fn forward(g: &mut GpuBackend, y: Tensor, keep: Tensor, n: usize, c: usize, nh: usize) {
    assert!(c.is_multiple_of(nh), "head_mask: C {c} divisible by NH {nh}");
    let p = Params { n: u(n), c: u(c), nh: u(nh), y_off: g.off(y), keep_off: g.off(keep), _pad: [0; 3] };
    let groups = g.grid_1d(n * c, 256);
    g.dispatch(kernels::head_mask::FORWARD, &p, &[(1, y), (2, keep)], groups);
}
