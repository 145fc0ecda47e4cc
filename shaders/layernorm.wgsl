// LayerNorm over the last dimension C, eps 1e-5 (PyTorch's default).
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params
//   1 out   [N,C]  forward: written               | backward: dinp, accumulated (+=)
//   2 mean  [N]    forward: written               | backward: read
//   3 rstd  [N]    forward: written               | backward: read
//   4 inp   [N,C]  read
//   5 w     [C]    forward/backward: read         | backward_dw: dw, accumulated
//   6 bias  [C]    forward: read                  | backward_dw: dbias, accumulated
//   7 dout  [N,C]  backward, backward_dw: read
//
// layernorm_forward:     one invocation per row: mean, rstd, out = (x-mean)*rstd*w + bias.
// layernorm_backward:    one invocation per row: dinp += (dnorm - mean(dnorm) - norm*mean(dnorm*norm))*rstd.
// layernorm_backward_dw: one invocation per channel, walking the rows in order (deterministic):
//                        dw += Σ norm*dout, dbias += Σ dout.

struct Params {
    N: u32, C: u32, out_off: u32, mean_off: u32,
    rstd_off: u32, inp_off: u32, w_off: u32, bias_off: u32,
    dout_off: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> inp: array<f32>;
@group(0) @binding(5) var<storage, read_write> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> bias: array<f32>;
@group(0) @binding(7) var<storage, read_write> dout: array<f32>;

const EPS: f32 = 1e-5;

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 64u + id.x;
}

@compute @workgroup_size(64)
fn layernorm_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
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

@compute @workgroup_size(64)
fn layernorm_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.N { return; }
    let x = p.inp_off + r * p.C;
    let d = p.dout_off + r * p.C;
    let m = mean[p.mean_off + r];
    let s = rstd[p.rstd_off + r];
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

@compute @workgroup_size(64)
fn layernorm_backward_dw(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.C { return; }
    var dw = w[p.w_off + i];
    var db = bias[p.bias_off + i];
    for (var r = 0u; r < p.N; r++) {
        let norm = (inp[p.inp_off + r * p.C + i] - mean[p.mean_off + r]) * rstd[p.rstd_off + r];
        let g = dout[p.dout_off + r * p.C + i];
        db += g;
        dw += norm * g;
    }
    w[p.w_off + i] = dw;
    bias[p.bias_off + i] = db;
}
