//! The per-kernel profiler (native only; `bench` shows it): each dispatch's GPU time added to
//! its entry point's total, from a pair of timestamp queries around its pass where the adapter
//! has them (read when the query set is full or the profile is asked for), else as wall time
//! around the dispatch submitted and waited for on its own.

#[cfg(not(target_arch = "wasm32"))]
use std::collections::HashMap;

use super::GpuBackend;

/// Timestamp queries per profiling query set (wgpu's maximum): two per dispatch.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
const STAMPS: u32 = 4096;

/// How the pass about to be recorded is timed.
pub(super) struct PassTiming {
    /// Where it writes its begin/end timestamps: the query set and the first index.
    pub stamp: Option<(wgpu::QuerySet, u32)>,
    /// Timing by wall clock: the start, taken once the work before it had finished.
    #[cfg(not(target_arch = "wasm32"))]
    wall: Option<std::time::Instant>,
}

impl GpuBackend {
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

    /// Before a pass of `entry` is recorded: its timestamp pair, or (profiling by wall clock)
    /// the pending work submitted and finished and the clock started; nothing when not profiling.
    pub(super) fn profile_begin(&mut self, entry: &'static str) -> PassTiming {
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
        let wall = (self.profile.is_some() && stamp.is_none()).then(|| {
            self.sync();
            std::time::Instant::now()
        });
        PassTiming {
            stamp,
            #[cfg(not(target_arch = "wasm32"))]
            wall,
        }
    }

    /// After the pass is recorded: by wall clock, it is submitted and waited for, and its time
    /// added to `entry`'s total.
    pub(super) fn profile_end(&mut self, entry: &'static str, timing: PassTiming) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(t0) = timing.wall {
            self.sync();
            let e = self.profile.as_mut().expect("profiling by wall clock").entry(entry).or_default();
            e.0 += 1;
            e.1 += t0.elapsed().as_secs_f64();
        }
        #[cfg(target_arch = "wasm32")]
        let _ = (entry, timing);
    }
}
