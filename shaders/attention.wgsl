// Causal multi-head self-attention: softmax(q·kᵀ/sqrt(hs)) · v per head.
// qkv rows are [q (C) | k (C) | v (C)]; head h uses channels h*hs..(h+1)*hs of each part.
// The Tq queries are the last Tq of the Tk positions: query i sits at position Tk-Tq+i and
// sees keys 0..=that position.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params
//   1 out   forward: out[B,Tq,C] written       | backward: dqkv[B,T,3C] written (overwritten)
//   2 att   [B,NH,Tq,Tk] probabilities: forward writes them (zero above the diagonal),
//           backward reads them
//   3 qkv   [B,Tk,3C] read
//   4 dout  [B,T,C]  backward: read
//   5 dots  [B,NH,T] backward scratch: Σ_j att·datt per query row (written by _dq, read by _dkv)
//
// attention_forward:      one invocation per (b, h, query row i).
// attention_backward_dq:  one invocation per (b, h, query row i): dq_i, and dots.
// attention_backward_dkv: one invocation per (b, h, key row j), walking query rows i >= j in
//                         order: dk_j and dv_j. Two passes, each output row owned by one
//                         invocation: no races and no atomics. Backward is training-only
//                         (Tq = Tk = T).
// On CPU adapters the products run as batched register-blocked matmuls instead
// (matmul_blocked.wgsl matmul_batched; src/gpu/attention.rs), with these row kernels between:
// attention_softmax_forward:  one invocation per (b, h, query row i): att row i holds the
//                             scaled scores q·k/sqrt(hs) for keys 0..=pos; softmax in place,
//                             zeros past pos.
// attention_softmax_backward: one invocation per (b, h, row i): binding out holds the row of
//                             datt = dout·vᵀ [B,NH,T,T]; replaced in place by the scores'
//                             gradient att·(datt - Σ_j att·datt)/sqrt(hs), zero past i.

struct Params {
    B: u32, Tq: u32, Tk: u32, C: u32,
    NH: u32, out_off: u32, att_off: u32, qkv_off: u32,
    dout_off: u32, dots_off: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> att: array<f32>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> dots: array<f32>;

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 64u + id.x;
}

// Offset in qkv of part (0 q, 1 k, 2 v) of head h at position t of batch b.
fn row(b: u32, t: u32, part: u32, h: u32) -> u32 {
    let hs = p.C / p.NH;
    return p.qkv_off + (b * p.Tk + t) * 3u * p.C + part * p.C + h * hs;
}

fn dot_qk(qo: u32, ko: u32, hs: u32) -> f32 {
    var s = 0.0;
    for (var d = 0u; d < hs; d++) { s += qkv[qo + d] * qkv[ko + d]; }
    return s;
}

// dout row i of head h · v row j of head h (training shapes: T = Tq = Tk).
fn dot_dv(dro: u32, vo: u32, hs: u32) -> f32 {
    var s = 0.0;
    for (var d = 0u; d < hs; d++) { s += dout[dro + d] * qkv[vo + d]; }
    return s;
}

// att row at a: scores for keys 0..=pos (max mx) -> probabilities, zeros past pos.
fn softmax_in_place(a: u32, pos: u32, mx: f32) {
    var sum = 0.0;
    for (var j = 0u; j <= pos; j++) {
        let e = exp(att[a + j] - mx);
        att[a + j] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j <= pos; j++) { att[a + j] *= inv; }
    for (var j = pos + 1u; j < p.Tk; j++) { att[a + j] = 0.0; }
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.B * p.NH * p.Tq { return; }
    let i = r % p.Tq;
    let h = (r / p.Tq) % p.NH;
    let b = r / (p.Tq * p.NH);
    let hs = p.C / p.NH;
    let scale = 1.0 / sqrt(f32(hs));
    let pos = p.Tk - p.Tq + i;
    let qo = row(b, pos, 0u, h);
    let a = p.att_off + r * p.Tk; // att row [Tk]
    // scores, with the running max for a safe softmax
    var mx = -3.4e38;
    for (var j = 0u; j <= pos; j++) {
        let s = dot_qk(qo, row(b, j, 1u, h), hs) * scale;
        att[a + j] = s;
        mx = max(mx, s);
    }
    softmax_in_place(a, pos, mx);
    let o = p.out_off + (b * p.Tq + i) * p.C + h * hs;
    for (var d = 0u; d < hs; d++) {
        var acc = 0.0;
        for (var j = 0u; j <= pos; j++) { acc += att[a + j] * qkv[row(b, j, 2u, h) + d]; }
        out[o + d] = acc;
    }
}

