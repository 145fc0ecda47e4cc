// Residual add. Its backward is the identity on both inputs, so the model passes the
// gradient straight through and there is no residual_backward kernel.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p    uniform Params
//   1 out  [N] written
//   2 a    [N] read
//   3 b    [N] read
// One invocation per element.

struct Params {
    n: u32, out_off: u32, a_off: u32, b_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;

@compute @workgroup_size(256)
fn residual_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = id.y * nwg.x * 256u + id.x;
    if i >= p.n { return; }
    out[p.out_off + i] = a[p.a_off + i] + b[p.b_off + i];
}
