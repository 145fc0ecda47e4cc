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
