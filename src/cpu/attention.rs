//! Causal multi-head self-attention: softmax(q·kᵀ/sqrt(hs)) · v per head.
//! qkv rows are [q (C) | k (C) | v (C)], head h using channels h*hs..(h+1)*hs of each part.
//! Batches are independent, so natively they run in parallel (rayon); in wasm, in turn.

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

/// out[B,Tq,C], att[B,NH,Tq,Tk] (probabilities; zero where masked), qkv[B,Tk,3C].
/// Query i (0..Tq) sits at position Tk-Tq+i and sees keys 0..=that position.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(out: &mut [f32], att: &mut [f32], qkv: &[f32], b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    let out = out[..b * tq * c].chunks_mut(tq * c);
    let att = att[..b * nh * tq * tk].chunks_mut(nh * tq * tk);
    let one = |(bi, (o, a)): (usize, (&mut [f32], &mut [f32]))| attention_forward_one(o, a, &qkv[bi * tk * 3 * c..][..tk * 3 * c], tq, tk, c, nh);
    #[cfg(not(target_arch = "wasm32"))]
    out.zip(att).enumerate().par_bridge().for_each(one);
    #[cfg(target_arch = "wasm32")]
    out.zip(att).enumerate().for_each(one);
}

simd_fn! {
/// One sequence: out[Tq,C], att[NH,Tq,Tk], qkv[Tk,3C].
fn attention_forward_one(out: &mut [f32], att: &mut [f32], qkv: &[f32], tq: usize, tk: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let past = tk - tq;
    for h in 0..nh {
        for i in 0..tq {
            let pos = past + i;
            let q = &qkv[pos * c3 + h * hs..][..hs];
            let a = &mut att[(h * tq + i) * tk..][..tk];
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

/// dqkv[B,T,3C] (overwritten) from dout[B,T,C], with qkv and the saved probabilities att.
/// Through softmax: dpre = att ⊙ (datt - Σ att·datt), then dq = dpre·k·scale, dk = dpreᵀ·q·scale.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], att: &[f32], b: usize, t: usize, c: usize, nh: usize) {
    let dq = dqkv[..b * t * 3 * c].chunks_mut(t * 3 * c);
    let one = |(bi, d): (usize, &mut [f32])| {
        attention_backward_one(d, &dout[bi * t * c..][..t * c], &qkv[bi * t * 3 * c..][..t * 3 * c], &att[bi * nh * t * t..][..nh * t * t], t, c, nh)
    };
    #[cfg(not(target_arch = "wasm32"))]
    dq.enumerate().par_bridge().for_each(one);
    #[cfg(target_arch = "wasm32")]
    dq.enumerate().for_each(one);
}

simd_fn! {
/// One sequence: dqkv[T,3C], dout[T,C], qkv[T,3C], att[NH,T,T].
fn attention_backward_one(dqkv: &mut [f32], dout: &[f32], qkv: &[f32], att: &[f32], t: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    dqkv.fill(0.0);
    let mut datt = vec![0.0f32; t];
    for h in 0..nh {
        for i in 0..t {
            let a = &att[(h * t + i) * t..][..t];
            let d = &dout[i * c + h * hs..][..hs];
            // datt[j] = dout_i · v_j ; dv_j += a[j] * dout_i
            let mut sum_ad = 0.0f32;
            for j in 0..=i {
                let vo = j * c3 + 2 * c + h * hs;
                datt[j] = dot(d, &qkv[vo..vo + hs]);
                sum_ad += a[j] * datt[j];
                for (dv, &g) in dqkv[vo..vo + hs].iter_mut().zip(d) {
                    *dv += a[j] * g;
                }
            }
            let qo = i * c3 + h * hs;
            for j in 0..=i {
                let dpre = a[j] * (datt[j] - sum_ad) * scale;
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
