//! AdamW (decoupled weight decay, as torch.optim.AdamW) with global-norm clipping folded in,
//! plus the two reductions the training step needs.

use crate::backend::AdamWStep;

pub fn sum(x: &[f32]) -> f32 {
    // f64 accumulation: the sum of 10^5 losses should not depend on their order much.
    x.iter().map(|&v| v as f64).sum::<f64>() as f32
}

pub fn norm_sq(x: &[f32]) -> f32 {
    x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32
}

/// The factor gradients are multiplied by: min(1, max_norm / ‖g‖), as clip_grad_norm_.
pub fn clip_scale(grad_norm_sq: f32, max_norm: f32) -> f32 {
    if max_norm <= 0.0 {
        return 1.0;
    }
    (max_norm / (grad_norm_sq.sqrt() + 1e-6)).min(1.0)
}

/// p[n] -= lr * (mhat / (sqrt(vhat) + eps) + wd * p), with g scaled by clip_scale first.
/// Skipped entirely when grad_norm_sq is not finite (the weights stay the last good ones).
pub fn adamw(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], grad_norm_sq: f32, h: &AdamWStep) {
    if !grad_norm_sq.is_finite() {
        return;
    }
    let scale = clip_scale(grad_norm_sq, h.max_norm);
    let bc1 = 1.0 - h.beta1.powi(h.t as i32);
    let bc2 = 1.0 - h.beta2.powi(h.t as i32);
    for i in 0..p.len() {
        let gi = g[i] * scale;
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * gi;
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * gi * gi;
        let mhat = m[i] / bc1;
        let vhat = v[i] / bc2;
        // torch: p *= 1 - lr*wd, then p -= lr * mhat / (sqrt(vhat) + eps)
        p[i] *= 1.0 - h.lr * h.weight_decay;
        p[i] -= h.lr * mhat / (vhat.sqrt() + h.eps);
    }
}

/// `adamw` over a whole buffer whose `decayed` (start, len) ranges (sorted, disjoint) take
/// h.weight_decay and the rest none: the GPU's one dispatch per buffer, run as the per-range
/// updates it stands for.
pub fn adamw_ranges(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], grad_norm_sq: f32, decayed: &[(usize, usize)], h: &AdamWStep) {
    let n = p.len();
    let mut run = |a: usize, e: usize, wd: f32| {
        if a < e {
            adamw(&mut p[a..e], &g[a..e], &mut m[a..e], &mut v[a..e], grad_norm_sq, &AdamWStep { weight_decay: wd, ..*h });
        }
    };
    let mut at = 0;
    for &(s, l) in decayed {
        assert!(s >= at && s + l <= n, "adamw: decay ranges sorted, disjoint and inside the buffer");
        run(at, s, 0.0);
        run(s, s + l, h.weight_decay);
        at = s + l;
    }
    run(at, n, 0.0);
}
