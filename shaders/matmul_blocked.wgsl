// Matmul, register-blocked: each invocation computes a 4x4 block of the output in registers,
// with no workgroup memory and no barriers. The variant for CPU adapters (lavapipe,
// SwiftShader), where barriers cost far more than the loads they save.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params (sizes N, C, OC; element offsets; flags)
//   1 out   matmul_forward: out[N,OC] | _dinp: dinp[N,C] | _dw: dw[OC,C] (+=) | _dbias: dbias[OC] (+=)
//   2 a     matmul_forward: inp[N,C]  | _dinp, _dw, _dbias: dout[N,OC]
//   3 b     matmul_forward: w[OC,C]   | _dinp: w[OC,C]   | _dw: inp[N,C]
//   4 bias  matmul_forward: bias[OC], read when flags & 1
//
// Entry points (workgroup 8x8 invocations = 32x32 outputs):
//   matmul_forward:        out = inp · wᵀ + bias            (overwrites)
//   matmul_backward_dinp:  dinp = dout · w                  (overwrites)
//   matmul_backward_dw:    dw += doutᵀ · inp                (accumulates)
//   matmul_backward_dbias: dbias += Σ_rows dout, one invocation per column walking rows in
//                          order (64-wide workgroups; both matmul variants use this one).
// Each is one strided product  C[m,n] (+)= Σ_k A(m,k)·B(k,n)  with
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

// One output row segment out[m, n0..n0+4] (columns past N are dropped).
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

// C[M,N] (+)= A·B over K for the 4x4 block at (4*g.y, 4*g.x). Edge blocks clamp their load
// indices to the last row/column instead of branching in the k loop; those values are
// computed but never stored.
fn gemm(g: vec2<u32>, M: u32, N: u32, K: u32, a_sm: u32, a_sk: u32, b_sk: u32, b_sn: u32, flags: u32) {
    let m0 = g.y * 4u;
    let n0 = g.x * 4u;
    if m0 >= M || n0 >= N { return; }
    let a0 = p.a_off + m0 * a_sm;
    let a1 = p.a_off + min(m0 + 1u, M - 1u) * a_sm;
    let a2 = p.a_off + min(m0 + 2u, M - 1u) * a_sm;
    let a3 = p.a_off + min(m0 + 3u, M - 1u) * a_sm;
    let b0 = p.b_off + n0 * b_sn;
    let b1 = p.b_off + min(n0 + 1u, N - 1u) * b_sn;
    let b2 = p.b_off + min(n0 + 2u, N - 1u) * b_sn;
    let b3 = p.b_off + min(n0 + 3u, N - 1u) * b_sn;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var k = 0u; k < K; k++) {
        let ka = k * a_sk;
        let kb = k * b_sk;
        let bk = vec4<f32>(b[b0 + kb], b[b1 + kb], b[b2 + kb], b[b3 + kb]);
        c0 = fma(vec4<f32>(a[a0 + ka]), bk, c0);
        c1 = fma(vec4<f32>(a[a1 + ka]), bk, c1);
        c2 = fma(vec4<f32>(a[a2 + ka]), bk, c2);
        c3 = fma(vec4<f32>(a[a3 + ka]), bk, c3);
    }
    store_row(m0, n0, N, c0, flags);
    if m0 + 1u < M { store_row(m0 + 1u, n0, N, c1, flags); }
    if m0 + 2u < M { store_row(m0 + 2u, n0, N, c2, flags); }
    if m0 + 3u < M { store_row(m0 + 3u, n0, N, c3, flags); }
}

@compute @workgroup_size(8, 8)
fn matmul_forward(@builtin(global_invocation_id) id: vec3<u32>) {
    // out[N,OC] = inp[N,C] · w[OC,C]ᵀ: A(m,k) = inp[m*C+k], B(k,n) = w[n*C+k]
    gemm(id.xy, p.N, p.OC, p.C, p.C, 1u, 1u, p.C, p.flags & BIAS);
}

@compute @workgroup_size(8, 8)
fn matmul_backward_dinp(@builtin(global_invocation_id) id: vec3<u32>) {
    // dinp[N,C] = dout[N,OC] · w[OC,C]: A(m,k) = dout[m*OC+k], B(k,n) = w[k*C+n]
    gemm(id.xy, p.N, p.C, p.OC, p.OC, 1u, p.C, 1u, 0u);
}

@compute @workgroup_size(8, 8)
fn matmul_backward_dw(@builtin(global_invocation_id) id: vec3<u32>) {
    // dw[OC,C] += dout[N,OC]ᵀ · inp[N,C]: A(m,k) = dout[k*OC+m], B(k,n) = inp[k*C+n]
    gemm(id.xy, p.OC, p.C, p.N, 1u, p.OC, p.C, 1u, ACCUMULATE);
}

@compute @workgroup_size(64)
fn matmul_backward_dbias(@builtin(global_invocation_id) id: vec3<u32>) {
    let o = id.x;
    if o >= p.OC { return; }
    var acc = out[p.out_off + o];
    for (var r = 0u; r < p.N; r++) {
        acc += a[p.a_off + r * p.OC + o];
    }
    out[p.out_off + o] = acc;
}
