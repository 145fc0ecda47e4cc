//! The GPU backend: the Backend trait on wgpu (WebGPU natively through Vulkan/Metal/DX12, and
//! in the browser), one WGSL file per op family under shaders/.
//!
//! Here: `GpuBackend` and its `Backend` impl, each op handed to its launcher (one file per op
//! family: encoder.rs, matmul.rs, ...). runtime.rs: buffers, uniforms, bind groups, dispatch
//! and readback; profile.rs: the per-kernel profiler; kernels.rs: the one table of shader files
//! and entry points; context.rs: adapter and device.

mod adamw;
mod attention;
mod context;
mod crossentropy;
mod encoder;
mod gelu;
mod guard;
mod dropout;
mod head_mask;
pub mod kernels;
mod layernorm;
mod matmul;
mod profile;
mod reduce;
mod residual;
mod runtime;

use std::collections::{HashMap, HashSet};

use crate::backend::{AdamWStep, Backend, DropoutMask, Pending, Tensor};
use crate::error::Result;
use context::Context;
use kernels::Kernel;
use runtime::{Buf, GroupKey, Pipeline, Read, Uniforms};

/// Which matmul kernels run. Chosen from the adapter (`Blocked` on CPU adapters such as
/// lavapipe and SwiftShader, `Tiled` elsewhere); `set_matmul_variant` overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// Workgroup-memory tiles of 64x64 with barriers (shaders/matmul_tiled.wgsl): real GPUs.
    Tiled,
    /// 4x4 outputs per invocation in registers, no workgroup memory or barriers
    /// (shaders/matmul_blocked.wgsl): CPU adapters, where barriers are slow.
    Blocked,
}

pub struct GpuBackend {
    ctx: Context,
    bufs: Vec<Option<Buf>>,
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    /// By (kernel, the boolean override set true if any).
    pipelines: HashMap<(Kernel, Option<&'static str>), Pipeline>,
    /// Work recorded since the last submit, and the buffers it touches.
    encoder: Option<wgpu::CommandEncoder>,
    /// The compute pass consecutive dispatches are recorded into (ended by any other command
    /// on the encoder, and by a submit).
    pass: Option<wgpu::ComputePass<'static>>,
    /// Dispatches and compute passes recorded so far (`bench` reports them per step and token).
    dispatches: u64,
    passes: u64,
    pending: HashSet<usize>,
    uniforms: Uniforms,
    groups: HashMap<GroupKey, wgpu::BindGroup>,
    /// Readbacks started and not yet finished: staging buffer, length, map result to come.
    reads: HashMap<usize, Read>,
    next_read: usize,
    /// The latest submit.
    submitted: Option<wgpu::SubmissionIndex>,
    /// Bind groups created so far (a test checks that training steps after the first create none).
    groups_created: usize,
    /// Backend-internal scratch buffers by purpose (attention row dots, reduction partials).
    scratch: HashMap<&'static str, Tensor>,
    /// Buffers bound whole whatever the view (`Backend::bind_whole`).
    whole: HashSet<usize>,
    /// AdamW's decay tables on the device, by content ((start, end) pairs).
    decay_tables: HashMap<Vec<u32>, Tensor>,
    matmul: MatmulVariant,
    /// Per entry point: (dispatches, seconds), when profiling (native only).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    profile: Option<HashMap<&'static str, (usize, f64)>>,
    /// When profiling with timestamp queries: the query set and the entry point of each pass
    /// that writes a begin/end pair into it, not yet read.
    stamps: Option<(wgpu::QuerySet, Vec<&'static str>)>,
    /// A lower per-buffer limit than the device's (tests of models cut into buffers).
    max_elems: Option<usize>,
}

impl GpuBackend {
    /// Opens the best adapter there is. Fails with `Error::Gpu` saying why when there is none.
    pub async fn new() -> Result<GpuBackend> {
        let ctx = Context::new().await?;
        let matmul = if ctx.info.device_type == wgpu::DeviceType::Cpu { MatmulVariant::Blocked } else { MatmulVariant::Tiled };
        Ok(GpuBackend {
            ctx,
            bufs: Vec::new(),
            modules: HashMap::new(),
            pipelines: HashMap::new(),
            encoder: None,
            pass: None,
            dispatches: 0,
            passes: 0,
            pending: HashSet::new(),
            uniforms: Uniforms::default(),
            groups: HashMap::new(),
            reads: HashMap::new(),
            next_read: 0,
            submitted: None,
            groups_created: 0,
            scratch: HashMap::new(),
            decay_tables: HashMap::new(),
            whole: HashSet::new(),
            matmul,
            profile: None,
            stamps: None,
            max_elems: None,
        })
    }

    /// `new()`, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<GpuBackend> {
        pollster::block_on(Self::new())
    }

    /// The adapter's name, vendor, device type, backend and driver as wgpu reports them.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.ctx.info
    }

