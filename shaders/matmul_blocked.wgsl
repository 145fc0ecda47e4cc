// Matmul, register-blocked: each invocation computes a 16x16 block of the output in
// registers (16 rows of 4 vec4 accumulators), with no workgroup memory and no barriers. The
// variant for CPU adapters (lavapipe, SwiftShader): there a barrier costs far more than the
// loads it saves, and every load whose address differs per invocation is a per-lane loop, so
// the block is as large as possible: 32 loads feed 256 multiply-adds per k. (Measured on
// lavapipe at out[768,512] = inp[768,128]·w[512,128]ᵀ: 4x4 blocks 2 GFLOP/s, 8x8 3, 16x16 8;
// the same kernel written with private arrays instead of named registers: 0.9.)
//
// Bindings (group 0; the same in matmul_tiled.wgsl but for its two vec4 views; every entry
// point uses all of them, so the launcher binds placeholders where an op has no such operand).
// Inputs are read-only: no op binds an input's buffer as an output too.
//   0 p     uniform Params (sizes N, C, OC; element offsets; flags)
//   1 out   matmul_forward: out[N,OC] (the pre-activation with flags & 32) | _dinp: dinp[N,C]
//           | _dw: dw[OC,C] (+=)
//   2 a     matmul_forward: inp[N,C]  | _dinp, _dw: dout[N,OC]
//   3 b     matmul_forward: w[OC,C]   | _dinp: w[OC,C]   | _dw: inp[N,C]
//   4 bias  matmul_forward: bias[OC], read when flags & 1
//   5 aux   matmul_forward with flags & 64: res[N,OC] | _dinp with flags & 128: pre[N,C]
//   6 out2  matmul_forward with flags & 32: gelu(out)[N,OC] | _dw with flags & 256: dbias[OC] (+=)
//
// Entry points (workgroup 8x1 invocations = 16 rows x 128 columns of output):
//   matmul_forward:        out = inp · wᵀ + bias  (overwrites); epilogues: out2 = gelu(out)
//                          (flags 32, c_fc), out = res + (inp · wᵀ + bias) (flags 64, the
//                          projections into the residual stream)
//   matmul_backward_dinp:  dinp = dout · w  (overwrites); flags 128: times gelu'(pre)
//   matmul_backward_dw:    dw += doutᵀ · inp (accumulates); flags 256: dbias += Σ_rows dout,
//                          summed by the blocks of dw's first 16 columns as they stream dout
//                          (k ascending: a fixed order)
//   matmul_batched:        Z = B·NH independent strided products (attention's q·kᵀ, p·v and
//                          their backward on CPU adapters), 8 invocations per workgroup, each a
//                          16x16 block of any matrix, so narrow products (hs = 32) leave no
//                          lane idle. Matrix z = b*NH + h starts at b*x_sb + h*x_sh in each of
//                          a, b and out; flags 4/8/16 skip work a causal mask makes zero.
// Each is one strided product  C[m,n] (+)= scale · Σ_k A(m,k)·B(k,n)  with
//   A(m,k) = a[a_off + m*a_sm + k*a_sk],  B(k,n) = b[b_off + k*b_sk + n*b_sn],
//   C[m,n] = out[out_off + m*o_sm + n*o_sn]  (aux and out2 indexed alike from their offsets).
// The override B_IN_A reads B from binding a (attention's q and k are both in qkv, and one
// buffer may not be bound twice where either binding is writable).

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
const CAUSAL_OUT: u32 = 4u; // skip blocks with every n > m + shift (left unwritten)
const K_UPTO: u32 = 8u;     // k < m + 1 + shift only (A is zero past the diagonal)
const K_FROM: u32 = 16u;    // k >= m only (A(m,k) is zero for k < m)
const GELU: u32 = 32u;      // out2 = gelu(out)
const RESIDUAL: u32 = 64u;  // out = aux + (product + bias)
const GELU_GRAD: u32 = 128u; // out = gelu'(aux) · product
const DBIAS: u32 = 256u;    // out2 += row sums of A (dw's blocks of columns 0..15)

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

// 16 consecutive outputs of one row, in registers.
struct Row { c0: vec4<f32>, c1: vec4<f32>, c2: vec4<f32>, c3: vec4<f32> }

