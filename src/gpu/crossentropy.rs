//! Launchers for shaders/crossentropy.wgsl: softmax + cross-entropy, fused, weighted per
//! position. One workgroup per row (one invocation on CPU adapters: `layernorm::serial`).

use super::runtime::u;
use super::layernorm::serial;
use super::{kernels, GpuBackend};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    v: u32,
    out_off: u32,
    hits_off: u32,
    logits_off: u32,
    targets_off: u32,
    scale: f32,
    weights_off: u32,
    dlogits_off: u32,
    _pad: [u32; 3],
}

/// losses[N] = -w·log softmax(logits)[target]; hits[N] = w when argmax == target.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, losses: Tensor, hits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize) {
    let p = Params {
        n: u(n), v: u(v), out_off: g.off(losses), hits_off: g.off(hits),
        logits_off: g.off(logits), targets_off: g.off(targets), scale: 0.0, weights_off: g.off(weights), dlogits_off: 0, _pad: [0; 3],
    };
    let (k, groups) = if serial(g, v) { (kernels::crossentropy::FORWARD_SERIAL, g.grid_1d(n, 64)) } else { (kernels::crossentropy::FORWARD, g.grid_1d(n, 1)) };
    g.dispatch(k, &p, &[(1, losses), (2, hits), (3, logits), (4, targets), (5, weights)], groups);
}

/// dlogits[N,V] = scale·w·(softmax(logits) - onehot(target)), overwritten.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
    let p = Params {
        n: u(n), v: u(v), out_off: g.off(dlogits), hits_off: 0,
        logits_off: g.off(logits), targets_off: g.off(targets), scale, weights_off: g.off(weights), dlogits_off: 0, _pad: [0; 3],
    };
    let (k, groups) = if serial(g, v) { (kernels::crossentropy::BACKWARD_SERIAL, g.grid_1d(n, 64)) } else { (kernels::crossentropy::BACKWARD, g.grid_1d(n, 1)) };
    g.dispatch(k, &p, &[(1, dlogits), (3, logits), (4, targets), (5, weights)], groups);
}

/// `forward` and `backward` in one dispatch: losses[N], hits[N] and dlogits[N,V].
#[allow(clippy::too_many_arguments)]
pub(super) fn fused(g: &mut GpuBackend, losses: Tensor, hits: Tensor, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
    let p = Params {
        n: u(n), v: u(v), out_off: g.off(losses), hits_off: g.off(hits),
        logits_off: g.off(logits), targets_off: g.off(targets), scale, weights_off: g.off(weights), dlogits_off: g.off(dlogits), _pad: [0; 3],
    };
    let (k, groups) = if serial(g, v) { (kernels::crossentropy::FUSED_SERIAL, g.grid_1d(n, 64)) } else { (kernels::crossentropy::FUSED, g.grid_1d(n, 1)) };
    g.dispatch(k, &p, &[(1, losses), (2, hits), (3, logits), (4, targets), (5, weights), (6, dlogits)], groups);
}
