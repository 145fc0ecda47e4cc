//! The failure guard of pipelined training steps (docs/architecture.md, "Pipelined steps").

/// norm_sq[0] += guard[0], then guard[0] = norm_sq[0]·0: 0 while norms are finite, NaN from the
/// first that is not (NaN·0 and Inf·0 are NaN), which makes every later norm NaN too.
pub fn failure_guard(norm_sq: &mut [f32], guard: &mut [f32]) {
    norm_sq[0] += guard[0];
    guard[0] = norm_sq[0] * 0.0;
}
