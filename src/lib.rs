//! tinygpt: a small GPT you can train, run and look inside.
//! Module list only; see docs/architecture.md for how the pieces fit.

pub mod backend;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod budget;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod cpu;
pub mod data;
pub mod error;
pub mod fuzzing;
pub mod gpu;
pub mod half;
pub mod hf;
pub mod lab;
pub mod model;
pub mod rng;
pub mod sample;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
pub mod session;
pub mod selfcheck;
pub mod tasks;
pub mod tokenizer;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
