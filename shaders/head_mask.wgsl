// Head ablation, as src/cpu/head_mask.rs: in y [N,C], the columns h·hs..(h+1)·hs of every head
// h with keep[h] = 0 are set to 0 at every row (hs = C/NH), in place. The model runs it on a
// layer's attention output (attn.c_proj's input) and, backward, on that output's gradient.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params
//   1 y     [N,C] read and written
//   2 keep  [NH]  read: 1 keeps head h, 0 ablates it
// One invocation per element.

struct Params {
    n: u32, c: u32, nh: u32, y_off: u32,
    keep_off: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> keep: array<f32>;

@compute @workgroup_size(256)
fn head_mask(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = id.y * nwg.x * 256u + id.x;
    if i >= p.n * p.c { return; }
    let h = (i % p.c) / (p.c / p.nh);
    // set, not multiplied: an ablated head's NaN or Inf becomes 0 too
    if keep[p.keep_off + h] == 0.0 {
        y[p.y_off + i] = 0.0;
    }
}
