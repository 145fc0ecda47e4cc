// LayerNorm over the last dimension C, eps 1e-5 (PyTorch's default).
//
// Bindings (group 0). Inputs are read-only: no caller passes a view of an output's buffer as
// an input (WebGPU forbids one buffer bound read-only and writable in one dispatch).
//   0  p         uniform Params
//   1  out       [N,C]  forward: written | backward: dinp, accumulated (+=)
//   2  mean      [N]    forward: written
//   3  rstd      [N]    forward: written
//   4  inp       [N,C]  read
//   5  w         [C]    read
//   6  bias      [C]    forward: read
//   7  dout      [N,C]  backward: read
//   8  mean_in   [N]    backward: read
//   9  rstd_in   [N]    backward: read
//   10 partials  [blocks,2,C] backward: written (scratch)
//   11 parts_in  [blocks,2,C] backward_dw: read
//   12 dw        [C]    backward_dw: accumulated
//   13 dbias     [C]    backward_dw: accumulated
//
// layernorm_forward:  one workgroup per row; its WG invocations stride over C and fold their
//                     sums as a tree in workgroup memory (fixed order: the same bits every run).
//                     Two reductions (mean, then the variance around it), then the output.
// layernorm_backward: one workgroup per block of p.rows rows. Per row: the two sums of the
//                     backward (Σ dnorm, Σ dnorm·norm) as trees, then dinp += ... Then stage 1
//                     of dw/dbias: invocation i owns columns i, i+WG, ... and sums norm·dout and
//                     dout over the block's rows in order into partials[block].
// layernorm_backward_dw: stage 2, one invocation per (column, dw|dbias): adds the blocks'
//                     partials in block order into dw/dbias.

struct Params {
    N: u32, C: u32, out_off: u32, mean_off: u32,
    rstd_off: u32, inp_off: u32, w_off: u32, bias_off: u32,
    dout_off: u32, rows: u32, blocks: u32, _p0: u32, // rows: backward's rows per block
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> inp: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read> dout: array<f32>;
@group(0) @binding(8) var<storage, read> mean_in: array<f32>;
@group(0) @binding(9) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(10) var<storage, read_write> partials: array<f32>;
@group(0) @binding(11) var<storage, read> parts_in: array<f32>;
@group(0) @binding(12) var<storage, read_write> dw: array<f32>;
@group(0) @binding(13) var<storage, read_write> dbias: array<f32>;

const EPS: f32 = 1e-5;
const WG: u32 = 64u;

var<workgroup> s: array<vec2<f32>, WG>;

// Tree fold of s[0..WG] into s[0], read back by every invocation. Every invocation of the
// workgroup calls it (uniform control flow); its closing barrier lets s be written again.
fn fold(t: u32, v: vec2<f32>) -> vec2<f32> {
    s[t] = v;
    for (var k = WG / 2u; k > 0u; k /= 2u) {
        workgroupBarrier();
        if t < k { s[t] += s[t + k]; }
    }
    workgroupBarrier();
    let r = s[0];
    workgroupBarrier();
    return r;
}

// The workgroup's index over a 2-D grid (row counts above 65535 workgroups).
fn group(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.y * nwg.x + wg.x;
}

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = group(wg, nwg);
    if r >= p.N { return; } // uniform: the whole workgroup leaves
    let t = lid.x;
    let x = p.inp_off + r * p.C;
    let fc = f32(p.C);
    var acc = 0.0;
    for (var i = t; i < p.C; i += WG) { acc += inp[x + i]; }
    let m = fold(t, vec2(acc, 0.0)).x / fc;
    acc = 0.0;
    for (var i = t; i < p.C; i += WG) { let d = inp[x + i] - m; acc += d * d; }
    let rs = 1.0 / sqrt(fold(t, vec2(acc, 0.0)).x / fc + EPS);
    let o = p.out_off + r * p.C;
    for (var i = t; i < p.C; i += WG) {
        out[o + i] = (inp[x + i] - m) * rs * w[p.w_off + i] + bias[p.bias_off + i];
    }
    if t == 0u {
        mean[p.mean_off + r] = m;
        rstd[p.rstd_off + r] = rs;
    }
}