fn row_fma(r: Row, x: f32, y0: vec4<f32>, y1: vec4<f32>, y2: vec4<f32>, y3: vec4<f32>) -> Row {
    let v = vec4<f32>(x);
    return Row(fma(v, y0, r.c0), fma(v, y1, r.c1), fma(v, y2, r.c2), fma(v, y3, r.c3));
}

fn load4(i0: u32, i1: u32, i2: u32, i3: u32) -> vec4<f32> {
    if B_IN_A { return vec4<f32>(a[i0], a[i1], a[i2], a[i3]); }
    return vec4<f32>(b[i0], b[i1], b[i2], b[i3]);
}

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

// out[m, n0..n0+16] (+)= scale·r (+ epilogue); rows past M and columns past N are dropped.
fn store_row(o: Out, m: u32, n0: u32, M: u32, N: u32, r: Row, flags: u32) {
    if m >= M { return; }
    for (var j = 0u; j < 16u; j++) {
        let n = n0 + j;
        if n < N {
            var v = r.c0;
            if j >= 12u { v = r.c3; } else if j >= 8u { v = r.c2; } else if j >= 4u { v = r.c1; }
            store(o, m, n, v[j % 4u], flags);
        }
    }
}

// dbias[m0..m0+16] += s (the row sums of A), rows past M dropped.
fn store_sums(m0: u32, M: u32, s: Row) {
    for (var j = 0u; j < 16u; j++) {
        if m0 + j < M {
            var v = s.c0;
            if j >= 12u { v = s.c3; } else if j >= 8u { v = s.c2; } else if j >= 4u { v = s.c1; }
            out2[p.out2_off + m0 + j] += v[j % 4u];
        }
    }
}

