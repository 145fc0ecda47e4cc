//! Launchers for the matmul kernels: shaders/matmul_tiled.wgsl (real GPUs) and
//! shaders/matmul_blocked.wgsl (CPU adapters), which share bindings and parameters.

use super::kernels::{self, matmul_blocked as blocked, matmul_tiled as tiled, Kernel};
use super::runtime::u;
use super::{GpuBackend, MatmulVariant};
use crate::backend::Tensor;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    c: u32,
    oc: u32,
    /// 1: add bias (forward).
    flags: u32,
    out_off: u32,
    a_off: u32,
    b_off: u32,
    bias_off: u32,
    /// matmul_batched only (zero elsewhere): see `Batched`.
    z: u32,
    nh: u32,
    a_sm: u32,
    a_sk: u32,
    b_sk: u32,
    b_sn: u32,
    o_sm: u32,
    o_sn: u32,
    a_sb: u32,
    a_sh: u32,
    b_sb: u32,
    b_sh: u32,
    o_sb: u32,
    o_sh: u32,
    shift: u32,
    scale: f32,
    /// The epilogue's second input (residual or pre-activation) and second output (GELU out or dbias).
    aux_off: u32,
    out2_off: u32,
    pad: [u32; 2],
}

/// Params::flags (the same constants in both matmul files).
const BIAS: u32 = 1;
const GELU: u32 = 32;
const RESIDUAL: u32 = 64;
const GELU_GRAD: u32 = 128;
const DBIAS: u32 = 256;
const A_VEC: u32 = 512;
const B_VEC: u32 = 1024;

/// `flag` when operand `t`, whose non-unit stride is `stride`, may be read as vec4 by the tiled
/// kernels: its offset where it is bound and its stride multiples of 4 (a view of at least one
/// vec4). The kernels still read edges and partial quads one element at a time.
fn vec_flag(g: &GpuBackend, t: Tensor, stride: usize, flag: u32) -> u32 {
    if t.len >= 4 && g.off(t).is_multiple_of(4) && stride.is_multiple_of(4) { flag } else { 0 }
}

/// One operand of `batched`: the view, and its strides in elements per row, per column, per
/// batch and per head: element (r, c) of matrix (b, h) is at
/// `t.off + r*sr + c*sc + b*sb + h*sh`.
#[derive(Clone, Copy)]
pub(super) struct Strided {
    pub t: Tensor,
    pub sr: usize,
    pub sc: usize,
    pub sb: usize,
    pub sh: usize,
}

/// Work a causal mask makes zero, which `batched` may skip (matmul_blocked.wgsl flags).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Causal {
    /// Output (m, n) is needed only for n <= m + shift: blocks wholly above are left unwritten.
    Out,
    /// A(m, k) is zero for k > m + shift: the k loop stops there.
    KUpTo,
    /// A(m, k) is zero for k < m: the k loop starts at the block's first row.
    KFrom,
}

/// One entry point in both matmul files: (blocked, tiled).
type Pair = (Kernel, Kernel);

/// The current variant's kernel of `k`.
fn variant(g: &GpuBackend, k: Pair) -> Kernel {
    match g.matmul {
        MatmulVariant::Blocked => k.0,
        MatmulVariant::Tiled => k.1,
    }
}

/// (kernel, workgroups) covering an `rows` x `cols` output with the current variant.
fn launch(g: &GpuBackend, k: Pair, rows: usize, cols: usize) -> (Kernel, [u32; 3]) {
    let groups = match g.matmul {
        // 8x1 invocations of 16x16 outputs = 16 rows x 128 columns per workgroup
        MatmulVariant::Blocked => [u(cols.div_ceil(128)), u(rows.div_ceil(16)), 1],
        // 8x16 invocations of 4x8 outputs = 64x64 per workgroup
        MatmulVariant::Tiled => [u(cols.div_ceil(64)), u(rows.div_ceil(64)), 1],
    };
    (variant(g, k), groups)
}

