//! How work reaches the device:
//! - Every buffer is a whole wgpu storage buffer; a `Tensor` view is (buffer, element offset,
//!   length). Kernels bind whole buffers and take element offsets in their uniform parameters,
//!   since views (KV-cache rows, parameter tensors) are not 256-byte aligned.
//! - Ops record one compute pass each into a single pending CommandEncoder; their uniform
//!   parameters go into 256-byte slots of a few reusable uniform buffers (see `Uniforms`).
//! - `read` submits the pending work with a copy into a staging buffer, maps it and returns.
//!   `write` uses `queue.write_buffer`, which lands before the next submit's commands, so it
//!   first submits the pending work when that work touches the buffer written.
//! - Each compute pipeline is created once, on first use; bind groups are cached.

use std::borrow::Cow;

use bytemuck::Pod;

use super::kernels::{Kernel, SHADERS};
use super::{context, GpuBackend};
use crate::backend::{Backend, Pending, Tensor};
use crate::error::{Error, Result};

/// One storage buffer.
pub(super) struct Buf {
    pub raw: wgpu::Buffer,
    /// Length in elements (the wgpu buffer may be a little longer).
    pub len: usize,
    /// Holds u32 token ids rather than f32.
    pub ids: bool,
}

#[derive(Clone)]
pub(super) struct Pipeline {
    raw: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Per-dispatch uniform parameters: 256-byte slots in 64 KiB uniform buffers, filled on the
/// host while work is recorded and uploaded (one write per buffer) just before the submit that
/// uses them. After a submit the slots are reused: queue writes for the next submit are
/// ordered after the work already submitted.
#[derive(Default)]
pub(super) struct Uniforms {
    bufs: Vec<wgpu::Buffer>,
    host: Vec<u8>,
    used: usize,
}

const SLOT: usize = 256;
const SLOTS_PER_BUF: usize = 256;

impl Uniforms {
    /// Stores `bytes` in the next free slot: (uniform buffer index, byte offset in it).
    fn push(&mut self, device: &wgpu::Device, bytes: &[u8]) -> (usize, u64) {
        assert!(bytes.len() <= SLOT && bytes.len().is_multiple_of(16), "uniform params must be a multiple of 16 bytes, at most {SLOT}");
        let i = self.used;
        self.used += 1;
        let (b, k) = (i / SLOTS_PER_BUF, i % SLOTS_PER_BUF);
        if b == self.bufs.len() {
            self.bufs.push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("uniform params"),
                size: (SLOT * SLOTS_PER_BUF) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        if self.host.len() < self.used * SLOT {
            self.host.resize(self.used * SLOT, 0);
        }
        self.host[i * SLOT..i * SLOT + bytes.len()].copy_from_slice(bytes);
        (b, (k * SLOT) as u64)
    }

    fn upload(&mut self, queue: &wgpu::Queue) {
        for (b, buf) in self.bufs.iter().enumerate() {
            let start = b * SLOTS_PER_BUF;
            if start >= self.used {
                break;
            }
            let end = self.used.min(start + SLOTS_PER_BUF);
            queue.write_buffer(buf, 0, &self.host[start * SLOT..end * SLOT]);
        }
        self.used = 0;
    }
}

/// What a bind group binds: the pipeline, the uniform slot, and (binding, buffer index, byte
/// range) per storage binding. A training step dispatches the same sequence every time, and
/// dispatch i after a submit always gets uniform slot i, so from the second step on every
/// bind group comes from the cache.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupKey {
    pipeline: (Kernel, Option<&'static str>),
    uniform: (usize, u64, u64),
    pub bindings: Vec<(u32, usize, u64, u64)>,
}

/// Bind groups kept at most; past it the cache starts over (generation's ever-changing
/// shapes must not grow it without bound).
const MAX_GROUPS: usize = 4096;

/// A readback in flight: the staging buffer, its length, the submit that fills it and the
/// map result to come.
pub(super) struct Read {
    staging: wgpu::Buffer,
    len: usize,
    submit: Option<wgpu::SubmissionIndex>,
    mapped: futures_channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

/// Element offset as the u32 kernels take (buffers are far below 2^32 elements: alloc checks
/// them against the binding size limit).
pub(super) fn u(x: usize) -> u32 {
    u32::try_from(x).expect("size fits in u32")
}

impl GpuBackend {
    /// Submits the pending work without waiting for it.
    pub fn flush(&mut self) {
        // the open compute pass ends before its encoder can finish
        self.pass = None;
        if let Some(enc) = self.encoder.take() {
            self.uniforms.upload(&self.ctx.queue);
            self.submitted = Some(self.ctx.queue.submit([enc.finish()]));
            self.pending.clear();
        }
    }

