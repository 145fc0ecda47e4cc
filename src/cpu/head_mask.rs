//! Head ablation: a layer's attention output with chosen heads' columns set to 0.

/// y[N,C]: for every head h with keep[h] == 0, columns h·hs..(h+1)·hs (hs = C/NH) are set to 0
/// at every row, in place (set, not multiplied: NaN or Inf there becomes 0 too). Its backward
/// is itself, on the gradient of y.
pub fn head_mask(y: &mut [f32], keep: &[f32], n: usize, c: usize, nh: usize) {
    let hs = c / nh;
    for row in y[..n * c].chunks_exact_mut(c) {
        for (h, cols) in row.chunks_exact_mut(hs).enumerate() {
            if keep[h] == 0.0 {
                cols.fill(0.0);
            }
        }
    }
}