/// A view that binds `a` and `b` at once when they share a buffer (B is then read through
/// a's binding), and the
/// element offsets of a and b relative to where it is bound.
fn operands(g: &mut GpuBackend, a: Tensor, b: Tensor) -> (Option<Tensor>, u32, u32) {
    if a.buf != b.buf {
        return (None, g.off(a), g.off(b));
    }
    let lo = a.off.min(b.off);
    let whole = Tensor { buf: a.buf, off: lo, len: (a.off + a.len).max(b.off + b.len) - lo };
    (Some(whole), g.off(whole) + u(a.off - lo), g.off(whole) + u(b.off - lo))
}

/// Records `k` with the bindings every matmul entry point declares: out and out2 written, a,
/// b, bias and aux read. An operand the op lacks gets a placeholder: `unused` for the read-only
/// ones, a second buffer for out2 (one buffer may not be bound writable and read-only at once).
#[allow(clippy::too_many_arguments)]
fn dispatch(g: &mut GpuBackend, k: Kernel, flag: Option<&'static str>, p: &Params, out: Tensor, a: Tensor, b: Option<Tensor>, bias: Option<Tensor>, aux: Option<Tensor>, out2: Option<Tensor>, groups: [u32; 3]) {
    let unused = g.unused();
    let b = b.unwrap_or(unused);
    let bias = bias.unwrap_or(unused);
    let aux = aux.unwrap_or(unused);
    let out2 = out2.unwrap_or_else(|| g.scratch("unused written binding", 4));
    let mut bindings = vec![(1, out), (2, a), (3, b), (4, bias), (5, aux), (6, out2)];
    if g.matmul == MatmulVariant::Tiled {
        // the vec4 views of a and b (a binding of a runtime array of vec4 holds at least one)
        let v = |t: Tensor| if t.len >= 4 { t } else { unused };
        bindings.extend([(7, v(a)), (8, v(b))]);
    }
    g.dispatch_with(k, flag, p, &bindings, groups);
}

/// The matmul forward with an epilogue: pre[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC], then with
/// `gelu` out[N,OC] = gelu(pre) too; with `res` pre = res + (inp · wᵀ + bias). One dispatch.
#[allow(clippy::too_many_arguments)]
fn forward_ex(g: &mut GpuBackend, pre: Tensor, gelu: Option<Tensor>, res: Option<Tensor>, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
    let flags = (bias.is_some() as u32 * BIAS) | (gelu.is_some() as u32 * GELU) | (res.is_some() as u32 * RESIDUAL) | vec_flag(g, inp, c, A_VEC) | vec_flag(g, w, c, B_VEC);
    let p = Params {
        n: u(n), c: u(c), oc: u(oc), flags,
        out_off: g.off(pre), a_off: g.off(inp), b_off: g.off(w), bias_off: bias.map_or(0, |b| g.off(b)),
        aux_off: res.map_or(0, |r| g.off(r)), out2_off: gelu.map_or(0, |o| g.off(o)),
        ..Params::zeroed()
    };
    let (k, groups) = launch(g, (blocked::FORWARD, tiled::FORWARD), n, oc);
    dispatch(g, k, None, &p, pre, inp, Some(w), bias, res, gelu, groups);
}

/// out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC]
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(g: &mut GpuBackend, out: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
    forward_ex(g, out, None, None, inp, w, bias, n, c, oc);
}

/// pre[N,OC] = inp · wᵀ + bias; out[N,OC] = gelu(pre). One dispatch.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_gelu(g: &mut GpuBackend, out: Tensor, pre: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
    forward_ex(g, pre, Some(out), None, inp, w, bias, n, c, oc);
}

/// out[N,OC] = res[N,OC] + (inp · wᵀ + bias). One dispatch.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_residual(g: &mut GpuBackend, out: Tensor, res: Tensor, inp: Tensor, w: Tensor, bias: Option<Tensor>, n: usize, c: usize, oc: usize) {
    forward_ex(g, out, None, Some(res), inp, w, bias, n, c, oc);
}

