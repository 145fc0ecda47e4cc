// Matmul, workgroup-memory tiled: a 16x16 workgroup computes a 64x64 output tile, each
// invocation a 4x4 block, staging 64x16 slices of A and 16x64 slices of B in workgroup
// memory (8 KiB). The variant for real GPUs.
//
// Bindings and Params: exactly as matmul_blocked.wgsl (the Rust side shares them):
//   0 p     uniform Params
//   1 out   matmul_forward: out[N,OC] | _dinp: dinp[N,C] | _dw: dw[OC,C] (+=)
//   2 a     matmul_forward: inp[N,C]  | _dinp, _dw: dout[N,OC]
//   3 b     matmul_forward: w[OC,C]   | _dinp: w[OC,C]   | _dw: inp[N,C]
//   4 bias  matmul_forward: bias[OC], read when flags & 1
// matmul_backward_dbias is shared with the blocked variant (see matmul_blocked.wgsl).
// Each entry is one strided product  C[m,n] (+)= Σ_k A(m,k)·B(k,n)  with
//   A(m,k) = a[a_off + m*a_sm + k*a_sk],  B(k,n) = b[b_off + k*b_sk + n*b_sn].

struct Params {
    N: u32, C: u32, OC: u32, flags: u32, // flags: 1 = add bias, 2 = accumulate into out
    out_off: u32, a_off: u32, b_off: u32, bias_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

const BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;
const TM: u32 = 64u; // tile rows (and columns)
const TK: u32 = 16u; // tile depth

var<workgroup> As: array<f32, 1024>; // [TK][TM]: As[k*TM + m]
var<workgroup> Bs: array<f32, 1024>; // [TK][TM]: Bs[k*TM + n]

fn store_row(m: u32, n0: u32, N: u32, v: vec4<f32>, flags: u32) {
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + j;
        if n < N {
            var x = v[j];
            if (flags & BIAS) != 0u { x += bias[p.bias_off + n]; }
            let o = p.out_off + m * N + n;
            if (flags & ACCUMULATE) != 0u { x += out[o]; }
            out[o] = x;
        }
    }
}

fn gemm(lid: vec2<u32>, wg: vec2<u32>, M: u32, N: u32, K: u32, a_sm: u32, a_sk: u32, b_sk: u32, b_sn: u32, flags: u32) {
    let t = lid.y * 16u + lid.x;
    let mb = wg.y * TM;
    let nb = wg.x * TM;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < K; k0 += TK) {
        // Stage the tiles; neighbouring invocations read neighbouring addresses along
        // whichever dimension is contiguous. Out-of-range elements are zero.
        for (var l = 0u; l < 4u; l++) {
            let e = t + l * 256u;
            var am = e % TM;
            var ak = e / TM;
            if a_sk == 1u { am = e / TK; ak = e % TK; }
            var av = 0.0;
            if mb + am < M && k0 + ak < K { av = a[p.a_off + (mb + am) * a_sm + (k0 + ak) * a_sk]; }
            As[ak * TM + am] = av;
            var bn = e % TM;
            var bk = e / TM;
            if b_sk == 1u { bn = e / TK; bk = e % TK; }
            var bv = 0.0;
            if nb + bn < N && k0 + bk < K { bv = b[p.b_off + (k0 + bk) * b_sk + (nb + bn) * b_sn]; }
            Bs[bk * TM + bn] = bv;
        }
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            let ar = k * TM + lid.y * 4u;
            let br = k * TM + lid.x * 4u;
            let bv = vec4<f32>(Bs[br], Bs[br + 1u], Bs[br + 2u], Bs[br + 3u]);
            c0 = fma(vec4<f32>(As[ar]), bv, c0);
            c1 = fma(vec4<f32>(As[ar + 1u]), bv, c1);
            c2 = fma(vec4<f32>(As[ar + 2u]), bv, c2);
            c3 = fma(vec4<f32>(As[ar + 3u]), bv, c3);
        }
        workgroupBarrier();
    }
    let m0 = mb + lid.y * 4u;
    let n0 = nb + lid.x * 4u;
    if n0 >= N { return; }
    if m0 < M { store_row(m0, n0, N, c0, flags); }
    if m0 + 1u < M { store_row(m0 + 1u, n0, N, c1, flags); }
    if m0 + 2u < M { store_row(m0 + 2u, n0, N, c2, flags); }
    if m0 + 3u < M { store_row(m0 + 3u, n0, N, c3, flags); }
}

@compute @workgroup_size(16, 16)
fn matmul_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // out[N,OC] = inp[N,C] · w[OC,C]ᵀ: A(m,k) = inp[m*C+k], B(k,n) = w[n*C+k]
    gemm(lid.xy, wg.xy, p.N, p.OC, p.C, p.C, 1u, 1u, p.C, p.flags & BIAS);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_dinp(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // dinp[N,C] = dout[N,OC] · w[OC,C]: A(m,k) = dout[m*OC+k], B(k,n) = w[k*C+n]
    gemm(lid.xy, wg.xy, p.N, p.C, p.OC, p.OC, 1u, p.C, 1u, 0u);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_dw(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // dw[OC,C] += dout[N,OC]ᵀ · inp[N,C]: A(m,k) = dout[k*OC+m], B(k,n) = inp[k*C+n]
    gemm(lid.xy, wg.xy, p.OC, p.C, p.N, 1u, p.OC, p.C, 1u, ACCUMULATE);
}
