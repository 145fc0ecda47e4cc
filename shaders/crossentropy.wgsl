// Softmax + cross-entropy over V classes, fused, each position's loss weighted.
//
// Bindings (group 0). Inputs are read-only: no caller passes a view of an output's buffer as
// an input (WebGPU forbids one buffer bound read-only and writable in one dispatch).
//   0 p        uniform Params
//   1 out      forward, fused: losses[N] written | backward: dlogits[N,V] written (overwritten)
//   2 hits     forward, fused: hits[N] written (w when argmax == target, first maximum wins)
//   3 logits   [N,V] read
//   4 targets  u32 [N] read
//   5 weights  [N] read: w, each position's weight (a task's answer tokens 1, the rest 0;
//              text: every position 1). A position of weight 0 is skipped (zeros written).
//   6 dlogits  [N,V] fused: written (overwritten)
// One workgroup per row; its WG invocations stride over V and fold as trees in workgroup
// memory (a fixed order: the same bits every run).
//   crossentropy_forward:  losses = w * (log Σ exp(l - max) + max - l[target])
//   crossentropy_backward: dlogits = scale * w * (softmax(l) - onehot(target))
//   crossentropy_fused:    both in one pass over the row's statistics (llm.c's fused
//                          classifier): the training step's forward and backward at once.

struct Params {
    N: u32, V: u32, out_off: u32, hits_off: u32,
    logits_off: u32, targets_off: u32, scale: f32, weights_off: u32,
    dlogits_off: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> hits: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> targets: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

const WG: u32 = 256u;

var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<u32, WG>;

// The workgroup's row over a 2-D grid (more than 65535 rows).
fn row(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.y * nwg.x + wg.x;
}

// The row's maximum and the index of its first occurrence (V when no value beats -FLT_MAX,
// where the CPU's scan leaves 0: the caller maps V to 0; -inf as a constant is a WGSL error). Invocation t scans t, t+WG, ...
// keeping its first maximum; the tree keeps the larger value, and on a tie the smaller index.
// `len` is 0 for a skipped row. Every invocation calls it (uniform control flow).
fn row_max(t: u32, l: u32, len: u32) -> vec2<u32> {
    var mx = -3.4028234e38; // rounds to -FLT_MAX; Tint refuses -3.40282347e38, which lies past it
    var arg = p.V;
    for (var i = t; i < len; i += WG) {
        let x = logits[l + i];
        if x > mx { mx = x; arg = i; }
    }
    sv[t] = mx;
    si[t] = arg;
    for (var k = WG / 2u; k > 0u; k /= 2u) {
        workgroupBarrier();
        if t < k {
            let x = sv[t + k];
            let j = si[t + k];
            if x > sv[t] || (x == sv[t] && j < si[t]) { sv[t] = x; si[t] = j; }
        }
    }
    workgroupBarrier();
    let r = vec2(bitcast<u32>(sv[0]), si[0]);
    workgroupBarrier();
    return r;
}

// Σ exp(l[i] - mx) over the row, as a tree. Every invocation calls it.
fn row_sum_exp(t: u32, l: u32, len: u32, mx: f32) -> f32 {
    var acc = 0.0;
    for (var i = t; i < len; i += WG) { acc += exp(logits[l + i] - mx); }
    sv[t] = acc;
    for (var k = WG / 2u; k > 0u; k /= 2u) {
        workgroupBarrier();
        if t < k { sv[t] += sv[t + k]; }
    }
    workgroupBarrier();
    let r = sv[0];
    workgroupBarrier();
    return r;
}

// losses/hits of row r from its statistics (invocation 0 writes).
fn write_loss(t: u32, r: u32, l: u32, w: f32, m: vec2<u32>, sum: f32) {
    if t != 0u { return; }
    if w == 0.0 {
        out[p.out_off + r] = 0.0;
        hits[p.hits_off + r] = 0.0;
        return;
    }
    let mx = bitcast<f32>(m.x);
    let arg = select(m.y, 0u, m.y == p.V);
    let tgt = targets[p.targets_off + r];
    out[p.out_off + r] = w * (log(sum) + mx - logits[l + tgt]);
    hits[p.hits_off + r] = select(0.0, w, arg == tgt);
}

@compute @workgroup_size(WG)
fn crossentropy_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row(wg, nwg);
    if r >= p.N { return; } // uniform: the whole workgroup leaves
    let t = lid.x;
    let l = p.logits_off + r * p.V;
    let w = weights[p.weights_off + r];
    // a skipped row still folds (nothing), so every barrier stays in uniform control flow
    let len = select(p.V, 0u, w == 0.0);
    let m = row_max(t, l, len);
    let sum = row_sum_exp(t, l, len, bitcast<f32>(m.x));
    write_loss(t, r, l, w, m, sum);
}

