//! Causal multi-head self-attention: softmax(q·kᵀ/sqrt(hs)) · v per head.
//! qkv rows are [q (C) | k (C) | v (C)], head h using channels h*hs..(h+1)*hs of each part.
//! Batches are independent, so natively they run in parallel (rayon); in wasm, in turn.
//! Natively each head's products (q·kᵀ, p·v and the four of the backward) go through the
//! matmul's packed GEMM (`gemm_*_one`): the plain loops (`*_loops`, what WebAssembly runs) sum
//! one score at a time, a dependency chain per score that left attention a third of a `baby`
//! step. The loops stay as the oracle the GEMM path is tested against.

use super::gelu::exp_approx;
#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

/// a·b with eight independent partial sums, so the compiler can use SIMD (a single running sum
/// is a dependency chain that must stay scalar without fast-math).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One sequence's work in attention_forward: (batch index, ((out, lse), att)).
type Seq<'a> = (usize, ((&'a mut [f32], &'a mut [f32]), Option<&'a mut [f32]>));

/// out[B,Tq,C], lse[B,NH,Tq] (each row's log Σ exp(score): what backward needs in place of the
/// probabilities), att[B,NH,Tq,Tk] the probabilities (zero where masked) when asked for;
/// qkv[B,Tk,3C]. Query i (0..Tq) sits at position Tk-Tq+i and sees keys 0..=that position.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(out: &mut [f32], lse: &mut [f32], att: Option<&mut [f32]>, qkv: &[f32], b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    #[cfg(not(target_arch = "wasm32"))]
    forward_batches(gemm_forward_one, out, lse, att, qkv, b, tq, tk, c, nh);
    #[cfg(target_arch = "wasm32")]
    forward_batches(attention_forward_one, out, lse, att, qkv, b, tq, tk, c, nh);
}

/// `attention_forward` with the plain loops everywhere (the oracle).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward_loops(out: &mut [f32], lse: &mut [f32], att: Option<&mut [f32]>, qkv: &[f32], b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    forward_batches(attention_forward_one, out, lse, att, qkv, b, tq, tk, c, nh);
}

/// One sequence's forward: out[Tq,C], lse[NH,Tq], att[NH,Tq,Tk] if any, qkv[Tk,3C], Tq, Tk, C, NH.
type ForwardOne = fn(&mut [f32], &mut [f32], Option<&mut [f32]>, &[f32], usize, usize, usize, usize);

#[allow(clippy::too_many_arguments)]
fn forward_batches(one: ForwardOne, out: &mut [f32], lse: &mut [f32], att: Option<&mut [f32]>, qkv: &[f32], b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    let out = out[..b * tq * c].chunks_mut(tq * c);
    let lse = lse[..b * nh * tq].chunks_mut(nh * tq);
    // without att, each sequence gets a row of scratch for its scores instead
    let att: Vec<Option<&mut [f32]>> = match att {
        Some(a) => a[..b * nh * tq * tk].chunks_mut(nh * tq * tk).map(Some).collect(),
        None => (0..b).map(|_| None).collect(),
    };
    let one = |(bi, ((o, l), a)): Seq| one(o, l, a, &qkv[bi * tk * 3 * c..][..tk * 3 * c], tq, tk, c, nh);
    #[cfg(not(target_arch = "wasm32"))]
    out.zip(lse).zip(att).enumerate().par_bridge().for_each(one);
    #[cfg(target_arch = "wasm32")]
    out.zip(lse).zip(att).enumerate().for_each(one);
}

