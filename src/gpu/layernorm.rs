//! Launchers for shaders/layernorm.wgsl: LayerNorm over the last dimension, eps 1e-5.

use super::runtime::u;
use super::{kernels, GpuBackend, MatmulVariant};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

/// The shader's workgroup size (WG).
const WG: u32 = 64;
/// The backward's blocks of rows at most: stage 2 of dw/dbias adds this many partials per
/// column, and the scratch holds blocks·2·C values.
const MAX_BLOCKS: usize = 1024;
/// Rows per block at least, so a block's column sums are worth a workgroup.
const MIN_ROWS: usize = 4;

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
    /// backward: rows per block
    rows: u32,
    /// backward: blocks of rows
    blocks: u32,
    _pad: u32,
}

/// Whether to run the `_serial` kernels, whose invocations each walk loops of `len` iterations
/// (a few times over): on CPU adapters (as for the matmul: barriers are slow there), unless
/// `len` is long. llvmpipe (lavapipe) ends an invocation's loops after 65535 iterations in all,
/// which cut GPT-2's 50257-way cross-entropy short; the workgroup kernels' strided loops are short.
pub(super) fn serial(g: &GpuBackend, len: usize) -> bool {
    g.matmul == MatmulVariant::Blocked && len <= SERIAL_MAX
}

/// The longest loop the `_serial` kernels are given (see `serial`).
const SERIAL_MAX: usize = 8192;

/// out[N,C] = (inp - mean) * rstd * w + bias; saves mean[N], rstd[N]. One workgroup per row
/// (one invocation on CPU adapters).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, bias: Tensor, n: usize, c: usize) {
    let p = Params {
        n: u(n), c: u(c), out_off: g.off(out), mean_off: g.off(mean), rstd_off: g.off(rstd),
        inp_off: g.off(inp), w_off: g.off(w), bias_off: g.off(bias), dout_off: 0, rows: 0, blocks: 0, _pad: 0,
    };
    let (k, groups) = if serial(g, c) { (kernels::layernorm::FORWARD_SERIAL, g.grid_1d(n, WG)) } else { (kernels::layernorm::FORWARD, g.grid_1d(n, 1)) };
    g.dispatch(k, &p, &[(1, out), (2, mean), (3, rstd), (4, inp), (5, w), (6, bias)], groups);
}

/// dinp[N,C] += ... with stage 1 of dw/dbias (per block of rows: its column sums into a
/// scratch buffer), then stage 2: dw[C] += ..., dbias[C] += ..., the blocks added in order.
/// Two dispatches; the same bits every run. CPU adapters: one invocation per row for dinp,
/// then one per channel walking the rows for dw/dbias.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dinp: Tensor, dw: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, n: usize, c: usize) {
    // dw/dbias's invocations walk the rows
    if serial(g, c.max(n)) {
        let mut p = Params {
            n: u(n), c: u(c), out_off: g.off(dinp), mean_off: g.off(mean), rstd_off: g.off(rstd),
            inp_off: g.off(inp), w_off: g.off(w), bias_off: 0, dout_off: g.off(dout), rows: 0, blocks: 0, _pad: 0,
        };
        let groups = g.grid_1d(n, WG);
        g.dispatch(kernels::layernorm::BACKWARD_SERIAL, &p, &[(1, dinp), (4, inp), (5, w), (7, dout), (8, mean), (9, rstd)], groups);
        p.w_off = g.off(dw);
        p.bias_off = g.off(dbias);
        let groups = g.grid_1d(c, WG);
        g.dispatch(kernels::layernorm::BACKWARD_DW_SERIAL, &p, &[(4, inp), (7, dout), (8, mean), (9, rstd), (12, dw), (13, dbias)], groups);
        return;
    }
    let rows = n.div_ceil(MAX_BLOCKS).max(MIN_ROWS);
    let blocks = n.div_ceil(rows);
    let partials = g.scratch("layernorm dw partials", blocks * 2 * c);
    let p = Params {
        n: u(n), c: u(c), out_off: g.off(dinp), mean_off: g.off(mean), rstd_off: g.off(rstd),
        inp_off: g.off(inp), w_off: g.off(dw), bias_off: g.off(dbias), dout_off: g.off(dout),
        rows: u(rows), blocks: u(blocks), _pad: 0,
    };
    // w is read at w_off in the first dispatch, dw in the second: two uniforms
    let p1 = Params { w_off: g.off(w), ..p };
    let groups = g.grid_1d(blocks, 1);
    g.dispatch(kernels::layernorm::BACKWARD, &p1, &[(1, dinp), (4, inp), (5, w), (7, dout), (8, mean), (9, rstd), (10, partials)], groups);
    let groups = g.grid_1d(2 * c, WG);
    g.dispatch(kernels::layernorm::BACKWARD_DW, &p, &[(11, partials), (12, dw), (13, dbias)], groups);
}