@compute @workgroup_size(WG)
fn crossentropy_backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row(wg, nwg);
    if r >= p.N { return; }
    let t = lid.x;
    let l = p.logits_off + r * p.V;
    let d = p.out_off + r * p.V;
    let w = weights[p.weights_off + r];
    let len = select(p.V, 0u, w == 0.0);
    let mx = bitcast<f32>(row_max(t, l, len).x);
    let inv = 1.0 / row_sum_exp(t, l, len, mx);
    let tgt = targets[p.targets_off + r];
    let s = p.scale * w;
    for (var i = t; i < p.V; i += WG) {
        // a skipped row gets zeros (s = 0 alone would turn an infinite logit into NaN)
        out[d + i] = select(s * (exp(logits[l + i] - mx) * inv - select(0.0, 1.0, i == tgt)), 0.0, w == 0.0);
    }
}

@compute @workgroup_size(WG)
fn crossentropy_fused(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = row(wg, nwg);
    if r >= p.N { return; }
    let t = lid.x;
    let l = p.logits_off + r * p.V;
    let d = p.dlogits_off + r * p.V;
    let w = weights[p.weights_off + r];
    let len = select(p.V, 0u, w == 0.0);
    let m = row_max(t, l, len);
    let mx = bitcast<f32>(m.x);
    let sum = row_sum_exp(t, l, len, mx);
    write_loss(t, r, l, w, m, sum);
    let inv = 1.0 / sum;
    let tgt = targets[p.targets_off + r];
    let s = p.scale * w;
    for (var i = t; i < p.V; i += WG) {
        dlogits[d + i] = select(s * (exp(logits[l + i] - mx) * inv - select(0.0, 1.0, i == tgt)), 0.0, w == 0.0);
    }
}

// ---- CPU adapters (lavapipe, SwiftShader): one invocation per row, no barriers ----
// Their workgroups run on one CPU thread each and barriers cost a switch per invocation group,
// so the workgroup-per-row kernels above run several times slower there than these.

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 64u + id.x;
}

struct Stats { mx: f32, arg: u32, sum: f32 }

// A row's maximum, the index of its first occurrence and Σ exp(l - max), walked in order.
fn serial_stats(l: u32) -> Stats {
    var mx = logits[l];
    var arg = 0u;
    for (var i = 1u; i < p.V; i++) {
        let x = logits[l + i];
        if x > mx { mx = x; arg = i; }
    }
    var sum = 0.0;
    for (var i = 0u; i < p.V; i++) { sum += exp(logits[l + i] - mx); }
    return Stats(mx, arg, sum);
}

@compute @workgroup_size(64)
fn crossentropy_forward_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let w = weights[p.weights_off + r];
    let l = p.logits_off + r * p.V;
    if w == 0.0 {
        out[p.out_off + r] = 0.0;
        hits[p.hits_off + r] = 0.0;
        return;
    }
    let st = serial_stats(l);
    let tgt = targets[p.targets_off + r];
    out[p.out_off + r] = w * (log(st.sum) + st.mx - logits[l + tgt]);
    hits[p.hits_off + r] = select(0.0, w, st.arg == tgt);
}

@compute @workgroup_size(64)
fn crossentropy_backward_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let l = p.logits_off + r * p.V;
    let d = p.out_off + r * p.V;
    let w = weights[p.weights_off + r];
    if w == 0.0 {
        for (var i = 0u; i < p.V; i++) { out[d + i] = 0.0; }
        return;
    }
    let st = serial_stats(l);
    let inv = 1.0 / st.sum;
    let tgt = targets[p.targets_off + r];
    let s = p.scale * w;
    for (var i = 0u; i < p.V; i++) {
        out[d + i] = s * (exp(logits[l + i] - st.mx) * inv - select(0.0, 1.0, i == tgt));
    }
}

@compute @workgroup_size(64)
fn crossentropy_fused_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let l = p.logits_off + r * p.V;
    let d = p.dlogits_off + r * p.V;
    let w = weights[p.weights_off + r];
    if w == 0.0 {
        out[p.out_off + r] = 0.0;
        hits[p.hits_off + r] = 0.0;
        for (var i = 0u; i < p.V; i++) { dlogits[d + i] = 0.0; }
        return;
    }
    let st = serial_stats(l);
    let tgt = targets[p.targets_off + r];
    out[p.out_off + r] = w * (log(st.sum) + st.mx - logits[l + tgt]);
    hits[p.hits_off + r] = select(0.0, w, st.arg == tgt);
    let inv = 1.0 / st.sum;
    let s = p.scale * w;
    for (var i = 0u; i < p.V; i++) {
        dlogits[d + i] = s * (exp(logits[l + i] - st.mx) * inv - select(0.0, 1.0, i == tgt));
    }
}