    /// Submits the pending work and blocks until the device has finished it (native only):
    /// time a kernel as `sync(); start; launches...; sync(); elapsed`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sync(&mut self) {
        self.flush();
        self.wait();
    }

    /// Blocks until queued work is done (native); a failure is recorded as the fault.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn wait(&self) {
        if let Err(e) = self.ctx.device.poll(wgpu::PollType::wait_indefinitely()) {
            context::record(&self.ctx.fault, format!("waiting for the GPU failed: {e}"));
        }
    }

    /// Submits the pending work and resolves when the device has finished it (native and web).
    pub async fn finish(&mut self) {
        self.flush();
        let (tx, rx) = futures_channel::oneshot::channel();
        self.ctx.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.wait();
        let _ = rx.await;
    }

    pub(super) fn buf(&self, t: Tensor) -> &Buf {
        let b = self.bufs.get(t.buf).and_then(|b| b.as_ref()).unwrap_or_else(|| panic!("tensor {t:?} names a freed or unknown buffer"));
        assert!(t.off + t.len <= b.len, "tensor {t:?} outside its buffer of {}", b.len);
        b
    }

    pub(super) fn create(&mut self, len: usize, label: &str, ids: bool) -> Result<Tensor> {
        let bytes = (len.max(1) * 4) as u64;
        let l = &self.ctx.limits;
        let max = l.max_buffer_size.min(l.max_storage_buffer_binding_size);
        if bytes > max {
            return Err(Error::Gpu(format!(
                "buffer '{label}' needs {len} elements ({} bytes, {} MiB); the GPU adapter '{}' allows at most {max} bytes ({} MiB) per storage buffer",
                len * 4,
                (len * 4) >> 20,
                self.ctx.info.name,
                max >> 20
            )));
        }
        let raw = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.bufs.push(Some(Buf { raw, len, ids }));
        Ok(Tensor { buf: self.bufs.len() - 1, off: 0, len })
    }

    /// A backend-owned scratch tensor of at least `len` elements for `purpose`.
    pub(super) fn scratch(&mut self, purpose: &'static str, len: usize) -> Tensor {
        if let Some(&t) = self.scratch.get(purpose) {
            if t.len >= len {
                return t;
            }
            self.free(t);
        }
        let t = self.create(len, purpose, false).expect("scratch buffers are small");
        self.scratch.insert(purpose, t);
        t
    }

    /// A 4-element buffer for a binding an entry point declares but does not read.
    pub(super) fn unused(&mut self) -> Tensor {
        self.scratch("unused binding", 4)
    }

    /// The byte offset at which a view is bound: its start rounded down to the adapter's
    /// storage-offset alignment. Binding each view's own range (not the whole buffer) lets two
    /// views of one buffer be written by one dispatch (dw and dbias in the gradient buffer):
    /// WebGPU forbids overlapping writable bindings.
    fn bind_start(&self, t: Tensor) -> u64 {
        if self.whole.contains(&t.buf) {
            return 0;
        }
        let a = self.ctx.limits.min_storage_buffer_offset_alignment as u64;
        (t.off as u64 * 4) / a * a
    }

    /// The element offset a kernel adds for view `t`, relative to where `dispatch` binds it.
    pub(super) fn off(&self, t: Tensor) -> u32 {
        u(t.off - (self.bind_start(t) / 4) as usize)
    }

