//! GELU, tanh approximation as GPT-2 uses it.

const S2PI: f32 = 0.797_884_6; // sqrt(2/pi)

pub fn gelu_forward(out: &mut [f32], inp: &[f32], n: usize) {
    for i in 0..n {
        let x = inp[i];
        let u = S2PI * (x + 0.044715 * x * x * x);
        out[i] = 0.5 * x * (1.0 + u.tanh());
    }
}

/// dinp[N] = gelu'(inp) * dout (overwritten).
pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32], n: usize) {
    for i in 0..n {
        let x = inp[i];
        let u = S2PI * (x + 0.044715 * x * x * x);
        let th = u.tanh();
        let sech2 = 1.0 - th * th;
        let du = S2PI * (1.0 + 3.0 * 0.044715 * x * x);
        dinp[i] = (0.5 * (1.0 + th) + 0.5 * x * sech2 * du) * dout[i];
    }
}
