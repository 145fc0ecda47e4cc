//! Launchers for shaders/reduce.wgsl: sum and sum of squares, two fixed-shape passes.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    square: u32,
    out_off: u32,
    x_off: u32,
}

/// Up to this many elements one workgroup sums in one dispatch (256 per invocation at most).
const SMALL: usize = 65536;

/// out[0] = Σ x (or Σ x² when `square`): 256 workgroups write partial sums to a scratch
/// buffer, then one workgroup adds those; a short x (a step's losses) in one dispatch.
pub(super) fn reduce(g: &mut GpuBackend, out: Tensor, x: Tensor, square: bool) {
    let p = Params { n: u(x.len), square: square as u32, out_off: g.off(out), x_off: g.off(x) };
    if x.len <= SMALL {
        g.dispatch(kernels::reduce::SMALL, &p, &[(1, out), (2, x)], [1, 1, 1]);
        return;
    }
    let partials = g.scratch("reduction partials", 256);
    g.dispatch(kernels::reduce::PARTIALS, &p, &[(2, x), (3, partials)], [256, 1, 1]);
    g.dispatch(kernels::reduce::FINAL, &p, &[(1, out), (3, partials)], [1, 1, 1]);
}
