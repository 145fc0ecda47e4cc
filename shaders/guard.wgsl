// The failure guard of pipelined training steps (docs/architecture.md, "Pipelined steps"), as
// src/cpu/guard.rs: norm² += guard, then guard = norm²·0. The guard is 0 while every gradient
// norm is finite and NaN from the first one that is not, so every norm after it is NaN and
// AdamW skips every update recorded behind a failed step, until the host reports the failure
// and zeroes the guard.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p        uniform Params
//   1 norm_sq  [1] read and written: the step's squared gradient norm
//   2 guard    [1] read and written
// One invocation.

struct Params {
    // nan_bits = 0x7fc00000, a quiet NaN, given at run time: a NaN written as a constant
    // is rejected by Chromium's WGSL compiler ("value nan cannot be represented as 'f32'").
    norm_off: u32, guard_off: u32, nan_bits: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> norm_sq: array<f32>;
@group(0) @binding(2) var<storage, read_write> guard: array<f32>;

// NaN and ±Inf have an all-ones exponent (a bit test: fast-math may fold isnan-style compares).
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1)
fn failure_guard() {
    let n = norm_sq[p.norm_off] + guard[p.guard_off];
    norm_sq[p.norm_off] = n;
    // n·0 written as what it is (0, or NaN for NaN and ±Inf): a compiler that assumes no NaN
    // may fold x·0 to 0.
    guard[p.guard_off] = select(bitcast<f32>(p.nan_bits), 0.0, is_finite(n));
}
