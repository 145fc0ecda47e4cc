// Sum and sum of squares of a vector: a deterministic two-pass tree reduction.
//
// Bindings (group 0; x is read-only: no caller sums into a view of x's own buffer, and
// WebGPU forbids one buffer bound read-only and writable in one dispatch):
//   0 p         uniform Params
//   1 out       [1] written at out_off (reduce_final)
//   2 x         [n] read (reduce_partials)
//   3 partials  [256] scratch: one partial sum per workgroup of the first pass
//
// reduce_partials: 256 workgroups of 256 invocations; invocation t of workgroup w sums
//                  x[w*256 + t + k*65536] (squared when p.square = 1) over k, then the
//                  workgroup folds its 256 sums as a tree into partials[w].
// reduce_final:    one workgroup folds the 256 partials the same way into out[out_off].
// reduce_small:    for n <= 65536 (a step's losses and hits), one dispatch: one workgroup,
//                  invocation t sums x[t + k*256] over k, then the tree into out[out_off].
// Fixed shapes and a fixed order, so the result does not depend on timing.

struct Params {
    n: u32, square: u32, out_off: u32, x_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const WG: u32 = 256u;
var<workgroup> s: array<f32, 256>;

// Tree fold of s[0..256] into s[0]; every invocation of the workgroup must call it.
fn fold(t: u32) {
    for (var w = WG / 2u; w > 0u; w /= 2u) {
        workgroupBarrier();
        if t < w { s[t] += s[t + w]; }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn reduce_partials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let t = lid.x;
    var acc = 0.0;
    for (var i = wg.x * WG + t; i < p.n; i += WG * WG) {
        let v = x[p.x_off + i];
        if p.square == 1u { acc += v * v; } else { acc += v; }
    }
    s[t] = acc;
    fold(t);
    if t == 0u { partials[wg.x] = s[0]; }
}

@compute @workgroup_size(256)
fn reduce_final(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    s[t] = partials[t];
    fold(t);
    if t == 0u { out[p.out_off] = s[0]; }
}

@compute @workgroup_size(256)
fn reduce_small(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let v = x[p.x_off + i];
        if p.square == 1u { acc += v * v; } else { acc += v; }
    }
    s[t] = acc;
    fold(t);
    if t == 0u { out[p.out_off] = s[0]; }
}