@compute @workgroup_size(64)
fn attention_backward_dq(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    let T = p.Tk;
    if r >= p.B * p.NH * T { return; }
    let i = r % T;
    let h = (r / T) % p.NH;
    let b = r / (T * p.NH);
    let hs = p.C / p.NH;
    let scale = 1.0 / sqrt(f32(hs));
    let a = p.att_off + r * T;
    let dro = p.dout_off + (b * T + i) * p.C + h * hs;
    // dot = Σ_j att_j · datt_j, datt_j = dout_i · v_j
    var dot = 0.0;
    for (var j = 0u; j <= i; j++) { dot += att[a + j] * dot_dv(dro, row(b, j, 2u, h), hs); }
    dots[p.dots_off + r] = dot;
    // dq_i = Σ_j dpre_j k_j, dpre_j = att_j (datt_j - dot) scale; walk j in order per channel
    let dq = p.out_off + (b * T + i) * 3u * p.C + h * hs;
    for (var d = 0u; d < hs; d++) { out[dq + d] = 0.0; }
    for (var j = 0u; j <= i; j++) {
        let dpre = att[a + j] * (dot_dv(dro, row(b, j, 2u, h), hs) - dot) * scale;
        let ko = row(b, j, 1u, h);
        for (var d = 0u; d < hs; d++) { out[dq + d] += dpre * qkv[ko + d]; }
    }
}

@compute @workgroup_size(64)
fn attention_backward_dkv(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    let T = p.Tk;
    if r >= p.B * p.NH * T { return; }
    let j = r % T;
    let h = (r / T) % p.NH;
    let b = r / (T * p.NH);
    let bh = r - j; // (b*NH + h) * T
    let hs = p.C / p.NH;
    let scale = 1.0 / sqrt(f32(hs));
    let dk = p.out_off + (b * T + j) * 3u * p.C + p.C + h * hs;
    let dv = dk + p.C;
    let vo = row(b, j, 2u, h);
    for (var d = 0u; d < hs; d++) { out[dk + d] = 0.0; out[dv + d] = 0.0; }
    for (var i = j; i < T; i++) {
        let aij = att[p.att_off + (bh + i) * T + j];
        let dro = p.dout_off + (b * T + i) * p.C + h * hs;
        let dpre = aij * (dot_dv(dro, vo, hs) - dots[p.dots_off + bh + i]) * scale;
        let qo = row(b, i, 0u, h);
        for (var d = 0u; d < hs; d++) {
            out[dv + d] += aij * dout[dro + d];
            out[dk + d] += dpre * qkv[qo + d];
        }
    }
}

@compute @workgroup_size(64)
fn attention_softmax_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.B * p.NH * p.Tq { return; }
    let pos = p.Tk - p.Tq + r % p.Tq;
    let a = p.att_off + r * p.Tk;
    var mx = -3.4e38;
    for (var j = 0u; j <= pos; j++) { mx = max(mx, att[a + j]); }
    softmax_in_place(a, pos, mx);
}

@compute @workgroup_size(64)
fn attention_softmax_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    let T = p.Tk;
    if r >= p.B * p.NH * T { return; }
    let i = r % T;
    let scale = 1.0 / sqrt(f32(p.C / p.NH));
    let a = p.att_off + r * T;
    let d = p.out_off + r * T;
    var dot = 0.0;
    for (var j = 0u; j <= i; j++) { dot += att[a + j] * out[d + j]; }
    for (var j = 0u; j <= i; j++) { out[d + j] = att[a + j] * (out[d + j] - dot) * scale; }
    for (var j = i + 1u; j < T; j++) { out[d + j] = 0.0; }
}
