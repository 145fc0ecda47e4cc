//! Softmax + cross-entropy, fused: logits never need a separate probability buffer. Each
//! position's loss is weighted (a task's answer tokens 1, the rest 0; text: every position 1),
//! and a position of weight 0 is skipped.

/// losses[N] = w·(logsumexp(logits) - logits[target]); hits[N] = w if argmax == target (the
/// first maximum wins), else 0.
pub fn crossentropy_forward(losses: &mut [f32], hits: &mut [f32], logits: &[f32], targets: &[u32], weights: &[f32], n: usize, v: usize) {
    for r in 0..n {
        let w = weights[r];
        if w == 0.0 {
            losses[r] = 0.0;
            hits[r] = 0.0;
            continue;
        }
        let l = &logits[r * v..][..v];
        let mut max = f32::NEG_INFINITY;
        let mut arg = 0usize;
        for (i, &x) in l.iter().enumerate() {
            if x > max {
                max = x;
                arg = i;
            }
        }
        let sum: f32 = l.iter().map(|&x| (x - max).exp()).sum();
        let tgt = targets[r] as usize;
        losses[r] = w * (sum.ln() + max - l[tgt]);
        hits[r] = if arg == tgt { w } else { 0.0 };
    }
}

/// dlogits[N,V] = scale·w·(softmax(logits) - onehot(target)), overwritten (zero where w is 0).
pub fn crossentropy_backward(dlogits: &mut [f32], logits: &[f32], targets: &[u32], weights: &[f32], n: usize, v: usize, scale: f32) {
    for r in 0..n {
        let l = &logits[r * v..][..v];
        let d = &mut dlogits[r * v..][..v];
        let w = weights[r];
        if w == 0.0 {
            d.fill(0.0);
            continue;
        }
        let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for i in 0..v {
            d[i] = (l[i] - max).exp();
            sum += d[i];
        }
        let inv = 1.0 / sum;
        let tgt = targets[r] as usize;
        let s = scale * w;
        for i in 0..v {
            let p = d[i] * inv;
            d[i] = s * (p - if i == tgt { 1.0 } else { 0.0 });
        }
    }
}

/// `crossentropy_forward` then `crossentropy_backward` in one pass per row (llm.c's fused
/// classifier): the same operations in the same order, so the same bits, with the row's
/// maximum and sum found once and the logits read while they are in cache.
#[allow(clippy::too_many_arguments)]
pub fn crossentropy_fused(losses: &mut [f32], hits: &mut [f32], dlogits: &mut [f32], logits: &[f32], targets: &[u32], weights: &[f32], n: usize, v: usize, scale: f32) {
    for r in 0..n {
        let l = &logits[r * v..][..v];
        let d = &mut dlogits[r * v..][..v];
        let w = weights[r];
        if w == 0.0 {
            losses[r] = 0.0;
            hits[r] = 0.0;
            d.fill(0.0);
            continue;
        }
        // `>` and f32::max agree on the maximum (both pass over NaN)
        let mut max = f32::NEG_INFINITY;
        let mut arg = 0usize;
        for (i, &x) in l.iter().enumerate() {
            if x > max {
                max = x;
                arg = i;
            }
        }
        // the forward's Iterator::sum and the backward's loop add the same terms in order
        let mut sum = 0.0f32;
        for i in 0..v {
            d[i] = (l[i] - max).exp();
            sum += d[i];
        }
        let tgt = targets[r] as usize;
        losses[r] = w * (sum.ln() + max - l[tgt]);
        hits[r] = if arg == tgt { w } else { 0.0 };
        let inv = 1.0 / sum;
        let s = scale * w;
        for (i, di) in d.iter_mut().enumerate() {
            let p = *di * inv;
            *di = s * (p - if i == tgt { 1.0 } else { 0.0 });
        }
    }
}
