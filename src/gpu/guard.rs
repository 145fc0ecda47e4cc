//! Launcher for shaders/guard.wgsl: the failure guard of pipelined training steps.

use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    norm_off: u32,
    guard_off: u32,
    /// A quiet NaN's bits, a run-time value (browsers reject a constant NaN in WGSL).
    nan_bits: u32,
    _pad: u32,
}

/// norm_sq[1] += guard[1], then guard = norm_sq·0, both in place (in two buffers).
pub(super) fn forward(g: &mut GpuBackend, norm_sq: Tensor, guard: Tensor) {
    assert!(norm_sq.len == 1 && guard.len == 1, "failure_guard: [1] and [1], got {norm_sq:?} {guard:?}");
    let p = Params { norm_off: g.off(norm_sq), guard_off: g.off(guard), nan_bits: f32::NAN.to_bits(), _pad: 0 };
    g.dispatch(kernels::guard::FAILURE_GUARD, &p, &[(1, norm_sq), (2, guard)], [1, 1, 1]);
}
