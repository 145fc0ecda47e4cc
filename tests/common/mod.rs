//! Helpers shared by the integration tests.
#![allow(dead_code)]

use safetensors::tensor::{Dtype, SafeTensors};
use std::collections::HashMap;

/// A safetensors file read into f32 / i64 vectors by name, plus its metadata.
pub struct Fixture {
    pub f32s: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub i64s: HashMap<String, Vec<i64>>,
    pub meta: HashMap<String, String>,
}

impl Fixture {
    /// The model config in the fixture's metadata (vocab_size, n_layer, n_head, n_embd,
    /// block_size, pos).
    pub fn model_config(&self) -> tinygpt::config::ModelConfig {
        tinygpt::config::ModelConfig {
            vocab_size: self.m("vocab_size"),
            n_layer: self.m("n_layer"),
            n_head: self.m("n_head"),
            n_embd: self.m("n_embd"),
            block_size: self.m("block_size"),
            pos: self.meta["pos"].parse().unwrap(),
        }
    }

    /// A CPU model of `model_config()` holding the fixture's `param.<HF name>` tensors (every
    /// parameter of the model, and no other, must be there).
    pub fn cpu_model(&self) -> tinygpt::model::Gpt<tinygpt::cpu::CpuBackend> {
        let mut model = tinygpt::model::Gpt::empty(self.model_config(), tinygpt::cpu::CpuBackend::new()).unwrap();
        let names: Vec<String> = model.specs.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), self.f32s.keys().filter(|k| k.starts_with("param.")).count(), "parameter count");
        for n in &names {
            model.write_hf(n, tinygpt::model::Slot::Param, self.f(&format!("param.{n}"))).unwrap();
        }
        model
    }

    pub fn load(path: &str) -> Fixture {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut f32s = HashMap::new();
        let mut i64s = HashMap::new();
        for (name, t) in st.tensors() {
            match t.dtype() {
                Dtype::F32 => {
                    let v = t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                    f32s.insert(name, (t.shape().to_vec(), v));
                }
                Dtype::I64 => {
                    let v = t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
                    i64s.insert(name, v);
                }
                d => panic!("unexpected dtype {d:?} for {name}"),
            }
        }
        Fixture { f32s, i64s, meta: header.metadata().clone().unwrap_or_default() }
    }

    pub fn f(&self, name: &str) -> &[f32] {
        &self.f32s.get(name).unwrap_or_else(|| panic!("fixture has no {name}")).1
    }

    pub fn ids(&self, name: &str) -> Vec<u32> {
        self.i64s[name].iter().map(|&x| x as u32).collect()
    }

    pub fn m<T: std::str::FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.meta[key].parse().unwrap()
    }
}

/// Asserts |got - want| <= atol + rtol*|want| element-wise, printing the first mismatches.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    let mut bad = Vec::new();
    let mut worst = 0.0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let tol = atol + rtol * w.abs();
        worst = worst.max(err / tol);
        if !(err <= tol) {
            bad.push((i, g, w));
        }
    }
    if !bad.is_empty() {
        for (i, g, w) in bad.iter().take(8) {
            eprintln!("{what}[{i}]: got {g}, want {w}, diff {}", (g - w).abs());
        }
        panic!("{what}: {} of {} values outside atol {atol} + rtol {rtol} (worst {worst:.2}x tolerance)", bad.len(), got.len());
    }
}

/// `assert_close` for values that may be NaN or ±Inf: those must be matched by the same (NaN by
/// any NaN), the finite ones by the tolerance.
pub fn assert_close_nan(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    let same = |g: f32, w: f32| g.is_finite() && w.is_finite() || g.is_nan() && w.is_nan() || g == w;
    let odd: Vec<_> = got.iter().zip(want).enumerate().filter(|(_, (&g, &w))| !same(g, w)).collect();
    for (i, (g, w)) in odd.iter().take(8) {
        eprintln!("{what}[{i}]: got {g}, want {w}");
    }
    assert!(odd.is_empty(), "{what}: {} of {} values non-finite on one side only, or a different non-finite value", odd.len(), got.len());
    let finite = |x: &[f32]| x.iter().map(|v| if v.is_finite() { *v } else { 0.0 }).collect::<Vec<f32>>();
    assert_close(what, &finite(got), &finite(want), atol, rtol);
}

/// The GPU backend for a test, under one policy: with no adapter, a test FAILS when the
/// environment variable CI is "true" (CI must have lavapipe or a GPU) and is skipped with a
/// message otherwise (a laptop without Vulkan can still run `cargo test`).
pub fn gpu_or_skip() -> Option<tinygpt::gpu::GpuBackend> {
    match tinygpt::gpu::GpuBackend::new_blocking() {
        Ok(g) => Some(g),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("CI=true but no GPU backend: {e}"),
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

// ---- GPU kernel tests: inputs in padded views, whole-buffer readback, CPU-vs-GPU compare ----

use tinygpt::backend::{Backend, Tensor};

/// `n` values from N(0, 1), by seed.
pub fn rand(n: usize, seed: u64) -> Vec<f32> {
    let mut r = tinygpt::rng::Rng::new(seed);
    (0..n).map(|_| r.normal()).collect()
}

/// `n` token ids below `v`, by seed.
pub fn ids(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut r = tinygpt::rng::Rng::new(seed);
    (0..n).map(|_| r.below(v) as u32).collect()
}

/// `data` in a fresh buffer with `pad` random values before it and 3 after; returns the view
/// (an odd `pad` leaves it unaligned, a multiple of 4 lets the vec4 kernels run).
pub fn put_at<Be: Backend>(be: &mut Be, data: &[f32], seed: u64, pad: usize) -> Tensor {
    let whole = be.alloc(pad + data.len() + 3, "test").unwrap();
    let mut all = rand(whole.len, seed ^ 0xABCD);
    all[pad..pad + data.len()].copy_from_slice(data);
    be.write(whole, &all);
    whole.view(pad, data.len())
}

/// Token ids in a fresh buffer with `pad` ids (7) before them and 3 after; returns the view.
pub fn put_ids_at<Be: Backend>(be: &mut Be, data: &[u32], pad: usize) -> Tensor {
    let whole = be.alloc_u32(pad + data.len() + 3, "test ids").unwrap();
    let mut all = vec![7u32; whole.len];
    all[pad..pad + data.len()].copy_from_slice(data);
    be.write_u32(whole, &all);
    whole.view(pad, data.len())
}

/// The buffer behind a view up to 3 values past it (every test buffer ends 3 values after its
/// last view), padding included, so writes outside a view are caught.
pub fn whole<Be: Backend>(be: &mut Be, t: Tensor) -> Vec<f32> {
    pollster::block_on(be.read(Tensor { buf: t.buf, off: 0, len: t.off + t.len + 3 }))
}

/// Runs `$body` (which returns Vec<(&str, Vec<f32>)>) with `$be` bound to a CPU backend and to
/// the GPU backend, and compares every named result within atol + rtol·|cpu|.
#[allow(unused_macros)]
macro_rules! compare {
    ($gpu:expr, $atol:expr, $rtol:expr, |$be:ident| $body:block) => {{
        let want = {
            let $be = &mut tinygpt::cpu::CpuBackend::new();
            $body
        };
        let gpu: &mut tinygpt::gpu::GpuBackend = $gpu;
        let got = {
            let $be: &mut tinygpt::gpu::GpuBackend = &mut *gpu;
            $body
        };
        if let Some(f) = gpu.fault() {
            panic!("the GPU reported: {f}");
        }
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            $crate::common::assert_close(name, g, w, $atol, $rtol);
        }
    }};
}
