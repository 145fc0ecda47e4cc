//! Matmul: out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC], and its two backward products.
//! Natively the hot path calls a packed GEMM library (`Kernel`: gemm's f32 kernels, with
//! AVX-512 ones picked at run time, or matrixmultiply's), rows split across threads; in
//! WebAssembly our own packed kernel (`sgemm.rs`: matrixmultiply's wasm kernel spills registers
//! under V8). The `_naive` versions are the plain loops the fast ones and the GPU kernels are
//! tested against.

/// The native GEMM libraries; tests/cpu_ops.rs checks each against the plain loops.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// gemm's f32 kernels (the `gemm` crate's): AVX-512 where the CPU has avx512f, else
    /// AVX2+FMA, else SSE, chosen by gemm at run time.
    Gemm,
    /// matrixmultiply's: AVX2+FMA at best, no AVX-512 kernel.
    Matrixmultiply,
}

#[cfg(not(target_arch = "wasm32"))]
impl Kernel {
    /// The one the CPU backend uses: gemm, which measured ahead of matrixmultiply at the model's
    /// shapes even without AVX-512 (docs/benchmarks.md). TINYGPT_GEMM=matrixmultiply picks the
    /// other, to compare the two on a host without rebuilding; any other value is ignored.
    pub fn host() -> Kernel {
        static K: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *K.get_or_init(|| match std::env::var("TINYGPT_GEMM").as_deref() {
            Ok("matrixmultiply") => Kernel::Matrixmultiply,
            _ => Kernel::Gemm,
        })
    }

    /// The one for a product of m rows: below 64 rows (decoding, a prompt) matrixmultiply,
    /// whose every output is the same bits however the columns are split (a model whose wte is
    /// cut into row blocks, as on a small GPU, decodes the same logits: tests/model.rs), which
    /// gemm's small-size paths do not keep; from 64 rows (training: B·T, OC) `host()`.
    pub fn for_rows(m: usize) -> Kernel {
        if m < 64 {
            Kernel::Matrixmultiply
        } else {
            Kernel::host()
        }
    }
}

/// dst[m,n] (row-major, contiguous) = (acc ? dst : 0) + lhs[m,k] · rhs[k,n], where lhs and rhs
/// are addressed by (row stride, column stride) pairs, so transposes cost nothing.
/// Natively the rows of dst are split across rayon's threads (one thread pool for every op).
#[allow(clippy::too_many_arguments)]
fn gemm_strided(m: usize, n: usize, k: usize, dst: &mut [f32], acc: bool, lhs: &[f32], lhs_rs: usize, lhs_cs: usize, rhs: &[f32], rhs_rs: usize, rhs_cs: usize) {
    #[cfg(target_arch = "wasm32")]
    {
        if m == 0 || n == 0 {
            return;
        }
        assert!(dst.len() >= m * n);
        if k == 0 {
            if !acc {
                dst[..m * n].fill(0.0);
            }
            return;
        }
        assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
        assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
        // one worker, one thread: the packed panels are kept for the next call
        thread_local!(static SCRATCH: std::cell::RefCell<super::sgemm::Scratch> = Default::default());
        SCRATCH.with(|s| super::sgemm::sgemm(&mut s.borrow_mut(), m, n, k, dst, acc, lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs));
    }
    #[cfg(not(target_arch = "wasm32"))]
    gemm_with(Kernel::for_rows(m), m, n, k, dst, acc, lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs);
}

