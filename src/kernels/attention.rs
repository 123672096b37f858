//! Tiled scaled-dot-product attention with an online softmax (the
//! FlashAttention recurrence): `out = softmax(q·kᵀ·scale)·v` for one head,
//! computed `BLOCK_Q` query rows × `BLOCK_K` keys at a time, so the working
//! memory is `BLOCK_Q × (BLOCK_K + d)` floats whatever the sequence length.
//! The two products per tile are single GEMM calls (matrixmultiply's
//! runtime-dispatched kernels: AVX2/FMA on x86, NEON on ARM) into buffers
//! allocated once per call, and the exponentials go through the vectorisable
//! [`exp`](super::exp).
//!
//! ```
//! use utx_edge::kernels::attention::{attend, Scratch};
//! let (t, d) = (3, 2);
//! let q = vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let (k, v) = (q.clone(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! let mut out = vec![0.0; t * d];
//! attend(&q, &k, &v, &mut out, t, t, d, 1.0, &mut Scratch::default());
//! assert!(out.iter().all(|x| (1.0..=6.0).contains(x)));
//! ```

use super::exp::{exp, max, sum};

/// Query rows per tile.
pub const BLOCK_Q: usize = 64;
/// Keys per tile.
pub const BLOCK_K: usize = 256;

/// Tile buffers, reused across heads and calls.
#[derive(Debug, Default)]
pub struct Scratch {
    scores: Vec<f32>,
    acc: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

/// The online-softmax update of one tile's `bq × bk` scores: new row
/// maxima, scores → exponentials, running sums, and the accumulated output
/// rescaled to the new maxima. Compiled for AVX-512 and AVX2 + FMA too,
/// chosen at run time, so that the exponentials and reductions run as
/// wide as the CPU allows.
fn softmax_step(s: &mut Scratch, bq: usize, bk: usize, d: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { softmax_step_avx512(s, bq, bk, d) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { softmax_step_avx2(s, bq, bk, d) };
        }
    }
    softmax_step_portable(s, bq, bk, d)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_step_avx512(s: &mut Scratch, bq: usize, bk: usize, d: usize) {
    softmax_step_portable(s, bq, bk, d)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_step_avx2(s: &mut Scratch, bq: usize, bk: usize, d: usize) {
    softmax_step_portable(s, bq, bk, d)
}

#[inline(always)]
fn softmax_step_portable(s: &mut Scratch, bq: usize, bk: usize, d: usize) {
    for i in 0..bq {
        let row = &mut s.scores[i * bk..(i + 1) * bk];
        let m = s.max[i].max(max(row));
        // Rescale what was accumulated under the old maximum.
        let alpha = exp(s.max[i] - m);
        for x in row.iter_mut() {
            *x = exp(*x - m);
        }
        s.sum[i] = s.sum[i] * alpha + sum(row);
        s.max[i] = m;
        if alpha != 1.0 {
            s.acc[i * d..(i + 1) * d]
                .iter_mut()
                .for_each(|a| *a *= alpha);
        }
    }
}

/// One head: `q` is `tq × d`, `k` and `v` are `tk × d`, `out` is `tq × d`,
/// all row-major.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &mut [f32],
    tq: usize,
    tk: usize,
    d: usize,
    scale: f32,
    s: &mut Scratch,
) {
    assert!(q.len() >= tq * d && k.len() >= tk * d && v.len() >= tk * d && out.len() >= tq * d);
    s.scores.resize(BLOCK_Q * BLOCK_K, 0.0);
    s.acc.resize(BLOCK_Q * d, 0.0);
    s.max.resize(BLOCK_Q, 0.0);
    s.sum.resize(BLOCK_Q, 0.0);
    for q0 in (0..tq).step_by(BLOCK_Q) {
        let bq = BLOCK_Q.min(tq - q0);
        s.max[..bq].fill(f32::NEG_INFINITY);
        s.sum[..bq].fill(0.0);
        s.acc[..bq * d].fill(0.0);
        for k0 in (0..tk).step_by(BLOCK_K) {
            let bk = BLOCK_K.min(tk - k0);
            // scores[bq × bk] = scale · q[q0..] · k[k0..]ᵀ
            unsafe {
                matrixmultiply::sgemm(
                    bq,
                    d,
                    bk,
                    scale,
                    q[q0 * d..].as_ptr(),
                    d as isize,
                    1,
                    k[k0 * d..].as_ptr(),
                    1,
                    d as isize,
                    0.0,
                    s.scores.as_mut_ptr(),
                    bk as isize,
                    1,
                );
            }
            softmax_step(s, bq, bk, d);
            // acc[bq × d] += p[bq × bk] · v[k0..][bk × d]
            unsafe {
                matrixmultiply::sgemm(
                    bq,
                    bk,
                    d,
                    1.0,
                    s.scores.as_ptr(),
                    bk as isize,
                    1,
                    v[k0 * d..].as_ptr(),
                    d as isize,
                    1,
                    1.0,
                    s.acc.as_mut_ptr(),
                    d as isize,
                    1,
                );
            }
        }
        for i in 0..bq {
            let inv = 1.0 / s.sum[i];
            for (o, a) in out[(q0 + i) * d..(q0 + i + 1) * d]
                .iter_mut()
                .zip(&s.acc[i * d..])
            {
                *o = a * inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        tq: usize,
        tk: usize,
        d: usize,
        scale: f32,
    ) -> Vec<f32> {
        let mut out = vec![0.0; tq * d];
        for i in 0..tq {
            let s: Vec<f64> = (0..tk)
                .map(|j| {
                    (0..d)
                        .map(|c| q[i * d + c] as f64 * k[j * d + c] as f64)
                        .sum::<f64>()
                        * scale as f64
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                out[i * d + c] =
                    ((0..tk).map(|j| e[j] * v[j * d + c] as f64).sum::<f64>() / z) as f32;
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                (x >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn matches_naive_softmax_across_tile_edges() {
        let mut scratch = Scratch::default();
        // Lengths below, at and across the tile sizes, cross-attention shapes too.
        for &(tq, tk, d) in &[
            (1, 1, 1),
            (3, 5, 2),
            (64, 256, 4),
            (65, 257, 16),
            (130, 600, 8),
            (200, 31, 3),
        ] {
            let (q, k, v) = (data(tq * d, 1), data(tk * d, 2), data(tk * d, 3));
            let scale = 1.0 / (d as f32).sqrt();
            let mut out = vec![f32::NAN; tq * d];
            attend(&q, &k, &v, &mut out, tq, tk, d, scale, &mut scratch);
            let want = naive(&q, &k, &v, tq, tk, d, scale);
            let worst = out
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 2e-5, "tq={tq} tk={tk} d={d}: max error {worst}");
        }
    }

    #[test]
    fn large_logits_do_not_overflow() {
        // Scores up to ±400: a plain exp would overflow; the running max keeps it finite.
        let (tq, tk, d) = (4, 300, 2);
        let q: Vec<f32> = data(tq * d, 4).iter().map(|x| x * 10.0).collect();
        let k: Vec<f32> = data(tk * d, 5).iter().map(|x| x * 10.0).collect();
        let v = data(tk * d, 6);
        let mut out = vec![0.0; tq * d];
        attend(
            &q,
            &k,
            &v,
            &mut out,
            tq,
            tk,
            d,
            1.0,
            &mut Scratch::default(),
        );
        let want = naive(&q, &k, &v, tq, tk, d, 1.0);
        for (a, b) in out.iter().zip(&want) {
            assert!(a.is_finite() && (a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
