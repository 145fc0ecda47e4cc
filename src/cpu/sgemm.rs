//! The page's matrix multiply: dst[m,n] (row-major, = or +=) lhs[m,k] · rhs[k,n], with lhs and
//! rhs addressed by (row stride, column stride) pairs, as `matmul::gemm_strided` takes them.
//!
//! Why not matrixmultiply in wasm: its WebAssembly kernel is an 8x8 tile, 16 accumulators and 4
//! loaded vectors live at once, with a lane shuffle per multiply-add. x86-64 has 16 vector
//! registers and V8 keeps one for itself, so that kernel spills on every step of k. This one is
//! GotoBLAS's loop nest with a tile that fits: MR rows x 8 columns, MR·2 accumulators, two
//! vectors of the packed rhs and one broadcast lhs element (`v128.load32_splat`) per row.
//! The rhs is packed into panels of 8 columns (KC x 8, zero-padded), the lhs into panels of MR
//! rows (KC x MR), so the kernel reads both contiguously.
//!
//! The vector type is WebAssembly's v128 where the build has SIMD, with `f32x4.relaxed_madd` (a
//! fused multiply-add where the CPU has one) in the relaxed-SIMD build; elsewhere four plain
//! floats, so that the packing, blocking and edge handling are the same code natively and are
//! tested there against the plain loops (tests/cpu_ops.rs).

/// Rows of the register tile.
const MR: usize = 4;
/// Columns of the register tile: two 4-lane vectors.
const NR: usize = 8;
/// Depth of one packed block (the lhs panel MR x KC and rhs panel KC x 8 stay in L1).
const KC: usize = 256;
/// Rows of lhs packed at a time (MC x KC floats, 64 KiB: L2).
const MC: usize = 64;
/// Columns of rhs packed at a time (KC x NC floats, 256 KiB: L2).
const NC: usize = 256;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod v {
    use core::arch::wasm32::*;
    pub type V = v128;
    #[inline(always)]
    pub fn zero() -> V {
        f32x4_splat(0.0)
    }
    /// SAFETY (all loads and stores): p..p+4 (1 for splat) in bounds.
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        v128_load(p as *const v128)
    }
    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> V {
        v128_load32_splat(p as *const u32)
    }
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: V) {
        v128_store(p as *mut v128, x)
    }
    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        f32x4_add(a, b)
    }
    /// a·b + c
    #[inline(always)]
    pub fn madd(a: V, b: V, c: V) -> V {
        #[cfg(target_feature = "relaxed-simd")]
        {
            f32x4_relaxed_madd(a, b, c)
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            f32x4_add(f32x4_mul(a, b), c)
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod v {
    pub type V = [f32; 4];
    #[inline(always)]
    pub fn zero() -> V {
        [0.0; 4]
    }
    #[inline(always)]
    pub unsafe fn load(p: *const f32) -> V {
        [*p, *p.add(1), *p.add(2), *p.add(3)]
    }
    #[inline(always)]
    pub unsafe fn splat(p: *const f32) -> V {
        [*p; 4]
    }
    #[inline(always)]
    pub unsafe fn store(p: *mut f32, x: V) {
        for (i, v) in x.into_iter().enumerate() {
            *p.add(i) = v;
        }
    }
    #[inline(always)]
    pub fn add(a: V, b: V) -> V {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    }
    #[inline(always)]
    pub fn madd(a: V, b: V, c: V) -> V {
        [a[0] * b[0] + c[0], a[1] * b[1] + c[1], a[2] * b[2] + c[2], a[3] * b[3] + c[3]]
    }
}

/// The packed panels, kept between calls (a page trains with the same shapes every step).
#[derive(Default)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// dst[m,n] = (acc ? dst : 0) + lhs · rhs; element (i, p) of lhs is lhs[i·lhs_rs + p·lhs_cs],
/// element (p, j) of rhs is rhs[p·rhs_rs + j·rhs_cs]. The caller checks the bounds (as
/// `gemm_strided` asserts them): m, n, k > 0, dst.len() >= m·n, and the last elements of lhs and
/// rhs in range.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(s: &mut Scratch, m: usize, n: usize, k: usize, dst: &mut [f32], acc: bool, lhs: &[f32], lhs_rs: usize, lhs_cs: usize, rhs: &[f32], rhs_rs: usize, rhs_cs: usize) {
    assert!(m > 0 && n > 0 && k > 0 && dst.len() >= m * n);
    assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs && rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    s.a.resize(MC.min(m.next_multiple_of(MR)) * KC, 0.0);
    s.b.resize(NC.min(n.next_multiple_of(NR)) * KC, 0.0);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            // rhs[pc.., jc..] into panels of 8 columns
            pack(&mut s.b, NR, nc, kc, |col, p| rhs[(pc + p) * rhs_rs + (jc + col) * rhs_cs]);
            // the first block of k stores (or adds to dst with acc); the others add
            let add = acc || pc > 0;
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                // lhs[ic.., pc..] into panels of MR rows
                pack(&mut s.a, MR, mc, kc, |row, p| lhs[(ic + row) * lhs_rs + (pc + p) * lhs_cs]);
                for jr in (0..nc).step_by(NR) {
                    let bp = &s.b[(jr / NR) * kc * NR..][..kc * NR];
                    for ir in (0..mc).step_by(MR) {
                        let ap = &s.a[(ir / MR) * kc * MR..][..kc * MR];
                        let tile = kernel(kc, ap, bp);
                        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
                        let at = (ic + ir) * n + jc + jr;
                        write_tile(&mut dst[at..], n, &tile, rows, cols, add);
                    }
                }
            }
        }
    }
}

