//! Token embedding + positional encoding.

/// out[B,T,C] = wte[inp[b,t], :] + pe[pos0 + t, :]
/// inp[B,T] token ids, wte[V,C], pe[>= pos0+T, C] (learned wpe or the sinusoid table)
#[allow(clippy::too_many_arguments)]
pub fn encoder_forward(out: &mut [f32], inp: &[u32], wte: &[f32], pe: &[f32], b: usize, t: usize, c: usize, pos0: usize) {
    for bi in 0..b {
        for ti in 0..t {
            let tok = inp[bi * t + ti] as usize;
            let o = &mut out[(bi * t + ti) * c..][..c];
            let w = &wte[tok * c..][..c];
            let p = &pe[(pos0 + ti) * c..][..c];
            for i in 0..c {
                o[i] = w[i] + p[i];
            }
        }
    }
}

/// dwte[V,C] += dout rows scattered by token; dwpe[T,C] += dout summed over the batch.
/// Visits positions in order, so the sum is deterministic (the GPU kernel matches that order).
pub fn encoder_backward(dwte: &mut [f32], dwpe: Option<&mut [f32]>, dout: &[f32], inp: &[u32], b: usize, t: usize, c: usize) {
    for bi in 0..b {
        for ti in 0..t {
            let tok = inp[bi * t + ti] as usize;
            let d = &dout[(bi * t + ti) * c..][..c];
            let w = &mut dwte[tok * c..][..c];
            for i in 0..c {
                w[i] += d[i];
            }
        }
    }
    if let Some(dwpe) = dwpe {
        for bi in 0..b {
            for ti in 0..t {
                let d = &dout[(bi * t + ti) * c..][..c];
                let p = &mut dwpe[ti * c..][..c];
                for i in 0..c {
                    p[i] += d[i];
                }
            }
        }
    }
}

/// The Vaswani sinusoidal table: PE[pos,2i] = sin(pos/10000^(2i/C)), PE[pos,2i+1] = cos(same).
/// Computed in f64 and rounded once, so every backend and the PyTorch fixture agree.
pub fn sinusoidal_table(max_t: usize, c: usize) -> Vec<f32> {
    let mut pe = vec![0.0f32; max_t * c];
    for pos in 0..max_t {
        for i in 0..c {
            let two_i = (i - i % 2) as f64;
            let angle = pos as f64 / 10000f64.powf(two_i / c as f64);
            pe[pos * c + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    pe
}
