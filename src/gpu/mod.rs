//! The GPU backend: the Backend trait on wgpu (WebGPU natively through Vulkan/Metal/DX12, and
//! in the browser), one WGSL file per op family under shaders/.
//!
//! How work flows:
//! - Every buffer is a whole wgpu storage buffer; a `Tensor` view is (buffer, element offset,
//!   length). Kernels bind whole buffers and take element offsets in their uniform parameters,
//!   since views (KV-cache rows, parameter tensors) are not 256-byte aligned.
//! - Ops record one compute pass each into a single pending CommandEncoder; their uniform
//!   parameters go into 256-byte slots of a few reusable uniform buffers (see `Uniforms`).
//! - `read` submits the pending work with a copy into a staging buffer, maps it and returns.
//!   `write` uses `queue.write_buffer`, which lands before the next submit's commands, so it
//!   first submits the pending work when that work touches the buffer written.
//! - Each compute pipeline is created once, on first use.

mod adamw;
mod attention;
mod context;
mod crossentropy;
mod encoder;
mod gelu;
mod guard;
mod layernorm;
mod matmul;
mod reduce;
mod residual;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bytemuck::Pod;

use crate::backend::{AdamWStep, Backend, Pending, Tensor};
use crate::error::{Error, Result};
use context::Context;

/// The WGSL sources, one per op family, by the name dispatches use.
const SHADERS: &[(&str, &str)] = &[
    ("encoder", include_str!("../../shaders/encoder.wgsl")),
    ("layernorm", include_str!("../../shaders/layernorm.wgsl")),
    ("matmul_blocked", include_str!("../../shaders/matmul_blocked.wgsl")),
    ("matmul_tiled", include_str!("../../shaders/matmul_tiled.wgsl")),
    ("attention", include_str!("../../shaders/attention.wgsl")),
    ("gelu", include_str!("../../shaders/gelu.wgsl")),
    ("residual", include_str!("../../shaders/residual.wgsl")),
    ("crossentropy", include_str!("../../shaders/crossentropy.wgsl")),
    ("adamw", include_str!("../../shaders/adamw.wgsl")),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
    ("guard", include_str!("../../shaders/guard.wgsl")),
];

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

struct Buf {
    raw: wgpu::Buffer,
    /// Length in elements (the wgpu buffer may be a little longer).
    len: usize,
    /// Holds u32 token ids rather than f32.
    ids: bool,
}

#[derive(Clone)]
struct Pipeline {
    raw: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

/// Per-dispatch uniform parameters: 256-byte slots in 64 KiB uniform buffers, filled on the
/// host while work is recorded and uploaded (one write per buffer) just before the submit that
/// uses them. After a submit the slots are reused: queue writes for the next submit are
/// ordered after the work already submitted.
struct Uniforms {
    bufs: Vec<wgpu::Buffer>,
    host: Vec<u8>,
    used: usize,
}

const SLOT: usize = 256;
/// Timestamp queries per profiling query set (wgpu's maximum): two per dispatch.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
const STAMPS: u32 = 4096;
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
struct GroupKey {
    pipeline: (&'static str, &'static str, Option<&'static str>),
    uniform: (usize, u64, u64),
    bindings: Vec<(u32, usize, u64, u64)>,
}

/// Bind groups kept at most; past it the cache starts over (generation's ever-changing
/// shapes must not grow it without bound).
const MAX_GROUPS: usize = 4096;

/// A readback in flight: the staging buffer, its length, the submit that fills it and the
/// map result to come.
struct Read {
    staging: wgpu::Buffer,
    len: usize,
    submit: Option<wgpu::SubmissionIndex>,
    mapped: futures_channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

pub struct GpuBackend {
    ctx: Context,
    bufs: Vec<Option<Buf>>,
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    /// By (shader, entry point, the boolean override set true if any).
    pipelines: HashMap<(&'static str, &'static str, Option<&'static str>), Pipeline>,
    /// Work recorded since the last submit, and the buffers it touches.
    encoder: Option<wgpu::CommandEncoder>,
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
            pending: HashSet::new(),
            uniforms: Uniforms { bufs: Vec::new(), host: Vec::new(), used: 0 },
            groups: HashMap::new(),
            reads: HashMap::new(),
            next_read: 0,
            submitted: None,
            groups_created: 0,
            scratch: HashMap::new(),
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

    /// Profiling (native only): when on, each dispatch's GPU time is added to its entry point's
    /// total, from timestamp queries written around its pass where the adapter has them, else
    /// by submitting and waiting for every dispatch on its own (slow; wall time). Turning it on
    /// clears the totals.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn set_profiling(&mut self, on: bool) {
        self.sync();
        self.profile = on.then(HashMap::new);
        self.stamps = (on && self.ctx.timestamps).then(|| {
            let set = self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("profile"), ty: wgpu::QueryType::Timestamp, count: STAMPS });
            (set, Vec::new())
        });
    }

