// Softmax + cross-entropy over V classes, fused, each position's loss weighted.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p        uniform Params
//   1 out      forward: losses[N] written | backward: dlogits[N,V] written (overwritten)
//   2 hits     forward: hits[N] written (w when argmax == target, first maximum wins)
//   3 logits   [N,V] read
//   4 targets  u32 [N] read
//   5 weights  [N] read: w, each position's weight (a task's answer tokens 1, the rest 0;
//              text: every position 1). A position of weight 0 is skipped (zeros written).
// One invocation per row (both entry points).
//   crossentropy_forward:  losses = w * (log Σ exp(l - max) + max - l[target])
//   crossentropy_backward: dlogits = scale * w * (softmax(l) - onehot(target))

struct Params {
    N: u32, V: u32, out_off: u32, hits_off: u32,
    logits_off: u32, targets_off: u32, scale: f32, weights_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> hits: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> targets: array<u32>;
@group(0) @binding(5) var<storage, read_write> weights: array<f32>;

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 64u + id.x;
}

@compute @workgroup_size(64)
fn crossentropy_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let w = weights[p.weights_off + r];
    if w == 0.0 {
        out[p.out_off + r] = 0.0;
        hits[p.hits_off + r] = 0.0;
        return;
    }
    let l = p.logits_off + r * p.V;
    var mx = logits[l];
    var arg = 0u;
    for (var i = 1u; i < p.V; i++) {
        let x = logits[l + i];
        if x > mx { mx = x; arg = i; }
    }
    var sum = 0.0;
    for (var i = 0u; i < p.V; i++) { sum += exp(logits[l + i] - mx); }
    let tgt = targets[p.targets_off + r];
    out[p.out_off + r] = w * (log(sum) + mx - logits[l + tgt]);
    hits[p.hits_off + r] = select(0.0, w, arg == tgt);
}

@compute @workgroup_size(64)
fn crossentropy_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let l = p.logits_off + r * p.V;
    let d = p.out_off + r * p.V;
    let w = weights[p.weights_off + r];
    if w == 0.0 {
        for (var i = 0u; i < p.V; i++) { out[d + i] = 0.0; }
        return;
    }
    var mx = logits[l];
    for (var i = 1u; i < p.V; i++) { mx = max(mx, logits[l + i]); }
    var sum = 0.0;
    for (var i = 0u; i < p.V; i++) {
        let e = exp(logits[l + i] - mx);
        out[d + i] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    let tgt = targets[p.targets_off + r];
    let s = p.scale * w;
    for (var i = 0u; i < p.V; i++) {
        out[d + i] = s * (out[d + i] * inv - select(0.0, 1.0, i == tgt));
    }
}
