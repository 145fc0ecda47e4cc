//! Instance, adapter and device setup, and what we tell the user about the adapter.

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

pub(super) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The first GPU error or device loss reported by wgpu's callbacks (which would otherwise
    /// panic): the backend returns it as an error from the step that met it.
    pub fault: Arc<Mutex<Option<String>>>,
    /// Timestamp queries are enabled (natively, where the adapter has them): per-kernel
    /// profiling then reads GPU time instead of waiting for each dispatch.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub timestamps: bool,
}

impl Context {
    /// The highest-performance adapter there is, with the device limits raised to what it
    /// offers for buffer sizes and storage bindings (the kernels themselves stay within the
    /// WebGPU defaults: <= 8 storage buffers per stage, 16 KiB workgroup memory, 256 invocations).
    pub async fn new() -> Result<Context> {
        // Vulkan/Metal/DX12/WebGPU first; GL only when none of those has an adapter (probing GL
        // on a headless Linux box prints EGL noise). WGPU_BACKEND overrides both.
        let mut found = None;
        // In a browser only WebGPU runs compute shaders: never fall back to WebGL there.
        #[cfg(target_arch = "wasm32")]
        let tries = [wgpu::Backends::BROWSER_WEBGPU];
        #[cfg(not(target_arch = "wasm32"))]
        let tries = [wgpu::Backends::PRIMARY, wgpu::Backends::all()];
        for backends in tries {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = backends;
            let instance = wgpu::Instance::new(desc.with_env());
            let opts = wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
            found = Some(instance.request_adapter(&opts).await);
            if found.as_ref().is_some_and(|a| a.is_ok()) {
                break;
            }
        }
        let adapter = found.expect("tried at least once").map_err(|e| {
            Error::Gpu(format!(
                "no GPU adapter found ({e}). Natively wgpu needs a Vulkan, Metal or DX12 driver (on Linux without a GPU, \
                 install Mesa's lavapipe: apt-get install mesa-vulkan-drivers); in a browser, WebGPU must be enabled"
            ))
        })?;
        let info = adapter.get_info();
        let offered = adapter.limits();
        let wanted = wgpu::Limits {
            max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size,
            max_buffer_size: offered.max_buffer_size,
            max_storage_buffers_per_shader_stage: offered.max_storage_buffers_per_shader_stage,
            ..wgpu::Limits::default()
        }
        .or_worse_values_from(&offered);
        // natively only: the page does not profile, and a browser may refuse the feature
        let timestamps = cfg!(not(target_arch = "wasm32")) && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tinygpt"),
                required_features: if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() },
                required_limits: wanted,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Gpu(format!("adapter '{}' refused a device: {e}", info.name)))?;
        let limits = device.limits();
        let fault = Arc::new(Mutex::new(None));
        let name = if info.name.is_empty() { "the GPU".to_string() } else { format!("the GPU '{}'", info.name) };
        let (f, n) = (fault.clone(), name.clone());
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| record(&f, format!("{n} reported an error: {e}"))));
        let (f, n) = (fault.clone(), name);
        // the loss is the root cause of the validation errors that follow it: it wins
        device.set_device_lost_callback(move |reason, msg| record_lost(&f, format!("{n} device was lost ({reason:?}{}{msg})", if msg.is_empty() { "" } else { ": " })));
        Ok(Context { device, queue, info, limits, fault, timestamps })
    }

    /// Adapter name, type, backend and driver. Browsers may leave the name empty, so the
    /// vendor id and driver fields are included too.
    pub fn describe(&self) -> String {
        let i = &self.info;
        let name = if i.name.is_empty() { "unnamed adapter" } else { i.name.as_str() };
        let mut s = format!("{name} ({:?}, {}", i.device_type, i.backend);
        if i.vendor != 0 {
            s += &format!(", vendor 0x{:04x}", i.vendor);
        }
        let driver = [i.driver.as_str(), i.driver_info.as_str()].iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>().join(" ");
        if !driver.is_empty() {
            s += &format!(", driver {driver}");
        }
        s + ")"
    }
}

/// Keeps the first fault: later ones are usually its consequences.
pub(super) fn record(fault: &Mutex<Option<String>>, msg: String) {
    let mut f = fault.lock().unwrap_or_else(|p| p.into_inner());
    if f.is_none() {
        *f = Some(msg);
    }
}

/// A device loss replaces an earlier fault (its consequences can be reported first).
fn record_lost(fault: &Mutex<Option<String>>, msg: String) {
    *fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg);
}