simd_fn! {
/// One sequence: out[Tq,C], lse[NH,Tq], att[NH,Tq,Tk] if any, qkv[Tk,3C].
#[allow(clippy::too_many_arguments)]
fn attention_forward_one(out: &mut [f32], lse: &mut [f32], att: Option<&mut [f32]>, qkv: &[f32], tq: usize, tk: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let past = tk - tq;
    let mut att = att;
    let mut row = vec![0.0f32; tk];
    for h in 0..nh {
        for i in 0..tq {
            let pos = past + i;
            let q = &qkv[pos * c3 + h * hs..][..hs];
            let a = match att.as_deref_mut() {
                Some(att) => &mut att[(h * tq + i) * tk..][..tk],
                None => &mut row[..],
            };
            // scores, with the running max for a safe softmax
            let mut max = f32::NEG_INFINITY;
            for j in 0..=pos {
                let k = &qkv[j * c3 + c + h * hs..][..hs];
                let s = dot(q, k) * scale;
                a[j] = s;
                max = max.max(s);
            }
            // exp_approx (GELU's, ~2 ulp) vectorises; libm's expf is a call per score, most of
            // this op's time in WebAssembly
            for x in a[..=pos].iter_mut() {
                *x = exp_approx(*x - max);
            }
            let sum: f32 = a[..=pos].iter().sum();
            lse[h * tq + i] = max + sum.ln();
            let inv = 1.0 / sum;
            for x in a[..=pos].iter_mut() {
                *x *= inv;
            }
            a[pos + 1..].fill(0.0);
            let o = &mut out[i * c + h * hs..][..hs];
            o.fill(0.0);
            for j in 0..=pos {
                let v = &qkv[j * c3 + 2 * c + h * hs..][..hs];
                for d in 0..hs {
                    o[d] += a[j] * v[d];
                }
            }
        }
    }
}
}

/// dqkv[B,T,3C] (overwritten) from dout[B,T,C], with qkv, the forward's out[B,T,C] and
/// lse[B,NH,T] (training shapes: Tq = Tk = T). The probabilities are recomputed,
/// att_ij = exp(q_i·k_j·scale - lse_i), as FlashAttention-2 does; through softmax:
/// dpre = att ⊙ (datt - D_i) with D_i = Σ_j att_ij·datt_ij = dout_i·out_i, then
/// dq = dpre·k·scale, dk = dpreᵀ·q·scale, dv = attᵀ·dout.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], out: &[f32], lse: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    #[cfg(not(target_arch = "wasm32"))]
    backward_batches(gemm_backward_one, dqkv, dout, qkv, out, lse, b, t, c, nh);
    #[cfg(target_arch = "wasm32")]
    backward_batches(attention_backward_one, dqkv, dout, qkv, out, lse, b, t, c, nh);
}

/// `attention_backward` with the plain loops everywhere (the oracle).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_loops(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], out: &[f32], lse: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    backward_batches(attention_backward_one, dqkv, dout, qkv, out, lse, b, t, c, nh);
}

/// One sequence's backward: dqkv[T,3C], dout[T,C], qkv[T,3C], out[T,C], lse[NH,T], T, C, NH.
type BackwardOne = fn(&mut [f32], &[f32], &[f32], &[f32], &[f32], usize, usize, usize);

#[allow(clippy::too_many_arguments)]
fn backward_batches(one: BackwardOne, dqkv: &mut [f32], dout: &[f32], qkv: &[f32], out: &[f32], lse: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    let dq = dqkv[..b * t * 3 * c].chunks_mut(t * 3 * c);
    let one = |(bi, d): (usize, &mut [f32])| {
        let (dout, out) = (&dout[bi * t * c..][..t * c], &out[bi * t * c..][..t * c]);
        one(d, dout, &qkv[bi * t * 3 * c..][..t * 3 * c], out, &lse[bi * nh * t..][..nh * t], t, c, nh)
    };
    #[cfg(not(target_arch = "wasm32"))]
    dq.enumerate().par_bridge().for_each(one);
    #[cfg(target_arch = "wasm32")]
    dq.enumerate().for_each(one);
}