/// Packs `n` rows (or columns) of depth `kc` into panels of `w`: element (i, p) at
/// (i / w)·kc·w + p·w + i % w, zero past `n`, so the kernel reads each panel contiguously.
#[inline(always)]
fn pack(dst: &mut [f32], w: usize, n: usize, kc: usize, at: impl Fn(usize, usize) -> f32) {
    for (q, panel) in dst.chunks_mut(kc * w).take(n.div_ceil(w)).enumerate() {
        for (p, slot) in panel.chunks_exact_mut(w).enumerate() {
            for (i, x) in slot.iter_mut().enumerate() {
                let at_i = q * w + i;
                *x = if at_i < n { at(at_i, p) } else { 0.0 };
            }
        }
    }
}

/// The MR x 8 tile Σ_p a[p·MR + i] · b[p·8 + j], as MR rows of two vectors.
#[inline(always)]
fn kernel(kc: usize, a: &[f32], b: &[f32]) -> [[v::V; 2]; MR] {
    assert!(a.len() >= kc * MR && b.len() >= kc * NR);
    let mut c = [[v::zero(); 2]; MR];
    let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: p < kc, so ap..ap+MR and bp..bp+8 are within a and b (asserted above).
        unsafe {
            let b0 = v::load(bp);
            let b1 = v::load(bp.add(4));
            for (i, ci) in c.iter_mut().enumerate() {
                let ai = v::splat(ap.add(i));
                ci[0] = v::madd(ai, b0, ci[0]);
                ci[1] = v::madd(ai, b1, ci[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    c
}

/// Writes the top-left rows x cols of `tile` at dst (row stride ld), adding to what is there
/// when `add`.
#[inline(always)]
fn write_tile(dst: &mut [f32], ld: usize, tile: &[[v::V; 2]; MR], rows: usize, cols: usize, add: bool) {
    if cols == NR {
        for (i, t) in tile.iter().enumerate().take(rows) {
            let d = &mut dst[i * ld..][..NR];
            // SAFETY: d holds 8 floats: two vectors.
            unsafe {
                let p = d.as_mut_ptr();
                let (mut x0, mut x1) = (t[0], t[1]);
                if add {
                    x0 = v::add(v::load(p), x0);
                    x1 = v::add(v::load(p.add(4)), x1);
                }
                v::store(p, x0);
                v::store(p.add(4), x1);
            }
        }
        return;
    }
    for (i, t) in tile.iter().enumerate().take(rows) {
        let mut row = [0.0f32; NR];
        // SAFETY: row holds 8 floats.
        unsafe {
            v::store(row.as_mut_ptr(), t[0]);
            v::store(row.as_mut_ptr().add(4), t[1]);
        }
        for (d, &x) in dst[i * ld..][..cols].iter_mut().zip(&row) {
            *d = if add { *d + x } else { x };
        }
    }
}
