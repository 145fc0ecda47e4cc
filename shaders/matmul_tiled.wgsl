// Matmul, workgroup-memory tiled: the variant for real GPUs. A workgroup of 8x16 invocations
// computes a 64x64 output tile, each invocation a 4x8 register tile (4 rows x 2 vec4 columns),
// so per k one vec4 of A and two of B from workgroup memory feed 32 FMAs. A and B are staged
// TK = 16 deep, k-major ([k][m] and [k][n], rows of 16 vec4 padded to 17 so the scattered
// stores of k-contiguous operands fall in distinct banks) and the next slice's global loads
// are issued before the current slice is computed (prefetched into registers). Global loads
// are vec4 where the launcher says the operand allows (flags 512/1024: its offset and its
// non-unit stride multiples of 4), with a scalar path for edges and unaligned views.
// Workgroup memory: 2 x 288 vec4 = 9 KiB.
//
// Bindings, Params, flags and epilogues: as matmul_blocked.wgsl (the Rust side shares them),
// plus two vec4 views of the inputs:
//   0 p     uniform Params
//   1 out   matmul_forward: out[N,OC] | _dinp: dinp[N,C] | _dw: dw[OC,C] (+=)
//   2 a     matmul_forward: inp[N,C]  | _dinp, _dw: dout[N,OC]
//   3 b     matmul_forward: w[OC,C]   | _dinp: w[OC,C]   | _dw: inp[N,C]
//   4 bias  matmul_forward: bias[OC], read when flags & 1
//   5 aux   matmul_forward with flags & 64: res[N,OC] | _dinp with flags & 128: pre[N,C]
//   6 out2  matmul_forward with flags & 32: gelu(out)[N,OC] | _dw with flags & 256: dbias[OC] (+=)
//   7 a4    a's view as vec4 (read when flags & 512)
//   8 b4    b's view as vec4 (read when flags & 1024)
// matmul_backward_dw: 32x32 tiles with K split four ways inside the workgroup (see gemm_dw);
// with flags & 256 it also sums dout's columns into dbias: the workgroups of dw's first column
// of tiles add up the rows of A (doutᵀ) they stage, in a fixed order.
// matmul_batched: attention's batched strided products, as in matmul_blocked.wgsl (same
// Params, flags 4/8/16 and override B_IN_A), one 64x64 tile per workgroup, workgroup z = the
// matrix (b*NH + h); scalar loads.
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
@group(0) @binding(7) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b4: array<vec4<f32>>;

override B_IN_A: bool = false;

const BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;
const CAUSAL_OUT: u32 = 4u; // skip tiles with every n > m + shift (left unwritten)
const K_UPTO: u32 = 8u;     // k < m + 1 + shift only (A is zero past the diagonal)
const K_FROM: u32 = 16u;    // k >= m only (A(m,k) is zero for k < m)
const GELU: u32 = 32u;      // out2 = gelu(out)
const RESIDUAL: u32 = 64u;  // out = aux + (product + bias)
const GELU_GRAD: u32 = 128u; // out = gelu'(aux) · product
const DBIAS: u32 = 256u;    // out2 += row sums of A (dw's first column of tiles)
const A_VEC: u32 = 512u;    // A may be read as vec4 (offset and non-unit stride multiples of 4)
const B_VEC: u32 = 1024u;   // B likewise

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
const TM: u32 = 64u; // tile rows and columns
const TK: u32 = 16u; // tile depth
const S4: u32 = 17u; // vec4s per staged k row: 64/4 + 1 of padding
const NT: u32 = 128u; // invocations

// [TK][S4]: As[k*S4 + i][j] = A(mb + 4i + j, k0 + k), Bs[k*S4 + i][j] = B(k0 + k, nb + 4i + j)
// (matmul_backward_dw: [32][9] over 32x32 tiles, see gemm_dw)
var<workgroup> As: array<vec4<f32>, 288>;
var<workgroup> Bs: array<vec4<f32>, 288>;

// Where C's rows and columns lie in out, and the factor applied.
struct Out { base: u32, sm: u32, sn: u32, scale: f32 }

// One operand as X(r, k) = x[off + r*sr + k*sk] for r < rows: A with r = m, B with r = n.
struct Operand { off: u32, sr: u32, sk: u32, rows: u32, vec: bool }

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

