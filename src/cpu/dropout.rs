//! Dropout with a mask drawn from a hash of (seed, element index), never stored: the forward
//! pass and the backward pass (and the GPU kernel, shaders/dropout.wgsl) recompute the same
//! bits from the same four numbers. See `backend::DropoutMask`.

use crate::backend::DropoutMask;

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32"): every output bit depends
/// on every input bit, so consecutive indices give independent-looking draws.
pub fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Whether element `i` of the batch (counted from the batch's first element) is kept.
pub fn kept(m: &DropoutMask, i: u32) -> bool {
    hash(i ^ m.seed) >= m.threshold
}

/// The mask for drop probability p in [0, 1) under `seed`, for elements counted from `base`.
pub fn mask(p: f32, seed: u32, base: u32) -> DropoutMask {
    // p·2³² in f64 is exact enough and cannot overflow for p < 1
    let threshold = (p as f64 * 4_294_967_296.0).round().min(u32::MAX as f64) as u32;
    DropoutMask { seed, base, threshold, scale: 1.0 / (1.0 - p) }
}

/// y[N] in place: y[i] · scale where element base + i is kept, 0 where it is dropped (set,
/// not multiplied, as head_mask: a dropped NaN becomes 0).
pub fn dropout(y: &mut [f32], m: &DropoutMask, n: usize) {
    for (i, v) in y[..n].iter_mut().enumerate() {
        *v = if kept(m, m.base.wrapping_add(i as u32)) { *v * m.scale } else { 0.0 };
    }
}
