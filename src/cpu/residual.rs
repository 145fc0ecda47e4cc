//! Residual add. Its backward is the identity on both inputs, so the model passes the
//! residual stream's gradient straight through (see src/backend.rs); residual_backward is
//! kept as the plain statement of that, and checked by the gradient tests.

pub fn residual_forward(out: &mut [f32], a: &[f32], b: &[f32], n: usize) {
    for i in 0..n {
        out[i] = a[i] + b[i];
    }
}

/// da[N] += dout, db[N] += dout.
pub fn residual_backward(da: &mut [f32], db: &mut [f32], dout: &[f32], n: usize) {
    for i in 0..n {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}
