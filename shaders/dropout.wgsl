// Dropout, as src/cpu/dropout.rs: y [N] in place, element i kept and scaled by `scale` when
// hash((base + i) ^ seed) >= threshold, set to 0 otherwise. The mask is recomputed from the
// hash, never stored; the model runs the same dispatch on a gradient for the backward pass.
// `hash` is the CPU's (Wellons' lowbias32) in u32 arithmetic, so both backends draw the same bits.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p  uniform Params
//   1 y  [N] read and written
// One invocation per element.

struct Params {
    n: u32, y_off: u32, seed: u32, base: u32,
    threshold: u32, scale: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

fn hash(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

@compute @workgroup_size(256)
fn dropout(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = id.y * nwg.x * 256u + id.x;
    if i >= p.n { return; }
    if hash((p.base + i) ^ p.seed) >= p.threshold {
        y[p.y_off + i] = y[p.y_off + i] * p.scale;
    } else {
        y[p.y_off + i] = 0.0;
    }
}