    /// The pending encoder, for commands outside compute passes (copies, clears, queries): the
    /// open pass ends first (an encoder is locked while a pass records).
    pub(super) fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        let device = &self.ctx.device;
        self.encoder.get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("tinygpt ops") }))
    }

    /// Creates the pipeline of every kernel this adapter's variant dispatches (the other
    /// matmul file skipped), for callers that would rather pay every compile up front (`bench`,
    /// so no timing includes one). Natively each call compiles there and then; a browser's
    /// GPU process compiles them in order before later work (on SwiftShader, tens of seconds
    /// for all of them). Returns how many pipelines were created.
    pub fn warm_up(&mut self) -> usize {
        use super::kernels::{attention, matmul_blocked, matmul_tiled};
        let skip = match self.matmul {
            super::MatmulVariant::Blocked => matmul_tiled::FORWARD.shader,
            super::MatmulVariant::Tiled => matmul_blocked::FORWARD.shader,
        };
        let before = self.pipelines.len();
        let cpu = self.matmul == super::MatmulVariant::Blocked;
        for sh in SHADERS.iter().filter(|s| s.name != skip) {
            // of a kernel with a `_serial` twin, only the one this variant dispatches
            let has_twin = |k: Kernel| sh.kernels.iter().any(|o| o.entry.strip_suffix(super::kernels::SERIAL) == Some(k.entry));
            for &k in sh.kernels {
                if (cpu && has_twin(k)) || (!cpu && k.entry.ends_with(super::kernels::SERIAL)) {
                    continue;
                }
                // attention: the fused kernels on real GPUs, the row kernels between batched
                // products on CPU adapters (compiling the others there is seconds each)
                let fused = [attention::FORWARD, attention::BACKWARD_DQ, attention::BACKWARD_DKV].contains(&k);
                let rows = [attention::SOFTMAX_FORWARD, attention::SOFTMAX_BACKWARD, attention::PROBS].contains(&k);
                if (cpu && fused) || (!cpu && rows) {
                    continue;
                }
                self.pipeline(k, None);
                if k == matmul_blocked::BATCHED || k == matmul_tiled::BATCHED {
                    self.pipeline(k, Some(super::kernels::B_IN_A));
                }
            }
        }
        self.pipelines.len() - before
    }

    /// Pipelines created so far.
    pub fn pipelines_created(&self) -> usize {
        self.pipelines.len()
    }

    fn pipeline(&mut self, k: Kernel, flag: Option<&'static str>) -> Pipeline {
        if let Some(p) = self.pipelines.get(&(k, flag)) {
            return p.clone();
        }
        let device = &self.ctx.device;
        let module = self.modules.entry(k.shader).or_insert_with(|| {
            let src = SHADERS.iter().find(|s| s.name == k.shader).unwrap_or_else(|| panic!("no shader named {}", k.shader)).source;
            device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(k.shader), source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)) })
        });
        let raw = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: None,
            module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &flag.iter().map(|&f| (f, 1.0)).collect::<Vec<_>>(),
                // every kernel writes its workgroup memory before reading it
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let p = Pipeline { layout: raw.get_bind_group_layout(0), raw };
        self.pipelines.insert((k, flag), p.clone());
        p
    }

    /// Records one dispatch of kernel `k` with `params` at binding 0 and each tensor's buffer
    /// (the range around its view) at its binding.
    pub(super) fn dispatch<P: Pod>(&mut self, k: Kernel, params: &P, bindings: &[(u32, Tensor)], groups: [u32; 3]) {
        self.dispatch_with(k, None, params, bindings, groups)
    }

    /// `dispatch` with the shader's boolean override `flag` (if any) set true.
    pub(super) fn dispatch_with<P: Pod>(&mut self, k: Kernel, flag: Option<&'static str>, params: &P, bindings: &[(u32, Tensor)], groups: [u32; 3]) {
        if groups.contains(&0) {
            return;
        }
        let pipe = self.pipeline(k, flag);
        let bytes = bytemuck::bytes_of(params);
        let (ubuf, uoff) = self.uniforms.push(&self.ctx.device, bytes);
        let mut key = GroupKey { pipeline: (k, flag), uniform: (ubuf, uoff, bytes.len() as u64), bindings: Vec::with_capacity(bindings.len()) };
        for &(binding, t) in bindings {
            let start = self.bind_start(t);
            // at least one element: WebGPU has no empty bindings
            let size = self.buf(t).raw.size();
            let end = if self.whole.contains(&t.buf) { size } else { (((t.off + t.len.max(1)) * 4) as u64).min(size) };
            key.bindings.push((binding, t.buf, start, end - start));
        }
        let group = match self.groups.get(&key) {
            Some(g) => g.clone(),
            None => {
                let ubuf = &self.uniforms.bufs[ubuf];
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: ubuf, offset: uoff, size: wgpu::BufferSize::new(bytes.len() as u64) }),
                }];
                for &(binding, buf, start, size) in &key.bindings {
                    let raw = &self.bufs[buf].as_ref().expect("checked by buf()").raw;
                    entries.push(wgpu::BindGroupEntry { binding, resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: raw, offset: start, size: wgpu::BufferSize::new(size) }) });
                }
                let g = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(k.entry), layout: &pipe.layout, entries: &entries });
                self.groups_created += 1;
                if self.groups.len() >= MAX_GROUPS {
                    self.groups.clear();
                }
                self.groups.insert(key, g.clone());
                g
            }
        };
        for &(_, t) in bindings {
            self.pending.insert(t.buf);
        }
        self.dispatches += 1;
        if self.profile.is_none() {
            // Consecutive dispatches share one compute pass: WebGPU orders them and makes each
            // one's writes visible to the next, and a pass costs the driver more than a dispatch.
            if self.pass.is_none() {
                let pass = self.encoder().begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("tinygpt ops"), timestamp_writes: None });
                self.pass = Some(pass.forget_lifetime());
                self.passes += 1;
            }
            let pass = self.pass.as_mut().expect("opened above");
            pass.set_pipeline(&pipe.raw);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
            return;
        }
        // Profiling: a pass per dispatch, timed by its own timestamps (or by the wall clock).
        let timing = self.profile_begin(k.entry);
        {
            let timestamp_writes = timing.stamp.as_ref().map(|(set, i)| wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(*i),
                end_of_pass_write_index: Some(*i + 1),
            });
            self.passes += 1;
            let mut pass = self.encoder().begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(k.entry), timestamp_writes });
            pass.set_pipeline(&pipe.raw);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        self.profile_end(k.entry, timing);
    }

    /// Workgroups for `n` invocations of a 1-D kernel `wg` wide, spread over a 2-D grid when
    /// one dimension is not enough (kernels index `id.y * num_workgroups.x * wg + id.x`).
    pub(super) fn grid_1d(&self, n: usize, wg: u32) -> [u32; 3] {
        let groups = n.div_ceil(wg as usize);
        let max = self.ctx.limits.max_compute_workgroups_per_dimension as usize;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            [max as u32, groups.div_ceil(max) as u32, 1]
        }
    }

    pub(super) fn write_bytes(&mut self, dst: Tensor, bytes: &[u8]) {
        if dst.len == 0 {
            return;
        }
        if self.pending.contains(&dst.buf) {
            self.flush();
        }
        let raw = &self.buf(dst).raw;
        self.ctx.queue.write_buffer(raw, (dst.off * 4) as u64, bytes);
    }

    /// `Backend::read_start`: a copy into a staging buffer after the work recorded so far,
    /// submitted with it, and its mapping requested.
    pub(super) fn start_read(&mut self, src: Tensor) -> Pending {
        if src.len == 0 {
            return Pending { ready: Some(Vec::new()), id: 0 };
        }
        let size = (src.len * 4) as u64;
        let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let raw = self.buf(src).raw.clone();
        self.encoder().copy_buffer_to_buffer(&raw, (src.off * 4) as u64, &staging, 0, size);
        self.flush();
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        let id = self.next_read;
        self.next_read += 1;
        self.reads.insert(id, Read { staging, len: src.len, submit: self.submitted.clone(), mapped: rx });
        Pending { ready: None, id }
    }

    /// `Backend::read_done`: waits for that submit and the mapping; NaNs (and the fault
    /// recorded) when the device cannot deliver.
    pub(super) async fn finish_read(&mut self, p: Pending) -> Vec<f32> {
        if let Some(v) = p.ready {
            return v;
        }
        let Read { staging, len, submit, mapped } = self.reads.remove(&p.id).expect("read_done of a read_start of this backend, once");
        #[cfg(target_arch = "wasm32")]
        let _ = submit;
        // Natively the callback fires during poll (waiting for that submit only, not for work
        // recorded since); in a browser, once the event loop runs.
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.ctx.device.poll(wgpu::PollType::Wait { submission_index: submit, timeout: None }) {
            context::record(&self.ctx.fault, format!("waiting for the GPU failed: {e}"));
        }
        // A lost device never maps: the caller sees NaNs, and the fault says why.
        let r = mapped.await;
        #[cfg(not(target_arch = "wasm32"))]
        if !matches!(r, Ok(Ok(()))) {
            // a full wait runs the device-lost callback, whose reason replaces the map error
            self.wait();
        }
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                context::record(&self.ctx.fault, format!("reading back from the GPU failed: {e}"));
                return vec![f32::NAN; len];
            }
            Err(_) => {
                context::record(&self.ctx.fault, "reading back from the GPU failed: the device dropped the request".into());
                return vec![f32::NAN; len];
            }
        }
        let Ok(view) = staging.get_mapped_range(..) else {
            context::record(&self.ctx.fault, "reading back from the GPU failed: the buffer is not mapped".into());
            return vec![f32::NAN; len];
        };
        let data = bytemuck::cast_slice::<u8, f32>(&view).to_vec();
        drop(view);
        staging.unmap();
        data
    }
}