    /// How `profile` measures: "timestamp queries" or "wall time around each dispatch".
    pub fn profile_source(&self) -> &'static str {
        if self.stamps.is_some() {
            "timestamp queries"
        } else {
            "wall time around each dispatch"
        }
    }

    /// (entry point, dispatches, total seconds), most expensive first.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile(&mut self) -> Vec<(&'static str, usize, f64)> {
        self.read_stamps();
        let mut v: Vec<_> = self.profile.iter().flatten().map(|(k, &(n, s))| (*k, n, s)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    /// Resolves the timestamps written so far and adds each pass's time to its entry point.
    #[cfg(not(target_arch = "wasm32"))]
    fn read_stamps(&mut self) {
        let Some((set, entries)) = self.stamps.take() else { return };
        if !entries.is_empty() {
            let n = 2 * entries.len() as u32;
            let size = n as u64 * wgpu::QUERY_SIZE as u64;
            let mk = |usage, label| self.ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false });
            let resolved = mk(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC, "timestamps");
            let staging = mk(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, "timestamps readback");
            let enc = self.encoder();
            enc.resolve_query_set(&set, 0..n, &resolved, 0);
            enc.copy_buffer_to_buffer(&resolved, 0, &staging, 0, size);
            self.sync();
            staging.map_async(wgpu::MapMode::Read, .., |_| {});
            self.wait();
            if let Ok(view) = staging.get_mapped_range(..) {
                let ticks: &[u64] = bytemuck::cast_slice(&view);
                let period = self.ctx.queue.get_timestamp_period() as f64; // ns per tick
                let totals = self.profile.get_or_insert_with(HashMap::new);
                for (i, e) in entries.iter().enumerate() {
                    let t = totals.entry(e).or_default();
                    t.0 += 1;
                    t.1 += ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period * 1e-9;
                }
            }
        }
        self.stamps = Some((set, Vec::new()));
    }

    /// Submits the pending work without waiting for it.
    pub fn flush(&mut self) {
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
    fn wait(&self) {
        if let Err(e) = self.ctx.device.poll(wgpu::PollType::wait_indefinitely()) {
            context::record(&self.ctx.fault, format!("waiting for the GPU failed: {e}"));
        }
    }

    /// Destroys the device, as a driver reset would (tests of the device-lost path).
    pub fn lose_device(&self) {
        self.ctx.device.destroy();
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

    fn buf(&self, t: Tensor) -> &Buf {
        let b = self.bufs.get(t.buf).and_then(|b| b.as_ref()).unwrap_or_else(|| panic!("tensor {t:?} names a freed or unknown buffer"));
        assert!(t.off + t.len <= b.len, "tensor {t:?} outside its buffer of {}", b.len);
        b
    }

    fn create(&mut self, len: usize, label: &str, ids: bool) -> Result<Tensor> {
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
    fn scratch(&mut self, purpose: &'static str, len: usize) -> Tensor {
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
    fn unused(&mut self) -> Tensor {
        self.scratch("unused binding", 4)
    }

    /// The byte offset at which a view is bound: its start rounded down to the adapter's
    /// storage-offset alignment. Binding each view's own range (not the whole buffer) lets two
    /// views of one buffer be written by one dispatch (dw and dbias in the gradient buffer):
    /// WebGPU forbids overlapping writable bindings.
    fn bind_start(&self, t: Tensor) -> u64 {
        let a = self.ctx.limits.min_storage_buffer_offset_alignment as u64;
        (t.off as u64 * 4) / a * a
    }

    /// The element offset a kernel adds for view `t`, relative to where `dispatch` binds it.
    pub(super) fn off(&self, t: Tensor) -> u32 {
        u(t.off - (self.bind_start(t) / 4) as usize)
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        let device = &self.ctx.device;
        self.encoder.get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("tinygpt ops") }))
    }

    fn pipeline(&mut self, shader: &'static str, entry: &'static str, flag: Option<&'static str>) -> Pipeline {
        if let Some(p) = self.pipelines.get(&(shader, entry, flag)) {
            return p.clone();
        }
        let device = &self.ctx.device;
        let module = self.modules.entry(shader).or_insert_with(|| {
            let src = SHADERS.iter().find(|s| s.0 == shader).unwrap_or_else(|| panic!("no shader named {shader}")).1;
            device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(shader), source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)) })
        });
        let raw = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &flag.iter().map(|&f| (f, 1.0)).collect::<Vec<_>>(),
                // every kernel writes its workgroup memory before reading it
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let p = Pipeline { layout: raw.get_bind_group_layout(0), raw };
        self.pipelines.insert((shader, entry, flag), p.clone());
        p
    }

    /// Records one dispatch of `shader`'s `entry` with `params` at binding 0 and each tensor's
    /// whole buffer at its binding.
    fn dispatch<P: Pod>(&mut self, shader: &'static str, entry: &'static str, params: &P, bindings: &[(u32, Tensor)], groups: [u32; 3]) {
        self.dispatch_with(shader, entry, None, params, bindings, groups)
    }

    /// `dispatch` with the shader's boolean override `flag` (if any) set true.
    fn dispatch_with<P: Pod>(&mut self, shader: &'static str, entry: &'static str, flag: Option<&'static str>, params: &P, bindings: &[(u32, Tensor)], groups: [u32; 3]) {
        if groups.contains(&0) {
            return;
        }
        let pipe = self.pipeline(shader, entry, flag);
        let bytes = bytemuck::bytes_of(params);
        let (ubuf, uoff) = self.uniforms.push(&self.ctx.device, bytes);
        let mut key = GroupKey { pipeline: (shader, entry, flag), uniform: (ubuf, uoff, bytes.len() as u64), bindings: Vec::with_capacity(bindings.len()) };
        for &(binding, t) in bindings {
            let start = self.bind_start(t);
            // at least one element: WebGPU has no empty bindings
            let end = (((t.off + t.len.max(1)) * 4) as u64).min(self.buf(t).raw.size());
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
                let g = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(entry), layout: &pipe.layout, entries: &entries });
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
        // Profiling: a pair of timestamps around the pass where the adapter has them (read when
        // the query set is full or the profile is asked for), else wall time around the
        // dispatch submitted on its own.
        #[cfg(not(target_arch = "wasm32"))]
        if self.stamps.as_ref().is_some_and(|(_, e)| 2 * e.len() as u32 >= STAMPS) {
            self.read_stamps();
        }
        let stamp = match &mut self.stamps {
            Some((set, entries)) => {
                entries.push(entry);
                Some((set.clone(), 2 * entries.len() as u32 - 2))
            }
            None => None,
        };
        #[cfg(not(target_arch = "wasm32"))]
        let wall = self.profile.is_some() && stamp.is_none();
        #[cfg(not(target_arch = "wasm32"))]
        if wall {
            self.sync();
        }
        #[cfg(not(target_arch = "wasm32"))]
        let t0 = std::time::Instant::now();
        {
            let timestamp_writes = stamp.as_ref().map(|(set, i)| wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(*i),
                end_of_pass_write_index: Some(*i + 1),
            });
            let mut pass = self.encoder().begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes });
            pass.set_pipeline(&pipe.raw);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if wall {
            self.sync();
            let e = self.profile.as_mut().expect("checked").entry(entry).or_default();
            e.0 += 1;
            e.1 += t0.elapsed().as_secs_f64();
        }
    }

    /// Workgroups for `n` invocations of a 1-D kernel `wg` wide, spread over a 2-D grid when
    /// one dimension is not enough (kernels index `id.y * num_workgroups.x * wg + id.x`).
    fn grid_1d(&self, n: usize, wg: u32) -> [u32; 3] {
        let groups = n.div_ceil(wg as usize);
        let max = self.ctx.limits.max_compute_workgroups_per_dimension as usize;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            [max as u32, groups.div_ceil(max) as u32, 1]
        }
    }

    fn write_bytes(&mut self, dst: Tensor, bytes: &[u8]) {
        if dst.len == 0 {
            return;
        }
        if self.pending.contains(&dst.buf) {
            self.flush();
        }
        let raw = &self.buf(dst).raw;
        self.ctx.queue.write_buffer(raw, (dst.off * 4) as u64, bytes);
    }
}

