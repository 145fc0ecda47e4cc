//! IEEE 754 half precision (f16) <-> f32, for Hugging Face files stored as F16 and for
//! tinygpt checkpoints shipped as f16 (half the bytes; widened to f32 at load).

/// Exact: every f16 value is an f32 value.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if man == 0 => sign,
        0 => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut m = man;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        31 => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Rounds to the nearest f16, ties to even; beyond 65504 gives infinity, NaN stays NaN.
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    // the value as man24 * 2^(e - 23 - 127) with the implicit bit made explicit
    let e = exp - 127 + 15;
    if e >= 31 {
        return sign | 0x7c00;
    }
    let (m, shift) = if e <= 0 {
        // subnormal in f16 (or zero): shift the full significand further right
        if exp == 0 || e < -10 {
            return sign; // f32 subnormals and anything below half the smallest f16 subnormal
        }
        (man | 0x80_0000, (14 - e) as u32)
    } else {
        (man, 13)
    };
    let keep = m >> shift;
    let rest = m & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    let round = (rest > half || (rest == half && keep & 1 == 1)) as u32;
    let out = if e <= 0 { keep + round } else { ((e as u32) << 10 | keep) + round };
    // a carry out of the mantissa moves to the next exponent (or to infinity): still right
    sign | out as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_widen_exactly() {
        for (h, want) in [(0x3c00u16, 1.0f32), (0xc000, -2.0), (0x0000, 0.0), (0x7bff, 65504.0), (0x0001, 5.960_464_5e-8), (0x3555, 0.333_251_95)] {
            assert_eq!(f16_to_f32(h), want, "{h:#x}");
        }
        assert!(f16_to_f32(0x7c00).is_infinite() && f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn every_f16_round_trips() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            if x.is_nan() {
                assert!(f16_to_f32(f32_to_f16(x)).is_nan());
            } else {
                assert_eq!(f32_to_f16(x), h, "{h:#06x} = {x:e}");
            }
        }
    }

    #[test]
    fn narrowing_rounds_to_the_nearest_ties_to_even() {
        // brute force: the nearest of all finite f16 values, for f32s spread over the range
        let finite: Vec<(u16, f32)> = (0..=0x7bffu16).map(|h| (h, f16_to_f32(h))).collect();
        let mut x = 1.0e-8f32;
        while x < 65000.0 {
            for v in [x, -x, x * 1.000_3, x * 0.999_7] {
                let h = f32_to_f16(v);
                let got = f16_to_f32(h);
                let best = finite.iter().map(|&(_, f)| (f - v.abs()).abs()).fold(f32::INFINITY, f32::min);
                assert_eq!((got.abs() - v.abs()).abs(), best, "{v:e} -> {h:#06x} ({got:e})");
                assert_eq!(got.is_sign_negative(), v.is_sign_negative(), "{v:e}");
            }
            x *= 1.37;
        }
        // exact ties go to the even mantissa
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(2f32.powi(-25)), 0x0000);
        assert_eq!(f32_to_f16(2f32.powi(-25) * 1.01), 0x0001);
    }
}
