//! Causal multi-head self-attention: softmax(q·kᵀ/sqrt(hs)) · v per head.
//! qkv rows are [q (C) | k (C) | v (C)], head h using channels h*hs..(h+1)*hs of each part.

/// out[B,Tq,C], att[B,NH,Tq,Tk] (probabilities; zero where masked), qkv[B,Tk,3C].
/// Query i (0..Tq) sits at position Tk-Tq+i and sees keys 0..=that position.
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(out: &mut [f32], att: &mut [f32], qkv: &[f32], b: usize, tq: usize, tk: usize, c: usize, nh: usize) {
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    let past = tk - tq;
    for bi in 0..b {
        for h in 0..nh {
            for i in 0..tq {
                let pos = past + i;
                let q = &qkv[(bi * tk + pos) * c3 + h * hs..][..hs];
                let a = &mut att[((bi * nh + h) * tq + i) * tk..][..tk];
                // scores, with the running max for a safe softmax
                let mut max = f32::NEG_INFINITY;
                for j in 0..=pos {
                    let k = &qkv[(bi * tk + j) * c3 + c + h * hs..][..hs];
                    let s = q.iter().zip(k).map(|(x, y)| x * y).sum::<f32>() * scale;
                    a[j] = s;
                    max = max.max(s);
                }
                let mut sum = 0.0f32;
                for x in a[..=pos].iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                let inv = 1.0 / sum;
                for x in a[..=pos].iter_mut() {
                    *x *= inv;
                }
                a[pos + 1..].fill(0.0);
                let o = &mut out[(bi * tq + i) * c + h * hs..][..hs];
                o.fill(0.0);
                for j in 0..=pos {
                    let v = &qkv[(bi * tk + j) * c3 + 2 * c + h * hs..][..hs];
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
    let hs = c / nh;
    let c3 = 3 * c;
    let scale = 1.0 / (hs as f32).sqrt();
    dqkv[..b * t * c3].fill(0.0);
    let mut datt = vec![0.0f32; t];
    for bi in 0..b {
        for h in 0..nh {
            for i in 0..t {
                let a = &att[((bi * nh + h) * t + i) * t..][..t];
                let d = &dout[(bi * t + i) * c + h * hs..][..hs];
                // datt[j] = dout_i · v_j ; dv_j += a[j] * dout_i
                let mut dot = 0.0f32;
                for j in 0..=i {
                    let vo = (bi * t + j) * c3 + 2 * c + h * hs;
                    datt[j] = d.iter().zip(&qkv[vo..vo + hs]).map(|(x, y)| x * y).sum();
                    dot += a[j] * datt[j];
                    for k in 0..hs {
                        dqkv[vo + k] += a[j] * d[k];
                    }
                }
                let qo = (bi * t + i) * c3 + h * hs;
                for j in 0..=i {
                    let dpre = a[j] * (datt[j] - dot) * scale;
                    let ko = (bi * t + j) * c3 + c + h * hs;
                    for k in 0..hs {
                        dqkv[qo + k] += dpre * qkv[ko + k];
                        dqkv[ko + k] += dpre * qkv[qo + k];
                    }
                }
            }
        }
    }
}
