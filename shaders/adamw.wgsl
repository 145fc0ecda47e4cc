// AdamW (decoupled weight decay, as torch.optim.AdamW) with global-norm clipping folded in,
// exactly as src/cpu/adamw.rs:
//   scale = min(1, max_norm / (sqrt(‖g‖²) + 1e-6))   (1 when max_norm <= 0)
//   m = b1 m + (1-b1) g·scale;  v = b2 v + (1-b2) (g·scale)²
//   p *= 1 - lr·wd;  p -= lr · (m/bc1) / (sqrt(v/bc2) + eps)
// and nothing at all when ‖g‖² (read from the device, no readback) is NaN or infinite.
//
// One dispatch updates a whole parameter buffer (every tensor in it): weight decay applies to
// the elements inside the `decayed` table's ranges (the matrices) and not elsewhere (biases,
// LayerNorm), as the CPU's per-range updates.
//
// Bindings (group 0):
//   0 p       uniform Params (bc1 = 1-b1^t and bc2 = 1-b2^t computed on the host, as the CPU)
//   1 param   [n] updated
//   2 grad    [n] read
//   3 m       [n] updated
//   4 v       [n] updated
//   5 gnorm   [1] read: ‖g‖² at gnorm_off
//   6 decayed [2·nr] read: sorted disjoint ranges (start, end) of elements that take weight decay
// One invocation per element.

struct Params {
    n: u32, p_off: u32, g_off: u32, m_off: u32,
    v_off: u32, gn_off: u32, lr: f32, beta1: f32,
    beta2: f32, eps: f32, decay: f32, max_norm: f32, // decay = 1 - lr*weight_decay
    bc1: f32, bc2: f32, nr: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> gnorm: array<f32>;
@group(0) @binding(6) var<storage, read> decayed: array<u32>;

// Whether element i lies in a decayed range: a binary search for the last range starting at or
// before i (a few dozen ranges: 6-7 steps).
fn is_decayed(i: u32) -> bool {
    var lo = 0u;
    var hi = u.nr;
    while lo < hi {
        let mid = (lo + hi) / 2u;
        if decayed[2u * mid] <= i { lo = mid + 1u; } else { hi = mid; }
    }
    return lo > 0u && i < decayed[2u * (lo - 1u) + 1u];
}

// NaN and ±Inf have an all-ones exponent (a bit test: fast-math may fold isnan-style compares).
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn adamw_update(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = id.y * nwg.x * 256u + id.x;
    if i >= u.n { return; }
    let gn = gnorm[u.gn_off];
    if !is_finite(gn) { return; }
    var scale = 1.0;
    if u.max_norm > 0.0 { scale = min(u.max_norm / (sqrt(gn) + 1e-6), 1.0); }
    let g = grad[u.g_off + i] * scale;
    let mi = u.beta1 * m[u.m_off + i] + (1.0 - u.beta1) * g;
    let vi = u.beta2 * v[u.v_off + i] + (1.0 - u.beta2) * g * g;
    m[u.m_off + i] = mi;
    v[u.v_off + i] = vi;
    let mhat = mi / u.bc1;
    let vhat = vi / u.bc2;
    var x = param[u.p_off + i];
    if is_decayed(i) { x *= u.decay; }
    x -= u.lr * mhat / (sqrt(vhat) + u.eps);
    param[u.p_off + i] = x;
}