/// dinp[N,C] = dout · w (overwritten), times gelu'(pre[N,C]) when `pre` is given; dw[OC,C] +=
/// doutᵀ · inp and dbias[OC] += column sums of dout, in one dispatch (the dw kernel's first
/// column of tiles sums dout as it streams it). Two dispatches in all.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(g: &mut GpuBackend, dinp: Tensor, dw: Tensor, dbias: Option<Tensor>, dout: Tensor, inp: Tensor, w: Tensor, pre: Option<Tensor>, n: usize, c: usize, oc: usize) {
    let base = Params { n: u(n), c: u(c), oc: u(oc), a_off: g.off(dout), ..Params::zeroed() };
    let (k, groups) = launch(g, (blocked::BACKWARD_DINP, tiled::BACKWARD_DINP), n, c);
    let p = Params { out_off: g.off(dinp), b_off: g.off(w), flags: (pre.is_some() as u32 * GELU_GRAD) | vec_flag(g, dout, oc, A_VEC) | vec_flag(g, w, c, B_VEC), aux_off: pre.map_or(0, |t| g.off(t)), ..base };
    dispatch(g, k, None, &p, dinp, dout, Some(w), None, pre, None, groups);
    let (k, mut groups) = launch(g, (blocked::BACKWARD_DW, tiled::BACKWARD_DW), oc, c);
    if g.matmul == MatmulVariant::Tiled {
        // 32x32 tiles, K split inside the workgroup (matmul_tiled.wgsl, gemm_dw)
        groups = [u(c.div_ceil(32)), u(oc.div_ceil(32)), 1];
    }
    let p = Params { out_off: g.off(dw), b_off: g.off(inp), flags: (dbias.is_some() as u32 * DBIAS) | vec_flag(g, dout, oc, A_VEC) | vec_flag(g, inp, c, B_VEC), out2_off: dbias.map_or(0, |t| g.off(t)), ..base };
    dispatch(g, k, None, &p, dw, dout, Some(inp), None, None, dbias, groups);
}

/// For each of `nb` batches x `nh` heads, out = scale · A·B with A [m,k] and B [k,n] strided
/// views (attention's products; on the current matmul variant). `shift` is how far the causal diagonal
/// lies right of m = n. When `b.t` lies in `a.t`'s buffer (attention's q and k), B is read
/// through A's binding: a buffer may not be bound twice where one binding is writable.
#[allow(clippy::too_many_arguments)]
pub(super) fn batched(g: &mut GpuBackend, out: Strided, a: Strided, b: Strided, nb: usize, nh: usize, m: usize, n: usize, k: usize, scale: f32, causal: Causal, shift: usize) {
    let flags = match causal {
        Causal::Out => 4,
        Causal::KUpTo => 8,
        Causal::KFrom => 16,
    };
    let (whole, a_off, b_off) = operands(g, a.t, b.t);
    let p = Params {
        n: u(m), c: u(k), oc: u(n), flags,
        out_off: g.off(out.t), a_off, b_off, bias_off: 0,
        z: u(nb * nh), nh: u(nh),
        a_sm: u(a.sr), a_sk: u(a.sc), b_sk: u(b.sr), b_sn: u(b.sc), o_sm: u(out.sr), o_sn: u(out.sc),
        a_sb: u(a.sb), a_sh: u(a.sh), b_sb: u(b.sb), b_sh: u(b.sh), o_sb: u(out.sb), o_sh: u(out.sh),
        shift: u(shift), scale,
        ..Params::zeroed()
    };
    let groups = match g.matmul {
        // 8 invocations of 16x16 blocks per workgroup, numbered over all matrices
        MatmulVariant::Blocked => g.grid_1d(nb * nh * m.div_ceil(16) * n.div_ceil(16), 8),
        // one 64x64 tile per workgroup, z = the matrix
        MatmulVariant::Tiled => [u(n.div_ceil(64)), u(m.div_ceil(64)), u(nb * nh)],
    };
    let k = variant(g, (blocked::BATCHED, tiled::BATCHED));
    match whole {
        Some(w) => dispatch(g, k, Some(kernels::B_IN_A), &p, out.t, w, None, None, None, None, groups),
        None => dispatch(g, k, None, &p, out.t, a.t, Some(b.t), None, None, None, groups),
    }
}