simd_fn! {
/// One sequence: dqkv[T,3C], dout[T,C], qkv[T,3C], out[T,C], lse[NH,T].
#[allow(clippy::too_many_arguments)]
fn attention_backward_one(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], out: &[f32], lse: &[f32], t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    dqkv.fill(0.0);
    let mut a = vec![0.0f32; t];
    for h in 0..nh {
        for i in 0..t {
            let d = &dout[i * c + h * hs..][..hs];
            let qo = i * c3 + h * hs;
            let big_d = dot(d, &out[i * c + h * hs..][..hs]);
            // the probabilities of row i again, from the scores and the row's lse
            for (j, aj) in a[..=i].iter_mut().enumerate() {
                let ko = j * c3 + c + h * hs;
                *aj = exp_approx(dot(&qkv[qo..qo + hs], &qkv[ko..ko + hs]) * scale - lse[h * t + i]);
            }
            for (j, &aj) in a[..=i].iter().enumerate() {
                // datt_j = dout_i · v_j ; dv_j += a[j] * dout_i
                let vo = j * c3 + 2 * c + h * hs;
                let datt = dot(d, &qkv[vo..vo + hs]);
                for (dv, &g) in dqkv[vo..vo + hs].iter_mut().zip(d) {
                    *dv += aj * g;
                }
                let dpre = aj * (datt - big_d) * scale;
                let ko = j * c3 + c + h * hs;
                // dq_i += dpre·k_j and dk_j += dpre·q_i (q_i and k_j are disjoint ranges)
                let (lo, hi) = dqkv.split_at_mut(qo.max(ko));
                let (dq, dk) = if qo < ko { (&mut lo[qo..qo + hs], &mut hi[..hs]) } else { (&mut hi[..hs], &mut lo[ko..ko + hs]) };
                let (q, k) = (&qkv[qo..qo + hs], &qkv[ko..ko + hs]);
                for x in 0..hs {
                    dq[x] += dpre * k[x];
                    dk[x] += dpre * q[x];
                }
            }
        }
    }
}
}