// Row m, columns n0..n0+8 of the register tile; past M or N dropped.
fn store_row(o: Out, m: u32, n0: u32, M: u32, N: u32, v0: vec4<f32>, v1: vec4<f32>, flags: u32) {
    if m >= M { return; }
    for (var j = 0u; j < 4u; j++) {
        if n0 + j < N { store(o, m, n0 + j, v0[j], flags); }
    }
    for (var j = 0u; j < 4u; j++) {
        if n0 + 4u + j < N { store(o, m, n0 + 4u + j, v1[j], flags); }
    }
}

fn ld(is_b: bool, i: u32) -> f32 {
    if is_b {
        if B_IN_A { return a[i]; }
        return b[i];
    }
    return a[i];
}

fn ld4(is_b: bool, i: u32) -> vec4<f32> {
    if is_b { return b4[i]; }
    return a4[i];
}

// Quad q (0..256) of X's slice at rows r0.., depth k0.. (k < K only; zero outside). Where k is
// the contiguous dimension a quad is 4 consecutive k of row r0 + q%64 (neighbouring
// invocations read neighbouring rows: conflict-free scattered stores); otherwise 4
// consecutive rows r0 + 4(q%16).. at depth k0 + q/16 (one vec4 store).
fn fetch(x: Operand, is_b: bool, r0: u32, k0: u32, K: u32, q: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if x.sk == 1u {
        let r = r0 + q % TM;
        let k = k0 + 4u * (q / TM);
        if r < x.rows {
            let i = x.off + r * x.sr + k;
            if x.vec && k + 3u < K {
                v = ld4(is_b, i / 4u);
            } else {
                for (var j = 0u; j < 4u; j++) {
                    if k + j < K { v[j] = ld(is_b, i + j); }
                }
            }
        }
    } else {
        let r = r0 + 4u * (q % 16u);
        let k = k0 + q / 16u;
        if k < K {
            let i = x.off + r * x.sr + k * x.sk;
            if x.vec && r + 3u < x.rows {
                v = ld4(is_b, i / 4u);
            } else {
                for (var j = 0u; j < 4u; j++) {
                    if r + j < x.rows { v[j] = ld(is_b, i + j * x.sr); }
                }
            }
        }
    }
    return v;
}

// Quad q of `fetch` into its place in As (or Bs).
fn stage(x: Operand, is_b: bool, q: u32, v: vec4<f32>) {
    if x.sk == 1u {
        let r = q % TM;
        let k = 4u * (q / TM);
        for (var j = 0u; j < 4u; j++) {
            let i = (k + j) * S4 + r / 4u;
            if is_b { Bs[i][r % 4u] = v[j]; } else { As[i][r % 4u] = v[j]; }
        }
    } else {
        let i = (q / 16u) * S4 + q % 16u;
        if is_b { Bs[i] = v; } else { As[i] = v; }
    }
}

// The 64x64 tile at (wg.y, wg.x) of C[M,N] (+)= A·B over k in [k_lo, k_hi).
fn gemm(lid: vec2<u32>, wg: vec2<u32>, M: u32, N: u32, k_lo: u32, k_hi: u32, A: Operand, B: Operand, o: Out, flags: u32) {
    let t = lid.y * 8u + lid.x;
    let mb = wg.y * TM;
    let nb = wg.x * TM;
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var pa0 = fetch(A, false, mb, k_lo, k_hi, t);
    var pa1 = fetch(A, false, mb, k_lo, k_hi, t + NT);
    var pb0 = fetch(B, true, nb, k_lo, k_hi, t);
    var pb1 = fetch(B, true, nb, k_lo, k_hi, t + NT);
    for (var k0 = k_lo; k0 < k_hi; k0 += TK) {
        stage(A, false, t, pa0);
        stage(A, false, t + NT, pa1);
        stage(B, true, t, pb0);
        stage(B, true, t + NT, pb1);
        workgroupBarrier();
        // the next slice's loads, in flight while this one is computed (zeros past k_hi)
        pa0 = fetch(A, false, mb, k0 + TK, k_hi, t);
        pa1 = fetch(A, false, mb, k0 + TK, k_hi, t + NT);
        pb0 = fetch(B, true, nb, k0 + TK, k_hi, t);
        pb1 = fetch(B, true, nb, k0 + TK, k_hi, t + NT);
        for (var k = 0u; k < TK; k++) {
            let av = As[k * S4 + lid.y];
            let b0 = Bs[k * S4 + 2u * lid.x];
            let b1 = Bs[k * S4 + 2u * lid.x + 1u];
            c00 = fma(vec4<f32>(av.x), b0, c00); c01 = fma(vec4<f32>(av.x), b1, c01);
            c10 = fma(vec4<f32>(av.y), b0, c10); c11 = fma(vec4<f32>(av.y), b1, c11);
            c20 = fma(vec4<f32>(av.z), b0, c20); c21 = fma(vec4<f32>(av.z), b1, c21);
            c30 = fma(vec4<f32>(av.w), b0, c30); c31 = fma(vec4<f32>(av.w), b1, c31);
        }
        workgroupBarrier();
    }
    let m0 = mb + lid.y * 4u;
    let n0 = nb + lid.x * 8u;
    store_row(o, m0, n0, M, N, c00, c01, flags);
    store_row(o, m0 + 1u, n0, M, N, c10, c11, flags);
    store_row(o, m0 + 2u, n0, M, N, c20, c21, flags);
    store_row(o, m0 + 3u, n0, M, N, c30, c31, flags);
}

