//! Launchers for shaders/layernorm.wgsl: LayerNorm over the last dimension, eps 1e-5.

use super::runtime::u;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    c: u32,
    out_off: u32,
    mean_off: u32,
    rstd_off: u32,
    inp_off: u32,
    w_off: u32,
    bias_off: u32,
    dout_off: u32,
    _pad: [u32; 3],
}

/// out[N,C] = (inp - mean) * rstd * w + bias; saves mean[N], rstd[N].
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, bias: Tensor, n: usize, c: usize) {
    let p = Params {
        n: u(n), c: u(c), out_off: g.off(out), mean_off: g.off(mean), rstd_off: g.off(rstd),
        inp_off: g.off(inp), w_off: g.off(w), bias_off: g.off(bias), dout_off: 0, _pad: [0; 3],
    };
    let groups = g.grid_1d(n, 64);
    g.dispatch(kernels::layernorm::FORWARD, &p, &[(1, out), (2, mean), (3, rstd), (4, inp), (5, w), (6, bias)], groups);
}

/// dinp[N,C] += ..., then (a second pass, one invocation per channel) dw[C] += ..., dbias[C] += ...
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dinp: Tensor, dw: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, n: usize, c: usize) {
    let mut p = Params {
        n: u(n), c: u(c), out_off: g.off(dinp), mean_off: g.off(mean), rstd_off: g.off(rstd),
        inp_off: g.off(inp), w_off: g.off(w), bias_off: 0, dout_off: g.off(dout), _pad: [0; 3],
    };
    let groups = g.grid_1d(n, 64);
    g.dispatch(kernels::layernorm::BACKWARD, &p, &[(1, dinp), (2, mean), (3, rstd), (4, inp), (5, w), (7, dout)], groups);
    p.w_off = g.off(dw);
    p.bias_off = g.off(dbias);
    let groups = g.grid_1d(c, 64);
    g.dispatch(kernels::layernorm::BACKWARD_DW, &p, &[(2, mean), (3, rstd), (4, inp), (5, dw), (6, dbias), (7, dout)], groups);
}