// C[M,N] (+)= A·B over k in [k0, k1) for the 16x16 block at (m0, n0), A starting at a_off and
// B at b_off. Edge blocks clamp their load indices to the last row/column instead of branching
// in the k loop; those values are computed but never stored. With `sums` (a literal, so the
// adds vanish where it is false) the block also sums its 16 rows of A over k and, when it is
// the first block of columns and flags & DBIAS, adds them into out2.
fn gemm(m0: u32, n0: u32, M: u32, N: u32, k0: u32, k1: u32, a_off: u32, a_sm: u32, a_sk: u32, b_off: u32, b_sk: u32, b_sn: u32, o: Out, flags: u32, sums: bool) {
    if m0 >= M || n0 >= N { return; }
    let a0 = a_off + min(m0 + 0u, M - 1u) * a_sm;
    let a1 = a_off + min(m0 + 1u, M - 1u) * a_sm;
    let a2 = a_off + min(m0 + 2u, M - 1u) * a_sm;
    let a3 = a_off + min(m0 + 3u, M - 1u) * a_sm;
    let a4 = a_off + min(m0 + 4u, M - 1u) * a_sm;
    let a5 = a_off + min(m0 + 5u, M - 1u) * a_sm;
    let a6 = a_off + min(m0 + 6u, M - 1u) * a_sm;
    let a7 = a_off + min(m0 + 7u, M - 1u) * a_sm;
    let a8 = a_off + min(m0 + 8u, M - 1u) * a_sm;
    let a9 = a_off + min(m0 + 9u, M - 1u) * a_sm;
    let a10 = a_off + min(m0 + 10u, M - 1u) * a_sm;
    let a11 = a_off + min(m0 + 11u, M - 1u) * a_sm;
    let a12 = a_off + min(m0 + 12u, M - 1u) * a_sm;
    let a13 = a_off + min(m0 + 13u, M - 1u) * a_sm;
    let a14 = a_off + min(m0 + 14u, M - 1u) * a_sm;
    let a15 = a_off + min(m0 + 15u, M - 1u) * a_sm;
    let b0 = b_off + min(n0 + 0u, N - 1u) * b_sn;
    let b1 = b_off + min(n0 + 1u, N - 1u) * b_sn;
    let b2 = b_off + min(n0 + 2u, N - 1u) * b_sn;
    let b3 = b_off + min(n0 + 3u, N - 1u) * b_sn;
    let b4 = b_off + min(n0 + 4u, N - 1u) * b_sn;
    let b5 = b_off + min(n0 + 5u, N - 1u) * b_sn;
    let b6 = b_off + min(n0 + 6u, N - 1u) * b_sn;
    let b7 = b_off + min(n0 + 7u, N - 1u) * b_sn;
    let b8 = b_off + min(n0 + 8u, N - 1u) * b_sn;
    let b9 = b_off + min(n0 + 9u, N - 1u) * b_sn;
    let b10 = b_off + min(n0 + 10u, N - 1u) * b_sn;
    let b11 = b_off + min(n0 + 11u, N - 1u) * b_sn;
    let b12 = b_off + min(n0 + 12u, N - 1u) * b_sn;
    let b13 = b_off + min(n0 + 13u, N - 1u) * b_sn;
    let b14 = b_off + min(n0 + 14u, N - 1u) * b_sn;
    let b15 = b_off + min(n0 + 15u, N - 1u) * b_sn;
    var r0 = Row(); var r1 = Row(); var r2 = Row(); var r3 = Row();
    var r4 = Row(); var r5 = Row(); var r6 = Row(); var r7 = Row();
    var r8 = Row(); var r9 = Row(); var r10 = Row(); var r11 = Row();
    var r12 = Row(); var r13 = Row(); var r14 = Row(); var r15 = Row();
    var s = Row();
    for (var k = k0; k < k1; k++) {
        let ka = k * a_sk;
        let kb = k * b_sk;
        let y0 = load4(b0 + kb, b1 + kb, b2 + kb, b3 + kb);
        let y1 = load4(b4 + kb, b5 + kb, b6 + kb, b7 + kb);
        let y2 = load4(b8 + kb, b9 + kb, b10 + kb, b11 + kb);
        let y3 = load4(b12 + kb, b13 + kb, b14 + kb, b15 + kb);
        let x0 = a[a0 + ka];
        let x1 = a[a1 + ka];
        let x2 = a[a2 + ka];
        let x3 = a[a3 + ka];
        let x4 = a[a4 + ka];
        let x5 = a[a5 + ka];
        let x6 = a[a6 + ka];
        let x7 = a[a7 + ka];
        let x8 = a[a8 + ka];
        let x9 = a[a9 + ka];
        let x10 = a[a10 + ka];
        let x11 = a[a11 + ka];
        let x12 = a[a12 + ka];
        let x13 = a[a13 + ka];
        let x14 = a[a14 + ka];
        let x15 = a[a15 + ka];
        r0 = row_fma(r0, x0, y0, y1, y2, y3);
        r1 = row_fma(r1, x1, y0, y1, y2, y3);
        r2 = row_fma(r2, x2, y0, y1, y2, y3);
        r3 = row_fma(r3, x3, y0, y1, y2, y3);
        r4 = row_fma(r4, x4, y0, y1, y2, y3);
        r5 = row_fma(r5, x5, y0, y1, y2, y3);
        r6 = row_fma(r6, x6, y0, y1, y2, y3);
        r7 = row_fma(r7, x7, y0, y1, y2, y3);
        r8 = row_fma(r8, x8, y0, y1, y2, y3);
        r9 = row_fma(r9, x9, y0, y1, y2, y3);
        r10 = row_fma(r10, x10, y0, y1, y2, y3);
        r11 = row_fma(r11, x11, y0, y1, y2, y3);
        r12 = row_fma(r12, x12, y0, y1, y2, y3);
        r13 = row_fma(r13, x13, y0, y1, y2, y3);
        r14 = row_fma(r14, x14, y0, y1, y2, y3);
        r15 = row_fma(r15, x15, y0, y1, y2, y3);
        if sums {
            s = Row(s.c0 + vec4<f32>(x0, x1, x2, x3), s.c1 + vec4<f32>(x4, x5, x6, x7),
                    s.c2 + vec4<f32>(x8, x9, x10, x11), s.c3 + vec4<f32>(x12, x13, x14, x15));
        }
    }
    store_row(o, m0 + 0u, n0, M, N, r0, flags);
    store_row(o, m0 + 1u, n0, M, N, r1, flags);
    store_row(o, m0 + 2u, n0, M, N, r2, flags);
    store_row(o, m0 + 3u, n0, M, N, r3, flags);
    store_row(o, m0 + 4u, n0, M, N, r4, flags);
    store_row(o, m0 + 5u, n0, M, N, r5, flags);
    store_row(o, m0 + 6u, n0, M, N, r6, flags);
    store_row(o, m0 + 7u, n0, M, N, r7, flags);
    store_row(o, m0 + 8u, n0, M, N, r8, flags);
    store_row(o, m0 + 9u, n0, M, N, r9, flags);
    store_row(o, m0 + 10u, n0, M, N, r10, flags);
    store_row(o, m0 + 11u, n0, M, N, r11, flags);
    store_row(o, m0 + 12u, n0, M, N, r12, flags);
    store_row(o, m0 + 13u, n0, M, N, r13, flags);
    store_row(o, m0 + 14u, n0, M, N, r14, flags);
    store_row(o, m0 + 15u, n0, M, N, r15, flags);
    if sums && (flags & DBIAS) != 0u && n0 == 0u { store_sums(m0, M, s); }
}