// dW's products have small outputs ([OC, C]: 4-36 tiles of 64x64 for the presets) over a long
// K (B·T rows), so matmul_backward_dw splits K inside the workgroup instead: 32x32 output
// tiles (4x the workgroups), and the 128 invocations are 4 slices of 32, each a 4x8 register
// tile of the whole 32x32 tile over its own quarter of every 32-deep staged slice of K. The
// slices' partial sums are added in a fixed order (((s0 + s1) + s2) + s3) through workgroup
// memory at the end, so the result is deterministic; then dw is added to. With flags & DBIAS
// every invocation also sums its 4 rows of A (doutᵀ) over its k, reduced alike, and the first
// column of tiles adds the sums into dbias.
// Both operands of dw are contiguous along their rows (dout along OC, inp along C).
const DW_T: u32 = 32u;  // output tile rows and columns
const DW_S4: u32 = 9u;  // vec4s per staged k row: 32/4 + 1 of padding

// Quad q (0..256) of X's 32x32 slice: rows r0 + 4(q%8).. at depth k0 + q/8.
fn fetch_dw(x: Operand, is_b: bool, r0: u32, k0: u32, K: u32, q: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    let r = r0 + 4u * (q % 8u);
    let k = k0 + q / 8u;
    if k < K {
        let i = x.off + r * x.sr + k * x.sk;
        if x.vec && r + 3u < x.rows {
            v = ld4(is_b, i / 4u);
        } else {
            for (var j = 0u; j < 4u; j++) {
                if r + j < x.rows { v[j] = ld(is_b, i + j * x.sr); }
            }
        }
    }
    return v;
}

