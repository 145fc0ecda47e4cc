//! LayerNorm over the last dimension, eps 1e-5 (PyTorch's default).

pub const LN_EPS: f32 = 1e-5;

simd_fn! {
/// out[N,C] = (inp - mean) * rstd * w + bias; also saves mean[N], rstd[N] for the backward.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(out: &mut [f32], mean: &mut [f32], rstd: &mut [f32], inp: &[f32], w: &[f32], bias: &[f32], n: usize, c: usize) {
    for r in 0..n {
        let x = &inp[r * c..][..c];
        let m = x.iter().sum::<f32>() / c as f32;
        let v = x.iter().map(|&xi| (xi - m) * (xi - m)).sum::<f32>() / c as f32;
        let s = 1.0 / (v + LN_EPS).sqrt();
        let o = &mut out[r * c..][..c];
        for i in 0..c {
            o[i] = (x[i] - m) * s * w[i] + bias[i];
        }
        mean[r] = m;
        rstd[r] = s;
    }
}
}

simd_fn! {
/// dinp[N,C] += ..., dw[C] += ..., dbias[C] += ... (dinp accumulates into the residual stream).
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(dinp: &mut [f32], dw: &mut [f32], dbias: &mut [f32], dout: &[f32], inp: &[f32], w: &[f32], mean: &[f32], rstd: &[f32], n: usize, c: usize) {
    for r in 0..n {
        let x = &inp[r * c..][..c];
        let d = &dout[r * c..][..c];
        let (m, s) = (mean[r], rstd[r]);
        // Two reductions: mean of dnorm and mean of dnorm * norm.
        let mut dnorm_mean = 0.0f32;
        let mut dnorm_norm_mean = 0.0f32;
        for i in 0..c {
            let norm = (x[i] - m) * s;
            let dnorm = w[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= c as f32;
        dnorm_norm_mean /= c as f32;
        let di = &mut dinp[r * c..][..c];
        for i in 0..c {
            let norm = (x[i] - m) * s;
            let dnorm = w[i] * d[i];
            dbias[i] += d[i];
            dw[i] += norm * d[i];
            di[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}
}