@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let blk = group(wg, nwg);
    if blk >= p.blocks { return; } // uniform
    let t = lid.x;
    let r0 = blk * p.rows;
    let nr = min(p.rows, p.N - r0); // uniform trip count: the barriers in fold stay legal
    let fc = f32(p.C);
    for (var k = 0u; k < nr; k++) {
        let r = r0 + k;
        let x = p.inp_off + r * p.C;
        let d = p.dout_off + r * p.C;
        let m = mean_in[p.mean_off + r];
        let rs = rstd_in[p.rstd_off + r];
        var acc = vec2(0.0, 0.0);
        for (var i = t; i < p.C; i += WG) {
            let norm = (inp[x + i] - m) * rs;
            let dnorm = w[p.w_off + i] * dout[d + i];
            acc += vec2(dnorm, dnorm * norm);
        }
        let means = fold(t, acc) / fc; // (mean of dnorm, mean of dnorm·norm)
        let o = p.out_off + r * p.C;
        for (var i = t; i < p.C; i += WG) {
            let norm = (inp[x + i] - m) * rs;
            let dnorm = w[p.w_off + i] * dout[d + i];
            out[o + i] += (dnorm - means.x - norm * means.y) * rs;
        }
    }
    // stage 1 of dw/dbias: this block's column sums, rows in order
    let q = blk * 2u * p.C;
    for (var i = t; i < p.C; i += WG) {
        var gw = 0.0;
        var gb = 0.0;
        for (var k = 0u; k < nr; k++) {
            let r = r0 + k;
            let g = dout[p.dout_off + r * p.C + i];
            gw += (inp[p.inp_off + r * p.C + i] - mean_in[p.mean_off + r]) * rstd_in[p.rstd_off + r] * g;
            gb += g;
        }
        partials[q + i] = gw;
        partials[q + p.C + i] = gb;
    }
}

@compute @workgroup_size(WG)
fn layernorm_backward_dw(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = id.y * nwg.x * WG + id.x; // j < C: dw[j]; C <= j < 2C: dbias[j - C]
    if j >= 2u * p.C { return; }
    var acc = 0.0;
    for (var b = 0u; b < p.blocks; b++) { acc += parts_in[b * 2u * p.C + j]; }
    if j < p.C {
        dw[p.w_off + j] += acc;
    } else {
        dbias[p.bias_off + j - p.C] += acc;
    }
}

// ---- CPU adapters (lavapipe, SwiftShader): one invocation per row or column, no barriers ----
// Their workgroups run on one CPU thread each and barriers cost a switch per invocation group,
// so the workgroup-per-row kernels above run several times slower there than these.

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * WG + id.x;
}

// One invocation per row: the forward's sums walked in order.
@compute @workgroup_size(WG)
fn layernorm_forward_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let x = p.inp_off + r * p.C;
    var s = 0.0;
    for (var i = 0u; i < p.C; i++) { s += inp[x + i]; }
    let m = s / f32(p.C);
    var v = 0.0;
    for (var i = 0u; i < p.C; i++) { let d = inp[x + i] - m; v += d * d; }
    let rs = 1.0 / sqrt(v / f32(p.C) + EPS);
    let o = p.out_off + r * p.C;
    for (var i = 0u; i < p.C; i++) {
        out[o + i] = (inp[x + i] - m) * rs * w[p.w_off + i] + bias[p.bias_off + i];
    }
    mean[p.mean_off + r] = m;
    rstd[p.rstd_off + r] = rs;
}

// One invocation per row: dinp += ...
@compute @workgroup_size(WG)
fn layernorm_backward_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let x = p.inp_off + r * p.C;
    let d = p.dout_off + r * p.C;
    let m = mean_in[p.mean_off + r];
    let s = rstd_in[p.rstd_off + r];
    var dnorm_mean = 0.0;
    var dnorm_norm_mean = 0.0;
    for (var i = 0u; i < p.C; i++) {
        let norm = (inp[x + i] - m) * s;
        let dnorm = w[p.w_off + i] * dout[d + i];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= f32(p.C);
    dnorm_norm_mean /= f32(p.C);
    let o = p.out_off + r * p.C;
    for (var i = 0u; i < p.C; i++) {
        let norm = (inp[x + i] - m) * s;
        let dnorm = w[p.w_off + i] * dout[d + i];
        out[o + i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
}

// One invocation per channel, walking the rows in order: dw += Σ norm·dout, dbias += Σ dout.
@compute @workgroup_size(WG)
fn layernorm_backward_dw_serial(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.C { return; }
    var gw = dw[p.w_off + i];
    var gb = dbias[p.bias_off + i];
    for (var r = 0u; r < p.N; r++) {
        let norm = (inp[p.inp_off + r * p.C + i] - mean_in[p.mean_off + r]) * rstd_in[p.rstd_off + r];
        let g = dout[p.dout_off + r * p.C + i];
        gb += g;
        gw += norm * g;
    }
    dw[p.w_off + i] = gw;
    dbias[p.bias_off + i] = gb;
}