/// `gemm_strided` natively with the library named (tests run each one).
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(kernel: Kernel, m: usize, n: usize, k: usize, dst: &mut [f32], acc: bool, lhs: &[f32], lhs_rs: usize, lhs_cs: usize, rhs: &[f32], rhs_rs: usize, rhs_cs: usize) {
    use rayon::prelude::*;
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n);
    if k == 0 {
        if !acc {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    let rows = |r0: usize, d: &mut [f32]| {
        let mr = d.len() / n;
        let lhs = lhs[r0 * lhs_rs..].as_ptr();
        // SAFETY: rows r0..r0+mr of lhs are in bounds (asserted above for all m rows), rhs
        // is in bounds, and d is an exclusive slice of exactly mr*n elements, aliasing
        // neither input. Without acc, neither library reads d.
        unsafe {
            match kernel {
                // gemm prefers a column-major destination, so it computes dstᵀ[n,mr] =
                // rhsᵀ · lhsᵀ: the same memory, with the strides swapped
                Kernel::Gemm => gemm_f32::gemm::f32::get_gemm_fn()(
                    n, mr, k,
                    d.as_mut_ptr(), n as isize, 1,
                    acc,
                    rhs.as_ptr(), rhs_rs as isize, rhs_cs as isize,
                    lhs, lhs_rs as isize, lhs_cs as isize,
                    1.0, 1.0,
                    false, false, false,
                    gemm_common::Parallelism::None,
                ),
                Kernel::Matrixmultiply => matrixmultiply::sgemm(
                    mr, k, n,
                    1.0,
                    lhs, lhs_rs as isize, lhs_cs as isize,
                    rhs.as_ptr(), rhs_rs as isize, rhs_cs as isize,
                    if acc { 1.0 } else { 0.0 },
                    d.as_mut_ptr(), n as isize, 1,
                ),
            }
        }
    };
    let dst = &mut dst[..m * n];
    let threads = rayon::current_num_threads();
    if threads > 1 && m * n * k >= 1 << 18 {
        // blocks of whole rows, a multiple of 16 for the SIMD kernels' tiles
        let per = m.div_ceil(threads).div_ceil(16) * 16;
        dst.par_chunks_mut(per * n).enumerate().for_each(|(i, d)| rows(i * per, d));
    } else {
        rows(0, dst);
    }
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_forward(out: &mut [f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, c: usize, oc: usize) {
    let out = &mut out[..n * oc];
    if let Some(b) = bias {
        for row in out.chunks_exact_mut(oc) {
            row.copy_from_slice(&b[..oc]);
        }
    }
    // rhs = wᵀ [C,OC]: element (k, j) = w[j*C + k]
    gemm_strided(n, oc, c, out, bias.is_some(), inp, c, 1, w, 1, c);
}

/// dinp[N,C] = dout · w (overwritten); dw[OC,C] += doutᵀ · inp; dbias[OC] += column sums.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(dinp: &mut [f32], dw: &mut [f32], dbias: Option<&mut [f32]>, dout: &[f32], inp: &[f32], w: &[f32], n: usize, c: usize, oc: usize) {
    gemm_strided(n, c, oc, &mut dinp[..n * c], false, dout, oc, 1, w, c, 1);
    // lhs = doutᵀ [OC,N]: element (i, k) = dout[k*OC + i]
    gemm_strided(oc, c, n, &mut dw[..oc * c], true, dout, 1, oc, inp, c, 1);
    if let Some(db) = dbias {
        for row in dout[..n * oc].chunks_exact(oc) {
            for (d, &g) in db.iter_mut().zip(row) {
                *d += g;
            }
        }
    }
}

/// pre[N,OC] = inp · wᵀ + bias, out[N,OC] = gelu(pre): matmul_forward then gelu_forward.
#[allow(clippy::too_many_arguments)]
pub fn matmul_forward_gelu(out: &mut [f32], pre: &mut [f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, c: usize, oc: usize) {
    matmul_forward(pre, inp, w, bias, n, c, oc);
    super::gelu::gelu_forward(out, pre, n * oc);
}

/// out[N,OC] = res + (inp · wᵀ + bias): matmul_forward then residual_forward(out, res, product),
/// the same additions in the same order.
#[allow(clippy::too_many_arguments)]
pub fn matmul_forward_residual(out: &mut [f32], res: &[f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, c: usize, oc: usize) {
    matmul_forward(out, inp, w, bias, n, c, oc);
    for (o, &r) in out[..n * oc].iter_mut().zip(&res[..n * oc]) {
        *o += r; // = r + o: the same bits as residual_forward(out, res, o)
    }
}

/// matmul_backward, then dinp[N,C] = gelu'(pre) · dinp: gelu_backward on its result.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward_gelu(dinp: &mut [f32], dw: &mut [f32], dbias: Option<&mut [f32]>, dout: &[f32], inp: &[f32], w: &[f32], pre: &[f32], n: usize, c: usize, oc: usize) {
    matmul_backward(dinp, dw, dbias, dout, inp, w, n, c, oc);
    super::gelu::gelu_backward_in_place(dinp, pre, n * c);
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_forward_naive(out: &mut [f32], inp: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize, c: usize, oc: usize) {
    for r in 0..n {
        for o in 0..oc {
            let mut acc = bias.map_or(0.0, |b| b[o]);
            for i in 0..c {
                acc += inp[r * c + i] * w[o * c + i];
            }
            out[r * oc + o] = acc;
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_backward_naive(dinp: &mut [f32], dw: &mut [f32], dbias: Option<&mut [f32]>, dout: &[f32], inp: &[f32], w: &[f32], n: usize, c: usize, oc: usize) {
    for r in 0..n {
        for i in 0..c {
            let mut acc = 0.0;
            for o in 0..oc {
                acc += dout[r * oc + o] * w[o * c + i];
            }
            dinp[r * c + i] = acc;
        }
    }
    for o in 0..oc {
        for i in 0..c {
            let mut acc = 0.0;
            for r in 0..n {
                acc += dout[r * oc + o] * inp[r * c + i];
            }
            dw[o * c + i] += acc;
        }
    }
    if let Some(db) = dbias {
        for o in 0..oc {
            for r in 0..n {
                db[o] += dout[r * oc + o];
            }
        }
    }
}
