//! Softmax + cross-entropy, fused: logits never need a separate probability buffer.

/// losses[N] = logsumexp(logits) - logits[target]; hits[N] = 1.0 if argmax == target.
pub fn crossentropy_forward(losses: &mut [f32], hits: &mut [f32], logits: &[f32], targets: &[u32], n: usize, v: usize) {
    for r in 0..n {
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
        losses[r] = sum.ln() + max - l[tgt];
        hits[r] = if arg == tgt { 1.0 } else { 0.0 };
    }
}

/// dlogits[N,V] = scale * (softmax(logits) - onehot(target)), overwritten.
pub fn crossentropy_backward(dlogits: &mut [f32], logits: &[f32], targets: &[u32], n: usize, v: usize, scale: f32) {
    for r in 0..n {
        let l = &logits[r * v..][..v];
        let d = &mut dlogits[r * v..][..v];
        let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for i in 0..v {
            d[i] = (l[i] - max).exp();
            sum += d[i];
        }
        let inv = 1.0 / sum;
        let tgt = targets[r] as usize;
        for i in 0..v {
            let p = d[i] * inv;
            d[i] = scale * (p - if i == tgt { 1.0 } else { 0.0 });
        }
    }
}