fn gemm_dw(t: u32, wg: vec2<u32>, M: u32, N: u32, K: u32, A: Operand, B: Operand, o: Out, flags: u32) {
    let slice = t / 32u;
    let u = t % 32u;
    let lx = u % 4u;
    let ly = u / 4u;
    let mb = wg.y * DW_T;
    let nb = wg.x * DW_T;
    var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
    var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
    var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
    var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
    var rs = vec4<f32>(0.0);
    var pa0 = fetch_dw(A, false, mb, 0u, K, t);
    var pa1 = fetch_dw(A, false, mb, 0u, K, t + NT);
    var pb0 = fetch_dw(B, true, nb, 0u, K, t);
    var pb1 = fetch_dw(B, true, nb, 0u, K, t + NT);
    for (var k0 = 0u; k0 < K; k0 += DW_T) {
        As[(t / 8u) * DW_S4 + t % 8u] = pa0;
        As[((t + NT) / 8u) * DW_S4 + t % 8u] = pa1;
        Bs[(t / 8u) * DW_S4 + t % 8u] = pb0;
        Bs[((t + NT) / 8u) * DW_S4 + t % 8u] = pb1;
        workgroupBarrier();
        pa0 = fetch_dw(A, false, mb, k0 + DW_T, K, t);
        pa1 = fetch_dw(A, false, mb, k0 + DW_T, K, t + NT);
        pb0 = fetch_dw(B, true, nb, k0 + DW_T, K, t);
        pb1 = fetch_dw(B, true, nb, k0 + DW_T, K, t + NT);
        for (var kk = 0u; kk < 8u; kk++) {
            let k = slice * 8u + kk;
            let av = As[k * DW_S4 + ly];
            let b0 = Bs[k * DW_S4 + 2u * lx];
            let b1 = Bs[k * DW_S4 + 2u * lx + 1u];
            c00 = fma(vec4<f32>(av.x), b0, c00); c01 = fma(vec4<f32>(av.x), b1, c01);
            c10 = fma(vec4<f32>(av.y), b0, c10); c11 = fma(vec4<f32>(av.y), b1, c11);
            c20 = fma(vec4<f32>(av.z), b0, c20); c21 = fma(vec4<f32>(av.z), b1, c21);
            c30 = fma(vec4<f32>(av.w), b0, c30); c31 = fma(vec4<f32>(av.w), b1, c31);
            rs += av;
        }
        workgroupBarrier();
    }
    // slice 0 adds slices 1, 2, 3 in turn (each writes its partials, then slice 0 reads them)
    for (var s = 1u; s < 4u; s++) {
        if slice == s {
            As[u * 8u] = c00; As[u * 8u + 1u] = c01; As[u * 8u + 2u] = c10; As[u * 8u + 3u] = c11;
            As[u * 8u + 4u] = c20; As[u * 8u + 5u] = c21; As[u * 8u + 6u] = c30; As[u * 8u + 7u] = c31;
            Bs[u] = rs;
        }
        workgroupBarrier();
        if slice == 0u {
            c00 += As[u * 8u]; c01 += As[u * 8u + 1u]; c10 += As[u * 8u + 2u]; c11 += As[u * 8u + 3u];
            c20 += As[u * 8u + 4u]; c21 += As[u * 8u + 5u]; c30 += As[u * 8u + 6u]; c31 += As[u * 8u + 7u];
            rs += Bs[u];
        }
        workgroupBarrier();
    }
    if slice != 0u { return; }
    let m0 = mb + ly * 4u;
    let n0 = nb + lx * 8u;
    if (flags & DBIAS) != 0u && wg.x == 0u && lx == 0u {
        for (var j = 0u; j < 4u; j++) {
            if m0 + j < M { out2[p.out2_off + m0 + j] += rs[j]; }
        }
    }
    store_row(o, m0, n0, M, N, c00, c01, flags);
    store_row(o, m0 + 1u, n0, M, N, c10, c11, flags);
    store_row(o, m0 + 2u, n0, M, N, c20, c21, flags);
    store_row(o, m0 + 3u, n0, M, N, c30, c31, flags);
}

@compute @workgroup_size(8, 16)
fn matmul_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // out[N,OC] = inp[N,C] · w[OC,C]ᵀ: A(m,k) = inp[m*C+k], B(k,n) = w[n*C+k]
    let A = Operand(p.a_off, p.C, 1u, p.N, (p.flags & A_VEC) != 0u);
    let B = Operand(p.b_off, p.C, 1u, p.OC, (p.flags & B_VEC) != 0u);
    gemm(lid.xy, wg.xy, p.N, p.OC, 0u, p.C, A, B, Out(p.out_off, p.OC, 1u, 1.0), p.flags & (BIAS | GELU | RESIDUAL));
}

@compute @workgroup_size(8, 16)
fn matmul_backward_dinp(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    // dinp[N,C] = dout[N,OC] · w[OC,C]: A(m,k) = dout[m*OC+k], B(k,n) = w[k*C+n]
    let A = Operand(p.a_off, p.OC, 1u, p.N, (p.flags & A_VEC) != 0u);
    let B = Operand(p.b_off, 1u, p.C, p.C, (p.flags & B_VEC) != 0u);
    gemm(lid.xy, wg.xy, p.N, p.C, 0u, p.OC, A, B, Out(p.out_off, p.C, 1u, 1.0), p.flags & GELU_GRAD);
}

@compute @workgroup_size(128)
fn matmul_backward_dw(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // dw[OC,C] += dout[N,OC]ᵀ · inp[N,C]: A(m,k) = dout[k*OC+m], B(k,n) = inp[k*C+n]
    let A = Operand(p.a_off, 1u, p.OC, p.OC, (p.flags & A_VEC) != 0u);
    let B = Operand(p.b_off, 1u, p.C, p.C, (p.flags & B_VEC) != 0u);
    gemm_dw(t, wg.xy, p.OC, p.C, p.N, A, B, Out(p.out_off, p.C, 1u, 1.0), ACCUMULATE | (p.flags & DBIAS));
}

@compute @workgroup_size(8, 16)
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
    let A = Operand(p.a_off + bi * p.a_sb + h * p.a_sh, p.a_sm, p.a_sk, p.N, false);
    let B = Operand(p.b_off + bi * p.b_sb + h * p.b_sh, p.b_sn, p.b_sk, p.OC, false);
    gemm(lid.xy, wg.xy, p.N, p.OC, k_lo, k_hi, A, B, o, 0u);
}
