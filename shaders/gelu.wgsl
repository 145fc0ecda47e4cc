// GELU, tanh approximation (GPT-2): gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params
//   1 out   [N]  forward: out written | backward: dinp written (overwritten)
//   2 inp   [N]  read
//   3 dout  [N]  backward: read
// One invocation per element.

struct Params {
    n: u32, out_off: u32, inp_off: u32, dout_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> inp: array<f32>;
@group(0) @binding(3) var<storage, read_write> dout: array<f32>;

const S2PI: f32 = 0.7978846; // sqrt(2/pi)

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 256u + id.x;
}

// tanh that stays finite for large |u| (some drivers compute it as a ratio of exponentials).
fn tanh_safe(u: f32) -> f32 {
    return tanh(clamp(u, -15.0, 15.0));
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.n { return; }
    let x = inp[p.inp_off + i];
    let u = S2PI * (x + 0.044715 * x * x * x);
    out[p.out_off + i] = 0.5 * x * (1.0 + tanh_safe(u));
}

@compute @workgroup_size(256)
fn gelu_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.n { return; }
    let x = inp[p.inp_off + i];
    let u = S2PI * (x + 0.044715 * x * x * x);
    let th = tanh_safe(u);
    let sech2 = 1.0 - th * th;
    let du = S2PI * (1.0 + 3.0 * 0.044715 * x * x);
    out[p.out_off + i] = (0.5 * (1.0 + th) + 0.5 * x * sech2 * du) * dout[p.dout_off + i];
}