/// Element offset as the u32 kernels take (buffers are far below 2^32 elements: alloc checks
/// them against the binding size limit).
fn u(x: usize) -> u32 {
    u32::try_from(x).expect("size fits in u32")
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

    async fn read_done(&mut self, p: Pending) -> Vec<f32> {
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

    fn zero(&mut self, t: Tensor) {
        if t.len == 0 {
            return;
        }
        let raw = self.buf(t).raw.clone();
        self.pending.insert(t.buf);
        self.encoder().clear_buffer(&raw, (t.off * 4) as u64, Some((t.len * 4) as u64));
    }

    fn free(&mut self, t: Tensor) {
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
        matmul::backward(self, dinp, dw, dbias, dout, inp, w, n, c, oc);
    }

    fn attention_forward(&mut self, out: Tensor, att: Tensor, qkv: Tensor, b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
        attention::forward(self, out, att, qkv, b, tq, tk, c, nh);
    }

    fn attention_backward(&mut self, dqkv: Tensor, dout: Tensor, qkv: Tensor, att: Tensor, b: usize, t: usize, c: usize, nh: usize) {
        attention::backward(self, dqkv, dout, qkv, att, b, t, c, nh);
    }

    fn gelu_forward(&mut self, out: Tensor, inp: Tensor, n: usize) {
        gelu::forward(self, out, inp, n);
    }

    fn gelu_backward(&mut self, dinp: Tensor, inp: Tensor, dout: Tensor, n: usize) {
        gelu::backward(self, dinp, inp, dout, n);
    }

    fn residual_forward(&mut self, out: Tensor, a: Tensor, b: Tensor, n: usize) {
        residual::forward(self, out, a, b, n);
    }

    fn crossentropy_forward(&mut self, losses: Tensor, hits: Tensor, logits: Tensor, targets: Tensor, n: usize, v: usize) {
        crossentropy::forward(self, losses, hits, logits, targets, n, v);
    }

    fn crossentropy_backward(&mut self, dlogits: Tensor, logits: Tensor, targets: Tensor, n: usize, v: usize, scale: f32) {
        crossentropy::backward(self, dlogits, logits, targets, n, v, scale);
    }

    fn sum(&mut self, out: Tensor, x: Tensor) {
        reduce::reduce(self, out, x, false);
    }

    fn norm_sq(&mut self, out: Tensor, x: Tensor) {
        reduce::reduce(self, out, x, true);
    }

    fn adamw(&mut self, p: Tensor, g: Tensor, m: Tensor, v: Tensor, grad_norm_sq: Tensor, h: &AdamWStep) {
        adamw::update(self, p, g, m, v, grad_norm_sq, h);
    }

    fn failure_guard(&mut self, norm_sq: Tensor, guard: Tensor) {
        guard::forward(self, norm_sq, guard);
    }
}
