// Token embedding + positional encoding.
//
// Bindings (group 0; offsets are in elements, into whole bound buffers). Inputs are
// read-only: no caller passes a view of an output's buffer as an input (WebGPU forbids one
// buffer bound read-only and writable in one dispatch).
//   0 p     uniform Params
//   1 out   [B,T,C]        encoder_forward: written
//   2 inp   u32 [B,T]      token ids, read
//   3 wte   [V,C]          forward: read
//   4 pe    [>=pos0+T, C]  forward: read
//   5 dout  [B,T,C]        backward: read
//   6 dwte  [V,C]          encoder_backward: accumulated
//   7 dwpe  [T,C]          encoder_backward_dwpe: accumulated
//
// encoder_forward:       one invocation per (b,t,c): out = wte[inp[b,t]] + pe[pos0+t].
// encoder_backward:      one invocation per (row range r, channel c): walks every token in
//                        order and adds its dout into dwte[token, c] when the token's row is
//                        in range r (p.rows rows per range; one range on CPU adapters, more on
//                        GPUs for parallelism). Each dwte element has one owner and gets its
//                        terms in token order, as on the CPU: no atomics, the same sums, and
//                        O(ranges·C·B·T) work rather than O(V·C·B·T).
// encoder_backward_dwpe: one invocation per (t,c) of dwpe, summing over the batch in order.

struct Params {
    B: u32, T: u32, C: u32, V: u32,
    pos0: u32, out_off: u32, inp_off: u32, wte_off: u32,
    pe_off: u32, dout_off: u32, rows: u32, _p1: u32, // rows: encoder_backward's rows per range
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<u32>;
@group(0) @binding(3) var<storage, read> wte: array<f32>;
@group(0) @binding(4) var<storage, read> pe: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(7) var<storage, read_write> dwpe: array<f32>;

// Flat index of a 1-D launch spread over a 2-D grid of 256-wide workgroups.
fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 256u + id.x;
}

@compute @workgroup_size(256)
fn encoder_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.B * p.T * p.C { return; }
    let bt = i / p.C;
    let c = i % p.C;
    let t = bt % p.T;
    let tok = inp[p.inp_off + bt];
    out[p.out_off + i] = wte[p.wte_off + tok * p.C + c] + pe[p.pe_off + (p.pos0 + t) * p.C + c];
}

@compute @workgroup_size(256)
fn encoder_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    let rows = p.rows;
    let ranges = (p.V + rows - 1u) / rows;
    if i >= ranges * p.C { return; }
    let c = i % p.C;
    let lo = i / p.C * rows;
    let hi = min(lo + rows, p.V);
    for (var bt = 0u; bt < p.B * p.T; bt++) {
        let tok = inp[p.inp_off + bt];
        if tok >= lo && tok < hi {
            let w = p.wte_off + tok * p.C + c;
            dwte[w] = dwte[w] + dout[p.dout_off + bt * p.C + c];
        }
    }
}

@compute @workgroup_size(256)
fn encoder_backward_dwpe(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat(id, nwg);
    if i >= p.T * p.C { return; }
    var acc = dwpe[p.pe_off + i];
    for (var b = 0u; b < p.B; b++) {
        acc += dout[p.dout_off + b * p.T * p.C + i];
    }
    dwpe[p.pe_off + i] = acc;
}
