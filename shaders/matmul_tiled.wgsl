// Matmul, workgroup-memory tiled: a 16x16 workgroup computes a 64x64 output tile, each
// invocation a 4x4 block, staging 64x16 slices of A and 16x64 slices of B in workgroup
// memory (8 KiB). The variant for real GPUs.
//
// Bindings, Params, flags and epilogues: exactly as matmul_blocked.wgsl (the Rust side
// shares them):
//   0 p     uniform Params
//   1 out   matmul_forward: out[N,OC] | _dinp: dinp[N,C] | _dw: dw[OC,C] (+=)
//   2 a     matmul_forward: inp[N,C]  | _dinp, _dw: dout[N,OC]
//   3 b     matmul_forward: w[OC,C]   | _dinp: w[OC,C]   | _dw: inp[N,C]
//   4 bias  matmul_forward: bias[OC], read when flags & 1
//   5 aux   matmul_forward with flags & 64: res[N,OC] | _dinp with flags & 128: pre[N,C]
//   6 out2  matmul_forward with flags & 32: gelu(out)[N,OC] | _dw with flags & 256: dbias[OC] (+=)
// matmul_backward_dw with flags & 256 also sums dout's columns into dbias: the workgroups of
// dw's first column tile add up the rows of A (doutᵀ) they stage, k ascending.
// matmul_batched: attention's batched strided products, as in matmul_blocked.wgsl (same
// Params, flags 4/8/16 and override B_IN_A), one 64x64 tile per workgroup, workgroup z = the
// matrix (b*NH + h).
// Each entry is one strided product  C[m,n] (+)= scale · Σ_k A(m,k)·B(k,n)  with
//   A(m,k) = a[a_off + m*a_sm + k*a_sk],  B(k,n) = b[b_off + k*b_sk + n*b_sn],
//   C[m,n] = out[out_off + m*o_sm + n*o_sn].

struct Params {
    N: u32, C: u32, OC: u32, flags: u32, // flags: 1 = add bias, 2 = accumulate into out
    out_off: u32, a_off: u32, b_off: u32, bias_off: u32,
    // matmul_batched only: M = N, N = OC, K = C above; Z matrices of NH heads
    Z: u32, NH: u32, a_sm: u32, a_sk: u32,
    b_sk: u32, b_sn: u32, o_sm: u32, o_sn: u32,
    a_sb: u32, a_sh: u32, b_sb: u32, b_sh: u32,
    o_sb: u32, o_sh: u32, shift: u32, scale: f32, // shift: key positions before query 0
    aux_off: u32, out2_off: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<f32>;
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;

override B_IN_A: bool = false;

const BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;
const CAUSAL_OUT: u32 = 4u; // skip tiles with every n > m + shift (left unwritten)
const K_UPTO: u32 = 8u;     // k < m + 1 + shift only (A is zero past the diagonal)
const K_FROM: u32 = 16u;    // k >= m only (A(m,k) is zero for k < m)
const GELU: u32 = 32u;      // out2 = gelu(out)
const RESIDUAL: u32 = 64u;  // out = aux + (product + bias)
const GELU_GRAD: u32 = 128u; // out = gelu'(aux) · product
const DBIAS: u32 = 256u;    // out2 += row sums of A (dw's first column tile)

const S2PI: f32 = 0.7978846; // sqrt(2/pi)

// GELU and its derivative exactly as shaders/gelu.wgsl computes them (tanh kept finite).
fn gelu(x: f32) -> f32 {
    let u = S2PI * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + tanh(clamp(u, -15.0, 15.0)));
}

fn gelu_grad(x: f32) -> f32 {
    let u = S2PI * (x + 0.044715 * x * x * x);
    let th = tanh(clamp(u, -15.0, 15.0));
    let sech2 = 1.0 - th * th;
    let du = S2PI * (1.0 + 3.0 * 0.044715 * x * x);
    return 0.5 * (1.0 + th) + 0.5 * x * sech2 * du;
}
const TM: u32 = 64u; // tile rows (and columns)
const TK: u32 = 16u; // tile depth

var<workgroup> As: array<f32, 1024>; // [TK][TM]: As[k*TM + m]
var<workgroup> Bs: array<f32, 1024>; // [TK][TM]: Bs[k*TM + n]

// Where C's rows and columns lie in out, and the factor applied.
struct Out { base: u32, sm: u32, sn: u32, scale: f32 }

// One output element through the epilogue the flags ask for: scale, bias, accumulate,
// residual add or GELU gradient, then the store (and GELU's second output).
fn store(o: Out, m: u32, n: u32, v: f32, flags: u32) {
    var x = v * o.scale;
    if (flags & BIAS) != 0u { x += bias[p.bias_off + n]; }
    let r = m * o.sm + n * o.sn;
    let i = o.base + r;
    if (flags & ACCUMULATE) != 0u { x += out[i]; }
    if (flags & RESIDUAL) != 0u { x = aux[p.aux_off + r] + x; }
    if (flags & GELU_GRAD) != 0u { x = gelu_grad(aux[p.aux_off + r]) * x; }
    out[i] = x;
    if (flags & GELU) != 0u { out2[p.out2_off + r] = gelu(x); }
}

fn store_row(o: Out, m: u32, n0: u32, N: u32, v: vec4<f32>, flags: u32) {
    for (var j = 0u; j < 4u; j++) {
        if n0 + j < N { store(o, m, n0 + j, v[j], flags); }
    }
}