    /// The device's limits (buffer sizes, storage bindings...).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.ctx.limits
    }

    /// How many bind groups have been created (the rest came from the cache).
    pub fn bind_groups_created(&self) -> usize {
        self.groups_created
    }

    /// (dispatches, compute passes) recorded since the backend was made: `bench` reports the
    /// difference over a training step and over a decoded token.
    pub fn counts(&self) -> (u64, u64) {
        (self.dispatches, self.passes)
    }

    pub fn matmul_variant(&self) -> MatmulVariant {
        self.matmul
    }

    /// Forces the matmul kernels (tests and benchmarks exercise both).
    pub fn set_matmul_variant(&mut self, v: MatmulVariant) {
        self.matmul = v;
    }

    /// Reports at most `n` elements per buffer (below the device's own limit), so a model is
    /// cut into buffers as on a smaller GPU: tests of that path on any adapter.
    pub fn set_max_elems(&mut self, n: usize) {
        self.max_elems = Some(n);
    }

    /// Destroys the device, as a driver reset would (tests of the device-lost path).
    pub fn lose_device(&self) {
        self.ctx.device.destroy();
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.ctx.describe()
    }

    fn alloc(&mut self, len: usize, label: &str) -> Result<Tensor> {
        self.create(len, label, false)
    }

    fn alloc_u32(&mut self, len: usize, label: &str) -> Result<Tensor> {
        self.create(len, label, true)
    }

    fn write(&mut self, dst: Tensor, data: &[f32]) {
        assert_eq!(dst.len, data.len(), "write of {} values into {dst:?}", data.len());
        assert!(!self.buf(dst).ids, "write of f32 values into u32 buffer {dst:?}");
        self.write_bytes(dst, bytemuck::cast_slice(data));
    }

    fn write_u32(&mut self, dst: Tensor, data: &[u32]) {
        assert_eq!(dst.len, data.len(), "write of {} ids into {dst:?}", data.len());
        assert!(self.buf(dst).ids, "write_u32 into f32 buffer {dst:?}");
        self.write_bytes(dst, bytemuck::cast_slice(data));
    }

    async fn read(&mut self, src: Tensor) -> Vec<f32> {
        let p = self.read_start(src);
        self.read_done(p).await
    }

    fn read_start(&mut self, src: Tensor) -> Pending {
        self.start_read(src)
    }

    async fn read_done(&mut self, p: Pending) -> Vec<f32> {
        self.finish_read(p).await
    }

    fn zero(&mut self, t: Tensor) {
        if t.len == 0 {
            return;
        }
        let raw = self.buf(t).raw.clone();
        self.pending.insert(t.buf);
        self.encoder().clear_buffer(&raw, (t.off * 4) as u64, Some((t.len * 4) as u64));
    }

    fn bind_whole(&mut self, t: Tensor) {
        self.whole.insert(t.buf);
    }

    fn free(&mut self, t: Tensor) {
        self.whole.remove(&t.buf);
        // Work already recorded keeps its own reference; wgpu frees the memory after it.
        if let Some(slot) = self.bufs.get_mut(t.buf) {
            *slot = None;
        }
        // cached bind groups would keep the buffer alive
        self.groups.retain(|k, _| !k.bindings.iter().any(|b| b.1 == t.buf));
    }

    fn fault(&self) -> Option<String> {
        self.ctx.fault.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn max_elems(&self) -> usize {
        let l = &self.ctx.limits;
        let device = (l.max_buffer_size.min(l.max_storage_buffer_binding_size as u64) / 4) as usize;
        self.max_elems.map_or(device, |m| m.min(device))
    }

    fn copy(&mut self, dst: Tensor, src: Tensor) {
        assert_eq!(dst.len, src.len, "copy of {src:?} into {dst:?}");
        if dst.len == 0 {
            return;
        }
        let (d, x) = (self.buf(dst).raw.clone(), self.buf(src).raw.clone());
        self.pending.insert(dst.buf);
        self.encoder().copy_buffer_to_buffer(&x, (src.off * 4) as u64, &d, (dst.off * 4) as u64, (dst.len * 4) as u64);
    }

    fn encoder_forward(&mut self, out: Tensor, inp: Tensor, wte: Tensor, pe: Tensor, b: usize, t: usize, c: usize, pos0: usize) {
        encoder::forward(self, out, inp, wte, pe, b, t, c, pos0);
    }

    fn encoder_backward(&mut self, dwte: Tensor, dwpe: Option<Tensor>, dout: Tensor, inp: Tensor, b: usize, t: usize, c: usize) {
        encoder::backward(self, dwte, dwpe, dout, inp, b, t, c);
    }

    fn layernorm_forward(&mut self, out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, bias: Tensor, n: usize, c: usize) {
        layernorm::forward(self, out, mean, rstd, inp, w, bias, n, c);
    }

    fn layernorm_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, n: usize, c: usize) {
        layernorm::backward(self, dinp, dw, dbias, dout, inp, w, mean, rstd, n, c);
    }

    fn matmul_forward(&mut self, out: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        matmul::forward(self, out, inp, w, bias, n, c, oc);
    }

    fn matmul_backward(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, n: usize, c: usize, oc: usize) {
        matmul::backward(self, dinp, dw, dbias, dout, inp, w, None, n, c, oc);
    }

    fn matmul_forward_gelu(&mut self, out: Tensor, pre: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        matmul::forward_gelu(self, out, pre, inp, w, bias, n, c, oc);
    }

    fn matmul_forward_residual(&mut self, out: Tensor, res: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
        matmul::forward_residual(self, out, res, inp, w, bias, n, c, oc);
    }

    fn matmul_backward_gelu(&mut self, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, pre: Tensor, n: usize, c: usize, oc: usize) {
        matmul::backward(self, dinp, dw, dbias, dout, inp, w, Some(pre), n, c, oc);
    }

    fn attention_forward(&mut self, out: Tensor, lse: Tensor, att: Option<Tensor>, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
        attention::forward(self, out, lse, att, qkv, b, tq, tk, c, nh);
    }

    fn attention_backward(&mut self, dqkv: Tensor, dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, b: usize, t: usize, c: usize, nh: usize) {
        attention::backward(self, dqkv, dout, qkv, out, lse, b, t, c, nh);
    }

    fn gelu_forward(&mut self, out: Tensor, inp: Tensor, n: usize) {
        gelu::forward(self, out, inp, n);
    }

    fn gelu_backward(&mut self, dinp: Tensor, inp: Tensor, dout: Tensor, n: usize) {
        gelu::backward(self, dinp, inp, dout, n);
    }

    fn head_mask(&mut self, y: Tensor, keep: Tensor, n: usize, c: usize, nh: usize) {
        head_mask::forward(self, y, keep, n, c, nh);
    }

    fn dropout(&mut self, y: Tensor, m: &DropoutMask, n: usize) {
        dropout::forward(self, y, m, n);
    }

    fn residual_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, n: usize) {
        residual::forward(self, out, a, b, n);
    }

    fn crossentropy_forward(&mut self, losses: Tensor, hits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize) {
        crossentropy::forward(self, losses, hits, logits, targets, weights, n, v);
    }

    fn crossentropy_backward(&mut self, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
        crossentropy::backward(self, dlogits, logits, targets, weights, n, v, scale);
    }

    fn crossentropy_fused(&mut self, losses: Tensor, hits: Tensor, dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, n: usize, v: usize, scale: f32) {
        crossentropy::fused(self, losses, hits, dlogits, logits, targets, weights, n, v, scale);
    }

    fn sum(&mut self, out: Tensor, x: Tensor) {
        reduce::reduce(self, out, x, false);
    }

    fn norm_sq(&mut self, out: Tensor, x: Tensor) {
        reduce::reduce(self, out, x, true);
    }

    fn adamw(&mut self, p: Tensor, g: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, decayed: &[(usize, usize)], h: &AdamWStep) {
        adamw::update(self, p, g, m, v, grad_norm_sq, decayed, h);
    }

    fn failure_guard(&mut self, norm_sq: Tensor, guard: Tensor) {
        guard::forward(self, norm_sq, guard);
    }
}
