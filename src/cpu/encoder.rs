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

/// The sinusoid table lives with the model (src/model/pe.rs); this path is kept for callers.
pub use crate::model::sinusoidal_table;