fn lb(i: u32) -> f32 {
    if B_IN_A { return a[i]; }
    return b[i];
}

// The 64x64 tile at (wg.y, wg.x) over k in [k_lo, k_hi), A from a_off and B from b_off.
// With `sums` (a literal) each invocation also sums its 4 rows of A over k; those of the first
// column tile add them into out2 when flags & DBIAS.
fn gemm(lid: vec2<u32>, wg: vec2<u32>, M: u32, N: u32, k_lo: u32, k_hi: u32, a_off: u32, a_sm: u32, a_sk: u32, b_off: u32, b_sk: u32, b_sn: u32, o: Out, flags: u32, sums: bool) {
    let t = lid.y * 16u + lid.x;
    let mb = wg.y * TM;
    let nb = wg.x * TM;
    let K = k_hi;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var rs = vec4<f32>(0.0);
    for (var k0 = k_lo; k0 < K; k0 += TK) {
        // Stage the tiles; neighbouring invocations read neighbouring addresses along
        // whichever dimension is contiguous. Out-of-range elements are zero.
        for (var l = 0u; l < 4u; l++) {
            let e = t + l * 256u;
            var am = e % TM;
            var ak = e / TM;
            if a_sk == 1u { am = e / TK; ak = e % TK; }
            var av = 0.0;
            if mb + am < M && k0 + ak < K { av = a[a_off + (mb + am) * a_sm + (k0 + ak) * a_sk]; }
            As[ak * TM + am] = av;
            var bn = e % TM;
            var bk = e / TM;
            if b_sk == 1u { bn = e / TK; bk = e % TK; }
            var bv = 0.0;
            if nb + bn < N && k0 + bk < K { bv = lb(b_off + (k0 + bk) * b_sk + (nb + bn) * b_sn); }
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
            if sums { rs += vec4<f32>(As[ar], As[ar + 1u], As[ar + 2u], As[ar + 3u]); }
        }
        workgroupBarrier();
    }
    let m0 = mb + lid.y * 4u;
    let n0 = nb + lid.x * 4u;
    if sums && (flags & DBIAS) != 0u && wg.x == 0u && lid.x == 0u {
        for (var j = 0u; j < 4u; j++) {
            if m0 + j < M { out2[p.out2_off + m0 + j] += rs[j]; }
        }
    }
    if n0 >= N { return; }
    if m0 < M { store_row(o, m0, n0, N, c0, flags); }
    if m0 + 1u < M { store_row(o, m0 + 1u, n0, N, c1, flags); }
    if m0 + 2u < M { store_row(o, m0 + 2u, n0, N, c2, flags); }
    if m0 + 3u < M { store_row(o, m0 + 3u, n0, N, c3, flags); }
}

@compute @workgroup_size(16, 16)
fn matmul_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // out[N,OC] = inp[N,C] · w[OC,C]ᵀ: A(m,k) = inp[m*C+k], B(k,n) = w[n*C+k]
    gemm(lid.xy, wg.xy, p.N, p.OC, 0u, p.C, p.a_off, p.C, 1u, p.b_off, 1u, p.C, Out(p.out_off, p.OC, 1u, 1.0), p.flags & (BIAS | GELU | RESIDUAL), false);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_dinp(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // dinp[N,C] = dout[N,OC] · w[OC,C]: A(m,k) = dout[m*OC+k], B(k,n) = w[k*C+n]
    gemm(lid.xy, wg.xy, p.N, p.C, 0u, p.OC, p.a_off, p.OC, 1u, p.b_off, p.C, 1u, Out(p.out_off, p.C, 1u, 1.0), p.flags & GELU_GRAD, false);
}

@compute @workgroup_size(16, 16)
fn matmul_backward_dw(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // dw[OC,C] += dout[N,OC]ᵀ · inp[N,C]: A(m,k) = dout[k*OC+m], B(k,n) = inp[k*C+n]
    gemm(lid.xy, wg.xy, p.OC, p.C, 0u, p.N, p.a_off, 1u, p.OC, p.b_off, p.C, 1u, Out(p.out_off, p.C, 1u, 1.0), ACCUMULATE | (p.flags & DBIAS), true);
}

@compute @workgroup_size(16, 16)
fn matmul_batched(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let bi = wg.z / p.NH;
    let h = wg.z % p.NH;
    let mb = wg.y * TM;
    // a whole tile above the causal diagonal: nothing to write (uniform per workgroup, so the
    // barriers inside gemm are still reached by all or none)
    if (p.flags & CAUSAL_OUT) != 0u && wg.x * TM > mb + TM - 1u + p.shift { return; }
    var k_lo = 0u;
    var k_hi = p.C;
    if (p.flags & K_UPTO) != 0u { k_hi = min(k_hi, mb + TM + p.shift); }
    if (p.flags & K_FROM) != 0u { k_lo = mb; }
    let o = Out(p.out_off + bi * p.o_sb + h * p.o_sh, p.o_sm, p.o_sn, p.scale);
    gemm(lid.xy, wg.xy, p.N, p.OC, k_lo, k_hi, p.a_off + bi * p.a_sb + h * p.a_sh, p.a_sm, p.a_sk,
         p.b_off + bi * p.b_sb + h * p.b_sh, p.b_sk, p.b_sn, o, 0u, false);
}