@compute @workgroup_size(8, 1)
fn matmul_forward(@builtin(global_invocation_id) id: vec3<u32>) {
    // out[N,OC] = inp[N,C] · w[OC,C]ᵀ: A(m,k) = inp[m*C+k], B(k,n) = w[n*C+k]
    let o = Out(p.out_off, p.OC, 1u, 1.0);
    gemm(id.y * 16u, id.x * 16u, p.N, p.OC, 0u, p.C, p.a_off, p.C, 1u, p.b_off, 1u, p.C, o, p.flags & (BIAS | GELU | RESIDUAL), false);
}

@compute @workgroup_size(8, 1)
fn matmul_backward_dinp(@builtin(global_invocation_id) id: vec3<u32>) {
    // dinp[N,C] = dout[N,OC] · w[OC,C]: A(m,k) = dout[m*OC+k], B(k,n) = w[k*C+n]
    let o = Out(p.out_off, p.C, 1u, 1.0);
    gemm(id.y * 16u, id.x * 16u, p.N, p.C, 0u, p.OC, p.a_off, p.OC, 1u, p.b_off, p.C, 1u, o, p.flags & GELU_GRAD, false);
}

@compute @workgroup_size(8, 1)
fn matmul_backward_dw(@builtin(global_invocation_id) id: vec3<u32>) {
    // dw[OC,C] += dout[N,OC]ᵀ · inp[N,C]: A(m,k) = dout[k*OC+m], B(k,n) = inp[k*C+n]
    let o = Out(p.out_off, p.C, 1u, 1.0);
    gemm(id.y * 16u, id.x * 16u, p.OC, p.C, 0u, p.N, p.a_off, 1u, p.OC, p.b_off, p.C, 1u, o, ACCUMULATE | (p.flags & DBIAS), true);
}

@compute @workgroup_size(8)
fn matmul_batched(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let M = p.N;
    let N = p.OC;
    let mb = (M + 15u) / 16u;
    let nb = (N + 15u) / 16u;
    let blk = id.y * nwg.x * 8u + id.x;
    if blk >= p.Z * mb * nb { return; }
    let m0 = (blk / nb) % mb * 16u;
    let n0 = blk % nb * 16u;
    let z = blk / (nb * mb);
    let bi = z / p.NH;
    let h = z % p.NH;
    if (p.flags & CAUSAL_OUT) != 0u && n0 > m0 + 15u + p.shift { return; }
    var k0 = 0u;
    var k1 = p.C;
    if (p.flags & K_UPTO) != 0u { k1 = min(k1, m0 + 16u + p.shift); }
    if (p.flags & K_FROM) != 0u { k0 = m0; }
    let o = Out(p.out_off + bi * p.o_sb + h * p.o_sh, p.o_sm, p.o_sn, p.scale);
    gemm(m0, n0, M, N, k0, k1, p.a_off + bi * p.a_sb + h * p.a_sh, p.a_sm, p.a_sk,
         p.b_off + bi * p.b_sb + h * p.b_sh, p.b_sk, p.b_sn, o, 0u, false);
}
