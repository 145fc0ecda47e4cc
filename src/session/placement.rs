//! Where the model runs: the backend choice for new models (`use_backend`) and moving the
//! current model to another backend (`move_to`, which the page does when calibration found
//! the other one faster for the next job).

use super::{cpu_name, AnyModel, Session};
use crate::backend::Backend;
use crate::checkpoint::{self, Store};
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use serde::Serialize;

/// Where new models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU backend (a software adapter such as
    /// lavapipe is slower than the CPU backend, so it is skipped). The CLI's default.
    Auto,
    /// Any GPU adapter, software ones included, else the CPU backend, saying why (the page).
    AnyGpu,
    /// The GPU, or an error when there is none.
    Gpu,
    Cpu,
}

/// What `use_backend` chose and why.
#[derive(Clone, Debug, Serialize)]
pub struct BackendReport {
    /// "webgpu" (any wgpu adapter) or "cpu".
    pub backend: &'static str,
    /// The adapter, or "CPU (WebAssembly)" / "CPU".
    pub adapter: String,
    /// Why the CPU was chosen, when it was.
    pub reason: Option<String>,
    /// Compute pipelines compiled ahead by a move to the GPU (`move_to`), so that the job
    /// it moved for waits for no shader compile; 0 otherwise.
    pub compiled_ahead: usize,
}

impl Session {
    /// Chooses where new models run (the current model, if any, stays where it is).
    pub async fn use_backend(&mut self, choice: BackendChoice) -> Result<BackendReport> {
        let cpu = |s: &mut Session, reason: Option<String>| {
            s.gpu = false;
            s.spare = None;
            s.backend_name = cpu_name().into();
            BackendReport { backend: "cpu", adapter: s.backend_name.clone(), reason, compiled_ahead: 0 }
        };
        if choice == BackendChoice::Cpu {
            return Ok(cpu(self, Some("the CPU was requested".into())));
        }
        match GpuBackend::new().await {
            Ok(g) if choice == BackendChoice::Auto && g.adapter_info().device_type == wgpu::DeviceType::Cpu => Ok(cpu(
                self,
                Some(format!("the only GPU adapter is a software one ({}), slower than the CPU backend; --backend gpu forces it", g.describe())),
            )),
            Ok(g) => {
                self.gpu = true;
                self.backend_name = g.describe();
                self.spare = Some(g);
                Ok(BackendReport { backend: "webgpu", adapter: self.backend_name.clone(), reason: None, compiled_ahead: 0 })
            }
            Err(e) if choice == BackendChoice::Gpu => Err(e),
            Err(e) => Ok(cpu(self, Some(e.message()))),
        }
    }

    /// Moves the current model (weights, AdamW moments, step) to `choice`'s backend, keeping
    /// its recipe, training data and source; new models go there too. The page does this
    /// between jobs when calibration found the other backend faster for the next one. A
    /// generation in progress ends (its KV cache was on the old backend). On error the model
    /// and the backend choice stay as they were.
    pub async fn move_to(&mut self, choice: BackendChoice) -> Result<BackendReport> {
        let before = (self.gpu, self.backend_name.clone());
        let spare = self.spare.take();
        let report = match self.use_backend(choice).await {
            Ok(r) => r,
            Err(e) => {
                (self.gpu, self.backend_name, self.spare) = (before.0, before.1, spare);
                return Err(e);
            }
        };
        let on_gpu = matches!(self.model, Some(AnyModel::Gpu(_)));
        if self.model.is_none() || on_gpu == self.gpu {
            return Ok(report);
        }
        let moved = async {
            let bytes = self.checkpoint_bytes(Store::Full).await?;
            let ck = checkpoint::from_bytes(&bytes, "the model being moved")?;
            Ok::<_, Error>(if self.gpu { AnyModel::Gpu(ck.into_model(self.gpu_device().await?)?.0) } else { AnyModel::Cpu(ck.into_model(CpuBackend::new())?.0) })
        }
        .await;
        match moved {
            Ok(mut m) => {
                // every pipeline now, while the page waits for nothing: the job moved for
                // (a generation's first token, a run's first step) then compiles none. In a
                // browser the GPU process compiles them in the background, in order.
                let compiled_ahead = match &mut m {
                    AnyModel::Gpu(g) => g.backend.warm_up(),
                    AnyModel::Cpu(_) => 0,
                };
                self.model = Some(m);
                self.generator = None;
                Ok(BackendReport { compiled_ahead, ..report })
            }
            Err(e) => {
                (self.gpu, self.backend_name, self.spare) = (before.0, before.1, spare);
                Err(e)
            }
        }
    }

    /// The device the backend choice probed, else a new one (each model gets its own).
    pub(super) async fn gpu_device(&mut self) -> Result<GpuBackend> {
        match self.spare.take() {
            Some(g) => Ok(g),
            None => GpuBackend::new().await,
        }
    }
}
