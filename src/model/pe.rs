//! The fixed positional encoding (`PosEncoding::Sinusoidal`): a table the encoder adds as it
//! would add wpe.

/// The Vaswani sinusoidal table: PE[pos,2i] = sin(pos/10000^(2i/C)), PE[pos,2i+1] = cos(same).
/// Computed in f64 and rounded once, so every backend and the PyTorch fixture agree.
pub fn sinusoidal_table(max_t: usize, c: usize) -> Vec<f32> {
    let mut pe = vec![0.0f32; max_t * c];
    for pos in 0..max_t {
        for i in 0..c {
            let two_i = (i - i % 2) as f64;
            let angle = pos as f64 / 10000f64.powf(two_i / c as f64);
            pe[pos * c + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    pe
}
