//! Launcher for shaders/dropout.wgsl: dropout by a hashed mask, in place.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::{DropoutMask, Tensor};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    y_off: u32,
    seed: u32,
    base: u32,
    threshold: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// y[N] kept-and-scaled or zeroed by the mask m, in place.
pub(super) fn forward(g: &mut GpuBackend, y: Tensor, m: &DropoutMask, n: usize) {
    let p = Params { n: u(n), y_off: g.off(y), seed: m.seed, base: m.base, threshold: m.threshold, scale: m.scale, _pad: [0; 2] };
    let groups = g.grid_1d(n, 256);
    g.dispatch(kernels::dropout::FORWARD, &p, &[(1, y)], groups);
}