/// Σ x with eight independent partial sums, so the compiler can use SIMD.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn sum8(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let c = x.chunks_exact(8);
    let tail: f32 = c.remainder().iter().sum();
    for v in c {
        for l in 0..8 {
            acc[l] += v[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest of x (not empty), eight lanes at a time with selects (f32::max is a NaN-aware
/// call that does not vectorise).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn max8(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let c = x.chunks_exact(8);
    let mut m = f32::NEG_INFINITY;
    for &v in c.remainder() {
        m = if v > m { v } else { m };
    }
    for v in c {
        for l in 0..8 {
            acc[l] = if v[l] > acc[l] { v[l] } else { acc[l] };
        }
    }
    for v in acc {
        m = if v > m { v } else { m };
    }
    m
}

/// dst[m,n] = lhs[m,k] · rhs[k,n] through the matmul's GEMM (operands by (row, column) strides).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: &[f32], lhs_rs: usize, lhs_cs: usize, rhs: &[f32], rhs_rs: usize, rhs_cs: usize) {
    use super::matmul::{gemm_with, Kernel};
    gemm_with(Kernel::for_rows(m), m, n, k, dst, false, lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs);
}

#[cfg(not(target_arch = "wasm32"))]
simd_fn! {
/// One sequence, as `attention_forward_one`, each head's products through the GEMM: the scores
/// of every (query, key) pair into att (or a scratch without it), a masked softmax that keeps
/// each row's lse (the masked probabilities then zeroed), out = att · v.
#[allow(clippy::too_many_arguments)]
fn gemm_forward_one(out: &mut [f32], lse: &mut [f32], att: Option<&mut [f32]>, qkv: &[f32], tq: usize, tk: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let past = tk - tq;
    let mut att = att;
    let mut scratch = if att.is_some() { Vec::new() } else { vec![0.0f32; tq * tk] }; // [Tq,Tk]
    let mut o = vec![0.0f32; tq * hs]; // [Tq,hs]: this head's output
    for h in 0..nh {
        let a = match att.as_deref_mut() {
            Some(att) => &mut att[h * tq * tk..][..tq * tk],
            None => &mut scratch[..],
        };
        // a[Tq,Tk] = q[Tq,hs] · kᵀ[hs,Tk]
        gemm(tq, tk, hs, a, &qkv[past * c3 + h * hs..], c3, 1, &qkv[c + h * hs..], 1, c3);
        for (i, row) in a.chunks_exact_mut(tk).enumerate() {
            let n = past + i + 1;
            for x in row[..n].iter_mut() {
                *x *= scale;
            }
            // exp_approx (GELU's, ~2 ulp) vectorises; libm's expf is a call per score
            let max = max8(&row[..n]);
            for x in row[..n].iter_mut() {
                *x = exp_approx(*x - max);
            }
            let sum = sum8(&row[..n]);
            lse[h * tq + i] = max + sum.ln();
            let inv = 1.0 / sum;
            for x in row[..n].iter_mut() {
                *x *= inv;
            }
            row[n..].fill(0.0);
        }
        // o[Tq,hs] = a[Tq,Tk] · v[Tk,hs] (the masked probabilities are zeros)
        gemm(tq, hs, tk, &mut o, a, tk, 1, &qkv[2 * c + h * hs..], c3, 1);
        for (i, r) in o.chunks_exact(hs).enumerate() {
            out[i * c + h * hs..][..hs].copy_from_slice(r);
        }
    }
}
}

#[cfg(not(target_arch = "wasm32"))]
simd_fn! {
/// One sequence, as `attention_backward_one`, each head's products through the GEMM: the
/// probabilities again from q·kᵀ and lse, datt = dout·vᵀ, dv = attᵀ·dout, then through softmax
/// dpre = att ⊙ (datt - D) with D_i = dout_i·out_i, dq = dpre·k, dk = dpreᵀ·q.
#[allow(clippy::too_many_arguments)]
fn gemm_backward_one(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], out: &[f32], lse: &[f32], t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    // every element of dqkv is written once, head by head (none left over to zero)
    assert_eq!(hs * nh, c, "attention: C must be a multiple of NH");
    let mut p = vec![0.0f32; t * t]; // [T,T]: the scores, then the probabilities
    let mut dp = vec![0.0f32; t * t]; // [T,T]: datt, then dpre
    let mut g = vec![0.0f32; 3 * t * hs]; // [3][T,hs]: this head's dq, dk, dv
    for h in 0..nh {
        let d = &dout[h * hs..];
        let (dq, rest) = g.split_at_mut(t * hs);
        let (dk, dv) = rest.split_at_mut(t * hs);
        // p[T,T] = q[T,hs] · kᵀ[hs,T], then exp(score·scale - lse) below the diagonal
        gemm(t, t, hs, &mut p, &qkv[h * hs..], c3, 1, &qkv[c + h * hs..], 1, c3);
        for (i, row) in p.chunks_exact_mut(t).enumerate() {
            let l = lse[h * t + i];
            for x in row[..=i].iter_mut() {
                *x = exp_approx(*x * scale - l);
            }
            row[i + 1..].fill(0.0);
        }
        // dp[T,T] = dout[T,hs] · vᵀ[hs,T]; dv[T,hs] = pᵀ[T,T] · dout[T,hs]
        gemm(t, t, hs, &mut dp, d, c, 1, &qkv[2 * c + h * hs..], 1, c3);
        gemm(t, hs, t, dv, &p, 1, t, d, c, 1);
        for (i, (row, pr)) in dp.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
            let big_d = dot(&dout[i * c + h * hs..][..hs], &out[i * c + h * hs..][..hs]);
            for (x, &pj) in row[..=i].iter_mut().zip(&pr[..=i]) {
                *x = pj * (*x - big_d) * scale;
            }
            row[i + 1..].fill(0.0);
        }
        // dq[T,hs] = dpre[T,T] · k[T,hs]; dk[T,hs] = dpreᵀ[T,T] · q[T,hs]
        gemm(t, hs, t, dq, &dp, t, 1, &qkv[c + h * hs..], c3, 1);
        gemm(t, hs, t, dk, &dp, 1, t, &qkv[h * hs..], c3, 1);
        for j in 0..t {
            let row = &mut dqkv[j * c3..][..c3];
            row[h * hs..][..hs].copy_from_slice(&dq[j * hs..][..hs]);
            row[c + h * hs..][..hs].copy_from_slice(&dk[j * hs..][..hs]);
            row[2 * c + h * hs..][..hs].copy_from_slice(&dv[j * hs..][..hs]);
        }
    }
}
}
