//! GELU, tanh approximation as GPT-2 uses it: 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))).
//! tanh goes through `exp` written out below, because libm's scalar tanhf was 40% of a CPU
//! training step; this form auto-vectorises and stays within a few ulp.

const S2PI: f32 = 0.797_884_6; // sqrt(2/pi)

/// exp(x) to ~2 ulp: x = n·ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, 2^n by
/// building the float's exponent bits. Saturates to 0 / +inf outside [-87, 88].
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    // selects, not f32::clamp/max/min, which lower to NaN-aware calls that block SIMD
    let x = if x < -87.0 { -87.0 } else if x > 88.0 { 88.0 } else { x };
    // Round x·log2(e) to the nearest integer n with the 1.5·2^23 trick: after adding MAGIC, the
    // low mantissa bits hold n, so both the float n and the integer n come out without a
    // float->int conversion or libm's roundf (neither vectorises on baseline x86-64).
    const MAGIC: f32 = 12_582_912.0;
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits());
    // two-constant Cody-Waite reduction keeps r accurate
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(ni.wrapping_add(127) << 23)
}

/// tanh(u) = 1 - 2/(e^{2u} + 1): exact limits ±1, absolute error ~1e-7 near 0.
#[inline(always)]
fn tanh_approx(u: f32) -> f32 {
    1.0 - 2.0 / (exp_approx(2.0 * u) + 1.0)
}

simd_fn! {
pub fn gelu_forward(out: &mut [f32], inp: &[f32], n: usize) {
    for (o, &x) in out[..n].iter_mut().zip(&inp[..n]) {
        let u = S2PI * (x + 0.044715 * x * x * x);
        *o = 0.5 * x * (1.0 + tanh_approx(u));
    }
}
}

/// gelu'(x).
#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    let u = S2PI * (x + 0.044715 * x * x * x);
    let th = tanh_approx(u);
    let sech2 = 1.0 - th * th;
    let du = S2PI * (1.0 + 3.0 * 0.044715 * x * x);
    0.5 * (1.0 + th) + 0.5 * x * sech2 * du
}

simd_fn! {
/// dinp[N] = gelu'(inp) * dout (overwritten).
pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32], n: usize) {
    for ((di, &x), &d) in dinp[..n].iter_mut().zip(&inp[..n]).zip(&dout[..n]) {
        *di = gelu_grad(x) * d;
    }
}
}

simd_fn! {
/// d[N] = gelu'(inp) * d in place: gelu_backward with dout and dinp one buffer.
pub fn gelu_backward_in_place(d: &mut [f32], inp: &[f32], n: usize) {
    for (di, &x) in d[..n].iter_mut().zip(&inp[..n]) {
        *di *= gelu_grad(x);
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_tanh_match_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_approx(x), x.exp());
            if b.is_finite() && b > 1e-37 {
                assert!(((a - b) / b).abs() < 1e-6, "exp({x}) = {a}, libm {b}");
            }
            let (a, b) = (tanh_approx(x / 8.0), (x / 8.0).tanh());
            assert!((a - b).abs() < 5e-7, "tanh({}) = {a}, libm {b}", x / 8.0);
            x += 0.0137;
        }
    }
}
